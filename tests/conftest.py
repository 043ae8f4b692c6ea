"""Shared fixtures: offline AWS credentials, a moto server, and a DynamoDB table per test."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from cis.adapters.dynamodb import DynamoDBInviteRepository

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

AWS_REGION = "us-east-1"

# Dummy credentials, and no profile or config file from the developer's machine: a client
# that escapes the moto endpoint is refused by AWS instead of acting on a real account.
_OFFLINE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": AWS_REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB")


@pytest.fixture(scope="session", autouse=True)
def _offline_aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in _OFFLINE_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in _UNSET:
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free local port, for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    # moto checks a condition and writes in separate steps, with no lock: two concurrent
    # UpdateItems can both pass `attribute_not_exists`, or one can see the other's half-made
    # item. DynamoDB makes each conditional write atomic; serialising requests restores that,
    # so the race tests test our adapter, not moto. (The server is werkzeug's, which reads
    # its WSGI app from `.app` on every request; moto offers no public hook for this.)
    wsgi_server: Any = server._server
    wsgi_server.app = _serialised(wsgi_server.app)
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def _serialised(app: Any) -> Any:
    lock = threading.Lock()

    def handle(environ: Any, start_response: Any) -> Any:
        with lock:
            # moto's responses are complete lists, so the work is done inside the call.
            return list(app(environ, start_response))

    return handle


@pytest.fixture(scope="session")
def aws_region() -> str:
    return AWS_REGION


@pytest.fixture
def dynamodb_client(moto_server: str, aws_region: str) -> DynamoDBClient:
    # No retries: a test that provokes an error sees it at once, not after backoff.
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_server,
        region_name=aws_region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def dynamodb_table(dynamodb_client: DynamoDBClient) -> Iterator[str]:
    """A fresh table (`pk`/`sk` strings, on demand) per test, deleted afterwards."""
    name = f"cis-test-{uuid.uuid4().hex}"
    dynamodb_client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield name
    finally:
        dynamodb_client.delete_table(TableName=name)


@pytest.fixture
def dynamodb_repository(
    dynamodb_table: str, dynamodb_client: DynamoDBClient
) -> DynamoDBInviteRepository:
    return DynamoDBInviteRepository(table_name=dynamodb_table, client=dynamodb_client)
