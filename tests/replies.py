"""Build reply emails in tests: any method, attendee, PARTSTAT, time, sender and layout."""

from __future__ import annotations

import datetime as dt
from email import policy
from email.message import EmailMessage

UID = "launch-2026"


def reply_calendar(
    attendee: str = "ann@example.org",
    partstat: str | None = "ACCEPTED",
    *,
    uid: str = UID,
    method: str = "REPLY",
    dtstamp: dt.datetime = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC),
    prodid: str = "-//Google Inc//Google Calendar 70.9054//EN",
    mailto: str = "mailto:",
    extra_attendees: tuple[str, ...] = (),
    status: str | None = None,
    sequence: str | None = "0",
) -> str:
    param = f";PARTSTAT={partstat}" if partstat else ""
    lines = [
        "BEGIN:VCALENDAR", f"PRODID:{prodid}", "VERSION:2.0", f"METHOD:{method}",
        "BEGIN:VEVENT", f"DTSTAMP:{dtstamp:%Y%m%dT%H%M%SZ}", "DTSTART:20261201T090000Z",
        "DTEND:20261201T103000Z", f"UID:{uid}",
        *([f"SEQUENCE:{sequence}"] if sequence is not None else []), "SUMMARY:Product launch",
        "ORGANIZER;CN=\"Smith, John\":mailto:rsvp@example.com",
        f"ATTENDEE;CN=Someone{param}:{mailto}{attendee}",
        *extra_attendees,
        *([f"STATUS:{status}"] if status else []),
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def reply_email(
    calendar: str | None,
    *,
    sender: str = "ann@example.org",
    layout: str = "inline",
    auth: str | None = "spf=pass smtp.mailfrom=example.org; dkim=pass; dmarc=pass",
) -> bytes:
    """layout: inline (text/calendar in alternative), attachment (application/ics, base64),
    qp (text/calendar quoted-printable)."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = "rsvp@example.com"
    message["Subject"] = "Accepted: Product launch"
    message["Date"] = "Sat, 28 Nov 2026 12:00:05 +0000"
    message["Message-ID"] = "<reply-1@example.org>"
    if auth:
        message["Authentication-Results"] = f"amazonses.com; {auth}"
    message.set_content("I will be there.\n")
    if calendar is not None:
        if layout == "attachment":
            message.add_attachment(calendar.encode("utf-8"), maintype="application",
                                   subtype="ics", filename="invite.ics")
        else:
            message.add_alternative(calendar, subtype="calendar", charset="utf-8",
                                    cte="quoted-printable" if layout == "qp" else "base64",
                                    params={"method": "REPLY"})
    return message.as_bytes()
