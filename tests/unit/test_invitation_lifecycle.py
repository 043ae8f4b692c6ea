"""Every message of an invitation's life: what it tells the person, and what it tells a calendar.

The first invitation, an update (a higher SEQUENCE), the event's cancellation and one
attendee's removal, each as an iMIP message (RFC 6047) carrying an iTIP REQUEST or CANCEL
(RFC 5546).
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest
import vobject

from cis.domain.model import Event, EventStatus, Invitee, Standing
from cis.domain.rendering.imip import Invitation, compose_invitation
from cis.domain.rendering.wording import WORDING, MessageKind
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event

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
