"""Soak the invite flow: a simulated SQS queue, faulty adapters, crashing consumers, then audit.

Run from the repository root::

    .venv/bin/python -m tests.reliability.soak --n 100000 --repository sqlite --seed 7

What it does:

- generates `--n` requests over `--events` events: new attendees, repeats of an earlier
  attendee spelled in another case, a few invalid bodies, and a fixed set of "bad" addresses
  that the mailer rejects for good every time;
- puts them on a simulated SQS standard queue that owns a simulated clock: receive hides a
  message for the visibility timeout, anything not deleted comes back once it expires, a
  message received `--max-receives` times moves to a dead-letter queue (redriven once the
  main queue is empty, as an operator would), and with `--duplicate-rate` a receive also hands
  the same message to the next receiver while the first still holds it (at-least-once);
- runs `--consumers` threads, each an `InviteService` whose mailer and repository are wrapped
  to fail: transient mailer errors, transient repository errors on claim, settle and
  statistics (raised before the real call), and consumer crashes before the claim, after the
  claim, after the mailer accepted, after the settle, and before the queue delete. A crash
  is a `BaseException`, so the service's per-record boundary does not catch it: the consumer
  abandons the batch without deleting anything and starts again as a fresh consumer;
- once the queue is drained, audits every attendee, every accepted email and every event's
  statistics, prints one table, and exits 1 if any check fails.

Each thread draws its faults from its own `random.Random` seeded from `--seed`, so the
workload and each consumer's fault sequence are fixed by the seed; how the threads interleave
is not, so two runs with one seed give close, not identical, figures.

The simulated clock advances `--tick` seconds per batch handed out, and jumps to the next
visibility expiry when every consumer is idle and nothing is visible. It never runs more than
`--max-batch-age` seconds past the start of a batch still being processed, so a live consumer
never sees its claim lease (`--lease`) or its messages' visibility run out: a claim is only
ever taken over from a consumer that crashed.

How duplicates are judged: the service records each send in the write that claims the next
attendee (or, for the batch's last, in the settle at its end), so an accepted send is
unrecorded from the mailer's answer until that write returns (the window in
docs/architecture.md): a crash after the send or before the next claim leaves it unrecorded.
The driver follows every accepted message id: recorded by an applied settlement; unrecorded
because its consumer crashed inside the window, because the settlement kept failing after the
service's retries, or because the settlement found its claim taken over. An extra email is
explained only by an unrecorded send of the first two kinds to that same attendee, and no
crash may leave more than one send unrecorded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import itertools
import logging
import random
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import build_service
from cis.domain.events import EventRecord
from cis.domain.model import (
    AttendeeKey,
    AttendeeRecord,
    Claim,
    ClaimOutcome,
    Counters,
    Event,
    InviteState,
    MarkSent,
    ReplyChange,
    Settlement,
)
from cis.domain.statistics import EventStatistics
from cis.errors import MailerError, RepositoryError
from cis.ports.mailer import RawEmail
from cis.ports.queue import OutgoingMessage, QueueRecord
from cis.ports.repository import InviteRepository
from cis.services.invites import InviteService, Outcome, acknowledge_processed
from tests.support import RSVP_EMAIL, SENDER, body

START = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
CRASH_POINTS = ("before_claim", "after_claim", "after_send", "after_settle", "before_ack")
TIMEZONES = ("Europe/Berlin", "America/New_York", "UTC", "Asia/Tokyo")
ORIGINS = ("web", "api", None)
SETTLE_FAILED = "settle_failed"
TAKEN_OVER = "taken_over"


@dataclass(frozen=True, slots=True)
class SoakConfig:
    """The knobs of one soak run; the defaults are the ones documented in guarantees.md."""

    n: int = 2000
    repository: str = "memory"
    consumers: int = 4
    seed: int = 7
    events: int = 3
    duplicate_rate: float = 0.05
    repeat_rate: float = 0.10
    invalid_rate: float = 0.005
    bad_address_rate: float = 0.02
    transient_mail_rate: float = 0.20
    repository_fault_rate: float = 0.05
    crash_rate: float = 0.005
    batch_size: int = 10
    visibility: float = 30.0
    lease: float = 60.0
    max_receives: int = 5
    tick: float = 0.1
    max_batch_age: float = 10.0


# --- the workload ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    """The requests to enqueue, and what the audit needs to know about them."""

    messages: list[OutgoingMessage]
    attendees: dict[AttendeeKey, str]
    bad_addresses: frozenset[str]
    event_uids: tuple[str, ...]
    invalid: int
    repeats: int


def make_workload(config: SoakConfig) -> Workload:
    """Requests for `config.n` messages; repeats and bad addresses chosen up front by seed."""
    rng = random.Random(config.seed)
    event_uids = tuple(f"soak-{number}" for number in range(config.events))
    overrides = {
        uid: {"timezone": TIMEZONES[n % len(TIMEZONES)], "summary": f"Soak event {n}"}
        for n, uid in enumerate(event_uids)
    }
    attendees: dict[AttendeeKey, str] = {}
    known: list[tuple[str, str]] = []
    bad: set[str] = set()
    messages: list[OutgoingMessage] = []
    invalid = repeats = 0
    for number in range(config.n):
        draw = rng.random()
        origin = rng.choice(ORIGINS)
        name = f"Guest {number}" if rng.random() < 0.5 else None
        if draw < config.invalid_rate:
            uid = rng.choice(event_uids)
            text = body(f"broken-{number}", uid=uid, **overrides[uid])
            invalid += 1
        elif known and draw < config.invalid_rate + config.repeat_rate:
            uid, address = rng.choice(known)
            text = body(_respell(address, rng), uid=uid, name=name, origin=origin,
                        **overrides[uid])
            repeats += 1
        else:
            uid = rng.choice(event_uids)
            if rng.random() < config.bad_address_rate:
                address = f"bounce{number}@example.org"
                bad.add(address)
            else:
                address = f"guest{number}@example.org"
            attendees[AttendeeKey.of(uid, address)] = address
            known.append((uid, address))
            text = body(address, uid=uid, name=name, origin=origin, **overrides[uid])
        messages.append(OutgoingMessage(body=text, deduplication_id=str(number), group_id=""))
    rng.shuffle(messages)
    return Workload(messages, attendees, frozenset(bad), event_uids, invalid, repeats)


def _respell(address: str, rng: random.Random) -> str:
    """The same address in another case, as a second producer might write it."""
    return "".join(ch.upper() if rng.random() < 0.5 else ch for ch in address)


# --- the simulated queue and its clock ------------------------------------------------------


class SimulatedClock:
    """Time that passes only when the queue says so; the service reads it as `clock=`."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.start = start
        self._now = start

    def __call__(self) -> dt.datetime:
        return self._now

    def set(self, now: dt.datetime) -> None:
        if now > self._now:
            self._now = now


