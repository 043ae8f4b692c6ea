"""The repository port: claim attendees atomically, settle claims, keep statistics."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cis.domain.events import EventRecord
from cis.domain.model import (
    Applied,
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    Event,
    ReplyChange,
    Settlement,
)
from cis.domain.statistics import EventStatistics

MARKER_RETENTION_DAYS = 30
"""How long a store must remember a counting marker: far past any queue redelivery."""


class InviteRepository(Protocol):
    """Stores attendees and statistics; every mutation is atomic on its own.

    Errors other than lost races are raised as `cis.errors.RepositoryError`, marked
    transient (throttling, unavailable) or permanent.
    """

    def claim(self, claim: Claim) -> ClaimOutcome:
        """Try to own the attendee's invitation, in one atomic step.

        Exactly one of any number of concurrent claimants gets a granted outcome. A claim
        that would be granted on an address on the suppression list is SUPPRESSED instead,
        checked in the same step, and writes nothing.
        """
        ...

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[Applied, ClaimOutcome]:
        """Apply `settlements` exactly as `settle` does, then try `claim`, in one atomic step.

        This lets a consumer record the invite it has just sent in the same write that claims
        the next attendee: a crash then leaves at most one accepted send unrecorded, at no
        extra call per invite. The settlements are applied whether or not the claim is
        granted. If this raises, nothing was applied. A granted claim may be reported as
        CLAIMED although it took over an expired one (a DynamoDB transaction does not
        return the old item); both are granted.
        """
        ...

    def settle(self, settlements: Sequence[Settlement]) -> Applied:
        """Apply each settlement, and add its counters, only if its token still owns the claim.

        Returns, for each settlement in order, whether it was applied. A record change and its
        counters are applied together or not at all. An applied first message (one with a
        `MarkSent.fence`) whose event had a newer version stored before it is reported in
        `Applied.overtaken`: the store checks that in the same atomic step.
        """
        ...

    def apply_reply(self, change: ReplyChange) -> bool:
        """Record an RSVP reply in one atomic step, if the attendee is still as it was read.

        Applies only when the attendee exists, its invitation was sent, and its PARTSTAT and
        history length equal the expected ones. Then sets PARTSTAT and `last_reply_at`,
        appends the history entry and adds the counters to the event's statistics, together.
        Returns False, changing nothing, when the condition does not hold.
        """
        ...

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        """Add `counters` to the event's statistics in one atomic write."""
        ...

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        """Add `counters` unless they were added under `marker` before; True if added now.

        For counts that no record makes idempotent (a rejected or ignored reply), when the
        queue may deliver the same thing twice. Marker and counters are written together.
        A store may forget a marker after `MARKER_RETENTION_DAYS` (DynamoDB deletes it
        by TTL).
        """
        ...

    def record_event(self, event: Event) -> EventRecord:
        """Store `event` as the event's current version if it is newer; return what is stored.

        One atomic step (`cis.domain.events.next_event_record` decides), so a late request
        for an older version never replaces a newer one.
        """
        ...

    def get_event(self, event_uid: str) -> EventRecord | None:
        """The event's current version as stored; None for an event never recorded."""
        ...

    def record_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                       done: bool) -> bool:
        """Note how far a fan-out of version `sequence` got; False if a newer one replaced it."""
        ...

    def attendee_page(
        self, event_uid: str, *, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        """Up to `limit` attendees of the event, by address, those after `after` only.

        A fan-out pages through an event of any size this way and resumes where it stopped.
        """
        ...

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee; `email` may be written in any case."""
        ...

    def get_statistics(self, event_uid: str) -> EventStatistics:
        """Read the event's statistics (all zero for an event never seen)."""
        ...

    def recount(self, event_uid: str) -> EventStatistics:
        """Rebuild the event's statistics from its attendee records, store and return them."""
        ...
