"""The iMIP invitation: structure, safety, byte stability, and a second opinion from vobject."""

from __future__ import annotations

import datetime as dt
import email
import os
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import vobject

from cis.domain.model import Event, EventStatus, Invitee, PartStat
from cis.domain.rendering.imip import Invitation, compose_invitation, sender_address
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event

FIXTURES = Path(__file__).parents[1] / "fixtures"
UPDATE_GOLDEN = os.environ.get("CIS_UPDATE_GOLDEN") == "1"


def render(event: Event | None = None, invitee: Invitee | None = None,
           *, sender: str = SENDER) -> Invitation:
    return compose_invitation(
        event or sample_event(description="Agenda:\n1. Demo", location="Room 4"),
        invitee or Invitee(email="Ann.Lee@Example.org", name="Ann Lee"),
        sender=sender, rsvp_email=RSVP_EMAIL, now=FROZEN_NOW, email_id="msg-0001",
    )


def parse(invitation: Invitation) -> EmailMessage:
    message = email.message_from_bytes(invitation.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.walk() if p.get_content_type() in ("text/calendar",
                                                                   "application/ics")]


def calendar_text(invitation: Invitation) -> str:
    part = next(p for p in parse(invitation).walk() if p.get_content_type() == "text/calendar")
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def berlin_event() -> Event:
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    return sample_event(
        uid="berlin-1",
        start=dt.datetime(2026, 12, 1, 10, 0, tzinfo=berlin),
        end=dt.datetime(2026, 12, 1, 11, 30, tzinfo=berlin),
        timezone="Europe/Berlin",
        location="Room 4, Main St. 1",
    )


def test_message_has_the_imip_layout_gmail_and_outlook_expect() -> None:
    message = parse(render())
    assert message.get_content_type() == "multipart/mixed"
    inner, attachment = message.iter_parts()
    assert inner.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in inner.iter_parts()] == [
        "text/plain", "text/html", "text/calendar"]
    calendar_part = list(inner.iter_parts())[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_content_charset() == "utf-8"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_payload(decode=True) == calendar_part.get_payload(decode=True)


def test_headers_are_from_reply_to_to_subject_date_message_id_and_mime_version() -> None:
    message = parse(render())
    assert message["From"] == '"Smith, John via Invites" <invites@example.com>'
    assert message["Reply-To"] == '"Smith, John" <john.smith@example.org>'
    assert message["To"] == "Ann Lee <Ann.Lee@Example.org>"
    assert message["Subject"] == "Product launch"
    assert message["Date"] == "Sat, 28 Nov 2026 09:30:00 +0000"
    assert message["Message-ID"] == "<msg-0001@example.com>"
    assert message["MIME-Version"] == "1.0"
    assert sorted(message.keys()) == sorted(
        ["From", "Reply-To", "To", "Subject", "Date", "Message-ID", "MIME-Version",
         "Content-Type"])


def test_every_line_of_the_message_ends_with_crlf() -> None:
    data = render(berlin_event(), Invitee(email="z@example.org", name="Zoë Ünal")).data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")


def test_calendar_is_a_request_with_every_required_property() -> None:
    text = calendar_text(render())
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    unfolded = text.replace("\r\n ", "")
    for line in [
        "BEGIN:VCALENDAR", "VERSION:2.0", "METHOD:REQUEST", "BEGIN:VEVENT",
        "UID:launch-2026", "DTSTAMP:20261128T093000Z", "DTSTART:20261201T090000Z",
        "DTEND:20261201T103000Z", "SUMMARY:Product launch", "SEQUENCE:0", "STATUS:CONFIRMED",
        "ORGANIZER;CN=\"Smith, John\":mailto:rsvp@example.com",
        "DESCRIPTION:Agenda:\\n1. Demo", "LOCATION:Room 4",
    ]:
        assert line in unfolded.split("\r\n"), line
    assert re.search(r"^PRODID:.+$", unfolded, re.M)
    attendee = next(x for x in unfolded.split("\r\n") if x.startswith("ATTENDEE"))
    for param in ('CN="Ann Lee"', "RSVP=TRUE", "PARTSTAT=NEEDS-ACTION", "ROLE=REQ-PARTICIPANT"):
        assert param in attendee or param.replace('"', "") in attendee
    assert attendee.endswith(":mailto:Ann.Lee@Example.org")


def test_calendar_lines_are_folded_at_75_octets() -> None:
    event = sample_event(description="é" * 300 + " word" * 100, summary="Ω" * 120)
    text = calendar_text(render(event))
    for line in text.split("\r\n"):
        assert len(line.encode("utf-8")) <= 75, line


def test_independent_parser_reads_the_same_invitation() -> None:
    event = sample_event(description="Line one\nLine two; with, punctuation\\",
                         location="Room 4, Main St. 1", summary="Review: Q3, plans; next")
    text = calendar_text(render(event, Invitee(email="ann@example.org", name="Lee, Ann")))
    calendar = vobject.readOne(text)
    assert calendar.method.value == "REQUEST"
    vevent = calendar.vevent
    assert vevent.uid.value == "launch-2026"
    assert vevent.summary.value == "Review: Q3, plans; next"
    assert vevent.description.value == "Line one\nLine two; with, punctuation\\"
    assert vevent.location.value == "Room 4, Main St. 1"
    assert vevent.dtstart.value == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert vevent.dtend.value == dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC)
    assert vevent.organizer.value == "mailto:rsvp@example.com"
    assert vevent.organizer.params["CN"] == ["Smith, John"]
    assert vevent.attendee.value == "mailto:ann@example.org"
    assert vevent.attendee.params["CN"] == ["Lee, Ann"]
    assert vevent.attendee.params["PARTSTAT"] == ["NEEDS-ACTION"]
    assert vevent.attendee.params["RSVP"] == ["TRUE"]