@dataclass(eq=False, slots=True)
class _Message:
    message_id: str
    body: str
    visible_at: dt.datetime
    receive_count: int = 0
    generation: int = 0
    deleted: bool = False
    dead: bool = False


@dataclass(slots=True)
class QueueFigures:
    """What the queue saw, for the table."""

    receives: int = 0
    empty_receives: int = 0
    deliveries: int = 0
    redeliveries: int = 0
    duplicate_deliveries: int = 0
    dead_lettered: int = 0
    redriven: int = 0
    redrive_rounds: int = 0
    deletes: int = 0
    clock_jumps: int = 0
    max_receive_count: int = 0


class SimulatedSqsQueue:
    """An SQS standard queue in memory, with visibility timeouts, a DLQ and duplicate receives.

    It is also an `InviteQueue` (`acknowledge`, `enqueue`), so consumers delete with the
    service's own `acknowledge_processed`.
    """

    def __init__(self, *, clock: SimulatedClock, config: SoakConfig, rng: random.Random) -> None:
        self.clock = clock
        self.figures = QueueFigures()
        self._config = config
        self._visibility = dt.timedelta(seconds=config.visibility)
        self._tick = dt.timedelta(seconds=config.tick)
        self._max_batch_age = dt.timedelta(seconds=config.max_batch_age)
        self._rng = rng
        self._lock = threading.Lock()
        self._ready: deque[tuple[int, _Message]] = deque()
        self._hidden: list[tuple[dt.datetime, int, int, _Message]] = []
        self._duplicates: deque[_Message] = deque()
        self._dead: list[_Message] = []
        self._receipts: dict[str, _Message] = {}
        self._active: dict[int, dt.datetime] = {}
        self._sequence = itertools.count()
        self._remaining = 0

    def enqueue(self, messages: Sequence[OutgoingMessage]) -> None:
        with self._lock:
            for outgoing in messages:
                number = next(self._sequence)
                self._ready.append((0, _Message(f"msg-{number}", outgoing.body, self.clock())))
                self._remaining += 1

    @property
    def remaining(self) -> int:
        """Messages not yet deleted, wherever they are (visible, in flight or dead-lettered)."""
        with self._lock:
            return self._remaining

    def receive(self, consumer: int, max_messages: int) -> list[QueueRecord] | None:
        """Up to `max_messages` records, [] when nothing is visible yet, None once drained."""
        with self._lock:
            self.figures.receives += 1
            batch = self._take(max_messages)
            while not batch and not self._active:
                if self._remaining == 0:
                    return None
                if not (self._jump_to_next_visible() or self._redrive()):
                    raise RuntimeError(f"the queue lost track of {self._remaining} messages")
                batch = self._take(max_messages)
            if not batch:
                self.figures.empty_receives += 1
                return []
            self._active[consumer] = self.clock()
            self._advance(self.clock() + self._tick)
            records = [self._deliver(message) for message in batch]
            for message in batch:
                if self._rng.random() < self._config.duplicate_rate:
                    self._duplicates.appendleft(message)
            return records

    def finish(self, consumer: int) -> None:
        """The consumer is done with its batch (handled or abandoned)."""
        with self._lock:
            self._active.pop(consumer, None)

    def acknowledge(self, receipts: Sequence[str]) -> list[str]:
        """Delete the messages behind `receipts`; unknown receipts are returned."""
        unknown = []
        with self._lock:
            for receipt in receipts:
                message = self._receipts.get(receipt)
                if message is None:
                    unknown.append(receipt)
                elif not message.deleted:
                    message.deleted = True
                    self._remaining -= 1
                    self.figures.deletes += 1
        return unknown

    def _advance(self, target: dt.datetime) -> None:
        if self._active:
            target = min(target, min(self._active.values()) + self._max_batch_age)
        self.clock.set(target)

    def _take(self, max_messages: int) -> list[_Message]:
        now = self.clock()
        while self._hidden and self._hidden[0][0] <= now:
            _, _, generation, message = heapq.heappop(self._hidden)
            if self._live(message) and message.generation == generation:
                self._ready.append((generation, message))
        batch: list[_Message] = []
        while self._duplicates and len(batch) < max_messages:
            message = self._duplicates.popleft()
            if self._live(message) and message not in batch:
                self.figures.duplicate_deliveries += 1
                self._hide(message, now)
                batch.append(message)
        while self._ready and len(batch) < max_messages:
            generation, message = self._ready.popleft()
            if not self._live(message) or message.generation != generation:
                continue
            if message.receive_count >= self._config.max_receives:
                message.dead = True
                self._dead.append(message)
                self.figures.dead_lettered += 1
                continue
            self._hide(message, now)
            batch.append(message)
        return batch

    def _hide(self, message: _Message, now: dt.datetime) -> None:
        """Start the message's visibility timeout; any older way back to `ready` goes stale."""
        message.generation += 1
        message.visible_at = now + self._visibility
        heapq.heappush(
            self._hidden, (message.visible_at, next(self._sequence), message.generation, message)
        )

    def _deliver(self, message: _Message) -> QueueRecord:
        message.receive_count += 1
        self.figures.deliveries += 1
        if message.receive_count > 1:
            self.figures.redeliveries += 1
        self.figures.max_receive_count = max(self.figures.max_receive_count,
                                             message.receive_count)
        receipt = f"{message.message_id}/{self.figures.deliveries}"
        self._receipts[receipt] = message
        return QueueRecord(message_id=message.message_id, body=message.body, receipt=receipt)

    def _jump_to_next_visible(self) -> bool:
        while self._hidden:
            visible_at, _, generation, message = self._hidden[0]
            if self._live(message) and message.generation == generation:
                self.clock.set(visible_at)
                self.figures.clock_jumps += 1
                return True
            heapq.heappop(self._hidden)
        return False

    def _redrive(self) -> bool:
        """Move dead letters back, as an operator does once the main queue is empty."""
        dead = [m for m in self._dead if not m.deleted]
        self._dead.clear()
        for message in dead:
            message.dead = False
            message.receive_count = 0
            self._ready.append((message.generation, message))
        self.figures.redriven += len(dead)
        self.figures.redrive_rounds += 1 if dead else 0
        return bool(dead)

    @staticmethod
    def _live(message: _Message) -> bool:
        return not message.deleted and not message.dead


