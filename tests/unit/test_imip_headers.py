"""Long names in From and To: cut to a header line, so each header names exactly one address."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from cis.domain.model import Event, Invitee, Standing
from cis.domain.rendering.imip import Invitation, compose_invitation, sender_address
from cis.domain.rendering.invitation_template import InvitationTemplate
from cis.domain.rendering.wording import WORDING, MessageKind
from tests.support import FROZEN_NOW, RSVP_EMAIL, SENDER, sample_event

LONG_NAME = "x, victim@example.net " * 5


def render(event: Event, invitee: Invitee, *, sender: str = SENDER) -> Invitation:
    return compose_invitation(event, invitee, sender=sender, rsvp_email=RSVP_EMAIL,
                              now=FROZEN_NOW, email_id="msg-0001")


def parse(invitation: Invitation) -> EmailMessage:
    message = email.message_from_bytes(invitation.data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_long_attendee_name_with_commas_is_cut_and_the_message_goes_to_the_attendee() -> None:
    invitee = Invitee(email="ann@example.org", name=LONG_NAME)
    invitation = render(sample_event(), invitee)
    (to,) = parse(invitation)["To"].addresses
    assert to.addr_spec == "ann@example.org"
    assert to.display_name == (
        "x, victim@example.net x, victim@example.net x, victim@example.net x,...")
    assert b'To: "x, victim@example.net' in invitation.data


def test_the_calendar_keeps_the_whole_attendee_name() -> None:
    invitation = render(sample_event(), Invitee(email="ann@example.org", name=LONG_NAME))
    calendar = next(p for p in parse(invitation).walk()
                    if p.get_content_type() == "text/calendar").get_content()
    assert f'ATTENDEE;CN="{LONG_NAME.strip()}";' in calendar.replace("\r\n ", "")


def test_a_long_organiser_name_is_cut_so_that_the_sender_s_own_words_stay() -> None:
    (sender,) = parse(render(sample_event(organizer=LONG_NAME), Invitee("ann@example.org")))[
        "From"].addresses
    assert sender.addr_spec == "invites@example.com"
    assert sender.display_name == (
        "x, victim@example.net x, victim@example.net x,... via Invites")


def test_a_sender_name_with_no_room_for_the_organiser_leaves_it_out() -> None:
    own_words = "Invitations " * 7
    address = sender_address(f"{{}} {own_words}<invites@example.com>", "Smith, John")
    assert address.display_name == " ".join(["Invitations"] * 6) + "..."
    assert address.addr_spec == "invites@example.com"


@pytest.mark.parametrize("name", [LONG_NAME, "a" * 200, "Zoë, " * 30, "Lee, " + "a" * 71])
def test_the_template_cuts_a_long_name_exactly_as_compose_invitation_does(name: str) -> None:
    event = sample_event(organizer=name)
    invitee = Invitee(email="ann@example.org", name=name)
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL)
    assert template.render(invitee, now=FROZEN_NOW, email_id="msg-0001") == render(
        event, invitee)
    assert template.fallbacks == 0


@pytest.mark.parametrize("standing", list(Standing))
@pytest.mark.parametrize("summary", [LONG_NAME * 3, "Zoë, " * 30, "a" * 200])
def test_a_long_summary_after_the_subject_s_words_is_one_header_in_every_message(
    summary: str, standing: Standing,
) -> None:
    event = sample_event(summary=summary, sequence=1)
    invitee = Invitee(email="ann@example.org", name="Ann")
    invitation = compose_invitation(event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                    now=FROZEN_NOW, email_id="msg-0001", standing=standing)
    message = parse(invitation)
    assert message.get_all("Subject") == [message["Subject"]]
    assert message["Subject"].split() == (
        WORDING[MessageKind.of(event, standing)].subject_prefix + summary).split()
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    assert template.render(invitee, now=FROZEN_NOW, email_id="msg-0001") == invitation
    assert template.fallbacks == 0


# Reply-To: a reply written by hand reaches the organiser, the buttons still reach cis.


def test_a_reply_by_hand_goes_to_the_organiser_and_the_buttons_to_the_rsvp_address() -> None:
    message = parse(render(sample_event(), Invitee("ann@example.org")))
    (reply_to,) = message["Reply-To"].addresses
    assert (reply_to.display_name, reply_to.addr_spec) == (
        "Smith, John", "john.smith@example.org")
    calendar = next(p for p in message.walk()
                    if p.get_content_type() == "text/calendar").get_content()
    assert 'ORGANIZER;CN="Smith, John":mailto:rsvp@example.com' in calendar.replace("\r\n ", "")


@pytest.mark.parametrize("organizer", [
    LONG_NAME, "Smith\r\nBcc: victim@example.net", "=?utf-8?q?x=0D=0ABcc=3A_v=40x.net?=",
    "Zoë \"Boss\" <boss@evil.example>"])
@pytest.mark.parametrize("standing", list(Standing))
def test_reply_to_names_the_organiser_s_address_alone_whatever_their_name(
    organizer: str, standing: Standing,
) -> None:
    event = sample_event(organizer=organizer, sequence=1)
    invitee = Invitee("ann@example.org")
    invitation = compose_invitation(event, invitee, sender=SENDER, rsvp_email=RSVP_EMAIL,
                                    now=FROZEN_NOW, email_id="m", standing=standing)
    message = parse(invitation)
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["john.smith@example.org"]
    assert "Bcc" not in message
    template = InvitationTemplate(event, sender=SENDER, rsvp_email=RSVP_EMAIL, standing=standing)
    assert template.render(invitee, now=FROZEN_NOW, email_id="m") == invitation
    assert template.fallbacks == 0


@pytest.mark.parametrize("mailto", ["organiser", "@example.org", "a@b.org\r\nBcc: x@y.org"])
def test_an_organiser_address_no_header_can_hold_is_refused_by_name(mailto: str) -> None:
    # Only a library caller's own Event gets here: the parser refuses such a mailto first.
    with pytest.raises(ValueError, match=r"mailto|CR or LF"):
        render(sample_event(mailto=mailto), Invitee("ann@example.org"))
    with pytest.raises(ValueError, match=r"mailto|CR or LF"):
        InvitationTemplate(sample_event(mailto=mailto), sender=SENDER, rsvp_email=RSVP_EMAIL)
