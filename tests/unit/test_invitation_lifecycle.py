"""Every message of an invitation's life: what it tells the person, and what it tells a calendar.

The first invitation, an update (a higher SEQUENCE), the event's cancellation and one
attendee's removal, each as an iMIP message (RFC 6047) carrying an iTIP REQUEST or CANCEL
(RFC 5546).
"""

from __future__ import annotations

import datetime as dt
import email
import zoneinfo
from dataclasses import replace
from email import policy
from email.message import EmailMessage

import pytest
import vobject

from cis.domain.model import Event, EventStatus, Invitee, Standing
from cis.domain.rendering.imip import Invitation, compose_invitation
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.domain.rendering.wording import WORDING, MessageKind
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event
from tests.unit.test_invitation import FIXTURES, UPDATE_GOLDEN, berlin_event

ANN = Invitee(email="Ann.Lee@Example.org", name="Ann Lee")


def render(event: Event, standing: Standing, invitee: Invitee = ANN) -> Invitation:
    return compose_invitation(event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                              now=FROZEN_NOW, email_id="msg-0001", standing=standing)


def parse(invitation: Invitation) -> EmailMessage:
    message = email.message_from_bytes(invitation.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, content_type: str) -> EmailMessage:
    (found,) = [p for p in message.walk() if p.get_content_type() == content_type]
    return found


def text_of(message: EmailMessage, content_type: str) -> str:
    """A part's text as sent: CRLF line breaks, as the calendar's own."""
    payload = part(message, content_type).get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode("utf-8")


def body_of(message: EmailMessage, content_type: str) -> str:
    """The text or HTML body, its line breaks read as LF."""
    return text_of(message, content_type).replace("\r\n", "\n")


# (event, standing, subject, first line of the text part, closing line, METHOD)
MESSAGES = {
    "invitation": (
        sample_event(), Standing.INVITED, "Product launch",
        "Smith, John invites you to: Product launch",
        "Answer with your calendar's Accept, Maybe or Decline buttons, "
        "or open the attached invite.ics.",
        "REQUEST",
    ),
    "update": (
        sample_event(sequence=1), Standing.INVITED, "Updated invitation: Product launch",
        "Smith, John has updated the invitation to: Product launch",
        "Answer with your calendar's Accept, Maybe or Decline buttons, "
        "or open the attached invite.ics.",
        "REQUEST",
    ),
    "cancellation": (
        sample_event(sequence=2, status=EventStatus.CANCELLED), Standing.CANCELLED,
        "Cancelled: Product launch", "Smith, John has cancelled: Product launch",
        "The event will not take place. "
        "If your calendar still shows it, open the attached invite.ics to remove it.",
        "CANCEL",
    ),
    "removal": (
        sample_event(sequence=2), Standing.REMOVED, "Removed from event: Product launch",
        "Smith, John has removed you from: Product launch",
        "The event goes on without you. "
        "If your calendar still shows it, open the attached invite.ics to remove it.",
        "CANCEL",
    ),
}
KINDS = pytest.mark.parametrize(
    ("event", "standing", "subject", "first_line", "closing", "method"),
    list(MESSAGES.values()), ids=list(MESSAGES),
)


@KINDS
def test_each_message_says_what_happened_in_its_subject_and_its_text(
    event: Event, standing: Standing, subject: str, first_line: str, closing: str, method: str,
) -> None:
    message = parse(render(event, standing))
    assert message["Subject"] == subject
    lines = body_of(message, "text/plain").split("\n")
    assert lines[0] == first_line
    assert lines[2] == "When: Tue 1 Dec 2026, 09:00 to 10:30 (UTC)"
    assert lines[-2:] == [closing, ""]


@KINDS
def test_the_html_part_says_the_same(
    event: Event, standing: Standing, subject: str, first_line: str, closing: str, method: str,
) -> None:
    html = body_of(parse(render(event, standing)), "text/html")
    opening, summary = first_line.split(": ", 1)
    assert f"<p>{opening}:</p>\n<h2>{summary}</h2>\n" in html
    assert f"<p>{closing}</p>\n</body></html>\n" in html