# --- fault injection ------------------------------------------------------------------------


class ConsumerCrash(BaseException):
    """A simulated consumer death; a BaseException so that no `except Exception` stops it."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.point = point


@dataclass
class Tally:
    """What one consumer thread saw; merged after the run."""

    batches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    recorded: dict[str, AttendeeKey] = field(default_factory=dict)
    unrecorded: dict[str, tuple[AttendeeKey, str]] = field(default_factory=dict)
    driver_errors: list[str] = field(default_factory=list)
    window_crashes: int = 0
    most_unrecorded_by_one_crash: int = 0

    def merge(self, other: Tally) -> None:
        self.batches += other.batches
        self.window_crashes += other.window_crashes
        self.most_unrecorded_by_one_crash = max(self.most_unrecorded_by_one_crash,
                                                other.most_unrecorded_by_one_crash)
        self.outcomes.update(other.outcomes)
        self.crashes.update(other.crashes)
        self.faults.update(other.faults)
        self.recorded.update(other.recorded)
        self.unrecorded.update(other.unrecorded)
        self.driver_errors.extend(other.driver_errors)


class SendLedger:
    """Follows each accepted message id of the current batch until a settlement records it."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally
        self._pending: dict[str, AttendeeKey] = {}

    def accepted(self, mail_id: str, key: AttendeeKey) -> None:
        self._pending[mail_id] = key

    def settled(self, mail_id: str, *, applied: bool) -> None:
        key = self._pending.pop(mail_id, None)
        if key is None:
            self._tally.driver_errors.append(f"settlement for unknown send {mail_id}")
        elif applied:
            self._tally.recorded[mail_id] = key
        else:
            self._tally.unrecorded[mail_id] = (key, TAKEN_OVER)

    def close(self, cause: str) -> int:
        """End the batch: whatever is still pending was sent and never recorded."""
        for mail_id, key in self._pending.items():
            self._tally.unrecorded[mail_id] = (key, cause)
        count = len(self._pending)
        self._pending.clear()
        return count


