"""`cis rsvp FILE.eml` on hostile replies: a clear refusal and exit status 1, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from cis.adapters.memory import InMemoryMailer
from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import build_service
from cis.cli import main
from cis.domain.model import PartStat
from cis.domain.rsvp import MAX_REPLY_HISTORY
from cis.ports.queue import QueueRecord
from tests.replies import AMBIGUOUS_FROM, UID, UNREADABLE_REPLIES, reply_calendar, reply_email
from tests.support import RSVP_EMAIL, SENDER, body

CIS = Path(sys.executable).parent / "cis"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state file in which ann was sent an invitation to UID."""
    path = tmp_path / "cis.db"
    with SqliteInviteRepository(path=path) as repository:
        inviter = build_service(repository=repository, mailer=InMemoryMailer(), sender=SENDER,
                                rsvp_email=RSVP_EMAIL)
        inviter.process_batch([QueueRecord("m0", body("ann@example.org", uid=UID))])
    return path


def rsvp(mail: Path, state: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str]]:
    """Run `cis rsvp MAIL --state STATE --json` in this process; its status and JSON line."""
    status = main(["rsvp", str(mail), "--state", str(state), "--json"])
    return status, json.loads(capsys.readouterr().out)


def ann(state: Path) -> tuple[PartStat, int]:
    with SqliteInviteRepository(path=state) as repository:
        record = repository.get_attendee(UID, "ann@example.org")
    assert record is not None
    return record.partstat, len(record.history)


@pytest.mark.parametrize("name", UNREADABLE_REPLIES)
def test_cis_rsvp_rejects_a_reply_that_can_never_be_applied_with_its_reason(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    raw, words = UNREADABLE_REPLIES[name]
    mail = tmp_path / "reply.eml"
    mail.write_bytes(raw)
    status, shown = rsvp(mail, state, capsys)
    assert (status, shown["outcome"]) == (1, "rejected")
    assert words in shown["reason"]
    assert ann(state) == (PartStat.NEEDS_ACTION, 1)


def test_cis_rsvp_prints_the_refusal_not_a_traceback(state: Path, tmp_path: Path) -> None:
    mail = tmp_path / "reply.eml"
    mail.write_bytes(UNREADABLE_REPLIES["unknown charset"][0])
    result = subprocess.run([str(CIS), "rsvp", str(mail), "--state", str(state)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith("Reply rejected")
    assert "charset 'x-no-such-charset' is unknown" in result.stdout


def _at_most_one_gigabyte_of_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_cis_rsvp_reads_no_more_of_a_huge_file_than_a_reply_may_hold(
    state: Path, tmp_path: Path,
) -> None:
    mail = tmp_path / "huge.eml"
    with mail.open("wb") as file:
        file.truncate(4 << 30)  # sparse: four gigabytes of zeros that take no disk
    result = subprocess.run([str(CIS), "rsvp", str(mail), "--state", str(state)],
                            capture_output=True, text=True, timeout=60, check=False,
                            preexec_fn=_at_most_one_gigabyte_of_memory)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "Reply rejected: message is larger than 1048576 bytes" in result.stdout


def test_cis_rsvp_keeps_the_newest_replies_in_an_attendees_history(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    start = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    mail = tmp_path / "reply.eml"
    previous = "NEEDS-ACTION"
    for minute in range(MAX_REPLY_HISTORY + 3):
        answer = ["ACCEPTED", "DECLINED"][minute % 2]
        mail.write_bytes(reply_email(reply_calendar(
            "ann@example.org", answer, dtstamp=start + dt.timedelta(minutes=minute))))
        status, shown = rsvp(mail, state, capsys)
        assert (status, shown["outcome"], shown["reason"]) == (0, "applied",
                                                               f"{previous} -> {answer}")
        previous = answer
    assert ann(state) == (PartStat.ACCEPTED, 1 + MAX_REPLY_HISTORY)


@pytest.mark.parametrize("name", AMBIGUOUS_FROM)
def test_cis_rsvp_trusts_no_reply_whose_from_is_not_exactly_one_mailbox(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
) -> None:
    raw, words = AMBIGUOUS_FROM[name]
    mail = tmp_path / "reply.eml"
    mail.write_bytes(raw)
    status, shown = rsvp(mail, state, capsys)
    assert (status, shown["outcome"]) == (1, "rejected")
    assert words in shown["reason"]
    assert ann(state) == (PartStat.NEEDS_ACTION, 1)


def test_cis_rsvp_rejects_a_reply_from_the_future_and_applies_the_next_answer(
    state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    mail = tmp_path / "reply.eml"
    mail.write_bytes(reply_email(reply_calendar(
        "ann@example.org", "DECLINED", dtstamp=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))))
    status, shown = rsvp(mail, state, capsys)
    assert (status, shown["outcome"]) == (1, "rejected")
    assert "after the mail arrived" in shown["reason"]
    mail.write_bytes(reply_email(reply_calendar("ann@example.org", "ACCEPTED")))
    assert rsvp(mail, state, capsys)[1]["outcome"] == "applied"
    assert ann(state) == (PartStat.ACCEPTED, 2)
