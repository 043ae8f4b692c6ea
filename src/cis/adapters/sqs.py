"""Amazon SQS as the invite queue: sends and deletes ten at a time, partial failures handled."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import boto3
from botocore.exceptions import ClientError

from cis.adapters.aws_errors import UNREACHABLE, is_transient
from cis.errors import QueueError
from cis.ports.queue import OutgoingMessage, QueueRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        DeleteMessageBatchRequestEntryTypeDef,
        ReceiveMessageRequestTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

__all__ = ["MAX_BATCH", "SEND_ATTEMPTS", "SqsInviteQueue"]

MAX_BATCH = 10
"""The most entries SQS takes in one SendMessageBatch or DeleteMessageBatch call."""

SEND_ATTEMPTS = 3
"""How often an entry SQS failed on its side is sent before `enqueue` gives up on it."""

_THROTTLING_CODES = frozenset({
    "ThrottlingException",
    "Throttling",
    "RequestThrottled",
    "KmsThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
})

_log = logging.getLogger(__name__)


class SqsInviteQueue:
    """One SQS queue (standard or FIFO, told apart by the `.fifo` URL suffix)."""

    def __init__(
        self,
        *,
        queue_url: str,
        client: SQSClient | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_url = queue_url
        self.client: SQSClient = client or boto3.client(
            "sqs", region_name=region, endpoint_url=endpoint_url
        )
        self.fifo = queue_url.endswith(".fifo")
        self._sleep = sleep

    def acknowledge(self, receipts: Sequence[str]) -> list[str]:
        """Delete the messages, ten per call; return the receipts that were not deleted.

        A chunk whose call fails transiently is logged and returned whole rather than raised:
        an undeleted message only comes back and is then found a duplicate.

        Raises:
            QueueError: (permanent) when SQS refuses the call itself, e.g. a missing queue or
                a role without `sqs:DeleteMessage`, which retrying cannot fix.

        """
        failed: list[str] = []
        # SQS would delete a repeated receipt once and moto refuses the call: send each once.
        unique = list(dict.fromkeys(receipts))
        for start in range(0, len(unique), MAX_BATCH):
            chunk = unique[start:start + MAX_BATCH]
            entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
                {"Id": str(number), "ReceiptHandle": receipt}
                for number, receipt in enumerate(chunk)
            ]
            try:
                response = self.client.delete_message_batch(
                    QueueUrl=self.queue_url, Entries=entries
                )
            except ClientError as exc:
                if not _is_transient(exc):
                    raise QueueError(f"SQS refused to delete messages: {exc}",
                                     transient=False) from exc
                _log.warning("could not delete %d message(s), they will come back: %s",
                             len(chunk), exc)
                failed.extend(chunk)
                continue
            except UNREACHABLE as exc:
                _log.warning("could not reach SQS to delete %d message(s), they will come "
                             "back: %s", len(chunk), exc)
                failed.extend(chunk)
                continue
            refused = response.get("Failed", [])
            if refused:
                _log.warning("SQS kept %d message(s), they will come back: %s", len(refused),
                             ", ".join(sorted({entry["Code"] for entry in refused})))
            failed.extend(chunk[int(entry["Id"])] for entry in refused)
        return failed

    def enqueue(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send every message, ten per call, retrying entries that failed on SQS's side.

        Raises:
            QueueError: naming the deduplication ids of the messages not enqueued; transient
                unless SQS blamed the request (SenderFault), which sending again cannot fix.

        """
        refused: list[tuple[OutgoingMessage, str, bool]] = []
        for start in range(0, len(messages), MAX_BATCH):
            try:
                refused.extend(self._send_chunk(messages[start:start + MAX_BATCH]))
            except (ClientError, *UNREACHABLE) as exc:
                left = messages[start:]
                transient = not isinstance(exc, ClientError) or _is_transient(exc)
                raise QueueError(
                    f"SQS send failed ({exc}); {len(left)} message(s) not confirmed enqueued: "
                    + ", ".join(m.deduplication_id for m in left),
                    transient=transient,
                ) from exc
        if refused:
            raise QueueError(
                f"SQS refused {len(refused)} message(s): "
                + ", ".join(f"{m.deduplication_id} ({code})" for m, code, _ in refused),
                transient=not any(sender_fault for _, _, sender_fault in refused),
            )

    def receive(
        self,
        *,
        max_messages: int = 10,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
    ) -> list[QueueRecord]:
        """Long-poll for up to `max_messages` messages, for workers that are not Lambda.

        Raises:
            QueueError: when the queue cannot be read.

        """
        request: ReceiveMessageRequestTypeDef = {
            "QueueUrl": self.queue_url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait_seconds,
        }
        if visibility_timeout is not None:
            request["VisibilityTimeout"] = visibility_timeout
        try:
            response = self.client.receive_message(**request)
        except ClientError as exc:
            raise QueueError(f"SQS receive failed: {exc}", transient=_is_transient(exc)) from exc
        except UNREACHABLE as exc:
            raise QueueError(f"SQS unreachable: {exc}") from exc
        return [
            QueueRecord(
                message_id=message["MessageId"],
                body=message["Body"],
                receipt=message["ReceiptHandle"],
            )
            for message in response.get("Messages", [])
        ]

    def _send_chunk(
        self, chunk: Sequence[OutgoingMessage]
    ) -> list[tuple[OutgoingMessage, str, bool]]:
        """Send up to ten messages; return those refused, with the code and SenderFault."""
        pending = dict(enumerate(chunk))
        refused: list[tuple[OutgoingMessage, str, bool]] = []
        delay = 0.1
        for attempt in range(SEND_ATTEMPTS):
            response = self.client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[self._entry(number, message) for number, message in pending.items()],
            )
            retry: dict[int, OutgoingMessage] = {}
            for entry in response.get("Failed", []):
                number = int(entry["Id"])
                if entry["SenderFault"] or attempt == SEND_ATTEMPTS - 1:
                    refused.append((pending[number], entry["Code"], entry["SenderFault"]))
                else:
                    retry[number] = pending[number]
            if not retry:
                break
            pending = retry
            self._sleep(delay)
            delay *= 4
        return refused

    def _entry(self, number: int, message: OutgoingMessage) -> SendMessageBatchRequestEntryTypeDef:
        entry: SendMessageBatchRequestEntryTypeDef = {
            "Id": str(number),
            "MessageBody": message.body,
        }
        if self.fifo:
            entry["MessageDeduplicationId"] = message.deduplication_id
            entry["MessageGroupId"] = message.group_id
        return entry


def _is_transient(exc: ClientError) -> bool:
    """True for throttling and server-side errors, which a later call may not meet."""
    return is_transient(exc, _THROTTLING_CODES)