class Faults:
    """One consumer's dice: transient errors and crashes, at the configured rates."""

    def __init__(self, rng: random.Random, config: SoakConfig, tally: Tally) -> None:
        self._rng = rng
        self._config = config
        self._tally = tally

    def crash(self, point: str) -> None:
        if self._rng.random() < self._config.crash_rate:
            raise ConsumerCrash(point)

    def transient(self, rate: float, what: str) -> bool:
        if self._rng.random() < rate:
            self._tally.faults[what] += 1
            return True
        return False


class FaultyMailer:
    """Throttles at random, rejects the bad addresses every time, crashes after accepting."""

    def __init__(self, inner: InMemoryMailer, *, faults: Faults, bad_addresses: frozenset[str],
                 ledger: SendLedger, config: SoakConfig, tally: Tally) -> None:
        self._inner = inner
        self._faults = faults
        self._bad = bad_addresses
        self._ledger = ledger
        self._config = config
        self._tally = tally

    def send(self, email: RawEmail) -> str:
        if self._faults.transient(self._config.transient_mail_rate, "mailer transient"):
            raise MailerError("injected: throttled", transient=True)
        if email.recipient.lower() in self._bad:
            self._tally.faults["mailer permanent"] += 1
            raise MailerError("injected: 550 mailbox unavailable", transient=False)
        mail_id = self._inner.send(email)
        self._ledger.accepted(mail_id, AttendeeKey.of(email.event_uid, email.recipient))
        self._faults.crash("after_send")
        return mail_id


