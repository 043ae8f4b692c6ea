"""A moto server in a child process on 127.0.0.1, for the benches that need AWS stand-ins.

Run as scripts (`python bench/x.py`), the benches find this module beside them on sys.path.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    """Start `moto_server` from this interpreter's environment and wait until it listens."""
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("moto server did not start")


def provision(session: boto3.session.Session, endpoint: str, *, name_prefix: str) -> dict[str, str]:
    """Create the table, queue and verified sender the function needs; return its environment."""
    region = session.region_name
    table = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
    session.client("dynamodb", endpoint_url=endpoint).create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    queue = session.client("sqs", endpoint_url=endpoint).create_queue(
        QueueName=f"{name_prefix}-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    session.client("sesv2", endpoint_url=endpoint).create_email_identity(
        EmailIdentity="invites@example.com")
    return {
        "REGION": str(region), "DYNAMODB_TABLE": table,
        "SENDER": "Invites <invites@example.com>", "RSVP_EMAIL": "rsvp@example.com",
        "SQS_URL": queue, "AWS_ENDPOINT_URL": endpoint,
    }
