"""`cis enqueue` and `cis worker` as real processes against SQS on a moto server."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest

from cis.adapters.outbox import OutboxMailer
from cis.domain.model import normalise_address

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

CIS = Path(sys.executable).parent / "cis"
REGION = "us-east-1"
DISTINCT_ATTENDEES = [f"guest{number:02d}@example.org" for number in range(1, 26)]
REPEATS = ["GUEST03@Example.org", "Guest17@EXAMPLE.ORG"]  # the same people, other letter case
INVALID = "not-an-address"


@dataclass(frozen=True)
class Inputs:
    event_uid: str
    event: Path
    attendees: Path
    valid_rows: int
    invalid_lines: tuple[int, ...]


@dataclass
class Worker:
    """A running `cis worker`; its output goes to files so nothing can block on a full pipe."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def err(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")

    def out(self) -> str:
        return self.stdout.read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def sqs(moto_server: str) -> SQSClient:
    return boto3.client("sqs", endpoint_url=moto_server, region_name=REGION)


@pytest.fixture
def queue_url(sqs: SQSClient) -> str:
    return sqs.create_queue(QueueName=f"cis-invites-{uuid.uuid4().hex}")["QueueUrl"]


@pytest.fixture
def inputs(tmp_path: Path) -> Inputs:
    """An event, and a CSV of 25 attendees, two of them twice, with one invalid row."""
    uid = f"worker-{uuid.uuid4().hex[:8]}@example.org"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "uid": uid,
        "summary": "Release party",
        "dtstart": "2026-12-03T18:00:00",
        "dtend": "2026-12-03T21:00:00",
        "timezone": "Europe/Berlin",
        "location": "Main St. 1",
        "organizer": "Smith, John",
        "mailto": "john.smith@example.org",
    }), encoding="utf-8")
    rows = [(address, f"Guest {n}") for n, address in enumerate(DISTINCT_ATTENDEES, start=1)]
    rows.insert(12, (INVALID, "Nobody"))
    rows.insert(3, (REPEATS[0], "Guest 3 again"))  # next to the first: likely the same batch
    rows.append((REPEATS[1], "Guest 17 again"))  # far from the first: surely another batch
    attendees = tmp_path / "attendees.csv"
    attendees.write_text(
        "email,name\n" + "".join(f"{address},{name}\n" for address, name in rows),
        encoding="utf-8",
    )
    # Line 1 is the header, so row i is on line i + 2.
    invalid_lines = tuple(i + 2 for i, (address, _) in enumerate(rows) if address == INVALID)
    return Inputs(uid, event, attendees, valid_rows=len(rows) - len(invalid_lines),
                  invalid_lines=invalid_lines)


def environment() -> dict[str, str]:
    """The test process's environment, which carries the dummy AWS credentials."""
    return dict(os.environ)


def aws_options(queue_url: str, moto_server: str) -> list[str]:
    return ["--queue-url", queue_url, "--endpoint-url", moto_server, "--region", REGION]


def cis(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CIS), *map(str, args)], env=environment(), capture_output=True, text=True,
        timeout=60, check=False,
    )


def enqueue(inputs: Inputs, queue_url: str, moto_server: str) -> int:
    """Run `cis enqueue`, check its report, and return how many requests it enqueued."""
    result = cis("enqueue", inputs.event, inputs.attendees, *aws_options(queue_url, moto_server))
    assert result.returncode == 1, result.stdout + result.stderr
    for line in inputs.invalid_lines:
        assert f"line {line}: rejected" in result.stderr
    match = re.search(r"Enqueued (\d+) invite request\(s\)", result.stdout)
    assert match is not None, result.stdout
    return int(match.group(1))


@pytest.fixture
def start_worker(tmp_path: Path, moto_server: str) -> Iterator[Callable[..., Worker]]:
    """Start `cis worker` processes; each one still alive at the end is killed."""
    started: list[Worker] = []

    def start(queue_url: str, *options: str) -> Worker:
        number = len(started)
        stdout, stderr = tmp_path / f"worker{number}.out", tmp_path / f"worker{number}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [str(CIS), "worker", *aws_options(queue_url, moto_server),
                 "--sender", "invites@example.com", "--rsvp-email", "rsvp@example.com",
                 *options],
                env=environment(), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )
        worker = Worker(process, stdout, stderr)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=10)


def wait_for(condition: Callable[[], bool], worker: Worker, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited ({worker.process.returncode}) while waiting for {what}:"
                        f"\n{worker.err()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s; worker stderr:\n{worker.err()}")
        time.sleep(0.2)


def queue_is_empty(sqs: SQSClient, queue_url: str) -> bool:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0")


def stats(event_uid: str, state: Path, *extra: str) -> dict[str, object]:
    result = cis("stats", event_uid, "--state", state, "--json", *extra)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def batch_totals(stdout: str) -> dict[str, int]:
    """Sum the worker's `batch of N: sent a, duplicate b, ...` lines per outcome."""
    totals: dict[str, int] = {}
    for line in stdout.splitlines():
        if line.startswith("batch of "):
            for outcome, amount in re.findall(r"([a-z]+) (\d+)", line.split(":", 1)[1]):
                totals[outcome] = totals.get(outcome, 0) + int(amount)
    return totals