class FaultyRepository:
    """Fails claim, settle and statistics writes before the real call; crashes around them."""

    def __init__(self, inner: InviteRepository, *, faults: Faults, ledger: SendLedger,
                 config: SoakConfig) -> None:
        self._inner = inner
        self._faults = faults
        self._ledger = ledger
        self._rate = config.repository_fault_rate

    def claim(self, claim: Claim) -> ClaimOutcome:
        self._faults.crash("before_claim")
        if self._faults.transient(self._rate, "repository claim"):
            raise RepositoryError("injected: claim throttled", transient=True)
        outcome = self._inner.claim(claim)
        if outcome.granted:
            self._faults.crash("after_claim")
        return outcome

    def settle_then_claim(
        self, settlements: Sequence[Settlement], claim: Claim
    ) -> tuple[list[bool], ClaimOutcome]:
        self._faults.crash("before_claim")
        if self._faults.transient(self._rate, "repository claim"):
            raise RepositoryError("injected: claim throttled", transient=True)
        applied, outcome = self._inner.settle_then_claim(settlements, claim)
        self._follow(settlements, applied)
        if outcome.granted:
            self._faults.crash("after_claim")
        return applied, outcome

    def settle(self, settlements: Sequence[Settlement]) -> list[bool]:
        if self._faults.transient(self._rate, "repository settle"):
            raise RepositoryError("injected: settle throttled", transient=True)
        applied = self._inner.settle(settlements)
        self._follow(settlements, applied)
        self._faults.crash("after_settle")
        return applied

    def _follow(self, settlements: Sequence[Settlement], applied: list[bool]) -> None:
        for settlement, was_applied in zip(settlements, applied, strict=True):
            if isinstance(settlement, MarkSent):
                self._ledger.settled(settlement.delivery_id, applied=was_applied)

    def apply_statistics(self, event_uid: str, counters: Counters) -> None:
        if self._faults.transient(self._rate, "repository statistics"):
            raise RepositoryError("injected: statistics throttled", transient=True)
        self._inner.apply_statistics(event_uid, counters)

    def apply_reply(self, change: ReplyChange) -> bool:
        return self._inner.apply_reply(change)

    def get_attendee(self, event_uid: str, email: str) -> AttendeeRecord | None:
        return self._inner.get_attendee(event_uid, email)

    def record_event(self, event: Event) -> EventRecord:
        if self._faults.transient(self._rate, "repository event"):
            raise RepositoryError("injected: event version throttled", transient=True)
        return self._inner.record_event(event)

    def get_event(self, event_uid: str) -> EventRecord | None:
        return self._inner.get_event(event_uid)

    def record_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                       done: bool) -> bool:
        return self._inner.record_fan_out(event_uid, sequence, to=to, done=done)

    def attendee_page(self, event_uid: str, *, after: str | None,
                      limit: int) -> list[AttendeeRecord]:
        return self._inner.attendee_page(event_uid, after=after, limit=limit)

    def apply_statistics_once(self, marker: str, event_uid: str, counters: Counters) -> bool:
        return self._inner.apply_statistics_once(marker, event_uid, counters)

    def get_statistics(self, event_uid: str) -> EventStatistics:
        return self._inner.get_statistics(event_uid)

    def recount(self, event_uid: str) -> EventStatistics:
        return self._inner.recount(event_uid)


class _CountingHandler(logging.Handler):
    """Counts what the service logs at WARNING and above, keeping the first few errors."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()
        self.errors: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            self.levels[record.levelname] += 1
            if record.levelno >= logging.ERROR and len(self.errors) < 5:
                self.errors.append(record.getMessage())


# --- consumers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Shared:
    config: SoakConfig
    queue: SimulatedSqsQueue
    repository: InviteRepository
    mailer: InMemoryMailer
    bad_addresses: frozenset[str]
    logger: logging.Logger


def _consume(number: int, shared: _Shared, tally: Tally) -> None:
    """Receive, process, delete; on a crash abandon the batch and start as a fresh consumer."""
    config = shared.config
    rng = random.Random(config.seed * 1000 + number + 1)
    faults = Faults(rng, config, tally)
    ledger = SendLedger(tally)
    service = _fresh_service(shared, faults, ledger, tally)
    try:
        while True:
            records = shared.queue.receive(number, config.batch_size)
            if records is None:
                return
            if not records:
                time.sleep(0.0005)
                continue
            try:
                report = service.process_batch(records)
                ledger.close(SETTLE_FAILED)
                faults.crash("before_ack")
                acknowledge_processed(shared.queue, report)
                tally.batches += 1
                tally.outcomes.update(result.outcome.value for result in report.results)
            except ConsumerCrash as crash:
                tally.crashes[crash.point] += 1
                left = ledger.close(f"crash {crash.point}")
                tally.window_crashes += left > 0
                tally.most_unrecorded_by_one_crash = max(tally.most_unrecorded_by_one_crash,
                                                         left)
                service = _fresh_service(shared, faults, ledger, tally)
            finally:
                shared.queue.finish(number)
    except BaseException as exc:
        tally.driver_errors.append(f"consumer {number} died: {exc!r}")


def _fresh_service(shared: _Shared, faults: Faults, ledger: SendLedger,
                   tally: Tally) -> InviteService:
    config = shared.config
    return build_service(
        repository=FaultyRepository(shared.repository, faults=faults, ledger=ledger,
                                    config=config),
        mailer=FaultyMailer(shared.mailer, faults=faults, bad_addresses=shared.bad_addresses,
                            ledger=ledger, config=config, tally=tally),
        sender=SENDER,
        rsvp_email=RSVP_EMAIL,
        claim_lease=dt.timedelta(seconds=config.lease),
        clock=shared.queue.clock,
        sleep=lambda _: None,
        logger=shared.logger,
    )


# --- the run and its audit ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: a figure, and whether its check held (None: no check)."""

    name: str
    value: object
    ok: bool | None = None
    expectation: str = ""


