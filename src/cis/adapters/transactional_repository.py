"""The invite repository's rules, written once for stores that run code inside a transaction."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from cis.domain import statistics
from cis.domain.claims import (
    claimed_record,
    decide,
    owns,
    replied_record,
    reply_applies,
    settled_record,
)
from cis.domain.delivery import Suppression
from cis.domain.events import EventRecord, fanned_out, next_event_record
from cis.domain.feedback import (
    FeedbackChange,
    feedback_applies,
    lifted,
    suppression_applies,
    with_delivery,
)
from cis.domain.model import (
    Applied,
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    Event,
    MarkSent,
    ReplyChange,
    Settlement,
    normalise_address,
)
from cis.domain.statistics import EventStatistics

__all__ = ["TransactionalInviteRepository"]

Handle = TypeVar("Handle")
"""What a backend's transaction gives its I/O steps: a connection, or nothing at all."""


class TransactionalInviteRepository(ABC, Generic[Handle]):
    """Implements `InviteRepository` by reading, deciding and writing inside one transaction.

    Every public method holds the shared rule: it opens a transaction, reads what the rule
    needs, decides with `cis.domain.claims` and `cis.domain.statistics`, and writes the
    outcome before the transaction ends. A backend supplies only the transaction and a few
    small I/O steps on the handle it yields, the way Powertools' persistence layer lets
    each store implement `_get_record` and `_put_record`. The transaction must make its
    read-decide-write atomic against every other writer (a lock, or SQLite's
    `BEGIN IMMEDIATE`) and undo every step when the block raises.

    DynamoDB cannot run this code inside its transactions, so its adapter states the same
    rules as condition expressions instead; the contract tests hold all of them equal.
    """

    # --- the port ------------------------------------------------------------------------

    def claim(self, claim: Claim) -> ClaimOutcome:
        """Read, decide and write in one transaction, so exactly one claimant is granted."""
        with self._transaction() as handle:
            return self._claim(handle, claim)

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[Applied, ClaimOutcome]:
        """Settle, then claim, in one transaction: both land or neither does."""
        with self._transaction() as handle:
            return self._settle(handle, settlements), self._claim(handle, claim)

    def settle(self, settlements: Sequence[Settlement]) -> Applied:
        """Apply each settlement still owned by its token, with its counters, in one transaction.

        Settlements are decided in order, so a second settlement of one attendee sees the
        first one's outcome. A first message's fence is checked against the stored version
        in the same transaction.
        """
        with self._transaction() as handle:
            return self._settle(handle, settlements)

    def apply_reply(self, change: ReplyChange) -> bool:
        """Check, write the reply and add its counters in one transaction."""
        with self._transaction() as handle:
            existing = self._read_attendee(handle, change.key)
            if existing is None or not reply_applies(existing, change):
                return False
            self._write_attendee(handle, replied_record(existing, change))
            self._add_counters(handle, change.key.event_uid, change.counters)
            return True

    def apply_feedback(self, change: FeedbackChange) -> bool:
        """Check, append the report, add its counters and suppress, in one transaction."""
        with self._transaction() as handle:
            existing = self._read_attendee(handle, change.key)
            if existing is None or not feedback_applies(existing, change):
                return False
            self._write_attendee(handle, with_delivery(existing, change))
            self._add_counters(handle, change.key.event_uid, change.counters)
            if change.suppression is not None:
                self._write_suppression(handle, change.suppression)
            return True

    def suppress(self, suppression: Suppression) -> bool:
        """Write the suppression unless the list holds this report for the address already."""
        with self._transaction() as handle:
            current = self._read_suppression(handle, suppression.address)
            if not suppression_applies(current, suppression):
                return False
            self._write_suppression(handle, suppression)
            return True

    def get_suppression(self, address: str) -> Suppression | None:
        """The address's suppression, lifted or not."""
        with self._reading() as handle:
            return self._read_suppression(handle, normalise_address(address))

    def suppressions(
        self, *, after: str | None = None, limit: int = 100, include_lifted: bool = False,
    ) -> list[Suppression]:
        """Up to `limit` suppressions by address after `after`."""
        with self._reading() as handle:
            return self._suppression_page(handle, after, limit, include_lifted)

    def lift_suppression(self, address: str, *, at: dt.datetime) -> Suppression | None:
        """Mark the address's suppression lifted at `at`, in one transaction."""
        with self._transaction() as handle:
            now_lifted = lifted(self._read_suppression(handle, normalise_address(address)), at)
            if now_lifted is not None:
                self._write_suppression(handle, now_lifted)
            return now_lifted

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        """Add `counters` in one transaction, so a batch's statistics land together."""
        with self._transaction() as handle:
            self._add_counters(handle, event_uid, counters)

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        """Record the marker and add the counters in one transaction, unless the marker is known."""
        with self._transaction() as handle:
            if not self._add_marker(handle, marker):
                return False
            self._add_counters(handle, event_uid, counters)
            return True

    def record_event(self, event: Event) -> EventRecord:
        """Store `event` if it is newer than the stored version, in one transaction."""
        with self._transaction() as handle:
            current = self._read_event(handle, event.uid)
            newer = next_event_record(current, event)
            if newer is None:
                assert current is not None
                return current
            self._write_event(handle, newer)
            return newer

    def get_event(self, event_uid: str) -> EventRecord | None:
        """The event's current version as stored."""
        with self._reading() as handle:
            return self._read_event(handle, event_uid)

    def record_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                       done: bool) -> bool:
        """Note a fan-out's progress on the stored version, if it is still `sequence`."""
        with self._transaction() as handle:
            current = self._read_event(handle, event_uid)
            if current is None or current.sequence != sequence:
                return False
            self._write_event(handle, fanned_out(current, to=to, done=done))
            return True

    def attendee_page(
        self, event_uid: str, *, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        """Up to `limit` attendees after `after`, by address."""
        with self._reading() as handle:
            return self._attendee_page(handle, event_uid, after, limit)

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee by any spelling of the address."""
        with self._reading() as handle:
            return self._read_attendee(handle, AttendeeKey.of(event_uid, email))

    def get_statistics(self, event_uid: str) -> EventStatistics:
        """Read the event's statistics (all zero for an event never seen)."""
        with self._reading() as handle:
            counters = self._read_counters(handle, event_uid)
        return EventStatistics.from_counters(event_uid, counters)

    def recount(self, event_uid: str) -> EventStatistics:
        """Rebuild the event's counters from its records in one transaction, so no writer slips in.

        Counters no record can prove (rejected requests, skipped duplicates) keep their values.
        """
        with self._transaction() as handle:
            records = self._event_attendees(handle, event_uid)
            stored = self._read_counters(handle, event_uid)
            rebuilt = statistics.recount(records, stored)
            self._replace_counters(handle, event_uid, rebuilt)
        return EventStatistics.from_counters(event_uid, rebuilt)

    # --- the rules shared by claim, settle and settle_then_claim -------------------------

    def _claim(self, handle: Handle, claim: Claim) -> ClaimOutcome:
        existing = self._read_attendee(handle, claim.key)
        outcome = decide(existing, claim)
        if claim.basis is not None and not claim.basis.matches(existing):
            return ClaimOutcome.CHANGED if outcome.granted else outcome
        if outcome.granted:
            suppression = self._read_suppression(handle, claim.key.address)
            if suppression is not None and suppression.active:
                return ClaimOutcome.SUPPRESSED
            self._write_attendee(handle, claimed_record(existing, claim))
            self._add_counters(handle, claim.key.event_uid, claim.counters)
        return outcome

    def _settle(self, handle: Handle, settlements: Sequence[Settlement]) -> Applied:
        applied = Applied()
        for settlement in settlements:
            existing = self._read_attendee(handle, settlement.key)
            if existing is None or not owns(existing, settlement.token):
                applied.append(False)
                continue
            self._write_attendee(handle, settled_record(existing, settlement))
            self._add_counters(handle, settlement.key.event_uid, settlement.counters)
            applied.append(True)
            if isinstance(settlement, MarkSent) and settlement.fence is not None:
                stored = self._read_event(handle, settlement.key.event_uid)
                if stored is not None and stored.sequence > settlement.fence:
                    applied.overtaken[settlement.key.event_uid] = stored.sequence
        return applied

    # --- what a backend supplies ---------------------------------------------------------

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Handle]:
        """One atomic unit of reads and writes: isolated from other writers, undone on error."""

    def _reading(self) -> AbstractContextManager[Handle]:
        """A read on its own; a transaction unless the store reads consistently without one."""
        return self._transaction()

    @abstractmethod
    def _read_attendee(self, handle: Handle, key: AttendeeKey) -> AttendeeRecord | None:
        """The attendee stored under `key`, or None."""

    @abstractmethod
    def _write_attendee(self, handle: Handle, record: AttendeeRecord) -> None:
        """Store `record` whole under its key, replacing what was there."""

    @abstractmethod
    def _event_attendees(self, handle: Handle, event_uid: str) -> list[AttendeeRecord]:
        """Every attendee record of one event."""

    @abstractmethod
    def _read_counters(self, handle: Handle, event_uid: str) -> dict[str, int]:
        """The event's counters; an event never counted has none."""

    @abstractmethod
    def _add_counters(self, handle: Handle, event_uid: str, counters: Counters) -> None:
        """Add each amount to the event's counter of that name, creating missing ones at zero."""

    @abstractmethod
    def _replace_counters(self, handle: Handle, event_uid: str, counters: Counters) -> None:
        """Make `counters` the event's only counters."""

    @abstractmethod
    def _read_event(self, handle: Handle, event_uid: str) -> EventRecord | None:
        """The event's stored version, or None."""

    @abstractmethod
    def _write_event(self, handle: Handle, record: EventRecord) -> None:
        """Store `record` whole as the event's version, replacing what was there."""

    @abstractmethod
    def _attendee_page(
        self, handle: Handle, event_uid: str, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        """Up to `limit` attendees of the event whose address sorts after `after`."""

    @abstractmethod
    def _add_marker(self, handle: Handle, marker: str) -> bool:
        """Remember `marker`; False, changing nothing, when it is remembered already."""

    @abstractmethod
    def _read_suppression(self, handle: Handle, address: str) -> Suppression | None:
        """The suppression of the normalised `address`, lifted or not, or None."""

    @abstractmethod
    def _write_suppression(self, handle: Handle, suppression: Suppression) -> None:
        """Store `suppression` whole under its address, replacing what was there."""

    @abstractmethod
    def _suppression_page(
        self, handle: Handle, after: str | None, limit: int, include_lifted: bool,
    ) -> list[Suppression]:
        """Up to `limit` suppressions (active only unless `include_lifted`) after `after`."""
