"""The real `cis` executable through an invitation's life: update, remove, resend, cancel.

Every message written is read back with the email package and vobject, an iCalendar parser
independent of the one that wrote it.
"""

from __future__ import annotations

import email
import json
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import vobject

from cis.adapters.outbox import OutboxMailer
from tests.e2e.test_cli_send import UID, cis, eml_files, workdir

__all__ = ["workdir"]  # the fixture, shared with the send tests


def write_version(workdir: Path, name: str, **changes: Any) -> str:
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    for key, value in changes.items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    (workdir / name).write_text(json.dumps(event), "utf-8")
    return name


def read(path: Path) -> tuple[EmailMessage, Any]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return message, vobject.readOne(part.get_content())


def messages_to(workdir: Path, address: str) -> list[Path]:
    """The attendee's messages in the order they were written (a mailbox's order)."""
    outbox = OutboxMailer(directory=workdir / "outbox")
    messages = []
    while (path := outbox.path_for(UID, address, len(messages) + 1)).exists():
        messages.append(path)
    return messages


@pytest.fixture
def invited(workdir: Path) -> Path:
    result = cis("send", "event.json", "attendees.csv", cwd=workdir)
    assert result.returncode == 1, result.stderr  # the CSV's one invalid row
    return workdir


def test_update_sends_every_invited_attendee_the_new_version_once(invited: Path) -> None:
    moved = write_version(invited, "moved.json", sequence=1, dtstart="2026-12-01T14:00:00",
                          dtend="2026-12-01T15:30:00", location="Room 5")
    result = cis("update", moved, cwd=invited)
    assert result.returncode == 0, result.stderr
    assert "sent 4 message(s)" in result.stdout

    again = cis("update", moved, cwd=invited)
    assert again.returncode == 0 and "nothing new to send" in again.stdout
    assert len(eml_files(invited)) == 8

    for address in ("ann.lee@example.org", "bob@example.net", "dave@example.com",
                    "erin@example.com"):
        first, update = messages_to(invited, address)
        message, calendar = read(update)
        assert message["Subject"].startswith("Updated invitation: ")
        assert calendar.method.value == "REQUEST"
        assert calendar.vevent.sequence.value == "1"
        assert calendar.vevent.uid.value == UID == read(first)[1].vevent.uid.value
        assert calendar.vevent.location.value == "Room 5"
        assert calendar.vevent.attendee.params["RSVP"] == ["TRUE"]
        assert calendar.vevent.attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]

    stats = json.loads(cis("stats", UID, "--json", cwd=invited).stdout)
    assert (stats["invites_sent"], stats["updates_sent"]) == (4, 4)
    assert stats["event"] == {"sequence": 1, "status": "CONFIRMED",
                              "summary": "Product launch: Calendar Invite Server 1.0"}


def test_cancel_takes_a_missing_status_as_cancelled_and_tells_everyone_sent_something(
    invited: Path,
) -> None:
    removal = write_version(invited, "v1.json", sequence=1)
    assert cis("remove", removal, "Bob@Example.net", cwd=invited).returncode == 0
    cancelled = write_version(invited, "cancelled.json", sequence=2, status=None)

    result = cis("cancel", cancelled, cwd=invited)
    assert result.returncode == 0, result.stderr
    # Bob, removed already, is not told twice.
    assert "sent 3 message(s)" in result.stdout
    for address in ("ann.lee@example.org", "dave@example.com", "erin@example.com"):
        _, calendar = read(messages_to(invited, address)[-1])
        assert calendar.method.value == "CANCEL"
        assert calendar.vevent.status.value == "CANCELLED"
        assert calendar.vevent.sequence.value == "2"
    assert len(messages_to(invited, "bob@example.net")) == 2

    assert cis("cancel", cancelled, cwd=invited).stdout.endswith("sent to everyone before\n")
    stats = json.loads(cis("stats", UID, "--json", cwd=invited).stdout)
    assert (stats["cancellations_sent"], stats["attendees_removed"]) == (3, 1)
    assert stats["event"]["status"] == "CANCELLED"
    text = cis("stats", UID, cwd=invited).stdout
    assert "version 2, CANCELLED" in text and "cancellations sent   3" in text


