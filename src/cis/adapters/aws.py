"""The AWS adapters (DynamoDB, SES v2, SQS) built together from `Settings`, once per container."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.ses import SesMailer
from cis.adapters.sqs import SqsInviteQueue
from cis.config import RsvpSettings, Settings

if TYPE_CHECKING:
    from cis.adapters.s3 import S3MessageStore

__all__ = [
    "AwsAdapters", "RsvpAdapters", "build_aws_adapters", "build_rsvp_adapters", "client_config",
]

LONG_POLL_SECONDS = 20
"""The longest ReceiveMessage wait SQS allows; the SQS client's read timeout must exceed it."""


@dataclass(frozen=True, slots=True)
class AwsAdapters:
    """The three ports, made real on AWS."""

    repository: DynamoDBInviteRepository
    mailer: SesMailer
    queue: SqsInviteQueue


def client_config(*, read_timeout: float = 5) -> Config:
    """The botocore settings every cis client shares, chosen for a Lambda function.

    Standard retry mode backs off with jitter and retries throttling (SES
    TooManyRequestsException, DynamoDB ProvisionedThroughputExceeded) as well as 5xx and
    network errors, so the adapters only ever see what three attempts could not fix. The
    timeouts are short because every call here answers in milliseconds and a hung connection
    would otherwise eat the function's whole timeout; the pool is small because one container
    runs one invocation at a time and the service makes its calls one after another.
    """
    return Config(
        retries={"mode": "standard", "total_max_attempts": 3},
        connect_timeout=2,
        read_timeout=read_timeout,
        max_pool_connections=4,
        tcp_keepalive=True,
    )


def build_aws_adapters(settings: Settings) -> AwsAdapters:
    """Create the clients and the adapters around them.

    One boto3 session resolves the credentials once for all three clients and leaves boto3's
    global default session alone. `settings.endpoint_url` points every client at a local
    stand-in (moto, LocalStack) when set.
    """
    session = boto3.session.Session(region_name=settings.region)
    config = client_config()
    dynamodb = session.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.endpoint_url,
        config=config,
    )
    sesv2 = session.client(
        "sesv2", region_name=settings.region, endpoint_url=settings.endpoint_url,
        config=config,
    )
    sqs = session.client(
        "sqs", region_name=settings.region, endpoint_url=settings.endpoint_url,
        config=client_config(read_timeout=LONG_POLL_SECONDS + 5),
    )
    return AwsAdapters(
        repository=DynamoDBInviteRepository(table_name=settings.dynamodb_table, client=dynamodb),
        mailer=SesMailer(client=sesv2, configuration_set=settings.ses_configuration_set),
        queue=SqsInviteQueue(queue_url=settings.sqs_url, client=sqs),
    )


@dataclass(frozen=True, slots=True)
class RsvpAdapters:
    """What the RSVP function needs: the attendee store and the bucket SES writes mail to."""

    repository: DynamoDBInviteRepository
    store: S3MessageStore


def build_rsvp_adapters(settings: RsvpSettings) -> RsvpAdapters:
    """Create the DynamoDB and S3 clients for the RSVP function."""
    from cis.adapters.s3 import S3MessageStore  # the reply path only: not on an invite's cold start

    session = boto3.session.Session(region_name=settings.region)
    config = client_config()
    dynamodb = session.client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.endpoint_url,
        config=config,
    )
    s3 = session.client(
        "s3", region_name=settings.region, endpoint_url=settings.endpoint_url, config=config,
    )
    return RsvpAdapters(
        repository=DynamoDBInviteRepository(table_name=settings.dynamodb_table, client=dynamodb),
        store=S3MessageStore(client=s3),
    )
