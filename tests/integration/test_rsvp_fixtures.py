"""Real-world shaped replies (Gmail, Outlook, Apple, Thunderbird, forgeries) on a SQLite file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cis.adapters.memory import InMemoryMailer
from cis.adapters.sqlite import SqliteInviteRepository
from cis.bootstrap import build_rsvp_service, build_service
from cis.domain.model import Invitee, InviteRequest, PartStat
from cis.services.invites import Outcome
from tests.support import RSVP_EMAIL, SENDER, sample_event

REPLIES = Path(__file__).parents[1] / "fixtures" / "replies"
MANIFEST = json.loads((REPLIES / "manifest.json").read_text("utf-8"))
UID = "launch-2026@example.org"
INVITED = [Invitee("ann.lee@example.org", "Ann Lee"), Invitee("bob@example.net", "Bob Müller"),
           Invitee("Carol.King@example.org", "Carol King"), Invitee("dave@example.com", "Dave")]


def invite_everyone(path: Path) -> SqliteInviteRepository:
    repository = SqliteInviteRepository(path=path)
    service = build_service(repository=repository, mailer=InMemoryMailer(), sender=SENDER,
                            rsvp_email=RSVP_EMAIL)
    event = sample_event(uid=UID)
    report = service.send_invites(InviteRequest(event, invitee) for invitee in INVITED)
    assert report.count(Outcome.SENT) == len(INVITED)
    return repository


@pytest.fixture
def repository(tmp_path: Path) -> Any:
    with invite_everyone(tmp_path / "cis.db") as repo:
        yield repo


def test_every_fixture_ends_as_the_manifest_says_when_applied_in_order(repository: Any) -> None:
    service = build_rsvp_service(repository=repository)
    outcomes = {entry["file"]: service.apply_mail((REPLIES / entry["file"]).read_bytes(),
                                                  message_id=entry["file"]).outcome.value
                for entry in MANIFEST}
    assert outcomes == {entry["file"]: entry["expected"] for entry in MANIFEST}

    final = {i.email: repository.get_attendee(UID, i.email).partstat for i in INVITED}
    assert final == {"ann.lee@example.org": PartStat.DECLINED,
                     "bob@example.net": PartStat.DECLINED,
                     "Carol.King@example.org": PartStat.TENTATIVE,
                     "dave@example.com": PartStat.DELEGATED}
    stats = repository.get_statistics(UID)
    assert stats.rsvp == {"DECLINED": 2, "TENTATIVE": 1, "DELEGATED": 1}
    assert repository.recount(UID) == stats
    ann = repository.get_attendee(UID, "ann.lee@example.org")
    assert [h.status for h in ann.history] == ["NEEDS-ACTION", "ACCEPTED", "DECLINED",
                                               "TENTATIVE"]
    assert ann.history[1].source == "-//Google Inc//Google Calendar 70.9054//EN"


def test_redelivering_every_fixture_changes_no_attendee_and_no_rsvp_count(
    repository: Any,
) -> None:
    service = build_rsvp_service(repository=repository)
    for entry in MANIFEST:
        service.apply_mail((REPLIES / entry["file"]).read_bytes())
    before = ([repository.get_attendee(UID, i.email) for i in INVITED],
              repository.get_statistics(UID).rsvp)
    again = [service.apply_mail((REPLIES / entry["file"]).read_bytes()).outcome.value
             for entry in MANIFEST]
    after = ([repository.get_attendee(UID, i.email) for i in INVITED],
             repository.get_statistics(UID).rsvp)
    assert after == before
    assert "applied" not in again


def test_fixtures_are_crlf_only_and_listed_in_the_manifest() -> None:
    files = sorted(p.name for p in REPLIES.glob("*.eml"))
    assert files == sorted(entry["file"] for entry in MANIFEST)
    for name in files:
        data = (REPLIES / name).read_bytes()
        assert b"\n" not in data.replace(b"\r\n", b""), name


def test_cis_rsvp_applies_one_reply_file_to_the_state(tmp_path: Path) -> None:
    invite_everyone(tmp_path / "cis.db").close()
    cis = Path(sys.executable).parent / "cis"
    result = subprocess.run(
        [str(cis), "rsvp", str(REPLIES / "outlook-declined.eml"), "--state",
         str(tmp_path / "cis.db"), "--json"], capture_output=True, text=True, timeout=60,
        check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "applied"
    forged = subprocess.run(
        [str(cis), "rsvp", str(REPLIES / "forged-from.eml"), "--state",
         str(tmp_path / "cis.db")], capture_output=True, text=True, timeout=60, check=False)
    assert forged.returncode == 1
    assert "Reply rejected" in forged.stdout
    with SqliteInviteRepository(path=tmp_path / "cis.db") as repo:
        assert repo.get_attendee(UID, "bob@example.net").partstat is PartStat.DECLINED
        assert repo.get_attendee(UID, "ann.lee@example.org").partstat is PartStat.NEEDS_ACTION
