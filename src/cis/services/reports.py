"""What a batch came to: one result per queue record, and the queue's view of them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cis.domain.model import InviteAction, InviteRequest, Standing


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


class SentAs(StrEnum):
    """What a message the mailer accepted was, for the attendee it went to."""

    #: The attendee's first message (a later version read as an invitation too).
    INVITATION = "invitation"
    #: A later version of the event to an attendee sent an earlier one.
    UPDATE = "update"
    #: The event's cancellation.
    CANCELLATION = "cancellation"
    #: A cancellation to this attendee alone: taken off an event that goes on.
    REMOVAL = "removal"
    #: The current version again, asked for on purpose.
    RESEND = "resend"

    @classmethod
    def of(cls, request: InviteRequest, *, first: bool) -> SentAs:
        """What sending `request` is; `first` when it is the attendee's first message.

        The same distinction as the event's counters (`statistics.on_later_message`).
        """
        if first:
            return cls.INVITATION
        if request.action is InviteAction.RESEND:
            return cls.RESEND
        if request.standing is Standing.REMOVED:
            return cls.REMOVAL
        if request.standing is Standing.CANCELLED:
            return cls.CANCELLATION
        return cls.UPDATE


@dataclass(frozen=True, slots=True)
class RecordResult:
    """The outcome of one record, with the reason for anything but SENT.

    `message_id` is the queue's id of the record; `delivery_id` is the mail system's id of
    the invitation it sent (SES's message id, an SMTP Message-ID, an outbox path), and
    `sent_as` what that message was.
    """

    message_id: str
    receipt: str | None
    outcome: Outcome
    event_uid: str | None = None
    address: str | None = None
    reason: str | None = None
    delivery_id: str | None = None
    sent_as: SentAs | None = None

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

    What pushed back meanwhile, for metrics: `throttled` counts the sends the mail system
    refused as too fast, `conflicts` the store's writes that lost to a concurrent transaction
    (each tried again), `unknown_versions` the bodies of a message format version this code
    does not read (handed back).
    """

    results: tuple[RecordResult, ...]
    halted: str | None = None
    throttled: int = 0
    conflicts: int = 0
    unknown_versions: int = 0

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