@KINDS
def test_the_calendar_part_s_method_is_the_calendar_s_and_invite_ics_stays(
    event: Event, standing: Standing, subject: str, first_line: str, closing: str, method: str,
) -> None:
    message = parse(render(event, standing))
    calendar_part = part(message, "text/calendar")
    assert calendar_part.get_param("method") == method
    calendar = text_of(message, "text/calendar")
    assert vobject.readOne(calendar).method.value == method
    attachment = part(message, "application/ics")
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_payload(decode=True) == calendar.encode("utf-8")


def test_the_words_of_every_kind_are_plain_text_for_both_parts() -> None:
    # The HTML part writes them as they are: they must hold nothing HTML reads as markup.
    for wording in WORDING.values():
        for words in (wording.subject_prefix, wording.headline, wording.closing):
            assert not set(words) & set('<>&"'), words
            assert words.isascii() and words == " ".join(words.split(" "))


@pytest.mark.parametrize(("sequence", "standing", "kind"), [
    (0, Standing.INVITED, MessageKind.INVITATION),
    (1, Standing.INVITED, MessageKind.UPDATE),
    (7, Standing.INVITED, MessageKind.UPDATE),
    (0, Standing.CANCELLED, MessageKind.CANCELLATION),
    (3, Standing.CANCELLED, MessageKind.CANCELLATION),
    (3, Standing.REMOVED, MessageKind.REMOVAL),
])
def test_the_kind_of_a_message_follows_its_standing_and_sequence(
    sequence: int, standing: Standing, kind: MessageKind,
) -> None:
    assert MessageKind.of(sample_event(sequence=sequence), standing) is kind


@pytest.mark.parametrize("standing", [Standing.CANCELLED, Standing.REMOVED])
def test_caller_text_in_a_cancellation_is_made_safe_as_in_an_invitation(
    standing: Standing,
) -> None:
    event = sample_event(
        sequence=1, summary="=?utf-8?q?Hi=0D=0A?=\r\nBcc: victim@example.net",
        organizer="Evil\nX-Evil: 1", description_html='<p onclick="x()">Hi<script>1</script></p>',
    )
    message = parse(render(event, standing, Invitee("ann@example.org", "Ann\r\nCc: x@y.org")))
    assert "Bcc" not in message and "Cc" not in message and "X-Evil" not in message
    prefix = WORDING[MessageKind.of(event, standing)].subject_prefix
    assert message["Subject"] == f"{prefix}= ?utf-8?q?Hi=0D=0A?= Bcc: victim@example.net"
    html = body_of(message, "text/html")
    assert "<script" not in html and "onclick" not in html
    assert "<p>Evil X-Evil: 1 " in html


# The Berlin event's life as golden files: the first invitation (invite-berlin.eml/.ics, held
# by test_invitation.py), an update to a new time, then either its cancellation or Ann's
# removal. Each is sent later than the one before, with its own email id.

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UPDATED = replace(berlin_event(), sequence=1,
                  start=dt.datetime(2026, 12, 1, 14, 0, tzinfo=BERLIN),
                  end=dt.datetime(2026, 12, 1, 15, 30, tzinfo=BERLIN))
GOLDEN = {
    "invite-berlin-update": (UPDATED, Standing.INVITED, dt.timedelta(days=1), "msg-0002"),
    "invite-berlin-cancel": (
        replace(UPDATED, sequence=2, status=EventStatus.CANCELLED), Standing.CANCELLED,
        dt.timedelta(days=2), "msg-0003"),
    "invite-berlin-removal": (
        replace(UPDATED, sequence=2), Standing.REMOVED, dt.timedelta(days=2), "msg-0004"),
}
GOLDEN_NAMES = pytest.mark.parametrize("name", list(GOLDEN))


def golden_render(name: str) -> Invitation:
    event, standing, later, email_id = GOLDEN[name]
    return compose_invitation(event, ANN, sender=SENDER, rsvp_email=RSVP_EMAIL,
                              now=FROZEN_NOW + later, email_id=email_id, standing=standing)


