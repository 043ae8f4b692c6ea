"""Ctrl-C and SIGTERM while `cis` sends to a real SMTP server that stalls, on SQLite state.

A signal must never leave the attendee being sent claimed (a re-run would call them pending
for the whole lease), nor lose the record of an invitation that went out (the lease's end
would send it again): the one in hand is finished and recorded, the summary printed, and the
command exits 128 + the signal's number.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.smtp_server import RecordingHandler, running_smtp_server

CIS = Path(sys.executable).parent / "cis"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
UID = "launch-2026@example.org"
GUESTS = [f"guest{n}@example.org" for n in range(1, 6)]
SENDER, RSVP_EMAIL = "invites@example.com", "rsvp@example.com"


@dataclass
class StallingHandler(RecordingHandler):
    """Holds the `stall_at`th DATA (the message received, not yet answered) or the RCPT of
    `stall_rcpt`, until `release` is set; `stalled` is set when the hold begins."""

    stall_at: int | None = None
    stall_rcpt: str | None = None
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    _data_seen: int = 0

    async def _hold(self) -> None:
        self.stalled.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.stall_rcpt is not None and address.lower() == self.stall_rcpt:
            self.stall_rcpt = None
            await self._hold()
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._data_seen += 1
        if self._data_seen == self.stall_at:
            await self._hold()
        return await super().handle_DATA(server, session, envelope)

    def recipients(self) -> list[str]:
        return [rcpt for delivery in self.snapshot() for rcpt in delivery.rcpt_tos]


@dataclass
class Run:
    """A `cis` process whose output goes to files, so nothing blocks on a full pipe."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def out(self) -> str:
        return self.stdout.read_text("utf-8")

    def err(self) -> str:
        return self.stderr.read_text("utf-8")

    def wait_for_err(self, text: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.err():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"no {text!r} on stderr; exit {self.process.poll()}:\n{self.err()}")
            time.sleep(0.05)

    def finish(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"cis still running {timeout} s on:\n{self.err()}")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "event.json").write_text((EXAMPLES / "event.json").read_text("utf-8"), "utf-8")
    (tmp_path / "attendees.csv").write_text(
        "email,name\n" + "".join(f"{a},Guest\n" for a in GUESTS), "utf-8")
    return tmp_path


@pytest.fixture
def handler() -> StallingHandler:
    return StallingHandler()


@pytest.fixture
def smtp_url(handler: StallingHandler) -> Iterator[str]:
    with running_smtp_server(handler) as controller:
        yield f"smtp://{controller.hostname}:{controller.port}"


@pytest.fixture
def start(workdir: Path, smtp_url: str) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def begin(*args: str) -> Run:
        number = len(runs)
        stdout, stderr = workdir / f"run{number}.out", workdir / f"run{number}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [str(CIS), *args, "--smtp", smtp_url, "--sender", SENDER,
                 "--rsvp-email", RSVP_EMAIL],
                cwd=workdir, env=dict(os.environ), stdout=out, stderr=err,
                stdin=subprocess.DEVNULL)
        runs.append(Run(process, stdout, stderr))
        return runs[-1]

    yield begin
    for run in runs:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait(timeout=10)


def counts(stdout: str) -> dict[str, int]:
    match = re.search(r"^  sent: .*$", stdout, re.MULTILINE)
    assert match is not None, stdout
    pairs = (item.split(":") for item in match.group(0).strip().split(", "))
    return {name.strip(): int(value) for name, value in pairs}


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_finishes_the_invitation_in_hand_records_it_and_exits_128_plus_its_number(
    handler: StallingHandler, start: Callable[..., Run], signum: int, status: int,
) -> None:
    handler.stall_at = 2  # the second invitation has reached the server, unanswered
    run = start("send", "event.json", "attendees.csv")
    assert handler.stalled.wait(30), run.err()
    run.process.send_signal(signum)
    name = signal.Signals(signum).name
    run.wait_for_err(f"cis send: {name} received: finishing the invitation in hand")
    handler.release.set()

    assert run.finish() == status, run.err()
    assert counts(run.out()) == {"sent": 2, "already invited": 0, "rejected": 0,
                                 "failed": 0, "pending": 0, "not started": 3}
    assert f"Interrupted by {name}: the invitation in hand was finished" in run.out()
    assert "Traceback" not in run.err()
    assert handler.recipients() == GUESTS[:2]

    # Nobody is left claimed: the next run sends the other three at once, no one twice.
    again = start("send", "event.json", "attendees.csv")
    assert again.finish() == 0, again.err()
    assert counts(again.out()) == {"sent": 3, "already invited": 2, "rejected": 0,
                                   "failed": 0, "pending": 0}
    assert sorted(handler.recipients()) == sorted(GUESTS)


