"""The meeting link (`event.url`) and the reminder (`event.reminder_minutes`)."""

from __future__ import annotations

import datetime as dt
import email
import json
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
import vobject

from cis.domain.model import Event, Invitee, Standing
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.imip import compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.errors import InvalidRequestError
from cis.messages.invite_format import encode_request, parse_body
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, body, sample_event

LINK = "https://meet.example.org/abc-defg-hij?pwd=a1&lang=en"
ANN = Invitee("ann@example.org", name="Ann")


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


def refusal(**event: Any) -> tuple[str, str]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", **event))
    return caught.value.field, caught.value.reason


# The link.


def test_the_link_is_the_calendar_s_url_and_a_prominent_line_in_both_bodies() -> None:
    event = parse_body(body("ann@example.org", url=LINK)).event
    assert event.url == LINK
    message = render(event)
    calendar = vobject.readOne(part(message, "text/calendar"))
    assert calendar.vevent.url.value == LINK
    assert f"Meeting link: {LINK}\r\n" in part(message, "text/plain")
    escaped = LINK.replace("&", "&amp;")
    assert (f'<p><strong>Meeting link:</strong> <a href="{escaped}" rel="noopener noreferrer">'
            f"{escaped}</a></p>") in part(message, "text/html")


@pytest.mark.parametrize("standing", [Standing.CANCELLED, Standing.REMOVED])
def test_a_cancellation_or_removal_shows_no_link_to_join(standing: Standing) -> None:
    message = render(sample_event(url=LINK, sequence=2), standing)
    assert LINK not in part(message, "text/plain")
    assert "Meeting link" not in part(message, "text/html")


@pytest.mark.parametrize(("url", "reason"), [
    ("javascript:alert(1)", "must be an http or https URL"),
    ("JavaScript:alert(document.cookie)//https://x", "must be an http or https URL"),
    ("data:text/html,<script>alert(1)</script>", "must be a URL of the characters RFC 3986"),
    ("ftp://files.example.org/a", "must be an http or https URL"),
    ("https://meet.example.org@evil.example/room", "must not hold a user name or password"),
    ("https://user:pw@meet.example.org/", "must not hold a user name or password"),
    ("https://meet.example.org/a b", "must be a URL of the characters RFC 3986"),
    ('https://meet.example.org/"><script>', "must be a URL of the characters RFC 3986"),
    ("https://meet.example.org/\r\nBcc: x@y.org", "must be a URL of the characters RFC 3986"),
    ("https://bücher.example/", "must be a URL of the characters RFC 3986"),
    ("https:\\\\evil.example", "must be a URL of the characters RFC 3986"),
    ("https://meet.example.org/%zz", "must write each % as the start of an escape"),
    ("https:meet.example.org", "must name a host"),
    ("https://", "must name a host"),
    ("https://meet.example.org:99999/", "has a port that is not a number from 0 to 65535"),
    ("https://meet_example.org/", "must name a host of letters, digits, dots and hyphens"),
    ("meet.example.org/room", "must be an http or https URL"),
    ("https://meet.example.org/" + "a" * 1976, "must be at most 2000 characters"),
])
def test_a_link_that_is_not_plainly_a_web_page_is_refused_naming_the_field(
    url: str, reason: str,
) -> None:
    field, said = refusal(url=url)
    assert field == "event.url"
    assert said.startswith(reason)


@pytest.mark.parametrize("url", [
    "http://example.org", "HTTPS://Meet.Example.org:443/room?x=1#top",
    "https://[2001:db8::1]:8443/a", "https://meet.example.org/" + "a" * 1975,
    "https://zoom.example/j/123?pwd=a%20b;c,d"])
def test_plain_web_links_are_taken_as_written(url: str) -> None:
    request = parse_body(body("ann@example.org", url=url))
    assert request.event.url == url
    assert parse_body(encode_request(request)) == request


def test_a_library_caller_s_link_the_parser_would_refuse_is_refused_when_rendered() -> None:
    event = sample_event(url="javascript:alert(1)")
    with pytest.raises(ValueError, match="event url must be an http or https URL"):
        render_calendar(event, ANN, rsvp_email=RSVP_EMAIL, dtstamp=FROZEN_NOW)
    with pytest.raises(ValueError, match="event url must be an http or https URL"):
        InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)


# The reminder.


@pytest.mark.parametrize(("minutes", "trigger"), [
    (15, "-PT15M"), (0, "P0D"), (90, "-PT1H30M"), (1440, "-P1D"), (40_320, "-P28D")])
def test_a_reminder_is_a_display_alarm_that_many_minutes_before_the_start(
    minutes: int, trigger: str,
) -> None:
    event = parse_body(body("ann@example.org", reminder_minutes=minutes)).event
    text = part(render(event), "text/calendar")
    assert f"TRIGGER:{trigger}\r\n" in text
    alarm = vobject.readOne(text).vevent.valarm
    assert alarm.action.value == "DISPLAY"
    assert alarm.description.value == "Reminder"
    assert alarm.trigger.value == -dt.timedelta(minutes=minutes)


def test_no_reminder_no_alarm_and_a_cancellation_carries_none() -> None:
    assert "VALARM" not in part(render(sample_event()), "text/calendar")
    cancelled = render(sample_event(reminder_minutes=10, sequence=1), Standing.CANCELLED)
    assert "VALARM" not in part(cancelled, "text/calendar")


@pytest.mark.parametrize(("minutes", "reason"), [
    (-1, "must be at least 0"), (40_321, "must be at most 40320"), (1.5, "must be an integer"),
    (True, "must be an integer"), ("15", "must be an integer")])
def test_a_reminder_out_of_bounds_or_not_a_whole_number_is_refused(
    minutes: object, reason: str,
) -> None:
    assert refusal(reminder_minutes=minutes) == ("event.reminder_minutes", reason)


def test_a_library_caller_s_reminder_out_of_bounds_is_refused_when_rendered() -> None:
    with pytest.raises(ValueError, match="event reminder_minutes must be at least 0"):
        render_calendar(sample_event(reminder_minutes=-5), ANN, rsvp_email=RSVP_EMAIL,
                        dtstamp=FROZEN_NOW)


def test_both_travel_in_a_body_and_back() -> None:
    request = parse_body(body("ann@example.org", url=LINK, reminder_minutes=30))
    written = json.loads(encode_request(request))["event"]
    assert (written["url"], written["reminder_minutes"]) == (LINK, 30)
    assert parse_body(encode_request(request)) == request
