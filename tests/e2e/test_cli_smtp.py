"""Invitations over SMTP to a real local server: outbox-identical bytes, and `cis send`."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cis.adapters.memory import InMemoryInviteRepository
from cis.adapters.outbox import OutboxMailer
from cis.adapters.smtp import SmtpMailer
from cis.bootstrap import build_service
from cis.cli.inputs import read_attendees, read_event
from cis.domain.model import InviteRequest, normalise_address
from cis.ports.mailer import Mailer
from cis.services.invites import InviteService, Outcome
from tests.smtp_server import HOST, RecordingHandler, running_smtp_server

CIS = Path(sys.executable).parent / "cis"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EVENT_FILE = EXAMPLES / "event.json"
ATTENDEES_FILE = EXAMPLES / "attendees.csv"
EVENT_UID = "launch-2026@example.org"
# The example CSV: Ann twice (the second in other letter case), one invalid row on line 5.
EXAMPLE_ATTENDEES = {"ann.lee@example.org", "bob@example.net", "dave@example.com",
                     "erin@example.com"}
INVALID_LINE = 5

SENDER = "{} via Invites <invites@example.com>"
RSVP_EMAIL = "rsvp@example.com"
FROZEN_NOW = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def smtp_server(handler: RecordingHandler) -> Iterator[Controller]:
    with running_smtp_server(handler) as controller:
        yield controller


def counting_ids() -> Callable[[], str]:
    """Ids 1, 2, 3, ...: two services given one each draw the same ids in the same order."""
    numbers = itertools.count(1)
    return lambda: f"id-{next(numbers)}"


def service_with(mailer: Mailer) -> InviteService:
    return build_service(
        repository=InMemoryInviteRepository(), mailer=mailer, sender=SENDER,
        rsvp_email=RSVP_EMAIL, clock=lambda: FROZEN_NOW, new_id=counting_ids(),
    )


def cis_send(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CIS), "send", *map(str, args), "--sender", SENDER, "--rsvp-email", RSVP_EMAIL],
        cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=60, check=False,
    )


def summary_counts(stdout: str) -> dict[str, int]:
    """The `  sent: 4, already invited: 1, ...` line of the text summary, as numbers."""
    match = re.search(r"^  sent: .*$", stdout, re.MULTILINE)
    assert match is not None, stdout
    pairs = (item.split(":") for item in match.group(0).strip().split(", "))
    return {name.strip(): int(value) for name, value in pairs}


def test_smtp_server_receives_byte_for_byte_what_the_outbox_writes(
    tmp_path: Path, smtp_server: Controller, handler: RecordingHandler
) -> None:
    event = read_event(EVENT_FILE)
    requests = [
        InviteRequest(event, row.invitee)
        for row in read_attendees(ATTENDEES_FILE, event.uid) if row.invitee is not None
    ]
    first_spelling: dict[str, str] = {}
    for request in requests:
        first_spelling.setdefault(normalise_address(request.invitee.email), request.invitee.email)
    outbox = OutboxMailer(directory=tmp_path / "outbox")

    with SmtpMailer(host=HOST, port=smtp_server.port, security="none", timeout=5) as smtp:
        smtp_report = service_with(smtp).send_invites(requests)
    outbox_report = service_with(outbox).send_invites(requests)

    assert set(first_spelling) == EXAMPLE_ATTENDEES
    for report in (smtp_report, outbox_report):
        assert report.count(Outcome.SENT) == len(EXAMPLE_ATTENDEES)
        assert report.count(Outcome.DUPLICATE) == len(requests) - len(EXAMPLE_ATTENDEES)
    deliveries = handler.snapshot()
    assert [d.rcpt_tos for d in deliveries] == [(a,) for a in first_spelling.values()]
    assert {d.mail_from for d in deliveries} == {"invites@example.com"}
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == len(deliveries)
    for delivery in deliveries:
        written = outbox.path_for(event.uid, delivery.rcpt_tos[0]).read_bytes()
        assert delivery.data == written, delivery.rcpt_tos


def test_cis_send_over_smtp_invites_each_valid_attendee_once_and_a_rerun_sends_nothing(
    tmp_path: Path, smtp_server: Controller, handler: RecordingHandler
) -> None:
    url = f"smtp://{HOST}:{smtp_server.port}"
    state = tmp_path / "cis.db"

    first = cis_send(EVENT_FILE, ATTENDEES_FILE, "--state", state, "--smtp", url, cwd=tmp_path)
    after_first = handler.snapshot()
    second = cis_send(EVENT_FILE, ATTENDEES_FILE, "--state", state, "--smtp", url, cwd=tmp_path)

    assert first.returncode == 1, first.stderr
    assert f"Sent {len(EXAMPLE_ATTENDEES)} invitation(s) for {EVENT_UID}" in first.stdout
    assert summary_counts(first.stdout) == {
        "sent": 4, "already invited": 1, "rejected": 1, "failed": 0, "pending": 0,
    }
    assert f"line {INVALID_LINE}: rejected" in first.stdout
    assert sorted(normalise_address(d.rcpt_tos[0]) for d in after_first) == sorted(
        EXAMPLE_ATTENDEES
    )
    assert all(len(d.rcpt_tos) == 1 for d in after_first)

    assert second.returncode == 1, second.stderr
    assert "Nothing new to send" in second.stdout
    assert summary_counts(second.stdout)["sent"] == 0
    assert handler.snapshot() == after_first
    assert not (tmp_path / "outbox").exists()


def test_recipient_refused_with_451_is_left_pending_and_sent_alone_by_the_next_run(
    tmp_path: Path, smtp_server: Controller, handler: RecordingHandler
) -> None:
    attendees = tmp_path / "attendees.csv"
    attendees.write_text(
        "email,name\nann@example.org,Ann\nbusy@example.org,Busy Bee\ncarl@example.org,Carl\n",
        encoding="utf-8",
    )
    handler.refusals["busy@example.org"] = "451 4.3.0 Mailbox busy, try again later"
    url = f"smtp://{HOST}:{smtp_server.port}"
    state = tmp_path / "cis.db"

    first = cis_send(EVENT_FILE, attendees, "--state", state, "--smtp", url, cwd=tmp_path)
    after_first = handler.snapshot()
    handler.refusals.clear()
    second = cis_send(EVENT_FILE, attendees, "--state", state, "--smtp", url, cwd=tmp_path)
    after_second = handler.snapshot()

    assert first.returncode == 1, first.stderr
    assert "line 3: not sent yet, run again" in first.stdout
    assert summary_counts(first.stdout) == {
        "sent": 2, "already invited": 0, "rejected": 0, "failed": 0, "pending": 1,
    }
    assert [d.rcpt_tos for d in after_first] == [("ann@example.org",), ("carl@example.org",)]
    assert handler.refused, "the server never saw the refused recipient"
    assert set(handler.refused) == {"busy@example.org"}

    assert second.returncode == 0, second.stdout + second.stderr
    assert summary_counts(second.stdout) == {
        "sent": 1, "already invited": 2, "rejected": 0, "failed": 0, "pending": 0,
    }
    assert [d.rcpt_tos for d in after_second[len(after_first):]] == [("busy@example.org",)]


def test_a_message_the_server_refuses_leaves_no_transaction_open_for_the_next_attendee(
    tmp_path: Path, smtp_server: Controller, handler: RecordingHandler
) -> None:
    attendees = tmp_path / "attendees.csv"
    attendees.write_text(
        "email,name\nheld@example.org,Held\nann@example.org,Ann\ncarl@example.org,Carl\n",
        encoding="utf-8",
    )
    handler.data_refusals["held@example.org"] = "554 5.7.1 Message refused by policy"
    url = f"smtp://{HOST}:{smtp_server.port}"

    result = cis_send(EVENT_FILE, attendees, "--state", tmp_path / "cis.db", "--smtp", url,
                      cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert summary_counts(result.stdout) == {
        "sent": 2, "already invited": 0, "rejected": 0, "failed": 1, "pending": 0,
    }
    assert "554 5.7.1 Message refused by policy" in result.stdout
    assert handler.refused == ["held@example.org"]
    assert [d.rcpt_tos for d in handler.snapshot()] == [("ann@example.org",),
                                                        ("carl@example.org",)]


def test_an_international_address_is_rejected_before_it_reaches_the_smtp_server(
    tmp_path: Path, smtp_server: Controller, handler: RecordingHandler
) -> None:
    attendees = tmp_path / "attendees.csv"
    attendees.write_text("email,name\nann@bücher.example,Ann\nbob@example.org,Bob\n",
                         encoding="utf-8")
    url = f"smtp://{HOST}:{smtp_server.port}"

    result = cis_send(EVENT_FILE, attendees, "--state", tmp_path / "cis.db", "--smtp", url,
                      cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert summary_counts(result.stdout) == {
        "sent": 1, "already invited": 0, "rejected": 1, "failed": 0, "pending": 0,
    }
    assert ("line 2: rejected: email 'ann@bücher.example': not a valid email address: the "
            "domain must be ASCII") in result.stdout
    assert "ann@xn--bcher-kva.example" in result.stdout
    assert [d.rcpt_tos for d in handler.snapshot()] == [("bob@example.org",)]
    assert handler.refused == []
