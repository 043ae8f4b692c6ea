"""`cis redrive`, `cis attendee` and `cis stats` as real processes against moto's server.

The operator's story on the deployed stack: an invite request sits in the dead-letter queue,
`cis redrive` moves it back, a consumer sends it, `cis attendee` shows the attendee's
record and `cis stats --recount` repairs the event's counters in the table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from cis.adapters.dynamodb import DynamoDBInviteRepository
from tests.support import body

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

CIS = Path(sys.executable).parent / "cis"
REGION = "us-east-1"


@dataclass(frozen=True)
class Queues:
    """The invite queue and the dead-letter queue its RedrivePolicy names."""

    source: str
    dead_letters: str


@pytest.fixture
def sqs(moto_server: str) -> SQSClient:
    return boto3.client("sqs", endpoint_url=moto_server, region_name=REGION)


@pytest.fixture
def queues(sqs: SQSClient) -> Queues:
    name = f"cis-invites-{uuid.uuid4().hex}"
    dead_letters = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dead_letters,
                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": arn, "maxReceiveCount": "5"})})["QueueUrl"]
    return Queues(source, dead_letters)


def cis(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CIS), *map(str, args)], env=dict(os.environ),
                          capture_output=True, text=True, timeout=timeout, check=False)


def on_moto(moto_server: str) -> list[str]:
    return ["--endpoint-url", moto_server, "--region", REGION]


def depth(sqs: SQSClient, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"])
            + int(attributes["ApproximateNumberOfMessagesNotVisible"]))


def test_a_dead_lettered_invite_is_redriven_sent_and_looked_up(
    tmp_path: Path, moto_server: str, sqs: SQSClient, queues: Queues, dynamodb_table: str,
    dynamodb_client: DynamoDBClient,
) -> None:
    uid = f"operator-{uuid.uuid4().hex[:8]}@example.org"
    sqs.send_message(QueueUrl=queues.dead_letters,
                     MessageBody=body("Ann@Example.org", uid=uid, name="Ann", origin="web"),
                     MessageAttributes={"producer": {"DataType": "String",
                                                     "StringValue": "signup"}})

    redrive = cis("redrive", "--queue-url", queues.dead_letters, *on_moto(moto_server))

    assert redrive.returncode == 0, redrive.stderr
    assert f"Moved 1 message(s) from {queues.dead_letters} to " in redrive.stdout
    assert "about 0 waiting, 0 in flight" in redrive.stdout
    assert (depth(sqs, queues.dead_letters), depth(sqs, queues.source)) == (0, 1)

    worker = cis("worker", "--queue-url", queues.source, *on_moto(moto_server),
                 "--dynamodb-table", dynamodb_table, "--outbox", tmp_path / "outbox",
                 "--sender", "invites@example.com", "--rsvp-email", "rsvp@example.com",
                 "--wait-seconds", "1", "--exit-when-empty")
    assert worker.returncode == 0, worker.stderr
    assert "sent 1" in worker.stdout

    table = ["--dynamodb-table", dynamodb_table, *on_moto(moto_server)]
    shown = cis("attendee", uid, "ann@example.org", *table)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Ann@Example.org (Ann), attendee of {uid}"
    assert "  state        sent" in lines
    assert "  version      sent version 0, invited (REQUEST); the event is at version 0" in lines
    assert "  RSVP         NEEDS-ACTION" in lines
    assert "  origin       web" in lines
    assert any(line.startswith("  delivery id  ") and line.endswith(".eml") for line in lines)
    assert lines[-2:-1] == ["  history (1):"]
    assert lines[-1].endswith("  NEEDS-ACTION  cis:invite")

    as_json = cis("attendee", uid, "ANN@example.org", *table, "--json")
    assert as_json.returncode == 0, as_json.stderr
    record: dict[str, Any] = json.loads(as_json.stdout)
    assert (record["address"], record["state"], record["sequence"], record["standing"],
            record["partstat"], record["method"]) == (
        "ann@example.org", "sent", 0, "invited", "NEEDS-ACTION", "REQUEST")
    assert [entry["source"] for entry in record["history"]] == ["cis:invite"]
    assert record["delivery_id"].endswith(".eml")
    assert record["event"]["sequence"] == 0

    unknown = cis("attendee", uid, "nobody@example.org", *table)
    assert unknown.returncode == 1
    assert unknown.stdout == ""
    assert f"no attendee nobody@example.org on event {uid}" in unknown.stderr

    # Counters no record backs, then a recount in the table puts them right.
    DynamoDBInviteRepository(table_name=dynamodb_table, client=dynamodb_client) \
        .apply_statistics(uid, {"invites_sent": 2, "origin:ghost": 2})
    drifted = json.loads(cis("stats", uid, *table, "--json").stdout)
    assert (drifted["invites_sent"], drifted["by_origin"]) == (3, {"ghost": 2, "web": 1})
    recount = cis("stats", uid, *table, "--recount", "--json")
    assert recount.returncode == 0, recount.stderr
    repaired = json.loads(recount.stdout)
    assert (repaired["invites_sent"], repaired["by_origin"], repaired["rsvp"]) == (
        1, {"web": 1}, {"NEEDS-ACTION": 1})
    assert repaired["event"]["sequence"] == 0
    assert json.loads(cis("stats", uid, *table, "--json").stdout) == repaired


def test_redrive_moves_no_more_than_max_and_no_faster_than_the_rate(
    moto_server: str, sqs: SQSClient, queues: Queues,
) -> None:
    for number in range(12):
        sqs.send_message(QueueUrl=queues.dead_letters, MessageBody=f"message {number}")
    started = time.monotonic()

    result = cis("redrive", "--queue-url", queues.dead_letters, "--to", queues.source,
                 "--rate", "4", "--max", "10", "--json", *on_moto(moto_server))

    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["moved"], summary["not_deleted"], summary["problems"]) == (10, 0, [])
    assert (summary["left_visible"], summary["left_in_flight"]) == (2, 0)
    assert (depth(sqs, queues.dead_letters), depth(sqs, queues.source)) == (2, 10)
    # Ten messages at four a second: the tenth goes no sooner than 9 / 4 s after the first.
    assert elapsed >= 9 / 4


def test_redrive_refuses_a_target_that_is_not_the_source_and_moves_nothing(
    moto_server: str, sqs: SQSClient, queues: Queues,
) -> None:
    sqs.send_message(QueueUrl=queues.dead_letters, MessageBody="waiting")
    other = sqs.create_queue(QueueName=f"cis-other-{uuid.uuid4().hex}")["QueueUrl"]

    elsewhere = cis("redrive", "--queue-url", queues.dead_letters, "--to", other,
                    *on_moto(moto_server))
    itself = cis("redrive", "--queue-url", queues.dead_letters, "--to", queues.dead_letters,
                 *on_moto(moto_server))
    orphan = cis("redrive", "--queue-url", other, *on_moto(moto_server))

    assert elsewhere.returncode == 2
    assert f"--to: {other} has no RedrivePolicy, not arn:aws:sqs:" in elsewhere.stderr
    assert itself.returncode == 2
    assert "--to: that is the dead-letter queue itself" in itself.stderr
    assert orphan.returncode == 2
    assert f"no queue names {other} as its dead-letter queue" in orphan.stderr
    assert (depth(sqs, queues.dead_letters), depth(sqs, queues.source), depth(sqs, other)) == (
        1, 0, 0)
