"""An SQS dead-letter queue whose messages go back to the queue they failed on.

Each message is sent to the source queue before it is deleted from the dead-letter queue, so a
crash between the two leaves it in both (the per-attendee rule absorbs the copy) and never in
neither. SQS's own StartMessageMoveTask does the same server-side, but it moves everything,
has no count limit, and cannot be run against a local stand-in such as moto; this is a
receive, send and delete of ten at a time that the caller paces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from cis.adapters.aws_errors import UNREACHABLE, error_code, is_transient
from cis.errors import QueueError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        MessageAttributeValueOutputTypeDef,
        MessageAttributeValueTypeDef,
        MessageTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

__all__ = ["MAX_BATCH", "Moved", "SqsDeadLetterQueue"]

MAX_BATCH = 10
"""The most messages SQS hands out, takes or deletes in one call."""

_BUSY_CODES = frozenset({"ThrottlingException", "Throttling", "RequestThrottled",
                         "ServiceUnavailable", "InternalError", "InternalFailure"})


@dataclass
class Moved:
    """What one `move` did: how many it received, sent on and deleted, and what went wrong."""

    received: int = 0
    moved: int = 0
    #: Sent to the source but still in the dead-letter queue: a later run sends them again.
    not_deleted: int = 0
    #: Why messages stayed where they were (not sent: they come back after the visibility
    #: timeout), one line per cause.
    problems: list[str] = field(default_factory=list)


class SqsDeadLetterQueue:
    """One dead-letter queue: where its messages came from, and moving them back."""

    def __init__(self, *, queue_url: str, client: SQSClient | None = None,
                 region: str | None = None, endpoint_url: str | None = None) -> None:
        self.queue_url = queue_url
        self.client: SQSClient = client or boto3.client(
            "sqs", region_name=region, endpoint_url=endpoint_url)

    def arn(self) -> str:
        """The ARN a source queue's RedrivePolicy names this queue by.

        Raises:
            QueueError: the queue cannot be read (missing, or no sqs:GetQueueAttributes).

        """
        return self._attributes(self.queue_url, "QueueArn").get("QueueArn", "")

    def source_queues(self) -> list[str]:
        """The URLs of the queues whose RedrivePolicy sends their failed messages here.

        Raises:
            QueueError: SQS refused the listing.

        """
        urls: list[str] = []
        token: str | None = None
        while True:
            try:
                page = (self.client.list_dead_letter_source_queues(
                            QueueUrl=self.queue_url, NextToken=token)
                        if token else
                        self.client.list_dead_letter_source_queues(QueueUrl=self.queue_url))
            except (ClientError, *UNREACHABLE) as exc:
                raise _queue_error("list the source queues of", self.queue_url, exc) from exc
            urls.extend(page.get("queueUrls", []))
            token = page.get("NextToken")
            if not token:
                return urls

    def dead_letter_target(self, source_url: str) -> str | None:
        """The ARN of the dead-letter queue `source_url`'s RedrivePolicy names; None if none.

        Raises:
            QueueError: the source queue cannot be read.

        """
        text = self._attributes(source_url, "RedrivePolicy").get("RedrivePolicy")
        if not text:
            return None
        try:
            target = json.loads(text).get("deadLetterTargetArn")
        except (ValueError, AttributeError):
            return None
        return target if isinstance(target, str) else None

    def approximate_depth(self) -> tuple[int, int]:
        """About how many messages wait here, and how many are received and not yet deleted.

        Raises:
            QueueError: the queue cannot be read.

        """
        attributes = self._attributes(
            self.queue_url, "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible")
        return (int(attributes.get("ApproximateNumberOfMessages", 0)),
                int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))

    def move(self, to: str, *, max_messages: int, visibility_timeout: int,
             wait_seconds: int) -> Moved:
        """Move up to `max_messages` (at most 10) messages to the queue at `to`.

        The body and message attributes go as received; to a FIFO queue, in the message's
        group, deduplicated by its id here (a second move of the same message within SQS's
        five-minute window is dropped). Only what SQS confirmed sent is deleted. A message
        received and not sent comes back here after `visibility_timeout` seconds.

        Raises:
            QueueError: the dead-letter queue cannot be read.

        """
        result = Moved()
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(max_messages, MAX_BATCH),
                WaitTimeSeconds=wait_seconds, VisibilityTimeout=visibility_timeout,
                MessageAttributeNames=["All"], MessageSystemAttributeNames=["MessageGroupId"])
        except (ClientError, *UNREACHABLE) as exc:
            raise _queue_error("receive from", self.queue_url, exc) from exc
        messages = response.get("Messages", [])
        result.received = len(messages)
        if not messages:
            return result
        fifo = to.endswith(".fifo")
        try:
            sent = self.client.send_message_batch(
                QueueUrl=to, Entries=[_entry(str(number), message, fifo=fifo)
                                      for number, message in enumerate(messages)])
        except (ClientError, *UNREACHABLE) as exc:
            result.problems.append(f"{len(messages)} message(s) not sent: "
                                   f"{_queue_error('send to', to, exc)}")
            return result
        for failure in sent.get("Failed", []):
            result.problems.append(f"message {messages[int(failure['Id'])]['MessageId']} not "
                                   f"sent: {failure['Code']}")
        delivered = [messages[int(entry["Id"])] for entry in sent.get("Successful", [])]
        result.moved = len(delivered)
        if delivered:
            result.not_deleted = self._delete(delivered, result.problems)
        return result

    def _delete(self, messages: list[MessageTypeDef], problems: list[str]) -> int:
        """Delete messages already sent on; return how many are still here."""
        try:
            response = self.client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                         for number, message in enumerate(messages)])
        except (ClientError, *UNREACHABLE) as exc:
            problems.append(f"{len(messages)} message(s) sent but not deleted, a later run "
                            f"sends them again: {_queue_error('delete from', self.queue_url, exc)}")
            return len(messages)
        failed = response.get("Failed", [])
        if failed:
            codes = ", ".join(sorted({entry["Code"] for entry in failed}))
            problems.append(f"{len(failed)} message(s) sent but not deleted, a later run sends "
                            f"them again: {codes}")
        return len(failed)

    def _attributes(self, queue_url: str, *names: str) -> dict[str, str]:
        try:
            response = self.client.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=list(names))  # type: ignore[arg-type]
        except (ClientError, *UNREACHABLE) as exc:
            raise _queue_error("read", queue_url, exc) from exc
        return {str(name): value for name, value in response.get("Attributes", {}).items()}


def _entry(number: str, message: MessageTypeDef, *, fifo: bool,
           ) -> SendMessageBatchRequestEntryTypeDef:
    """The message as SQS handed it out, to be sent again unchanged."""
    entry: SendMessageBatchRequestEntryTypeDef = {"Id": number, "MessageBody": message["Body"]}
    attributes = {name: _attribute(value)
                  for name, value in message.get("MessageAttributes", {}).items()}
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo:
        entry["MessageGroupId"] = message.get("Attributes", {}).get("MessageGroupId", "redrive")
        entry["MessageDeduplicationId"] = message["MessageId"]
    return entry


def _attribute(value: MessageAttributeValueOutputTypeDef) -> MessageAttributeValueTypeDef:
    """A received message attribute as SendMessage takes it (SQS refuses the list fields)."""
    sent: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
    if "StringValue" in value:
        sent["StringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        sent["BinaryValue"] = value["BinaryValue"]
    return sent


def _queue_error(action: str, queue_url: str, exc: Exception) -> QueueError:
    """SQS's refusal as a QueueError naming the queue; transient when SQS was busy or away."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            return QueueError(f"SQS: no queue at {queue_url}", transient=False)
        return QueueError(f"SQS refused to {action} {queue_url}: {code or exc}",
                          transient=is_transient(exc, _BUSY_CODES))
    return QueueError(f"SQS unreachable to {action} {queue_url}: {exc}", transient=True)