def test_worker_sends_each_attendee_once_through_a_redelivery_storm_and_stops_on_sigterm(
    tmp_path: Path, moto_server: str, sqs: SQSClient, queue_url: str, inputs: Inputs,
    start_worker: Callable[..., Worker],
) -> None:
    state, outbox = tmp_path / "cis.db", tmp_path / "outbox"
    distinct = {normalise_address(address) for address in DISTINCT_ATTENDEES}

    first_round = enqueue(inputs, queue_url, moto_server)
    worker = start_worker(queue_url, "--state", str(state), "--outbox", str(outbox),
                          "--wait-seconds", "1")
    wait_for(lambda: len(list(outbox.rglob("*.eml"))) >= len(distinct), worker,
             timeout=60, what=f"{len(distinct)} .eml files")
    second_round = enqueue(inputs, queue_url, moto_server)
    wait_for(lambda: queue_is_empty(sqs, queue_url), worker, timeout=30, what="empty queue")
    worker.process.send_signal(signal.SIGTERM)
    try:
        returncode = worker.process.wait(timeout=25)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker still running 25 s after SIGTERM:\n{worker.err()}")

    assert first_round == second_round == inputs.valid_rows
    assert returncode == 0, worker.err()
    assert "SIGTERM received" in worker.err()
    assert worker.err().rstrip().endswith("cis worker: stopped")

    files = sorted(outbox.rglob("*.eml"))
    assert len(files) == len(distinct)
    recipients = []
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        [to] = message["To"].addresses
        recipients.append(normalise_address(to.addr_spec))
        assert path == OutboxMailer(directory=outbox).path_for(inputs.event_uid, to.addr_spec)
    assert sorted(recipients) == sorted(distinct)

    expected_duplicates = (first_round - len(distinct)) + second_round
    recorded = stats(inputs.event_uid, state)
    assert recorded["invites_sent"] == len(distinct)
    assert recorded["duplicates_skipped"] == expected_duplicates
    assert recorded["invites_failed"] == 0
    assert stats(inputs.event_uid, state, "--recount") == recorded
    assert batch_totals(worker.out()) == {
        "sent": len(distinct), "duplicate": expected_duplicates, "rejected": 0, "failed": 0,
        "retry": 0, "stale": 0, "skipped": 0, "expanded": 0, "suppressed": 0,
    }


def test_sigterm_while_long_polling_an_empty_queue_stops_the_worker_cleanly(
    tmp_path: Path, queue_url: str, start_worker: Callable[..., Worker],
) -> None:
    wait_seconds = 3
    worker = start_worker(queue_url, "--state", str(tmp_path / "cis.db"),
                          "--outbox", str(tmp_path / "outbox"),
                          "--wait-seconds", str(wait_seconds))
    wait_for(lambda: "polling" in worker.err(), worker, timeout=30, what="polling notice")
    time.sleep(1)  # well inside the first long poll

    signalled = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    try:
        returncode = worker.process.wait(timeout=wait_seconds + 5)
    except subprocess.TimeoutExpired:
        pytest.fail(f"worker still running {wait_seconds + 5} s after SIGTERM:\n{worker.err()}")
    took = time.monotonic() - signalled

    assert returncode == 0, worker.err()
    # The signal came a second into the poll: what is left of it, plus time to exit.
    assert took < wait_seconds + 2, took
    assert "SIGTERM received" in worker.err()
    assert worker.err().rstrip().endswith("cis worker: stopped")
    assert worker.out() == ""
    assert not (tmp_path / "outbox").exists()


def test_an_enqueued_fan_out_brings_every_attendee_the_new_version_once(
    tmp_path: Path, moto_server: str, sqs: SQSClient, queue_url: str, inputs: Inputs,
) -> None:
    state, outbox = tmp_path / "cis.db", tmp_path / "outbox"
    distinct = {normalise_address(address) for address in DISTINCT_ATTENDEES}
    drain = ["worker", *aws_options(queue_url, moto_server), "--state", state,
             "--outbox", outbox, "--sender", "invites@example.com",
             "--rsvp-email", "rsvp@example.com", "--wait-seconds", "0", "--exit-when-empty"]
    enqueue(inputs, queue_url, moto_server)
    assert cis(*drain).returncode == 0

    moved = json.loads(inputs.event.read_text("utf-8")) | {
        "sequence": 1, "dtstart": "2026-12-03T19:00:00", "dtend": "2026-12-03T22:00:00"}
    update = tmp_path / "update.json"
    update.write_text(json.dumps(moved), "utf-8")
    for _ in range(2):  # the second fan-out is a duplicate: nobody is sent anything
        queued = cis("enqueue", update, *aws_options(queue_url, moto_server))
        assert queued.returncode == 0, queued.stderr
        assert "fan-out of " in queued.stdout and "(version 1, CONFIRMED)" in queued.stdout
        drained = cis(*drain)
        assert drained.returncode == 0, drained.stderr
    assert queue_is_empty(sqs, queue_url)

    files = sorted(outbox.rglob("*.eml"))
    assert len(files) == 2 * len(distinct)
    sequences = sorted(
        part.get_content().split("SEQUENCE:")[1].split("\r\n")[0].strip()
        for path in files
        for part in email.message_from_bytes(path.read_bytes(),
                                             policy=email.policy.default).walk()
        if part.get_content_type() == "text/calendar")
    assert sequences == ["0"] * len(distinct) + ["1"] * len(distinct)
    recorded = stats(inputs.event_uid, state)
    assert recorded["updates_sent"] == len(distinct)
    assert recorded["event"]["sequence"] == 1
    assert stats(inputs.event_uid, state, "--recount") == recorded