def test_independent_parser_resolves_the_event_zone() -> None:
    calendar = vobject.readOne(calendar_text(render(berlin_event())))
    start = calendar.vevent.dtstart.value
    assert start.utcoffset() == dt.timedelta(hours=1)
    assert start.astimezone(dt.UTC) == dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
    assert calendar.vtimezone.tzid.value == "Europe/Berlin"


def test_zoned_calendar_carries_tzid_and_a_rule_based_vtimezone() -> None:
    text = calendar_text(render(berlin_event())).replace("\r\n ", "")
    assert "DTSTART;TZID=Europe/Berlin:20261201T100000" in text
    assert "BEGIN:VTIMEZONE" in text and "TZID:Europe/Berlin" in text
    assert "RRULE:FREQ=YEARLY" in text
    assert "RDATE" not in text


def test_header_injection_through_names_and_summary_is_impossible() -> None:
    event = sample_event(summary="Hi\r\nBcc: victim@example.net", organizer="Evil\nX-Evil: 1")
    invitation = render(event, Invitee(email="ann@example.org", name="Ann\r\nCc: x@example.net"))
    message = parse(invitation)
    assert "Bcc" not in message and "Cc" not in message and "X-Evil" not in message
    assert message["Subject"] == "Hi Bcc: victim@example.net"
    unfolded = calendar_text(invitation).replace("\r\n ", "")
    assert not any(line.startswith(("Cc", "X-Evil", "Bcc")) for line in unfolded.split("\r\n"))


