"""A fan-out of one event to 100,000 attendees inside Lambda's limits: time, memory, calls.

What it runs, all in this process: `--attendees` attendees already sent version 0 of one event
are seeded into the in-memory store, then one fan-out body for version 1 goes through
`InviteService.process_batch`, as the Lambda handler hands it over, with the function's own
queue as the relay. The store and the queue answer instantly, so each call they take is
charged to a modelled clock at the latency DynamoDB and SQS show from inside a region
(`--query-ms` for a page's Query, `--update-ms` for noting progress, `--send-ms` for one
SendMessageBatch of ten), and the invocation's remaining time is read from that clock. When
too little time is left, the fan-out goes on in a new fan-out message: each is handed to a
new invocation, until the fan-out is done.

Figures, for each function timeout in `--timeouts`:

- invocations the fan-out takes, and the longest one in modelled seconds (must stay under
  the timeout: the deadline reserve is what keeps it there);
- per-attendee messages handed on (must equal the attendees: none lost, none twice; a page a
  crash interrupts is handed on again, which the per-attendee rule absorbs);
- SQS calls per attendee (a tenth: batches of ten);
- peak memory of the whole fan-out (tracemalloc), as a ratio against a baseline run in the
  same process: paging every attendee of the event without handing anything on. The target
  is at most 2x: the fan-out holds a page, never the event.

Run from the repository root: `.venv/bin/python bench/fan_out.py` (100,000 attendees; about a
minute on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import headlines
from headlines import Headline
from text_table import aligned

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.cli.inputs import read_event
from cis.domain import statistics
from cis.domain.model import (
    AttendeeKey,
    Claim,
    FanOut,
    HistoryEntry,
    Invitee,
    MarkSent,
    PartStat,
)
from cis.messages.invite_format import encode_message, parse_message
from cis.ports.queue import OutgoingMessage, QueueRecord
from cis.services import fan_out as fan_out_module
from cis.services.reports import Outcome

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "event.json"
NOW = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


@dataclass
class Clock:
    """Modelled seconds: what the calls charged so far."""

    now: float = 0.0


class ModelledStore(InMemoryInviteRepository):
    """The in-memory store, each fan-out call charged to the clock at DynamoDB's latency."""

    def __init__(self, clock: Clock, query_s: float, update_s: float) -> None:
        super().__init__()
        self.clock, self.query_s, self.update_s = clock, query_s, update_s

    def attendee_page(self, event_uid: str, *, after: str | None, limit: int) -> list[Any]:
        self.clock.now += self.query_s
        return super().attendee_page(event_uid, after=after, limit=limit)

    def record_fan_out(self, event_uid: str, sequence: int, *, to: str | None,
                       done: bool) -> bool:
        self.clock.now += self.update_s
        return super().record_fan_out(event_uid, sequence, to=to, done=done)

    def record_event(self, event: Any) -> Any:
        self.clock.now += self.query_s + self.update_s
        return super().record_event(event)


class ModelledQueue:
    """The function's own queue: counts what it is given, charged at SQS's latency."""

    def __init__(self, clock: Clock, send_s: float) -> None:
        self.clock, self.send_s = clock, send_s
        self.calls = 0
        self.attendee_messages = 0
        self.continuations: list[OutgoingMessage] = []
        self.largest_call = 0

    def enqueue(self, messages: Sequence[OutgoingMessage]) -> None:
        self.clock.now += self.send_s
        self.calls += 1
        self.largest_call = max(self.largest_call, len(messages))
        for message in messages:
            if '"request"' in message.body:
                self.attendee_messages += 1
            else:
                self.continuations.append(message)

    def acknowledge(self, receipts: Sequence[str]) -> list[str]:
        return []


def seed(store: ModelledStore, event: Any, count: int) -> None:
    """`count` attendees sent version 0, as claims and settlements write them."""
    store.record_event(event)
    for n in range(count):
        email = f"guest{n:06d}@example.org"
        key = AttendeeKey.of(event.uid, email)
        claim = Claim(key=key, invitee=Invitee(email), token=f"t{n}", now=NOW,
                      lease_expires_at=NOW + dt.timedelta(minutes=15))
        store.claim(claim)
        store.settle([MarkSent(key, f"t{n}", delivery_id=f"d{n}", at=NOW,
                               history=HistoryEntry(PartStat.NEEDS_ACTION, NOW, "cis:invite"),
                               counters=statistics.on_sent(PartStat.NEEDS_ACTION, None))])



