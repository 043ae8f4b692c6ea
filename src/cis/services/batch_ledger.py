"""The bookkeeping of one batch: what each record came to, what waits to be written, what to count.

The invite flow decides; the ledger remembers, and turns what it remembers into the batch's
report once every write is done. Keeping it apart (and free of I/O) lets the rules that stop
a send from being lost or counted twice be read, and tested, in one place:

- an outcome that rests on a settlement (SENT, FAILED) stands only once that settlement is
  written; a settlement the batch could not write turns it into a retry;
- a repeat of an attendee earlier in the batch takes that record's fate;
- rejected and duplicate records are counted once per event per batch, and a record whose
  counters could not be written is retried, so that its redelivery counts it.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from cis.domain import statistics
from cis.domain.model import (
    Applied,
    AttendeeKey,
    Claim,
    Counters,
    FanOut,
    InviteRequest,
    MarkFailed,
    MarkSent,
    QueueMessage,
    Release,
    Resend,
    Settlement,
)
from cis.ports.queue import QueueRecord
from cis.services.reports import BatchReport, Outcome, RecordResult, SentAs

__all__ = ["BatchLedger", "Entry", "Unwritten"]


@dataclass(slots=True, eq=False)
class Entry:
    """One record of the batch and what has become of it so far."""

    position: int
    record: QueueRecord
    #: The request the record sends: its body's, or the one a resend was resolved to.
    request: InviteRequest | None = None
    #: What the body asked for, when that is not one attendee's request (a fan-out, a resend).
    message: QueueMessage | None = None
    #: For a resend, the id its history entry names it by (see `Claim.resend_id`).
    resend_id: str | None = None
    #: The SEQUENCE an invitation asked for, when a newer version was sent in its place.
    older_version: int | None = None
    #: The message sent was the first the attendee got (not an update of an earlier one).
    first_message: bool = False
    outcome: Outcome | None = None
    reason: str | None = None
    #: The event of a body that was rejected before it became a request, when it shows one.
    rejected_event_uid: str | None = None
    delivery_id: str | None = None
    claim: Claim | None = None
    #: How this record's claim ends; written with the next claim or at the batch's end.
    settlement: Settlement | None = None
    written: bool = False
    #: Why the settlement could not be written, when the batch gave up on it.
    unwritten_reason: str | None = None
    #: Event-only counters (rejected, duplicate) this record adds to its event.
    counters: Counters | None = None
    uncounted_reason: str | None = None
    repeat_of: Entry | None = None

    @property
    def event_uid(self) -> str | None:
        """The record's event, from its request or message, or the body of a rejected one."""
        if self.request is not None:
            return self.request.event.uid
        if isinstance(self.message, FanOut):
            return self.message.event.uid
        if isinstance(self.message, Resend):
            return self.message.event_uid
        return self.rejected_event_uid

    @property
    def attendee(self) -> AttendeeKey | None:
        """The attendee the record's request is for, once there is a request."""
        if self.request is None:
            return None
        return AttendeeKey.of(self.request.event.uid, self.request.invitee.email)

    @property
    def rests_on_settlement(self) -> bool:
        """True when the outcome holds only once the settlement is written (SENT, FAILED)."""
        return isinstance(self.settlement, MarkSent | MarkFailed)

    def result(self) -> RecordResult:
        """The record's final result from what the ledger knows now."""
        outcome, reason = self.outcome, self.reason
        if outcome is None:
            outcome, reason = Outcome.RETRY, "not processed"
        if self.rests_on_settlement and not self.written:
            outcome, reason = Outcome.RETRY, f"handled but not recorded: {self.unwritten_reason}"
        if self.uncounted_reason is not None:
            outcome, reason = Outcome.RETRY, f"not counted: {self.uncounted_reason}"
        request = self.request
        address = request.invitee.email if request else (
            self.message.email if isinstance(self.message, Resend) else None)
        return RecordResult(
            message_id=self.record.message_id,
            receipt=self.record.receipt,
            outcome=outcome,
            event_uid=self.event_uid,
            address=address,
            reason=reason,
            delivery_id=self.delivery_id if outcome is Outcome.SENT else None,
            sent_as=(SentAs.of(request, first=self.first_message)
                     if outcome is Outcome.SENT and request else None),
        )


Unwritten = list[tuple[Entry, Settlement]]
"""Records whose settlement is not written yet, with that settlement, in batch order."""