def test_remove_sends_that_attendee_alone_a_cancel_without_cancelling_the_event(
    invited: Path,
) -> None:
    v1 = write_version(invited, "v1.json", sequence=1)
    result = cis("remove", v1, "dave@example.com", cwd=invited)
    assert result.returncode == 0, result.stderr
    message, calendar = read(messages_to(invited, "dave@example.com")[-1])
    assert message["Subject"].startswith("Removed from event: ")
    assert calendar.method.value == "CANCEL"
    assert not hasattr(calendar.vevent, "status") or calendar.vevent.status.value != "CANCELLED"
    assert [a.value for a in calendar.vevent.attendee_list] == ["mailto:dave@example.com"]
    assert len(eml_files(invited)) == 5

    never = cis("remove", v1, "nobody@example.com", cwd=invited)
    assert never.returncode == 1 and "never sent anything" in never.stdout
    bad = cis("remove", v1, "not-an-address", cwd=invited)
    assert bad.returncode == 2 and "EMAIL:" in bad.stderr


def test_a_removal_needs_a_version_of_its_own_and_running_it_again_sends_nothing(
    invited: Path,
) -> None:
    same = cis("remove", "event.json", "dave@example.com", cwd=invited)
    assert same.returncode == 2
    assert "dave@example.com was sent version 0" in same.stderr
    assert "give it sequence 1" in same.stderr
    assert len(messages_to(invited, "dave@example.com")) == 1

    v1 = write_version(invited, "v1.json", sequence=1)
    assert cis("remove", v1, "dave@example.com", cwd=invited).returncode == 0
    again = cis("remove", v1, "dave@example.com", cwd=invited)
    assert again.returncode == 0, again.stderr
    assert len(messages_to(invited, "dave@example.com")) == 2


def test_resend_sends_the_current_version_again_each_time_it_is_asked(invited: Path) -> None:
    assert cis("update", write_version(invited, "v1.json", sequence=1, location="Room 5"),
               cwd=invited).returncode == 0
    for _ in range(2):
        result = cis("resend", UID, "erin@example.com", cwd=invited)
        assert result.returncode == 0, result.stderr
    sent = messages_to(invited, "erin@example.com")
    assert len(sent) == 4
    assert read(sent[-1])[1].vevent.sequence.value == "1"
    assert read(sent[-1])[0]["Subject"] == read(sent[1])[0]["Subject"]
    assert json.loads(cis("stats", UID, "--json", cwd=invited).stdout)["resends_sent"] == 2

    unknown = cis("resend", "no-such-event", "erin@example.com", cwd=invited)
    assert unknown.returncode == 1 and "no version of event" in unknown.stdout


def test_send_with_a_higher_sequence_updates_those_invited_and_invites_the_new(
    invited: Path,
) -> None:
    (invited / "more.csv").write_text("email,name\nbob@example.net,Bob\nzed@example.org,Zed\n",
                                      "utf-8")
    v1 = write_version(invited, "v1.json", sequence=1, location="Room 5")
    result = cis("send", v1, "more.csv", cwd=invited)
    assert result.returncode == 0, result.stderr
    _, bob_update = messages_to(invited, "bob@example.net")
    (zed,) = messages_to(invited, "zed@example.org")
    assert read(bob_update)[0]["Subject"].startswith("Updated invitation: ")
    assert read(zed)[0]["Subject"] == "Product launch: Calendar Invite Server 1.0"
    assert read(zed)[1].vevent.sequence.value == "1"


@pytest.mark.parametrize(("changes", "words"), [
    ({"sequence": 0, "location": "Elsewhere"}, "give it sequence 1"),
    ({"sequence": 0, "summary": "Renamed"}, "calendars ignore a change"),
])
def test_a_change_without_a_higher_sequence_is_refused_before_anything_is_sent(
    invited: Path, changes: dict[str, Any], words: str,
) -> None:
    before = len(eml_files(invited))
    result = cis("update", write_version(invited, "same.json", **changes), cwd=invited)
    assert result.returncode == 2 and words in result.stderr
    assert len(eml_files(invited)) == before


def test_an_older_sequence_and_a_cancel_that_is_not_one_are_refused(invited: Path) -> None:
    assert cis("update", write_version(invited, "v2.json", sequence=2), cwd=invited
               ).returncode == 0
    older = cis("update", write_version(invited, "v1.json", sequence=1), cwd=invited)
    assert older.returncode == 2 and "older than version 2" in older.stderr
    confirmed = write_version(invited, "v3.json", sequence=3, status="CONFIRMED")
    refused = cis("cancel", confirmed, cwd=invited)
    assert refused.returncode == 2 and "a cancellation is CANCELLED" in refused.stderr


def test_lifecycle_commands_need_invitations_sent_from_the_state_first(workdir: Path) -> None:
    result = cis("update", write_version(workdir, "v1.json", sequence=1), cwd=workdir)
    assert result.returncode == 2 and "no state file here" in result.stderr
