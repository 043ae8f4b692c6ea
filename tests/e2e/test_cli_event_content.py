"""The real `cis` executable with what EVENT.json and the CSV can now say.

A recurring event with a link, a reminder and a long description, attendees with roles; an
all-day event; and the refusals, each naming the file and the field.
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

from tests.e2e.test_cli_send import EXAMPLES, UID, cis, eml_files, first_message_to

LINK = "https://meet.example.org/launch?pwd=abc"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory holding the example EVENT.json and attendee CSV."""
    for name in ("event.json", "attendees.csv"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text("utf-8"), "utf-8")
    return tmp_path


def write_event(workdir: Path, name: str = "series.json", **fields: Any) -> None:
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    event.update(fields)
    event = {key: value for key, value in event.items() if value is not None}
    (workdir / name).write_text(json.dumps(event), "utf-8")


def message_to(workdir: Path, address: str) -> EmailMessage:
    message = email.message_from_bytes(first_message_to(workdir, address).read_bytes(),
                                       policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def calendar_of(message: EmailMessage) -> Any:
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return vobject.readOne(part.get_content())  # type: ignore[union-attr]


def test_send_writes_a_series_with_link_reminder_roles_and_a_cut_description(
    workdir: Path,
) -> None:
    write_event(workdir, dtstart="2027-03-08T10:00:00", dtend="2027-03-08T11:00:00",
                rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=10", exdates=["2027-03-29T10:00:00"],
                url=LINK, reminder_minutes=30, description="Agenda. " * 3000)
    (workdir / "roles.csv").write_text(
        "email,name,role\nann@example.org,Ann,CHAIR\nbob@example.org,Bob,OPT-PARTICIPANT\n"
        "cy@example.org,Cy,\n", "utf-8")

    result = cis("send", "series.json", "roles.csv", cwd=workdir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent: 3" in result.stdout
    assert ("series.json: longer than cis sends, cut to its limit with a mark: "
            "event.description") in result.stderr
    message = message_to(workdir, "ann@example.org")
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["john.smith@example.org"]
    vevent = calendar_of(message).vevent
    assert vevent.rrule.value == "FREQ=WEEKLY;COUNT=10;BYDAY=MO"
    assert len(vevent.exdate.value) == 1
    assert vevent.url.value == LINK
    assert vevent.valarm.trigger.value.total_seconds() == -1800
    assert vevent.attendee.params["ROLE"] == ["CHAIR"]
    assert vevent.description.value.endswith("\n\n[…]")
    assert len(vevent.description.value) <= 20_000
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    assert "Repeats: Every Monday, 10 times, except Mon 29 Mar 2027" in plain.get_content()  # type: ignore[union-attr]
    assert calendar_of(message_to(workdir, "bob@example.org")).vevent.attendee.params[
        "ROLE"] == ["OPT-PARTICIPANT"]

    stats = json.loads(cis("stats", UID, "--json", cwd=workdir).stdout)
    assert stats["by_role"] == {"CHAIR": 1, "OPT-PARTICIPANT": 1, "REQ-PARTICIPANT": 1}
    assert stats["texts_shortened"] == 3
    assert json.loads(cis("stats", UID, "--json", "--recount", cwd=workdir).stdout) == stats
    table = cis("stats", UID, cwd=workdir).stdout
    assert "by role:" in table and "texts shortened" in table


def test_send_writes_an_all_day_event_as_dates(workdir: Path) -> None:
    write_event(workdir, "summit.json", dtstart="2027-05-01", dtend="2027-05-04",
                timezone=None)
    result = cis("send", "summit.json", "attendees.csv", cwd=workdir)
    assert result.returncode == 1, result.stdout + result.stderr  # the CSV's one bad row
    message = message_to(workdir, "erin@example.com")
    vevent = calendar_of(message).vevent
    assert (str(vevent.dtstart.value), str(vevent.dtend.value)) == ("2027-05-01", "2027-05-04")
    assert b"DTSTART;VALUE=DATE:20270501" in first_message_to(
        workdir, "erin@example.com").read_bytes().replace(b"=\r\n", b"")


@pytest.mark.parametrize(("fields", "said"), [
    ({"rrule": "FREQ=WEEKLY;BYDAY=2MO;COUNT=3", "dtstart": "2027-03-08T10:00:00",
      "dtend": "2027-03-08T11:00:00"},
     "series.json: event.rrule: BYDAY: 2MO: write the week of the month as BYSETPOS"),
    ({"rrule": "FREQ=WEEKLY;BYDAY=MO"}, "series.json: event.rrule: must end"),
    ({"url": "javascript:alert(1)"}, "series.json: event.url: must be an http or https URL"),
    ({"reminder_minutes": 50_000}, "series.json: event.reminder_minutes: must be at most 40320"),
    ({"dtstart": "2027-05-01", "timezone": None}, "series.json: event.dtstart: dtstart is a "
     "date and dtend a time"),
])
def test_what_the_event_cannot_say_exits_2_naming_the_field(
    workdir: Path, fields: dict[str, Any], said: str,
) -> None:
    write_event(workdir, **fields)
    result = cis("send", "series.json", "attendees.csv", cwd=workdir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert eml_files(workdir) == []


def test_a_csv_role_not_in_the_list_is_that_row_s_problem(workdir: Path) -> None:
    (workdir / "roles.csv").write_text(
        "email,role\nann@example.org,boss\nbob@example.org,CHAIR\n", "utf-8")
    result = cis("send", "event.json", "roles.csv", cwd=workdir)
    assert result.returncode == 1
    assert ("line 2: rejected: role 'boss': must be one of REQ-PARTICIPANT, OPT-PARTICIPANT, "
            "NON-PARTICIPANT, CHAIR") in result.stdout
    assert "sent: 1" in result.stdout