@dataclass(frozen=True)
class Run:
    """One fan-out to the end, at one function timeout."""

    timeout: float
    invocations: int
    longest: float
    handed_on: int
    sqs_calls: int
    largest_call: int
    peak_bytes: int


def fan_out(store: ModelledStore, clock: Clock, event: Any, timeout: float,
            send_s: float) -> Run:
    """Hand the fan-out to invocations of `timeout` seconds until it is done."""
    queue = ModelledQueue(clock, send_s)
    service = build_service(repository=store, mailer=InMemoryMailer(),
                            sender="invites@example.org", rsvp_email="rsvp@example.org",
                            relay=queue, sleep=lambda _: None)
    pending = [encode_message(FanOut(event))]
    invocations, longest = 0, 0.0
    tracemalloc.start()
    while pending:
        body = pending.pop()
        started = clock.now
        report = service.process_batch(
            [QueueRecord(f"invocation-{invocations}", body, "r")],
            time_left=lambda started=started: timeout - (clock.now - started))
        invocations += 1
        longest = max(longest, clock.now - started)
        [result] = report.results
        if result.outcome is not Outcome.EXPANDED:
            raise SystemExit(f"invocation {invocations}: {result.outcome}: {result.reason}")
        pending.extend(message.body for message in queue.continuations)
        queue.continuations.clear()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return Run(timeout, invocations, longest, queue.attendee_messages, queue.calls,
               queue.largest_call, peak)


def paging_baseline(store: ModelledStore, event_uid: str) -> int:
    """Peak memory of reading every attendee a page at a time, handing nothing on."""
    tracemalloc.start()
    after = None
    while page := store.attendee_page(event_uid, after=after,
                                      limit=fan_out_module.FAN_OUT_PAGE):
        after = page[-1].key.address
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--attendees", type=int, default=100_000)
    parser.add_argument("--timeouts", type=float, nargs="+", default=[60.0, 900.0],
                        help="function timeouts to run the fan-out under, in seconds")
    parser.add_argument("--query-ms", type=float, default=10.0)
    parser.add_argument("--update-ms", type=float, default=8.0)
    parser.add_argument("--send-ms", type=float, default=15.0)
    headlines.add_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    event = read_event(EXAMPLE)
    started = time.perf_counter()
    clock = Clock()
    store = ModelledStore(clock, args.query_ms / 1000, args.update_ms / 1000)
    seed(store, event, args.attendees)
    print(f"seeded {args.attendees:,} attendees in {time.perf_counter() - started:,.1f}s")
    gc.collect()
    baseline = paging_baseline(store, event.uid)

    runs: list[Run] = []
    for sequence, timeout in enumerate(args.timeouts, start=1):
        gc.collect()
        runs.append(fan_out(store, clock, replace(event, sequence=sequence), timeout,
                            args.send_ms / 1000))
        parse_message(encode_message(FanOut(event)))  # the body stays readable

    rows = [["timeout s", "invocations", "longest s", "handed on", "SQS calls/attendee",
             "peak KiB", "x paging"]]
    for run in runs:
        rows.append([f"{run.timeout:.0f}", f"{run.invocations}", f"{run.longest:.1f}",
                     f"{run.handed_on:,}", f"{run.sqs_calls / args.attendees:.3f}",
                     f"{run.peak_bytes / 1024:,.0f}", f"{run.peak_bytes / baseline:.2f}"])
    print(f"fan-out of one event to {args.attendees:,} attendees; modelled latency: Query "
          f"{args.query_ms} ms, UpdateItem {args.update_ms} ms, SendMessageBatch "
          f"{args.send_ms} ms; baseline: paging alone, peak {baseline / 1024:,.0f} KiB")
    print(aligned(rows))

    found: list[Headline] = []
    for run in runs:
        within = run.longest < run.timeout
        found.append(Headline("fan_out", f"{args.attendees:,} attendees, {run.timeout:.0f} s "
                              "timeout: invocations (longest)",
                              f"{run.invocations} ({run.longest:.1f} s)",
                              "each under the timeout", within))
        found.append(Headline("fan_out", f"messages handed on ({run.timeout:.0f} s)",
                              f"{run.handed_on:,}", f"= {args.attendees:,}",
                              run.handed_on == args.attendees))
        ratio = run.peak_bytes / baseline
        found.append(Headline("fan_out", f"peak memory x paging alone ({run.timeout:.0f} s)",
                              f"{ratio:.2f}x", "<= 2x", ratio <= 2.0))
    headlines.write(args.headlines, found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