@dataclass(frozen=True, slots=True)
class SoakResult:
    """The table of one run."""

    title: str
    rows: tuple[Row, ...]
    service_errors: tuple[str, ...] = ()
    driver_errors: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)

    @property
    def failed_checks(self) -> list[Row]:
        return [row for row in self.rows if row.ok is False]

    def __getitem__(self, name: str) -> Any:
        for row in self.rows:
            if row.name == name:
                return row.value
        raise KeyError(name)

    def table(self) -> str:
        lines = [self.title, "", "| figure | value | check |", "|---|---:|---|"]
        for row in self.rows:
            check = "" if row.ok is None else ("ok" if row.ok else "**FAIL**")
            if row.expectation:
                check = f"{check} ({row.expectation})" if check else f"({row.expectation})"
            lines.append(f"| {row.name} | {_format(row.value)} | {check} |")
        lines.extend(f"service logged: {text}" for text in self.service_errors)
        lines.extend(f"driver error: {text}" for text in self.driver_errors)
        return "\n".join(lines)


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def run_soak(config: SoakConfig, *, repository: InviteRepository | None = None,
             mailer: InMemoryMailer | None = None) -> SoakResult:
    """Run one soak and audit it.

    Args:
        config: Sizes, rates and timings.
        repository: The store under test, instead of the one `config.repository` names.
        mailer: The mail system behind the fault injector, instead of a new `InMemoryMailer`;
            it must record every message it accepts in `sent`.

    """
    with _repository(config, repository) as store:
        return _run(config, store, mailer or InMemoryMailer())


@contextmanager
def _repository(config: SoakConfig,
                given: InviteRepository | None) -> Iterator[InviteRepository]:
    if given is not None:
        yield given
    elif config.repository == "memory":
        yield InMemoryInviteRepository()
    elif config.repository == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cis-soak-") as folder:
            store = SqliteInviteRepository(path=Path(folder) / "soak.sqlite3")
            try:
                yield store
            finally:
                store.close()
    else:
        raise ValueError(f"unknown repository {config.repository!r}")


