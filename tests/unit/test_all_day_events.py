"""All-day events: dates alone and no zone, written as DATE values, said as dates in the bodies."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
import vobject

from cis.domain.events import next_event_record
from cis.domain.model import Event, Invitee, Standing
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import InvalidRequestError
from cis.messages.invite_format import encode_request, parse_body
from cis.messages.invite_validator import MessageProblems, validate_event
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, body, event_json, sample_event

ANN = Invitee("ann@example.org", name="Ann")
MAY_1 = dt.datetime(2027, 5, 1, tzinfo=dt.UTC)


def all_day_body(dtstart: str = "2027-05-01", dtend: str = "2027-05-02", **event: Any) -> str:
    return body("ann@example.org", dtstart=dtstart, dtend=dtend, timezone=None, **event)


def render(event: Event, standing: Standing = Standing.INVITED) -> EmailMessage:
    invitation = compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                    now=FROZEN_NOW, email_id="m", standing=standing)
    message = email.message_from_bytes(invitation.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, content_type: str) -> str:
    found = next(p for p in message.walk() if p.get_content_type() == content_type)
    assert isinstance(found, EmailMessage)
    content = found.get_content()
    assert isinstance(content, str)
    return content


def test_dates_without_a_zone_are_an_all_day_event_at_midnight_utc() -> None:
    event = parse_body(all_day_body()).event
    assert event.all_day
    assert (event.start, event.end, event.timezone) == (MAY_1, MAY_1 + dt.timedelta(days=1),
                                                        None)


def test_the_calendar_writes_value_date_and_no_time_zone() -> None:
    event = parse_body(all_day_body(dtend="2027-05-04")).event
    text = render_calendar(event, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW).decode()
    assert "DTSTART;VALUE=DATE:20270501\r\n" in text
    assert "DTEND;VALUE=DATE:20270504\r\n" in text
    assert "VTIMEZONE" not in text and "TZID" not in text
    vevent = vobject.readOne(text).vevent
    assert (vevent.dtstart.value, vevent.dtend.value) == (dt.date(2027, 5, 1),
                                                          dt.date(2027, 5, 4))


@pytest.mark.parametrize(("dtend", "said"), [
    ("2027-05-02", "When: Sat 1 May 2027 (all day)"),
    ("2027-05-04", "When: Sat 1 May 2027 to Mon 3 May 2027 (all day)"),
])
def test_the_bodies_say_the_dates_without_times(dtend: str, said: str) -> None:
    message = render(parse_body(all_day_body(dtend=dtend)).event)
    assert said in part(message, "text/plain")
    assert said.replace("When: ", "<strong>When:</strong> ") in part(message, "text/html")
    assert ":00" not in part(message, "text/plain")


@pytest.mark.parametrize("standing", list(Standing))
def test_the_template_renders_an_all_day_event_byte_for_byte(standing: Standing) -> None:
    event = parse_body(all_day_body(sequence=2)).event
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    expected = compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                  now=FROZEN_NOW, email_id="m", standing=standing)
    assert template.render(ANN, now=FROZEN_NOW, email_id="m") == expected
    assert template.fallbacks == 0


def test_an_all_day_event_travels_in_a_body_as_dates() -> None:
    request = parse_body(all_day_body())
    written = json.loads(encode_request(request))["event"]
    assert (written["dtstart"], written["dtend"]) == ("2027-05-01", "2027-05-02")
    assert "timezone" not in written
    assert parse_body(encode_request(request)) == request


def test_a_date_with_a_zone_keeps_its_v1_meaning_midnight_in_that_zone() -> None:
    event = parse_body(body("ann@example.org", dtstart="2027-05-01", dtend="2027-05-02",
                            timezone="Europe/Berlin")).event
    assert not event.all_day
    assert event.start == dt.datetime(2027, 4, 30, 22, tzinfo=dt.UTC)


@pytest.mark.parametrize(("dtstart", "dtend", "field", "reason"), [
    ("2027-05-01", "2027-05-01", "event.dtend",
     "dtend must be after dtstart: an all-day event's dtend is the day after its last day "
     "(2027-05-02 for a day on 2027-05-01)"),
    ("2027-05-02", "2027-05-01", "event.dtend", "dtend must be after dtstart: an all-day"),
    ("2027-05-01", "2027-05-01T12:00:00Z", "event.dtstart",
     "dtstart is a date and dtend a time: give both as dates (an all-day event, with no "
     "timezone) or both as times"),
    ("2027-05-01T09:00:00+02:00", "2027-05-02", "event.dtend",
     "dtend is a date and dtstart a time"),
    ("2027-05-01", "2027-05-01T12:00:00", "event.dtstart", "dtstart is a date and dtend"),
    ("1969-12-31", "1970-01-01", "event.dtstart", "year 1969 is outside 1970-2199"),
    ("2027-02-30", "2027-03-01", "event.dtstart", "not an ISO 8601 time"),
])
def test_dates_that_make_no_all_day_event_are_refused_naming_the_field(
    dtstart: str, dtend: str, field: str, reason: str,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(all_day_body(dtstart=dtstart, dtend=dtend))
    assert caught.value.field == field
    assert caught.value.reason.startswith(reason)


def test_event_json_takes_an_all_day_event_as_a_message_does() -> None:
    event = validate_event(event_json(dtstart="2027-05-01", dtend="2027-05-03", timezone=None))
    assert event.all_day and event.end == MAY_1 + dt.timedelta(days=2)
    with pytest.raises(MessageProblems) as caught:
        validate_event(event_json(dtstart="2027-05-01", dtend="2027-05-03T00:00:00Z",
                                  timezone=None))
    assert caught.value.field == "event.dtstart"


def test_a_library_caller_s_all_day_event_off_midnight_or_zoned_is_refused_by_name() -> None:
    off = sample_event(all_day=True, start=MAY_1 + dt.timedelta(hours=2),
                       end=MAY_1 + dt.timedelta(days=1))
    with pytest.raises(ValueError, match="must start at midnight UTC"):
        render_calendar(off, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW)
    zoned = sample_event(all_day=True, start=MAY_1, end=MAY_1 + dt.timedelta(days=1),
                         timezone="Europe/Berlin")
    with pytest.raises(ValueError, match="names a time zone"):
        render_calendar(zoned, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW)


def test_a_timed_event_made_all_day_asks_for_the_answer_again() -> None:
    timed = sample_event(start=MAY_1, end=MAY_1 + dt.timedelta(days=1))
    first = next_event_record(None, timed)
    assert first is not None
    made_all_day = next_event_record(first, sample_event(
        start=MAY_1, end=MAY_1 + dt.timedelta(days=1), all_day=True, sequence=1))
    assert made_all_day is not None and made_all_day.times_changed_at == 1