def golden_calendar(name: str) -> vobject.base.Component:
    return vobject.readOne((FIXTURES / f"{name}.ics").read_text(encoding="utf-8"))


@GOLDEN_NAMES
def test_each_message_of_the_berlin_event_matches_its_golden_files(name: str) -> None:
    invitation = golden_render(name)
    calendar = text_of(parse(invitation), "text/calendar").encode("utf-8")
    eml, ics = FIXTURES / f"{name}.eml", FIXTURES / f"{name}.ics"
    if UPDATE_GOLDEN:
        eml.write_bytes(invitation.data)
        ics.write_bytes(calendar)
    assert invitation.data == eml.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"
    assert calendar == ics.read_bytes(), "CIS_UPDATE_GOLDEN=1 rewrites it"


@GOLDEN_NAMES
def test_the_template_renders_each_golden_message_on_its_fast_path(name: str) -> None:
    event, standing, later, email_id = GOLDEN[name]
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    invitation = template.render(ANN, now=FROZEN_NOW + later, email_id=email_id)
    assert invitation.data == (FIXTURES / f"{name}.eml").read_bytes()
    assert template.fallbacks == 0


@pytest.mark.parametrize(("name", "method", "sequence", "status"), [
    ("invite-berlin-update", "REQUEST", "1", "CONFIRMED"),
    ("invite-berlin-cancel", "CANCEL", "2", "CANCELLED"),
    ("invite-berlin-removal", "CANCEL", "2", None),
])
def test_vobject_reads_each_golden_calendar_as_the_same_event_at_its_version(
    name: str, method: str, sequence: str, status: str | None,
) -> None:
    first = golden_calendar("invite-berlin")
    calendar = golden_calendar(name)
    assert calendar.method.value == method
    vevent = calendar.vevent
    assert vevent.uid.value == first.vevent.uid.value == "berlin-1"
    assert vevent.sequence.value == sequence
    if status is None:
        assert "status" not in vevent.contents
    else:
        assert vevent.status.value == status
    assert vevent.attendee.value == "mailto:Ann.Lee@Example.org"
    assert vevent.attendee.params["CN"] == ["Ann Lee"]
    assert vevent.attendee.params["RSVP"] == ["TRUE" if method == "REQUEST" else "FALSE"]
    assert vevent.organizer.value == first.vevent.organizer.value == "mailto:rsvp@example.com"
    assert vevent.dtstart.value.astimezone(dt.UTC) == dt.datetime(2026, 12, 1, 13, tzinfo=dt.UTC)
    assert vevent.dtend.value.astimezone(dt.UTC) == dt.datetime(2026, 12, 1, 14, 30,
                                                                tzinfo=dt.UTC)
    assert vevent.dtstamp.value > first.vevent.dtstamp.value
    assert calendar.vtimezone.tzid.value == "Europe/Berlin"


@pytest.mark.parametrize("name", ["invite-berlin", *GOLDEN])
def test_each_golden_message_s_calendar_part_names_its_calendar_s_method(name: str) -> None:
    message = email.message_from_bytes((FIXTURES / f"{name}.eml").read_bytes(),
                                       policy=policy.default)
    assert isinstance(message, EmailMessage)
    calendar_part = part(message, "text/calendar")
    calendar = vobject.readOne(text_of(message, "text/calendar"))
    assert calendar_part.get_param("method") == calendar.method.value
    attachment = part(message, "application/ics")
    assert attachment.get_payload(decode=True) == calendar_part.get_payload(decode=True)
    assert attachment.get_payload(decode=True) == (FIXTURES / f"{name}.ics").read_bytes()


@pytest.mark.parametrize(("name", "subject"), [
    ("invite-berlin", "Product launch"),
    ("invite-berlin-update", "Updated invitation: Product launch"),
    ("invite-berlin-cancel", "Cancelled: Product launch"),
    ("invite-berlin-removal", "Removed from event: Product launch"),
])
def test_each_golden_message_s_subject_says_what_happened(name: str, subject: str) -> None:
    message = email.message_from_bytes((FIXTURES / f"{name}.eml").read_bytes(),
                                       policy=policy.default)
    assert message["Subject"] == subject