class BatchLedger:
    """What each record of one batch came to; one ledger per batch, used by one thread."""

    def __init__(
        self, records: Sequence[QueueRecord],
        requests: Sequence[InviteRequest | None] | None = None,
    ) -> None:
        """Start a ledger for `records`; `requests` holds those already parsed, by position.

        Records given with their requests came from no queue: their ids (`request-<n>`) name
        them within this batch only.
        """
        self.entries = [Entry(position, record) for position, record in enumerate(records)]
        #: Whether the records' ids are the queue's, the same on every delivery of a message.
        self.from_queue = requests is None
        if requests is not None:
            for entry, request in zip(self.entries, requests, strict=True):
                entry.request = request
        self._first: dict[Hashable, Entry] = {}
        #: Why the batch takes no more records (a throttle, the deadline, a halt), if it does not.
        self.stopped: str | None = None
        #: Why the consumer should take no more batches (the mail account refuses every send).
        self.halted: str | None = None
        #: Per event, the newest version the store found stored past a first message sent.
        self.overtaken_by: dict[str, int] = {}
        # Every entry before this position is written or has nothing to write. A batch may
        # hold thousands of records, so the search for unwritten ones starts here.
        self._scan_from = 0

    @classmethod
    def of_requests(cls, requests: Iterable[QueueMessage]) -> BatchLedger:
        """A ledger for messages that came without a queue (numbered `request-<n>`)."""
        messages = list(requests)
        records = [QueueRecord(message_id=f"request-{n}", body="") for n in range(len(messages))]
        ledger = cls(records, [m if isinstance(m, InviteRequest) else None for m in messages])
        for entry, message in zip(ledger.entries, messages, strict=True):
            if not isinstance(message, InviteRequest):
                entry.message = message
        return ledger

    # What each record came to.

    def parsed(self, entry: Entry, message: QueueMessage) -> None:
        """The record's body is a valid message (or the request a resend came to)."""
        if isinstance(message, InviteRequest):
            entry.request = message
        else:
            entry.message = message

    def first_of_its_attendee(self, entry: Entry, key: Hashable) -> bool:
        """Whether `entry` is the batch's first record for `key`; if not, it is a repeat.

        The key names an attendee and what is asked for them (a version, an action): two
        versions of one attendee in one batch are two records, not a record and its repeat.
        """
        first = self._first.setdefault(key, entry)
        if first is not entry:
            entry.repeat_of = first
        return first is entry

    def reject(self, entry: Entry, reason: str, *, event_uid: str | None = None) -> None:
        """The record can never succeed; counted against its event when the event is known."""
        if entry.request is None:
            entry.rejected_event_uid = event_uid
        self._decide(entry, Outcome.REJECTED, reason)
        if entry.event_uid:
            entry.counters = statistics.on_rejected()

    def duplicate(self, entry: Entry, reason: str) -> None:
        """The attendee's invitation was settled before: nothing to send, one to count."""
        self._decide(entry, Outcome.DUPLICATE, reason)
        entry.counters = statistics.on_duplicate()

    def stale(self, entry: Entry, reason: str) -> None:
        """A version older than one the attendee has or is getting: nothing sent, one counted."""
        self._decide(entry, Outcome.STALE, reason)
        entry.counters = statistics.on_stale()

    def nothing_to_send(self, entry: Entry, reason: str) -> None:
        """A cancellation, removal or resend for an attendee never sent anything: counted."""
        self._decide(entry, Outcome.SKIPPED, reason)
        entry.counters = statistics.on_nothing_to_send()

    def suppressed(self, entry: Entry, reason: str) -> None:
        """The address is on the suppression list: nothing sent, nothing claimed, one counted."""
        self._decide(entry, Outcome.SUPPRESSED, reason)
        entry.counters = statistics.on_suppressed()

    def withdrawn(self, entry: Entry, outcome: Outcome, reason: str) -> None:
        """A claim taken, then found not to be sent (a newer version was recorded meanwhile).

        The claim is given back; the record ends STALE or SKIPPED, and is counted so.
        """
        if entry.claim is not None and entry.settlement is None:
            entry.settlement = Release(entry.claim.key, entry.claim.token)
        if outcome is Outcome.STALE:
            self.stale(entry, reason)
        else:
            self.nothing_to_send(entry, reason)

    def fanned_out_before(self, entry: Entry, reason: str) -> None:
        """A fan-out of a version whose fan-out is done: nothing to do, no attendee to count."""
        self._decide(entry, Outcome.DUPLICATE, reason)

    def expanded(self, entry: Entry, reason: str) -> None:
        """A fan-out whose attendees' messages are all queued, or sent."""
        self._decide(entry, Outcome.EXPANDED, reason)

    def retry(self, entry: Entry, reason: str) -> None:
        """A passing failure: the queue delivers the record again."""
        self._decide(entry, Outcome.RETRY, reason)

    def claimed(self, entry: Entry, claim: Claim) -> None:
        """The record now owns its attendee's invitation until it settles the claim."""
        entry.claim = claim

    def settled(
        self, entry: Entry, settlement: MarkSent | MarkFailed, outcome: Outcome,
        reason: str | None = None, *, delivery_id: str | None = None, first: bool = False,
    ) -> None:
        """The mailer answered for good: `outcome` stands once `settlement` is written.

        `first` says the message sent was the first the attendee got (see `first_messages`).
        """
        entry.settlement = settlement
        entry.delivery_id = delivery_id
        entry.first_message = first
        self._decide(entry, outcome, reason)

    def first_messages(self) -> dict[str, list[Entry]]:
        """The records whose written send was an attendee's first message, by event."""
        found: dict[str, list[Entry]] = {}
        for entry in self.entries:
            if (entry.first_message and entry.written and entry.outcome is Outcome.SENT
                    and entry.event_uid):
                found.setdefault(entry.event_uid, []).append(entry)
        return found

    def versions_in_hand(self) -> dict[AttendeeKey, int]:
        """The newest SEQUENCE this batch sent each attendee, or hands back to send later.

        A record sent (and written) or retried (it comes back) at a version stands for it.
        """
        newest: dict[AttendeeKey, int] = {}
        for entry in self.entries:
            attendee = entry.attendee
            if attendee is not None and entry.request is not None and (
                    entry.result().outcome in (Outcome.SENT, Outcome.RETRY)):
                sequence = entry.request.event.sequence
                newest[attendee] = max(sequence, newest.get(attendee, sequence))
        return newest

    def overtaken(self, entry: Entry, reason: str) -> None:
        """Sent and recorded, but a newer version may have passed the attendee by: retried.

        The redelivery finds the attendee sent the older version and sends the newer one.
        """
        self._decide(entry, Outcome.RETRY, reason)

    def released(self, entry: Entry, reason: str) -> None:
        """Nothing was sent: retry, and give the claim back so the retry can take it."""
        if entry.claim is not None and entry.settlement is None:
            entry.settlement = Release(entry.claim.key, entry.claim.token)
        self._decide(entry, Outcome.RETRY, reason)

    def stop(self, reason: str, *, halt: bool = False) -> None:
        """Take no more records; with `halt`, ask the consumer to take no more batches."""
        self.stopped = self.stopped or reason
        if halt:
            self.halted = self.halted or reason

    def handed_back(self, entry: Entry, reason: str) -> None:
        """Not started: the queue delivers the record again, nothing was claimed or sent."""
        self._decide(entry, Outcome.RETRY, reason)

    def crashed(self, entry: Entry, reason: str) -> None:
        """An unexpected error: retry the record, unless the mailer's answer is already in."""
        if not entry.rests_on_settlement:
            self.released(entry, reason)

    # Writing the settlements.

    def unwritten(self, *, before: Entry | None = None) -> Unwritten:
        """The settlements not written yet, of the records before `before` (else of all)."""
        end = len(self.entries) if before is None else before.position
        found: Unwritten = [
            (entry, entry.settlement)
            for entry in self.entries[self._scan_from:end]
            if entry.settlement is not None and not entry.written
        ]
        self._scan_from = found[0][0].position if found else end
        return found

    def written(self, unwritten: Unwritten, applied: Sequence[bool]) -> list[Entry]:
        """Note the settlements as written; return the sends whose claim was lost before.

        A settlement is not applied when its claim's lease ran out and another consumer
        took the attendee over: that attendee may receive a second invitation. The newer
        versions the store found past first messages are kept for `first_messages`.
        """
        overtaken = applied.overtaken if isinstance(applied, Applied) else {}
        for event_uid, sequence in overtaken.items():
            self.overtaken_by[event_uid] = max(sequence, self.overtaken_by.get(event_uid, 0))
        lost = []
        for (entry, _), was_applied in zip(unwritten, applied, strict=True):
            entry.written = True
            if not was_applied and entry.rests_on_settlement:
                lost.append(entry)
        return lost

    def not_written(self, unwritten: Unwritten, reason: str) -> None:
        """The batch gave up writing these settlements; their records are retried."""
        for entry, _ in unwritten:
            entry.unwritten_reason = reason

    # Repeats and counting, once every settlement is written.

    def resolve_repeats(self) -> None:
        """Give each repeat its first record's fate: retried with it, else a duplicate."""
        for entry in self.entries:
            if entry.repeat_of is None or entry.outcome is not None:
                continue
            if entry.repeat_of.result().outcome is Outcome.RETRY:
                self.retry(entry, "the same attendee earlier in this batch is retried")
            else:
                self.duplicate(entry, "same attendee earlier in this batch")

    def contributions(self) -> dict[str, tuple[dict[str, int], list[Entry]]]:
        """Each event's rejected and duplicate counts, summed, with the records they come from."""
        counted: dict[str, list[tuple[Entry, Counters]]] = {}
        for entry in self.entries:
            if entry.counters is not None and entry.event_uid:
                counted.setdefault(entry.event_uid, []).append((entry, entry.counters))
        return {
            event_uid: (statistics.merge(*(counters for _, counters in parts)),
                        [entry for entry, _ in parts])
            for event_uid, parts in counted.items()
        }

    def not_counted(self, entries: Iterable[Entry], reason: str) -> None:
        """Their counters could not be written; they are retried so a redelivery counts them."""
        for entry in entries:
            entry.uncounted_reason = reason

    def report(self) -> BatchReport:
        """Every record's final result, in the order the records came."""
        return BatchReport(tuple(entry.result() for entry in self.entries), halted=self.halted)

    @staticmethod
    def _decide(entry: Entry, outcome: Outcome, reason: str | None) -> None:
        entry.outcome = outcome
        entry.reason = reason
