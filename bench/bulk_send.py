"""Bulk local send: how fast `cis send` invites a long CSV, and whether its memory stays flat.

What it runs: `cis.cli.main(["send", EVENT.json, ATTENDEES.csv, ...])` in this process, the
code path of the command (CSV streamed in chunks of 100 through `InviteService.send_invites`,
SQLite state in a fresh file per pass), on a generated CSV of `--n` valid, distinct
attendees and `examples/event.json`. The mailer is either the real `OutboxMailer` (one
fsynced .eml file per invite) or a null mailer that accepts and discards each message; the
bench swaps it in by replacing the `OutboxMailer` name that `cis.bootstrap.local_runtime`
builds the command's mailer from.

How to read the table:

- `floor` is the least work any bulk send must do per invite: read the CSV row and format one
  prepared message string (a real rendered invitation with the address and name as
  placeholders) with `str.format`, writing nothing. Best of three, same process.
- `x floor` is a run's wall-clock time per invite divided by the floor's: how many times the
  least possible work `cis send` costs. `cpu x floor` is the same with this process's CPU
  time (`time.process_time`), which other programs competing for the cores barely move but
  which leaves out waiting for the disk. `invites/s` and `us/invite` are absolute (wall
  clock) and depend on the machine; the ratios travel better between machines. The load
  average printed under the table says how busy the machine was.
- `@10k` rows are checkpoints taken inside the `@N` pass when the 10,000th message reaches
  the mailer. The CSV is streamed, so the first 10k rows of an N-row run are a 10k run;
  measuring both in one pass halves the cost.
- `py peak MiB` is tracemalloc's peak of Python allocations during the pass (above what was
  live when it started). Tracing makes Python code 2 to 5 times slower, so it comes from
  a second pass of the same size; speed figures always come from the untraced pass.
- `maxrss MiB` is `resource.getrusage(RUSAGE_SELF).ru_maxrss`, the process's resident-set
  high-water mark, which covers C allocations too (SQLite's page cache, the interpreter).
  It never goes down: `+maxrss` is how much the high-water mark rose during the pass, so a
  pass run after a bigger one can show 0.
- Memory is flat when `py peak` at N over `py peak` at 10k is close to 1 (target < 1.5) and
  `maxrss` does not rise between the 10k checkpoint and the end of the pass. `py live`, the
  Python memory in use at 10k, N/2 and N, tells a one-time step (a bounded cache filling up
  early) from growth per invite: only the second goes on rising between N/2 and N.

Run from the repository root: `.venv/bin/python bench/bulk_send.py` (default N = 100,000, both
mailers, four passes). On a busy 2-core machine that took about 13 minutes, most of it the
outbox passes' fsyncs and the traced passes; `--mailer null --no-trace` takes about a minute
and `--n 10000` a tenth of the default. See docs/performance.md for measured figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import gc
import io
import json
import os
import platform
import resource
import shutil
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from unittest import mock

import headlines
from headlines import Headline
from text_table import aligned, cpus_available

from cis.adapters import outbox as outbox_adapter
from cis.adapters.outbox import OutboxMailer
from cis.cli import main as cis_main
from cis.cli.inputs import attendee_row, read_event
from cis.domain.rendering.imip import compose_invitation
from cis.ports.mailer import Mailer, RawEmail

EVENT = Path(__file__).resolve().parents[1] / "examples" / "event.json"
DEFAULT_N = 100_000
DEFAULT_SMALL = 10_000
MAILERS = ("null", "outbox")
FLAT_TARGET = 1.5
SENDER = "invites@example.org"
RSVP_EMAIL = "rsvp@example.org"
SAMPLE_EMAIL = "sample.attendee@example.net"
SAMPLE_NAME = "Sample Attendee"
FLOOR_REPEATS = 3
MIB = 1024 * 1024


class BenchError(Exception):
    """Raised when a pass did not do the work it was timed for; its figures would mislead."""


class NullMailer:
    """Accepts every message and discards it: the send path without the mailer's I/O."""

    def __init__(self) -> None:
        self.accepted = 0

    def send(self, email: RawEmail) -> str:
        """Count the message and return an id for it."""
        self.accepted += 1
        return f"null-{self.accepted}"


@dataclass(frozen=True)
class Mark:
    """Time and memory after a number of invites, counted from the start of a pass."""

    invites: int
    seconds: float
    cpu_seconds: float
    py_peak: int | None
    py_live: int | None
    maxrss: int