def _run(config: SoakConfig, repository: InviteRepository, mailer: InMemoryMailer) -> SoakResult:
    workload = make_workload(config)
    clock = SimulatedClock()
    queue = SimulatedSqsQueue(clock=clock, config=config, rng=random.Random(config.seed + 1))
    queue.enqueue(workload.messages)
    handler = _CountingHandler()
    logger = logging.Logger("cis.soak", logging.WARNING)
    logger.addHandler(handler)
    shared = _Shared(config, queue, repository, mailer, workload.bad_addresses, logger)
    tallies = [Tally() for _ in range(config.consumers)]
    threads = [
        threading.Thread(target=_consume, args=(n, shared, tallies[n]), name=f"soak-{n}",
                         daemon=True)
        for n in range(config.consumers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    tally = Tally()
    for each in tallies:
        tally.merge(each)
    return _audit(config, workload, repository, mailer, queue, tally, handler, elapsed)


def _audit(config: SoakConfig, workload: Workload, repository: InviteRepository,
           mailer: InMemoryMailer, queue: SimulatedSqsQueue, tally: Tally,
           handler: _CountingHandler, elapsed: float) -> SoakResult:
    emails = Counter(AttendeeKey.of(e.event_uid, e.recipient) for e in mailer.sent)
    window = Counter(key for key, cause in tally.unrecorded.values() if cause != TAKEN_OVER)
    causes = Counter(cause for _, cause in tally.unrecorded.values())

    delivered = lost = duplicates = extra = unexplained = not_final = 0
    sent_records = failed_records = bad_not_failed = wrongly_failed = unrecorded_sent = 0
    for key, address in workload.attendees.items():
        record = repository.get_attendee(key.event_uid, address)
        state = record.state if record else None
        count = emails[key]
        delivered += count > 0
        if key.address in workload.bad_addresses:
            bad_not_failed += state is not InviteState.FAILED or count > 0
        else:
            lost += count == 0 and state is not InviteState.FAILED
            wrongly_failed += state is InviteState.FAILED
        not_final += state not in (InviteState.SENT, InviteState.FAILED)
        failed_records += state is InviteState.FAILED
        if record is not None and state is InviteState.SENT:
            sent_records += 1
            unrecorded_sent += tally.recorded.get(record.delivery_id or "") != key
        if count > 1:
            duplicates += 1
            extra += count - 1
            unexplained += max(0, count - 1 - window[key])
    stray = sum(n for key, n in emails.items() if key not in workload.attendees)

    stored = {uid: repository.get_statistics(uid) for uid in workload.event_uids}
    recounted = {uid: repository.recount(uid) for uid in workload.event_uids}
    unequal = [uid for uid in workload.event_uids if stored[uid] != recounted[uid]]
    invites_sent = sum(s.invites_sent for s in stored.values())
    invites_failed = sum(s.invites_failed for s in stored.values())
    duplicates_skipped = sum(s.duplicates_skipped for s in stored.values())
    rejected = sum(s.requests_rejected for s in stored.values())

    q = queue.figures
    crashes = sum(tally.crashes.values())
    window_sends = sum(window.values())
    rows: list[Row] = [
        Row("requests", config.n),
        Row("distinct attendees", len(workload.attendees)),
        Row("repeat requests (same attendee, other case)", workload.repeats),
        Row("invalid requests", workload.invalid),
        Row("bad addresses (rejected every time)", len(workload.bad_addresses)),
        Row("wall time, s", round(elapsed, 1)),
        Row("simulated time, s", round((queue.clock() - queue.clock.start).total_seconds(), 1)),
        Row("receive calls (incl. empty polls)", q.receives),
        Row("deliveries", q.deliveries),
        Row("redeliveries", q.redeliveries),
        Row("duplicate deliveries (two holders at once)", q.duplicate_deliveries),
        Row("dead-lettered, then redriven", q.dead_lettered),
        Row("highest receive count", q.max_receive_count),
        Row("batches handled", tally.batches),
        *(Row(f"outcome {o.value}", tally.outcomes[o.value]) for o in Outcome),
        Row("injected mailer transient errors", tally.faults["mailer transient"]),
        Row("injected mailer permanent errors", tally.faults["mailer permanent"]),
        Row("injected repository errors (claim/settle/stats)",
            "/".join(str(tally.faults[f"repository {w}"])
                     for w in ("claim", "settle", "statistics"))),
        *(Row(f"crashes {point}", tally.crashes[point]) for point in CRASH_POINTS),
        Row("accepted sends unrecorded by a crash", sum(
            n for cause, n in causes.items() if cause.startswith("crash"))),
        *(Row(f"... by a crash {point}", causes[f"crash {point}"]) for point in CRASH_POINTS),
        Row("accepted sends unrecorded as settle kept failing", causes[SETTLE_FAILED]),
        Row("service errors logged (unexpected exceptions)", handler.levels["ERROR"]),
        Row("queue drained", queue.remaining == 0 and not tally.driver_errors,
            queue.remaining == 0 and not tally.driver_errors,
            f"{queue.remaining} left, {len(tally.driver_errors)} driver errors"),
        Row("delivered (attendees with >= 1 email)", delivered),
        Row("lost", lost, lost == 0, "== 0"),
        Row("duplicates (attendees with > 1 email)", duplicates),
        Row("crashes with an accepted send unrecorded", tally.window_crashes, None,
            f"of {crashes} crashes at all points"),
        Row("most accepted sends one crash left unrecorded", tally.most_unrecorded_by_one_crash,
            tally.most_unrecorded_by_one_crash <= 1, "<= 1"),
        Row("extra emails", extra, extra <= tally.window_crashes + causes[SETTLE_FAILED],
            f"<= {tally.window_crashes} crashes in the window"
            f" + {causes[SETTLE_FAILED]} sends whose settle kept failing"),
        Row("extra emails vs sends unrecorded", f"{extra} vs {window_sends}", None,
            f"{duplicates} attendees with > 1 email"),
        Row("extra emails outside the window", unexplained, unexplained == 0, "== 0"),
        Row("claims taken over from a live consumer", causes[TAKEN_OVER],
            causes[TAKEN_OVER] == 0, "== 0"),
        Row("emails to no attendee", stray, stray == 0, "== 0"),
        Row("records not sent or failed", not_final, not_final == 0, "== 0"),
        Row("bad addresses not recorded failed (or emailed)", bad_not_failed,
            bad_not_failed == 0, "== 0"),
        Row("good addresses recorded failed", wrongly_failed, wrongly_failed == 0, "== 0"),
        Row("sent records whose message id was never settled", unrecorded_sent,
            unrecorded_sent == 0, "== 0"),
        Row("events whose statistics != recount", len(unequal), not unequal,
            ", ".join(unequal) or "== 0"),
        Row("invites_sent", invites_sent, invites_sent == sent_records,
            f"== {sent_records} sent records"),
        Row("invites_failed", invites_failed, invites_failed == failed_records,
            f"== {failed_records} failed records"),
        Row("duplicates_skipped", duplicates_skipped, duplicates_skipped >= workload.repeats,
            f">= {workload.repeats} repeat requests"),
        Row("requests_rejected", rejected, rejected >= workload.invalid,
            f">= {workload.invalid} invalid requests"),
    ]
    title = (f"cis reliability soak: repository={config.repository} "
             + " ".join(f"{f.name}={getattr(config, f.name)}" for f in fields(config)
                        if f.name != "repository"))
    return SoakResult(title, tuple(rows), tuple(handler.errors), tuple(tally.driver_errors))


# --- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    defaults = SoakConfig()
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak",
        description="Soak the invite flow under redelivery, faults and crashes, then audit it.",
    )
    parser.add_argument("--n", type=int, default=defaults.n, help="requests to enqueue")
    parser.add_argument("--repository", choices=("memory", "sqlite"),
                        default=defaults.repository)
    parser.add_argument("--consumers", type=int, default=defaults.consumers)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate,
                        help="chance that a receive also hands the message to a second holder")
    parser.add_argument("--repeat-rate", type=float, default=defaults.repeat_rate)
    parser.add_argument("--invalid-rate", type=float, default=defaults.invalid_rate)
    parser.add_argument("--bad-address-rate", type=float, default=defaults.bad_address_rate)
    parser.add_argument("--transient-mail-rate", type=float,
                        default=defaults.transient_mail_rate)
    parser.add_argument("--repository-fault-rate", type=float,
                        default=defaults.repository_fault_rate)
    parser.add_argument("--crash-rate", type=float, default=defaults.crash_rate,
                        help="chance of a crash at each crash point each time it is passed")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--visibility", type=float, default=defaults.visibility,
                        help="visibility timeout, simulated seconds")
    parser.add_argument("--lease", type=float, default=defaults.lease,
                        help="claim lease, simulated seconds")
    parser.add_argument("--max-receives", type=int, default=defaults.max_receives)
    parser.add_argument("--tick", type=float, default=defaults.tick,
                        help="simulated seconds the clock moves per batch handed out")
    parser.add_argument("--max-batch-age", type=float, default=defaults.max_batch_age)
    return parser


def main(argv: Sequence[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    """Run the soak from the command line; 0 when every check holds, 1 otherwise."""
    arguments = vars(_parser().parse_args(argv))
    config = SoakConfig(**arguments)
    if config.lease >= config.visibility * config.max_receives:
        out("warning: the lease outlives every receive of a message; abandoned claims "
            "may only clear after a redrive")
    result = run_soak(config)
    out(result.table())
    if not result.passed:
        out("FAILED: " + "; ".join(row.name for row in result.failed_checks))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
