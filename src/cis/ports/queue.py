"""The queue port: forget processed messages and put new invite requests on the queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class QueueRecord:
    """One message as the queue delivered it: its id, its body, and the receipt that deletes it.

    `message_id` is the queue's own id of the message (SQS `messageId`); a partial batch
    response names failed records by it.
    """

    message_id: str
    body: str
    receipt: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """An invite request on its way to the queue.

    `deduplication_id` names the (event, attendee) pair, so a FIFO queue drops a repeat within
    its deduplication window; `group_id` keeps one event's requests in order there.
    """

    body: str
    deduplication_id: str
    group_id: str


class InviteQueue(Protocol):
    """Where invite requests wait to be processed."""

    def acknowledge(self, receipts: Sequence[str]) -> list[str]:
        """Delete the messages behind `receipts`; return the receipts that could not be deleted.

        A receipt left undeleted only means the message comes back and is found a duplicate.
        """
        ...

    def enqueue(self, messages: Sequence[OutgoingMessage]) -> None:
        """Put every message on the queue.

        Raises:
            cis.errors.QueueError: naming the messages the queue refused.

        """
        ...
