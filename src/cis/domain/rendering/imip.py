"""The iMIP email (RFC 6047) that carries one message of an invitation's life to an attendee.

Layout, as Gmail itself sends invitations: `multipart/mixed` holding a `multipart/alternative`
(text/plain, text/html, text/calendar with the calendar's method, REQUEST or CANCEL) and the
same calendar attached as `invite.ics`. Serialised with CRLF everywhere, so DKIM signatures
hold. Reply-To names the organiser, while the calendar's ORGANIZER is the RSVP address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from cis.domain.model import Event, Invitee, Standing
from cis.domain.rendering.ical import render_calendar
from cis.domain.rendering.recurrence_text import repeats_text
from cis.domain.rendering.text import (
    DISPLAY_NAME_WIDTH,
    display_name,
    escape_html,
    header_text,
    one_line,
    plain_text,
    quoted_width,
    sanitise_html,
)
from cis.domain.rendering.wording import WORDING, MessageKind, Wording

SENDER_NAME_PLACEHOLDER = "{}"


@dataclass(frozen=True, slots=True)
class Invitation:
    """A rendered invitation: the envelope sender and the message bytes."""

    envelope_sender: str
    recipient: str
    data: bytes


def sender_address(sender: str, organizer: str) -> Address:
    """The From address, with a `{}` in SENDER's display name filled by the organiser's name.

    `"{} via Invites <invites@example.com>"` lets one verified address send on behalf of many
    organisers; the organiser's name is made one line first, so it cannot add a header, and
    is cut to the room SENDER's own words leave (see `display_name`), so that they stay.
    """
    display, addr_spec = parseaddr(sender)
    if not addr_spec or "@" not in addr_spec:
        raise ValueError(f"SENDER is not an email address: {sender!r}")
    placeholders = display.count(SENDER_NAME_PLACEHOLDER)
    if placeholders:
        own_words = header_text(display.replace(SENDER_NAME_PLACEHOLDER, ""))
        room = (DISPLAY_NAME_WIDTH - quoted_width(own_words)) // placeholders
        display = display.replace(SENDER_NAME_PLACEHOLDER, display_name(organizer, width=room))
    username, domain = addr_spec.rsplit("@", 1)
    return Address(display_name=display_name(display), username=username, domain=domain)


def compose_invitation(
    event: Event,
    invitee: Invitee,
    *,
    sender: str,
    rsvp_email: str,
    now: dt.datetime,
    email_id: str | None = None,
    message_id: str | None = None,
    standing: Standing = Standing.INVITED,
    first: bool = False,
) -> Invitation:
    """Render the whole message for one attendee.

    `now` and `email_id` are the only inputs that vary between two renderings of the same
    message; with them fixed the bytes are identical, MIME boundaries included. `standing`
    says which message of the invitation's life it is (see `render_calendar`), and its
    subject and bodies say so to the reader (see `MessageKind`).

    Args:
        event: What the attendee is invited to (its SEQUENCE is the version sent).
        invitee: Who is invited.
        sender: The From template (see `sender_address`).
        rsvp_email: The ORGANIZER address, where calendar clients send answers.
        now: The DTSTAMP and Date of the message.
        email_id: The left part of the Message-ID header (`<email_id@sender domain>`),
            which also seeds the MIME boundaries.
        message_id: `email_id` under the name the public API also takes it by; give one.
        standing: Where the message leaves the attendee: invited (a REQUEST), removed or
            the event cancelled (a CANCEL).
        first: The attendee was sent nothing before: a later version reads as their
            invitation, not as an update (the calendar is the same).

    Raises:
        TypeError: neither or both of `email_id` and `message_id` are given.

    """
    email_id = _one_email_id(email_id, message_id)
    from_address = sender_address(sender, event.organizer)
    calendar = render_calendar(event, invitee, rsvp_email=rsvp_email, dtstamp=now,
                               standing=standing)
    wording = WORDING[MessageKind.of(event, standing, first=first)]

    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_address
    message["Reply-To"] = organiser_address(event)
    message["To"] = _recipient(invitee)
    message["Subject"] = _subject(event, wording)
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    message["Message-ID"] = f"<{email_id}@{from_address.domain}>"
    message["MIME-Version"] = "1.0"

    # A cancellation or a removal shows no link: nobody should join what they are not in.
    # render_calendar has refused a link that is not http or https (`link_problem`).
    link = event.url if standing is Standing.INVITED else None
    message.set_content(_text_body(event, wording, link), subtype="plain", charset="utf-8")
    message.add_alternative(_html_body(event, wording, link), subtype="html", charset="utf-8")
    message.add_alternative(
        calendar.decode("utf-8"), subtype="calendar", charset="utf-8",
        cte="7bit" if calendar.isascii() else "quoted-printable",
        params={"method": str(standing.method)},
    )
    message.add_attachment(
        calendar, maintype="application", subtype="ics", filename="invite.ics",
    )
    _tidy_parts(message, email_id)
    return Invitation(
        envelope_sender=from_address.addr_spec,
        recipient=invitee.email,
        data=message.as_bytes(policy=policy.SMTP),
    )


def organiser_address(event: Event) -> Address:
    """The Reply-To address: the organiser, named as the calendar names them.

    A reply written by hand goes to the organiser; the calendar's ORGANIZER stays the RSVP
    address, so the Accept and Decline buttons still answer cis.

    Raises:
        ValueError: the event's `mailto` is not an address (no `@`, or a line break).

    """
    username, at, domain = event.mailto.rpartition("@")
    if not at or not username or not domain:
        raise ValueError(f"event mailto is not an email address: {event.mailto!r}")
    return Address(display_name=display_name(event.organizer), username=username,
                   domain=domain)


def _one_email_id(email_id: str | None, message_id: str | None) -> str:
    if (email_id is None) == (message_id is None):
        raise TypeError("compose_invitation() takes one of email_id and message_id")
    return email_id if email_id is not None else str(message_id)


def _recipient(invitee: Invitee) -> Address:
    username, domain = invitee.email.rsplit("@", 1)
    return Address(display_name=display_name(invitee.name or ""), username=username,
                   domain=domain)


def _subject(event: Event, wording: Wording) -> str:
    """The summary as one line, after the words that say what the message is."""
    return (wording.subject_prefix + header_text(event.summary)).rstrip()


def _tidy_parts(message: EmailMessage, email_id: str) -> None:
    """Derive MIME boundaries from the email id, so output is byte-stable under a fixed id.

    Also drops the MIME-Version headers the email package repeats on every part: only the
    top-level header means anything (RFC 2045 section 4).
    """
    digest = hashlib.sha256(email_id.encode("utf-8")).hexdigest()[:24]
    for depth, part in enumerate(message.walk()):
        if part is not message:
            del part["MIME-Version"]
        if part.is_multipart():
            part.set_boundary(f"=_cis_{digest}_{depth}")


LINK_LABEL = "Meeting link"
"""The words before the event's link in the bodies."""