def test_html_description_is_sanitised_and_plain_text_is_escaped() -> None:
    event = sample_event(
        description="<b>not markup</b> & more",
        description_html='<p onclick="x()">Hello <script>alert(1)</script>'
                         '<a href="javascript:alert(2)">bad</a> <a href="https://example.org">'
                         'good</a><img src="https://tracker.example/p.gif"></p>',
    )
    message = parse(render(event))
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    html = html_part.get_content()
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html
    assert "<img" not in html
    assert '<a href="https://example.org" rel="noopener noreferrer">good</a>' in html
    plain_only = parse(render(sample_event(description="<b>not markup</b> & more")))
    html_text = next(p for p in plain_only.walk()
                     if p.get_content_type() == "text/html").get_content()
    assert "&lt;b&gt;not markup&lt;/b&gt; &amp; more" in html_text


def test_same_inputs_render_the_same_bytes() -> None:
    assert render(berlin_event()).data == render(berlin_event()).data


def test_attendee_partstat_comes_from_the_request() -> None:
    text = calendar_text(render(invitee=Invitee(email="a@example.org",
                                                partstat=PartStat.TENTATIVE)))
    assert "PARTSTAT=TENTATIVE" in text.replace("\r\n ", "")


def test_cancelled_status_is_carried() -> None:
    text = calendar_text(render(sample_event(status=EventStatus.CANCELLED, sequence=2)))
    assert "STATUS:CANCELLED" in text and "SEQUENCE:2" in text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("invites@example.com", "invites@example.com"),
        ("Invites <invites@example.com>", "Invites <invites@example.com>"),
        ("{} <invites@example.com>", '"Smith, John" <invites@example.com>'),
    ],
)
def test_sender_template_fills_the_organiser_name(template: str, expected: str) -> None:
    assert str(sender_address(template, "Smith, John")) == expected


@pytest.mark.parametrize(
    ("name", "event"),
    [("invite-utc.eml", sample_event(description="Agenda:\n1. Demo", location="Room 4")),
     ("invite-berlin.eml", None)],
)
def test_rendering_matches_the_golden_message(name: str, event: Event | None) -> None:
    invitation = render(event or berlin_event())
    golden = FIXTURES / name
    if UPDATE_GOLDEN:
        golden.write_bytes(invitation.data)
    assert invitation.data == golden.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"


def test_calendar_matches_the_golden_ics() -> None:
    text = calendar_text(render(berlin_event())).encode("utf-8")
    golden = FIXTURES / "invite-berlin.ics"
    if UPDATE_GOLDEN:
        golden.write_bytes(text)
    assert text == golden.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"


def test_frozen_clock_makes_the_service_output_byte_stable() -> None:
    from freezegun import freeze_time

    from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
    from cis.bootstrap import build_service
    from cis.ports.queue import QueueRecord
    from tests.support import body

    def run() -> bytes:
        mailer = InMemoryMailer()
        ids = iter(["claim-token", "msg-0001"])
        service = build_service(repository=InMemoryInviteRepository(), mailer=mailer,
                                sender=SENDER, rsvp_email=RSVP_EMAIL, new_id=lambda: next(ids))
        service.process_batch([QueueRecord("m1", body("Ann.Lee@Example.org", name="Ann Lee"))])
        return mailer.messages[0]

    with freeze_time(FROZEN_NOW):
        first = run()
    with freeze_time(FROZEN_NOW):
        second = run()
    assert first == second
    assert b"Date: Sat, 28 Nov 2026 09:30:00 +0000\r\n" in first
    assert b"DTSTAMP:20261128T093000Z\r\n" in first


def test_compose_invitation_still_takes_the_email_id_as_message_id() -> None:
    event, invitee = sample_event(), Invitee("ann@example.org")
    common = {"sender": "Invites <invites@example.com>", "rsvp_email": RSVP_EMAIL,
              "now": FROZEN_NOW}
    assert compose_invitation(event, invitee, message_id="msg-1", **common) == (
        compose_invitation(event, invitee, email_id="msg-1", **common))
    with pytest.raises(TypeError, match="one of email_id and message_id"):
        compose_invitation(event, invitee, email_id="a", message_id="a", **common)
    with pytest.raises(TypeError, match="one of email_id and message_id"):
        compose_invitation(event, invitee, **common)