class Checkpointed:
    """Wraps a mailer and takes a `Mark` when each of the `at`-th messages is handed over."""

    def __init__(self, inner: Mailer, *, at: Collection[int], clock: Callable[[int], Mark],
                 progress: Callable[[int], None], every: int) -> None:
        self.inner = inner
        self.sent = 0
        self._at = frozenset(at)
        self._clock = clock
        self._progress = progress
        self._every = every
        self.marks: dict[int, Mark] = {}

    def send(self, email: RawEmail) -> str:
        """Send through the wrapped mailer, then take a mark if this is one of the counts."""
        mail_id = self.inner.send(email)
        self.sent += 1
        if self.sent in self._at:
            self.marks[self.sent] = self._clock(self.sent)
        if self.sent % self._every == 0:
            self._progress(self.sent)
        return mail_id


@dataclass(frozen=True)
class Pass:
    """One `cis send` over the whole CSV, marked at the small size, at N/2, at N and after."""

    mailer: str
    traced: bool
    rss_before: int
    small: Mark
    half: Mark
    last: Mark
    end: Mark
    loads: tuple[float, ...]


def maxrss_bytes() -> int:
    """The process's peak resident set so far (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def write_attendees(path: Path, n: int) -> None:
    """N valid, distinct attendees with a name and an origin, as a user's CSV would have."""
    origins = ("web", "api", "import")
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("email", "name", "origin"))
        for number in range(n):
            writer.writerow((f"attendee.{number}@example.org", f"Attendee {number}",
                             origins[number % len(origins)]))


def message_template() -> str:
    """One real rendered invitation with the address and the name turned into placeholders."""
    event = read_event(EVENT)
    invitee = attendee_row(1, {"email": SAMPLE_EMAIL, "name": SAMPLE_NAME}, event.uid).invitee
    if invitee is None:
        raise BenchError("the sample attendee is invalid")
    invitation = compose_invitation(
        event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), email_id="0" * 32,
    )
    text = invitation.data.decode("utf-8").replace("{", "{{").replace("}", "}}")
    template = text.replace(SAMPLE_EMAIL, "{email}").replace(SAMPLE_NAME, "{name}")
    if "{email}" not in template:
        raise BenchError("the rendered sample does not contain the sample address")
    return template


def floor_seconds(csv_path: Path, template: str, n: int) -> tuple[float, float]:
    """Best wall and CPU seconds of a few runs of: read each row, format its message, keep none."""
    best = best_cpu = float("inf")
    for _ in range(FLOOR_REPEATS):
        started, cpu_started = time.perf_counter(), time.process_time()
        rows = size = 0
        with csv_path.open(encoding="utf-8-sig", newline="") as handle:
            for row in csv.DictReader(handle):
                size += len(template.format(email=row["email"], name=row["name"]))
                rows += 1
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu_started)
        if rows != n or size <= 0:
            raise BenchError(f"floor read {rows} rows, expected {n}")
    return best, best_cpu


