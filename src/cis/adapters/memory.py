"""In-memory adapters: thread-safe, inspectable, shipped for tests and for library users.

They hold the same semantics as the durable adapters (the contract tests prove it), so a
pipeline built on them behaves as one built on DynamoDB or SQLite, minus durability.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from cis.adapters.transactional_repository import TransactionalInviteRepository
from cis.domain import statistics
from cis.domain.delivery import Suppression
from cis.domain.events import EventRecord
from cis.domain.model import AttendeeKey, AttendeeRecord, Counters
from cis.errors import MailerError, MessageStoreError
from cis.ports.mailer import RawEmail
from cis.ports.queue import OutgoingMessage


class InMemoryInviteRepository(TransactionalInviteRepository[None]):
    """Attendees and statistics in dictionaries, every operation under one lock.

    `records`, `counters` (per event), `markers` and `suppressed` (by address) are plain
    attributes, for tests to read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records: dict[AttendeeKey, AttendeeRecord] = {}
        self.counters: dict[str, dict[str, int]] = defaultdict(dict)
        self.markers: set[str] = set()
        self.events: dict[str, EventRecord] = {}
        self.suppressed: dict[str, Suppression] = {}

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the lock for the whole operation: the in-memory conditional write."""
        with self._lock:
            yield

    def _read_attendee(self, handle: None, key: AttendeeKey) -> AttendeeRecord | None:
        return self.records.get(key)

    def _write_attendee(self, handle: None, record: AttendeeRecord) -> None:
        self.records[record.key] = record

    def _event_attendees(self, handle: None, event_uid: str) -> list[AttendeeRecord]:
        return [record for key, record in self.records.items() if key.event_uid == event_uid]

    def _read_counters(self, handle: None, event_uid: str) -> dict[str, int]:
        return dict(self.counters[event_uid])

    def _add_counters(self, handle: None, event_uid: str, counters: Counters) -> None:
        self.counters[event_uid] = statistics.merge(self.counters[event_uid], counters)

    def _replace_counters(self, handle: None, event_uid: str, counters: Counters) -> None:
        self.counters[event_uid] = dict(counters)

    def _read_event(self, handle: None, event_uid: str) -> EventRecord | None:
        return self.events.get(event_uid)

    def _write_event(self, handle: None, record: EventRecord) -> None:
        self.events[record.event.uid] = record

    def _attendee_page(
        self, handle: None, event_uid: str, after: str | None, limit: int
    ) -> list[AttendeeRecord]:
        addresses = sorted(key.address for key in self.records
                           if key.event_uid == event_uid and (after is None or key.address > after))
        return [self.records[AttendeeKey(event_uid, address)] for address in addresses[:limit]]

    def _add_marker(self, handle: None, marker: str) -> bool:
        """Remember `marker` for the store's whole life; False when it is known already."""
        if marker in self.markers:
            return False
        self.markers.add(marker)
        return True

    def _read_suppression(self, handle: None, address: str) -> Suppression | None:
        return self.suppressed.get(address)

    def _write_suppression(self, handle: None, suppression: Suppression) -> None:
        self.suppressed[suppression.address] = suppression

    def _suppression_page(
        self, handle: None, after: str | None, limit: int, include_lifted: bool,
    ) -> list[Suppression]:
        found = [self.suppressed[address] for address in sorted(self.suppressed)
                 if (after is None or address > after)
                 and (include_lifted or self.suppressed[address].active)]
        return found[:limit]


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
class InMemoryIntake:
    """An intake that remembers why it was paused; `paused` is empty while it runs."""

    paused: list[str] = field(default_factory=list)

    def pause(self, reason: str) -> None:
        """Note the pause and its reason."""
        self.paused.append(reason)


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