def _html_link(link: str | None) -> str:
    """The link as a paragraph of its own, its address shown as it opens."""
    if not link:
        return ""
    escaped = html.escape(link, quote=True)
    return (f'<p><strong>{LINK_LABEL}:</strong> <a href="{escaped}" '
            f'rel="noopener noreferrer">{escaped}</a></p>\n')


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: dt.date) -> str:
    """A date for people, independent of the machine's locale: ``Sat 1 May 2027``."""
    weekday, month = _WEEKDAYS[day.weekday()], _MONTHS[day.month - 1]
    return f"{weekday} {day.day} {month} {day.year}"


def when_text(event: Event) -> str:
    """The event's time for people, in its own zone, independent of the machine's locale.

    An all-day event says its dates alone, its last day the one before its (exclusive) end.
    """
    start, end = event.start, event.end
    if event.all_day:
        last = (end - dt.timedelta(days=1)).date()
        if last <= start.date():
            return f"{day_text(start.date())} (all day)"
        return f"{day_text(start.date())} to {day_text(last)} (all day)"
    zone = event.timezone or "UTC"

    def day(moment: dt.datetime) -> str:
        return day_text(moment.date())

    if start.date() == end.date():
        return f"{day(start)}, {start:%H:%M} to {end:%H:%M} ({zone})"
    return f"{day(start)}, {start:%H:%M} to {day(end)}, {end:%H:%M} ({zone})"




def _text_body(event: Event, wording: Wording, link: str | None) -> str:
    lines = [
        f"{one_line(event.organizer)} {wording.headline}: {one_line(event.summary)}",
        "",
        f"When: {when_text(event)}",
    ]
    repeats = repeats_text(event)
    if repeats:
        lines.append(f"Repeats: {repeats}")
    if event.location:
        lines.append(f"Where: {one_line(event.location)}")
    if link:
        lines.append(f"{LINK_LABEL}: {link}")
    if event.description:
        lines += ["", plain_text(event.description)]
    lines += ["", wording.closing]
    return "\n".join(lines) + "\n"


def _html_body(event: Event, wording: Wording, link: str | None) -> str:
    """The HTML part: the caller's text escaped or sanitised, cis's own words as they are."""
    if event.description_html:
        description = sanitise_html(event.description_html)
    elif event.description:
        description = f"<p>{escape_html(event.description)}</p>"
    else:
        description = ""
    where = (
        f"<p><strong>Where:</strong> {escape_html(one_line(event.location))}</p>\n"
        if event.location else ""
    )
    repeats = repeats_text(event)
    if repeats:
        where = f"<p><strong>Repeats:</strong> {escape_html(repeats)}</p>\n{where}"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n"
        f"<p>{escape_html(one_line(event.organizer))} {wording.headline}:</p>\n"
        f"<h2>{escape_html(one_line(event.summary))}</h2>\n"
        f"<p><strong>When:</strong> {escape_html(when_text(event))}</p>\n"
        f"{where}"
        f"{_html_link(link)}"
        f"{description}\n"
        f"<p>{wording.closing}</p>\n"
        "</body></html>\n"
    )