def test_a_second_ctrl_c_abandons_a_send_that_hangs_and_releases_its_claim(
    handler: StallingHandler, start: Callable[..., Run],
) -> None:
    handler.stall_rcpt = GUESTS[1]  # never gets past RCPT: the server never takes it
    run = start("send", "event.json", "attendees.csv", "--json")
    assert handler.stalled.wait(30), run.err()
    run.process.send_signal(signal.SIGINT)
    run.wait_for_err("SIGINT received: finishing the invitation in hand")
    run.process.send_signal(signal.SIGINT)
    run.wait_for_err("SIGINT received again: abandoning the invitation in hand")
    # The summary is out before the connection is closed; then let the server answer.
    deadline = time.monotonic() + 20
    while not run.out() and time.monotonic() < deadline:
        time.sleep(0.05)
    handler.release.set()

    assert run.finish() == 130, run.err()
    summary = json.loads(run.out())
    assert (summary["sent"], summary["pending"], summary["not_started"]) == (1, 1, 3)
    assert summary["interrupted"] == "SIGINT"
    assert handler.recipients() == GUESTS[:1]

    # Released, not held for the lease: the next run sends it with the rest, once each.
    again = start("send", "event.json", "attendees.csv")
    assert again.finish() == 0, again.err()
    assert counts(again.out())["sent"] == 4
    assert sorted(handler.recipients()) == sorted(GUESTS)


def test_sigterm_during_an_update_stops_the_fan_out_which_goes_on_from_there(
    workdir: Path, handler: StallingHandler, start: Callable[..., Run],
) -> None:
    assert start("send", "event.json", "attendees.csv").finish() == 0
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    (workdir / "v1.json").write_text(json.dumps({**event, "sequence": 1,
                                                 "location": "Room 5"}), "utf-8")
    handler.stall_at = len(GUESTS) + 2  # the second update
    run = start("update", "v1.json")
    assert handler.stalled.wait(30), run.err()
    run.process.send_signal(signal.SIGTERM)
    run.wait_for_err("SIGTERM received")
    handler.release.set()

    assert run.finish() == 143, run.err()
    assert "sent 2 message(s)" in run.out()
    assert "Interrupted by SIGTERM: the message in hand was finished" in run.out()
    assert "Traceback" not in run.err()

    again = start("update", "v1.json")
    assert again.finish() == 0, again.err()
    assert "sent 3 message(s)" in again.out()
    updates = handler.recipients()[len(GUESTS):]
    assert sorted(updates) == sorted(GUESTS)


def test_sigterm_during_a_resend_finishes_and_records_it(
    workdir: Path, handler: StallingHandler, start: Callable[..., Run],
) -> None:
    assert start("send", "event.json", "attendees.csv").finish() == 0
    handler.stall_at = len(GUESTS) + 1
    run = start("resend", UID, GUESTS[0])
    assert handler.stalled.wait(30), run.err()
    run.process.send_signal(signal.SIGTERM)
    run.wait_for_err("SIGTERM received")
    handler.release.set()

    assert run.finish() == 143, run.err()
    assert f"resend of {UID} to {GUESTS[0]}: sent 1 message(s)" in run.out()
    stats = subprocess.run([str(CIS), "stats", UID, "--json"], cwd=workdir,
                           capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(stats.stdout)["resends_sent"] == 1


def test_sigterm_stops_the_worker_after_the_invitation_in_hand_leaving_the_rest_queued(
    workdir: Path, moto_server: str, handler: StallingHandler, start: Callable[..., Run],
) -> None:
    import boto3

    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"cis-interrupt-{os.getpid()}-{time.monotonic_ns()}",
                                 Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    aws = ["--queue-url", queue_url, "--endpoint-url", moto_server, "--region", "us-east-1"]
    enqueued = subprocess.run([str(CIS), "enqueue", "event.json", "attendees.csv", *aws],
                              cwd=workdir, env=dict(os.environ), capture_output=True,
                              text=True, timeout=60, check=False)
    assert enqueued.returncode == 0, enqueued.stderr
    handler.stall_at = 2
    worker = start("worker", *aws, "--wait-seconds", "1")
    assert handler.stalled.wait(30), worker.err()
    worker.process.send_signal(signal.SIGTERM)
    worker.wait_for_err("SIGTERM received: finishing the invitation in hand")
    handler.release.set()

    assert worker.finish() == 0, worker.err()
    assert "stopped after the invitation in hand" in worker.err()
    assert len(handler.recipients()) == 2

    time.sleep(1.5)  # the records not started come back once their visibility ends
    drain = start("worker", *aws, "--wait-seconds", "2", "--exit-when-empty")
    assert drain.finish(timeout=60) == 0, drain.err()
    assert sorted(handler.recipients()) == sorted(GUESTS)
