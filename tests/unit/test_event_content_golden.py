"""Golden files of what an invitation can now describe, each read back by independent parsers.

An all-day conference (three days), a weekly stand-up across the spring clock change with one
Monday left out, and a call with its link, a reminder and an optional attendee. Each event is
parsed from a v1 body, as a producer sends it; `CIS_UPDATE_GOLDEN=1` rewrites the files.
"""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import vobject
from dateutil import rrule as dateutil_rrule

from cis.domain.model import Invitee, InviteRequest, Role
from cis.domain.rendering.imip import Invitation, compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.messages.invite_format import parse_body
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER
from tests.unit.test_invitation import FIXTURES, UPDATE_GOLDEN

BERLIN = ZoneInfo("Europe/Berlin")
ORGANISER = {"organizer": "Smith, John", "mailto": "john.smith@example.org"}
BODIES: dict[str, dict[str, Any]] = {
    "invite-all-day": {
        "request": {"uid": "summit-2027", "email": "Ann.Lee@Example.org", "name": "Ann Lee"},
        "event": {"uid": "summit-2027", "summary": "Partner summit",
                  "dtstart": "2027-05-01", "dtend": "2027-05-04",
                  "location": "Congress Centre, Hall B", **ORGANISER}},
    "invite-weekly-dst": {
        "request": {"uid": "standup-2027", "email": "Ann.Lee@Example.org", "name": "Ann Lee"},
        "event": {"uid": "standup-2027", "summary": "Team stand-up",
                  "dtstart": "2027-03-08T10:00:00", "dtend": "2027-03-08T10:15:00",
                  "timezone": "Europe/Berlin", "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=8",
                  "exdates": ["2027-03-29T10:00:00"], **ORGANISER}},
    "invite-link-reminder": {
        "request": {"uid": "call-2027", "email": "Ann.Lee@Example.org", "name": "Ann Lee",
                    "role": "OPT-PARTICIPANT"},
        "event": {"uid": "call-2027", "summary": "Design review",
                  "dtstart": "2027-06-15T15:00:00", "dtend": "2027-06-15T15:45:00",
                  "timezone": "Europe/Berlin",
                  "url": "https://meet.example.org/abc-defg-hij?pwd=X7&lang=en",
                  "reminder_minutes": 15, **ORGANISER}},
}
GOLDEN = pytest.mark.parametrize("name", list(BODIES))


def request_of(name: str) -> InviteRequest:
    return parse_body(json.dumps(BODIES[name]))


def golden_render(name: str) -> Invitation:
    request = request_of(name)
    return compose_invitation(request.event, request.invitee, sender=SENDER,
                              rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="msg-0001")


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, content_type: str) -> EmailMessage:
    found = next(p for p in message.walk() if p.get_content_type() == content_type)
    assert isinstance(found, EmailMessage)
    return found


def text_of(message: EmailMessage, content_type: str) -> str:
    content = part(message, content_type).get_content()
    assert isinstance(content, str)
    return content


def golden_calendar(name: str) -> Any:
    return vobject.readOne((FIXTURES / f"{name}.ics").read_text(encoding="utf-8"))


@GOLDEN
def test_each_message_matches_its_golden_files(name: str) -> None:
    invitation = golden_render(name)
    calendar = text_of(parse(invitation.data), "text/calendar").encode("utf-8")
    eml, ics = FIXTURES / f"{name}.eml", FIXTURES / f"{name}.ics"
    if UPDATE_GOLDEN:
        eml.write_bytes(invitation.data)
        ics.write_bytes(calendar)
    assert invitation.data == eml.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"
    assert calendar == ics.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"


@GOLDEN
def test_the_template_renders_each_golden_message_on_its_fast_path(name: str) -> None:
    request = request_of(name)
    template = InvitationTemplate(request.event, sender=SENDER, rsvp_email=RSVP_EMAIL)
    invitation = template.render(request.invitee, now=FROZEN_NOW, email_id="msg-0001")
    assert invitation.data == (FIXTURES / f"{name}.eml").read_bytes()
    assert template.fallbacks == 0


@GOLDEN
def test_each_golden_message_s_attachment_is_its_calendar(name: str) -> None:
    message = parse((FIXTURES / f"{name}.eml").read_bytes())
    inline = part(message, "text/calendar").get_payload(decode=True)
    assert part(message, "application/ics").get_payload(decode=True) == inline
    assert inline == (FIXTURES / f"{name}.ics").read_bytes()
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["john.smith@example.org"]


def test_the_all_day_event_is_three_dates_in_no_zone() -> None:
    calendar = golden_calendar("invite-all-day")
    vevent = calendar.vevent
    assert (vevent.dtstart.value, vevent.dtend.value) == (dt.date(2027, 5, 1),
                                                          dt.date(2027, 5, 4))
    assert "vtimezone" not in calendar.contents
    plain = text_of(parse((FIXTURES / "invite-all-day.eml").read_bytes()), "text/plain")
    assert "When: Sat 1 May 2027 to Mon 3 May 2027 (all day)" in plain


def test_the_weekly_event_is_ten_o_clock_every_monday_but_one_across_the_clock_change() -> None:
    calendar = golden_calendar("invite-weekly-dst")
    vevent = calendar.vevent
    zone = calendar.vtimezone.gettzinfo()
    start = vevent.dtstart.value.replace(tzinfo=zone)
    left_out = {value.replace(tzinfo=zone) for value in vevent.exdate.value}
    read = [moment for moment in dateutil_rrule.rrulestr(vevent.rrule.value, dtstart=start)
            if moment not in left_out]
    expected = [dt.datetime(2027, 3, 8, 10, tzinfo=BERLIN) + dt.timedelta(weeks=week)
                for week in range(8) if week != 3]
    assert [m.astimezone(dt.UTC) for m in read] == [m.astimezone(dt.UTC) for m in expected]
    assert {m.astimezone(dt.UTC).hour for m in read} == {9, 8}  # CET, then CEST
    plain = text_of(parse((FIXTURES / "invite-weekly-dst.eml").read_bytes()), "text/plain")
    assert "Repeats: Every Monday, 8 times, except Mon 29 Mar 2027" in plain


def test_the_call_carries_its_link_its_reminder_and_the_attendee_s_role() -> None:
    vevent = golden_calendar("invite-link-reminder").vevent
    link = "https://meet.example.org/abc-defg-hij?pwd=X7&lang=en"
    assert vevent.url.value == link
    assert vevent.valarm.trigger.value == -dt.timedelta(minutes=15)
    assert vevent.valarm.action.value == "DISPLAY"
    assert vevent.attendee.params["ROLE"] == [str(Role.OPT_PARTICIPANT)]
    message = parse((FIXTURES / "invite-link-reminder.eml").read_bytes())
    assert f"Meeting link: {link}" in text_of(message, "text/plain")
    assert f'<a href="{link.replace("&", "&amp;")}"' in text_of(message, "text/html")
    assert request_of("invite-link-reminder").invitee == Invitee(
        "Ann.Lee@Example.org", name="Ann Lee", role=Role.OPT_PARTICIPANT)
