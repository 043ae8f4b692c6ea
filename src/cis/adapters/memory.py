"""In-memory adapters: thread-safe, inspectable, shipped for tests and for library users.

They hold the same semantics as the durable adapters (the contract tests prove it), so a
pipeline built on them behaves as one built on DynamoDB or SQLite, minus durability.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from cis.domain import statistics
from cis.domain.claims import (
    claimed_record,
    decide,
    owns,
    replied_record,
    reply_applies,
    settled_record,
)
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    ReplyChange,
    Settlement,
)
from cis.domain.statistics import EventStatistics
from cis.errors import MailerError, MessageStoreError
from cis.ports.mailer import RawEmail
from cis.ports.queue import OutgoingMessage


class InMemoryInviteRepository:
    """Attendees and statistics in dictionaries, every operation under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[AttendeeKey, AttendeeRecord] = {}
        self.counters: dict[str, dict[str, int]] = defaultdict(dict)
        self.markers: set[str] = set()

    def claim(self, claim: Claim) -> ClaimOutcome:
        """Decide and write in one critical section: the in-memory conditional write."""
        with self._lock:
            return self._claim(claim)

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[list[bool], ClaimOutcome]:
        """Settle, then claim, in one critical section."""
        with self._lock:
            return self._settle(settlements), self._claim(claim)

    def settle(self, settlements: Sequence[Settlement]) -> list[bool]:
        """Apply each settlement whose token still owns its attendee."""
        with self._lock:
            return self._settle(settlements)

    def _claim(self, claim: Claim) -> ClaimOutcome:
        existing = self.records.get(claim.key)
        outcome = decide(existing, claim)
        if outcome.granted:
            self.records[claim.key] = claimed_record(existing, claim)
        return outcome

    def _settle(self, settlements: Sequence[Settlement]) -> list[bool]:
        applied = []
        for settlement in settlements:
            existing = self.records.get(settlement.key)
            if existing is None or not owns(existing, settlement.token):
                applied.append(False)
                continue
            self.records[settlement.key] = settled_record(existing, settlement)
            self._add(settlement.key.event_uid, settlement.counters)
            applied.append(True)
        return applied

    def apply_reply(self, change: ReplyChange) -> bool:
        """Apply the reply if the attendee is unchanged since it was read."""
        with self._lock:
            existing = self.records.get(change.key)
            if existing is None or not reply_applies(existing, change):
                return False
            self.records[change.key] = replied_record(existing, change)
            self._add(change.key.event_uid, change.counters)
            return True

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        """Add counters atomically."""
        with self._lock:
            self._add(event_uid, counters)

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        """Add counters unless `marker` was seen; markers are kept for the store's life."""
        with self._lock:
            if marker in self.markers:
                return False
            self.markers.add(marker)
            self._add(event_uid, counters)
            return True

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        """Read one attendee by any spelling of the address."""
        with self._lock:
            return self.records.get(AttendeeKey.of(event_uid, email))

    def get_statistics(self, event_uid: str) -> EventStatistics:
        """Read the event's statistics."""
        with self._lock:
            return EventStatistics.from_counters(event_uid, dict(self.counters[event_uid]))

    def recount(self, event_uid: str) -> EventStatistics:
        """Rebuild the event's counters from its attendee records and store them."""
        with self._lock:
            records = [r for k, r in self.records.items() if k.event_uid == event_uid]
            rebuilt = statistics.recount(records, self.counters[event_uid])
            self.counters[event_uid] = rebuilt
            return EventStatistics.from_counters(event_uid, rebuilt)

    def _add(self, event_uid: str, counters: Counters) -> None:
        self.counters[event_uid] = statistics.merge(self.counters[event_uid], counters)


@dataclass
class InMemoryMailer:
    """Keeps every message it is given; can be told to fail for chosen recipients.

    `sent` holds what was accepted, in order. `fail(recipient, error)` makes the next send to
    that recipient raise `error` (queue several to fail several times).
    """

    sent: list[RawEmail] = field(default_factory=list)
    _failures: dict[str, deque[MailerError]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, recipient: str, error: MailerError, *, times: int = 1) -> None:
        """Make the next `times` sends to `recipient` raise `error`."""
        with self._lock:
            self._failures[recipient.lower()].extend([error] * times)

    def send(self, email: RawEmail) -> str:
        """Accept the message, or raise the failure queued for its recipient."""
        with self._lock:
            failures = self._failures.get(email.recipient.lower())
            if failures:
                raise failures.popleft()
            self.sent.append(email)
            return f"memory-{len(self.sent)}"

    @property
    def messages(self) -> list[bytes]:
        """The raw bytes of every accepted message."""
        with self._lock:
            return [email.data for email in self.sent]

    def sent_to(self, recipient: str) -> list[RawEmail]:
        """Every accepted message for one recipient (any case)."""
        with self._lock:
            return [e for e in self.sent if e.recipient.lower() == recipient.lower()]


@dataclass
class InMemoryInviteQueue:
    """A queue that remembers what was enqueued and which receipts were acknowledged."""

    enqueued: list[OutgoingMessage] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, receipts: Sequence[str]) -> list[str]:
        """Forget the receipts; nothing can fail in memory."""
        with self._lock:
            self.acknowledged.extend(receipts)
        return []

    def enqueue(self, messages: Sequence[OutgoingMessage]) -> None:
        """Keep the messages in order."""
        with self._lock:
            self.enqueued.extend(messages)


@dataclass
class InMemoryMessageStore:
    """Stored messages by (bucket, key), as SES's S3 action would leave them."""

    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        """Store a message, as the receipt rule would."""
        self.objects[(bucket, key)] = data

    def fetch(self, bucket: str, key: str) -> bytes:
        """Return the stored bytes; a missing object can never appear later."""
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise MessageStoreError(f"no object s3://{bucket}/{key}", transient=False) from None
