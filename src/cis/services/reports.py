"""What a batch came to: one result per queue record, and the queue's view of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """What became of one queue record."""

    SENT = "sent"
    DUPLICATE = "duplicate"
    #: A version older than one the attendee was sent, or is being sent: never follows it.
    STALE = "stale"
    #: A cancellation, removal or resend for an attendee never sent anything.
    SKIPPED = "skipped"
    #: A fan-out whose attendees' messages were all queued (or sent, without a queue).
    EXPANDED = "expanded"
    REJECTED = "rejected"
    FAILED = "failed"
    #: Not sent: the address is on the suppression list (a permanent bounce, a complaint).
    SUPPRESSED = "suppressed"
    RETRY = "retry"

    @property
    def acknowledged(self) -> bool:
        """True when the queue may forget the record: retrying it could change nothing."""
        return self is not Outcome.RETRY


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome of one record, with the reason for anything but SENT.

    `message_id` is the queue's id of the record; `delivery_id` is the mail system's id of
    the invitation it sent (SES's message id, an SMTP Message-ID, an outbox path).
    """

    message_id: str
    receipt: str | None
    outcome: Outcome
    event_uid: str | None = None
    address: str | None = None
    reason: str | None = None
    delivery_id: str | None = None

    @property
    def mail_message_id(self) -> str | None:
        """`delivery_id` under the name the public API also offers it by."""
        return self.delivery_id


@dataclass(frozen=True, slots=True)
class BatchReport:
    """The outcomes of one batch, in the order the records came.

    `halted` says why the consumer should take no more invites for now: the mail system
    refuses every send until someone, or the clock, changes the account (sending paused, the
    day's quota spent). The records the batch did not get to are retried, untouched.
    """

    results: tuple[RecordResult, ...]
    halted: str | None = None

    @property
    def retry_message_ids(self) -> list[str]:
        """The records the queue must deliver again (SQS `batchItemFailures`)."""
        return [r.message_id for r in self.results if not r.outcome.acknowledged]

    @property
    def acknowledged_receipts(self) -> list[str]:
        """Receipts of the records the queue may forget."""
        return [r.receipt for r in self.results if r.outcome.acknowledged and r.receipt]

    def count(self, outcome: Outcome) -> int:
        """How many records ended with `outcome`."""
        return sum(1 for r in self.results if r.outcome is outcome)

    def batch_item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The partial batch response that the SQS event source understands."""
        return {"batchItemFailures": [{"itemIdentifier": i} for i in self.retry_message_ids]}