def send_pass(mailer: str, csv_path: Path, workdir: Path, *, n: int, small: int,
              traced: bool) -> Pass:
    """Run `cis send` over the CSV with fresh state; fail unless every row was sent."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"{mailer}-", dir=workdir))
    argv = ["send", str(EVENT), str(csv_path), "--state", str(run_dir / "cis.db"),
            "--outbox", str(run_dir / "outbox"), "--sender", SENDER,
            "--rsvp-email", RSVP_EMAIL, "--json"]
    built: list[Checkpointed] = []
    gc.collect()
    rss_before = maxrss_bytes()
    was_tracing = tracemalloc.is_tracing()
    if traced and not was_tracing:
        tracemalloc.start()
    traced_base = tracemalloc.get_traced_memory()[0] if traced else 0
    if traced:
        tracemalloc.reset_peak()
    loads = [os.getloadavg()[0]]
    started, cpu_started = time.perf_counter(), time.process_time()

    def mark(invites: int) -> Mark:
        live, peak = tracemalloc.get_traced_memory() if traced else (traced_base, traced_base)
        return Mark(invites, time.perf_counter() - started, time.process_time() - cpu_started,
                    peak - traced_base if traced else None,
                    live - traced_base if traced else None, maxrss_bytes())

    def progress(sent: int) -> None:
        loads.append(os.getloadavg()[0])
        # cis's own progress lines go to the captured stderr; this goes to the real one.
        if sys.__stderr__ is not None:
            print(f"bulk_send:   {sent:,} sent, {time.perf_counter() - started:,.0f}s",
                  file=sys.__stderr__, flush=True)

    def build(*, directory: Path) -> Checkpointed:
        inner: Mailer = OutboxMailer(directory=directory) if mailer == "outbox" else NullMailer()
        built.append(Checkpointed(inner, at=(small, n // 2, n), clock=mark,
                                  progress=progress, every=max(1, n // 10)))
        return built[-1]

    out, err = io.StringIO(), io.StringIO()
    try:
        with (mock.patch.object(outbox_adapter, "OutboxMailer", build),
              contextlib.redirect_stdout(out), contextlib.redirect_stderr(err)):
            status = cis_main(argv)
        end = mark(n)
    finally:
        if traced and not was_tracing:
            tracemalloc.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    summary = json.loads(out.getvalue() or "{}")
    if status != 0 or summary.get("sent") != n or not built or len(built[0].marks) < 2:
        raise BenchError(f"cis send with the {mailer} mailer exited {status} with {summary}; "
                         f"stderr ends: {err.getvalue()[-500:]!r}")
    marks = built[0].marks
    return Pass(mailer, traced, rss_before, marks[small], marks[n // 2], marks[n], end,
                tuple(loads))


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    name: str
    invites: int
    seconds: float
    cpu_seconds: float
    py_peak: int | None = None
    maxrss: int | None = None
    rss_growth: int | None = None


def _size(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def _seconds(value: float) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:,.2f}"


def table(rows: Sequence[Row], floor: Row) -> str:
    """Plain aligned text: name left, figures right, `-` where a figure does not apply."""
    header = ("run", "invites", "wall s", "cpu s", "invites/s", "us/invite", "x floor",
              "cpu x floor", "py peak MiB", "maxrss MiB", "+maxrss MiB")
    floor_wall, floor_cpu = floor.seconds / floor.invites, floor.cpu_seconds / floor.invites
    lines = [header]
    for row in rows:
        per_invite = row.seconds / row.invites
        cpu_per_invite = row.cpu_seconds / row.invites
        lines.append((
            row.name, f"{row.invites:,}", _seconds(row.seconds), _seconds(row.cpu_seconds),
            f"{1 / per_invite:,.0f}", f"{per_invite * 1e6:,.1f}",
            f"{per_invite / floor_wall:,.1f}", f"{cpu_per_invite / floor_cpu:,.1f}",
            "-" if row.py_peak is None else f"{row.py_peak / MIB:,.2f}",
            "-" if row.maxrss is None else f"{row.maxrss / MIB:,.1f}",
            "-" if row.rss_growth is None else f"{row.rss_growth / MIB:,.1f}",
        ))
    return aligned(lines)


def machine() -> str:
    """The facts needed to compare figures between machines."""
    cpus = cpus_available()
    return (f"Python {platform.python_version()}, {cpus} CPU(s) available, "
            f"{platform.system()} {platform.machine()}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The bench's options; see the module docstring for how to read the output."""
    parser = argparse.ArgumentParser(
        prog="bench/bulk_send.py",
        description="Time `cis send` on a generated CSV against a floor run in the same "
        "process, and check that memory stays flat between a small and a large list.",
    )
    parser.add_argument("--n", type=int, default=DEFAULT_N,
                        help=f"attendees in the generated CSV (default {DEFAULT_N:,})")
    parser.add_argument("--small", type=int, default=None,
                        help=f"the checkpoint compared with N for flat memory (default "
                        f"{DEFAULT_SMALL:,}, or N/10 when N is not above it)")
    parser.add_argument("--mailer", choices=MAILERS, action="append",
                        help="run only this mailer (repeatable; default: null, then outbox)")
    parser.add_argument("--no-trace", action="store_true",
                        help="skip the tracemalloc passes (about 3x slower than the timed "
                        "ones); memory then comes from ru_maxrss alone")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the temporary CSV, state and outbox go (default: the "
                        "system temp dir); a 100k outbox pass writes about 0.8 GB")
    headlines.add_option(parser)
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error("--n must be at least 2")
    if args.small is None:
        args.small = DEFAULT_SMALL if args.n > DEFAULT_SMALL else max(1, args.n // 10)
    if not 0 < args.small < args.n:
        parser.error("--small must be between 1 and N - 1")
    args.mailer = args.mailer or list(MAILERS)
    return args


def _say(message: str) -> None:
    print(f"bulk_send: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the floor and every pass, then print the table; 1 if a pass did not send all."""
    args = parse_args(argv)
    n, small = args.n, args.small
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cis-bulk-send-", dir=args.workdir) as tmp:
        workdir = Path(tmp)
        csv_path = workdir / "attendees.csv"
        write_attendees(csv_path, n)
        template = message_template()
        floor, floor_cpu = floor_seconds(csv_path, template, n)
        _say(f"floor: {n:,} rows in {floor:.2f}s")
        passes: dict[tuple[str, bool], Pass] = {}
        for traced in (False,) if args.no_trace else (False, True):
            for mailer in args.mailer:
                kind = "traced" if traced else "timed"
                _say(f"{mailer} mailer, {n:,} invites, {kind} pass ...")
                try:
                    done = send_pass(mailer, csv_path, workdir, n=n, small=small, traced=traced)
                except BenchError as exc:
                    _say(str(exc))
                    return 1
                passes[mailer, traced] = done
                _say(f"{mailer} mailer, {kind} pass: {done.end.seconds:,.1f}s "
                     f"({n / done.end.seconds:,.0f} invites/s)")

    rows = [Row(f"floor (csv + str.format) @{_size(n)}", n, floor, floor_cpu)]
    for mailer in args.mailer:
        timed = passes[mailer, False]
        traced_pass = passes.get((mailer, True))
        for size, pick in ((small, attrgetter("small")), (n, attrgetter("end"))):
            mark: Mark = pick(timed)
            traced_mark: Mark | None = pick(traced_pass) if traced_pass else None
            rows.append(Row(
                f"{mailer} @{_size(size)}", size, mark.seconds, mark.cpu_seconds,
                py_peak=traced_mark.py_peak if traced_mark else None,
                maxrss=mark.maxrss, rss_growth=mark.maxrss - timed.rss_before,
            ))

    print(f"cis send, bulk: {n:,} attendees, {machine()}")
    print(table(rows, rows[0]))
    print()
    found: list[Headline] = []
    for mailer in args.mailer:
        timed = passes[mailer, False]
        rss_rise = (timed.end.maxrss - timed.small.maxrss) / MIB
        flat = f"{mailer}: maxrss rose {rss_rise:,.1f} MiB between {_size(small)} and {_size(n)}"
        found.append(Headline(
            "bulk_send", f"{mailer} mailer: invites/s at {_size(n)} (cpu x floor)",
            f"{n / timed.end.seconds:,.0f} ({timed.end.cpu_seconds / rows[0].cpu_seconds:.1f})"))
        found.append(Headline("bulk_send", f"{mailer} mailer: maxrss rise {_size(small)} to "
                              f"{_size(n)}, MiB", f"{rss_rise:,.1f}"))
        traced_pass = passes.get((mailer, True))
        if traced_pass and traced_pass.small.py_peak and traced_pass.end.py_peak is not None:
            ratio = traced_pass.end.py_peak / traced_pass.small.py_peak
            verdict = "met" if ratio < FLAT_TARGET else "NOT met"
            found.append(Headline("bulk_send", f"{mailer} mailer: py peak {_size(n)} / "
                                  f"{_size(small)}", f"{ratio:.2f}", f"< {FLAT_TARGET}",
                                  ratio < FLAT_TARGET))
            flat += (f"; py peak {_size(n)}/{_size(small)} = {ratio:.2f} "
                     f"(target < {FLAT_TARGET}: {verdict})")
            flat += "; py live at " + " / ".join(
                f"{_size(m.invites)} {(m.py_live or 0) / MIB:,.2f}"
                for m in (traced_pass.small, traced_pass.half, traced_pass.last)
            ) + " MiB"
        print(flat)
    for (mailer, traced), done in passes.items():
        print(f"{mailer} {'traced' if traced else 'timed'} pass: {done.end.seconds:,.1f}s, "
              f"load average (1 min) {min(done.loads):.1f} to {max(done.loads):.1f} "
              "(this bench counts 1)")
    print(f"total bench time {time.perf_counter() - started:,.0f}s")
    headlines.write(args.headlines, found)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # SystemExit unwinds the with-blocks, so a killed run still removes its temporary files.
    sys.exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
