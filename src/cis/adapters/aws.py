"""The AWS adapters (DynamoDB, SES v2, SQS, S3) on clients that share one session and settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from cis.adapters.dynamodb import DynamoDBInviteRepository
from cis.adapters.ses import SesMailer
from cis.adapters.sqs import SqsInviteQueue

if TYPE_CHECKING:
    from cis.adapters.lambda_intake import LambdaEventSourceIntake
    from cis.adapters.s3 import S3MessageStore
    from cis.adapters.sqs_redrive import SqsDeadLetterQueue

__all__ = ["LONG_POLL_SECONDS", "AwsClients", "client_config"]

LONG_POLL_SECONDS = 20
"""The longest ReceiveMessage wait SQS allows; the SQS client's read timeout must exceed it."""


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


class AwsClients:
    """Clients of one region (or one local stand-in such as moto), from one boto3 session.

    One session resolves the credentials once for every client and leaves boto3's global
    default session alone; `endpoint_url` points every client at a local stand-in.
    """

    def __init__(self, *, region: str | None, endpoint_url: str | None = None) -> None:
        self.region = region
        self.endpoint_url = endpoint_url
        self._session = boto3.session.Session(region_name=region)

    def client(self, service: str, *, read_timeout: float = 5) -> Any:
        """A client for `service` with cis's shared settings."""
        return self._session.client(
            service,  # type: ignore[call-overload]
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=client_config(read_timeout=read_timeout),
        )

    def repository(self, table_name: str) -> DynamoDBInviteRepository:
        """The invite repository on the DynamoDB table `table_name`."""
        return DynamoDBInviteRepository(table_name=table_name, client=self.client("dynamodb"))

    def mailer(self, *, configuration_set: str | None = None) -> SesMailer:
        """The SES v2 mailer, tagging each send with `configuration_set` when given."""
        return SesMailer(client=self.client("sesv2"), configuration_set=configuration_set)

    def queue(self, queue_url: str) -> SqsInviteQueue:
        """The SQS queue at `queue_url`; its read timeout outlasts a long poll."""
        return SqsInviteQueue(
            queue_url=queue_url, client=self.client("sqs", read_timeout=LONG_POLL_SECONDS + 5)
        )

    def dead_letter_queue(self, queue_url: str) -> SqsDeadLetterQueue:
        """The dead-letter queue at `queue_url`, to move its messages back to their source."""
        from cis.adapters.sqs_redrive import SqsDeadLetterQueue  # `cis redrive` only

        return SqsDeadLetterQueue(
            queue_url=queue_url, client=self.client("sqs", read_timeout=LONG_POLL_SECONDS + 5))

    def intake(self, function_name: str) -> LambdaEventSourceIntake:
        """The SQS event source of the Lambda function `function_name`, to pause it."""
        from cis.adapters.lambda_intake import LambdaEventSourceIntake  # only on a halt

        return LambdaEventSourceIntake(function_name=function_name, client=self.client("lambda"))

    def message_store(self) -> S3MessageStore:
        """The S3 store that SES's receipt rule writes received mail to."""
        from cis.adapters.s3 import S3MessageStore  # the reply path only

        return S3MessageStore(client=self.client("s3"))
