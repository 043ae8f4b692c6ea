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


def with_headers(raw: bytes, name: str, *values: str) -> bytes:
    """`raw` with every `name` header (and its folded lines) replaced by `values`, written as is.

    Headers are set on the bytes, so no email policy refolds or repairs a hostile value.
    """
    head, separator, rest = raw.partition(b"\r\n\r\n")
    prefix = name.lower().encode("ascii") + b":"
    kept: list[bytes] = []
    dropping = False
    for line in head.split(b"\r\n"):
        if dropping and line[:1] in (b" ", b"\t"):
            continue
        dropping = line.lower().startswith(prefix)
        if not dropping:
            kept.append(line)
    added = [f"{name}: {value}".encode("utf-8", "surrogateescape") for value in values]
    return b"\r\n".join(added + kept) + separator + rest


def with_calendar_charset(charset: str, calendar: str | None = None) -> bytes:
    """A reply whose calendar part declares `charset` (its bytes stay UTF-8)."""
    raw = reply_email(calendar or reply_calendar())
    marked = raw.replace(b'text/calendar; charset="utf-8"',
                         b'text/calendar; charset="' + charset.encode("ascii") + b'"')
    assert marked != raw
    return marked


def without_dtstamp(calendar: str) -> str:
    """The calendar with its DTSTAMP line taken out, so the mail's Date header stands in."""
    lines = calendar.split("\r\n")
    kept = [line for line in lines if not line.startswith("DTSTAMP")]
    assert len(kept) == len(lines) - 1
    return "\r\n".join(kept)


def nested_multipart(depth: int) -> bytes:
    """A message whose multiparts sit `depth` levels inside each other."""
    opening = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (n, n)
                       for n in range(depth))
    return (b"From: ann@example.org\r\nDate: Sat, 28 Nov 2026 12:00:05 +0000\r\n" + opening
            + b"Content-Type: text/calendar\r\n\r\n" + reply_calendar().encode("ascii"))


MAX_REPLY_BYTES = 1024 * 1024

UNREADABLE_REPLIES: dict[str, tuple[bytes, str]] = {
    # name: (the message, words the reason must hold); each can never be applied.
    "unknown charset": (with_calendar_charset("x-no-such-charset"), "charset"),
    "charset that is no text encoding": (with_calendar_charset("base64"), "charset"),
    "charset only Python knows": (with_calendar_charset("unicode_escape"), "charset"),
    "charset that cannot decode": (with_calendar_charset("idna"), "charset"),
    "Date at the end of year 9999 and no DTSTAMP": (
        with_headers(reply_email(without_dtstamp(reply_calendar())), "Date",
                     "Fri, 31 Dec 9999 23:59:59 -1200"), "Date"),
    "DTSTAMP that is no date-time": (
        reply_email(reply_calendar().replace("DTSTAMP:20261128T120000Z", "DTSTAMP:20261")),
        "DTSTAMP"),
    "multiparts nested past any parser's depth": (nested_multipart(2000), "cannot be read"),
    "calendar part larger than a reply's": (
        reply_email(reply_calendar().replace("SUMMARY:Product launch",
                                             "SUMMARY:" + "x" * 300_000)), "calendar"),
    "message larger than a reply's": (
        reply_email(reply_calendar()).replace(b"I will be there.",
                                              b"x" * MAX_REPLY_BYTES), "larger than"),
    # Longer than DynamoDB's partition key (2048 bytes) and sort key (1024 bytes) may be.
    "UID no invitation has": (reply_email(reply_calendar(uid="u" * 3000)), "UID"),
    "ATTENDEE no invitation has": (
        reply_email(reply_calendar("a" * 1100 + "@example.org"),
                    sender="a" * 1100 + "@example.org"), "ATTENDEE"),
    "PRODID posing as cis's own history": (
        reply_email(reply_calendar(prodid="cis:resend#r-1")), "PRODID"),
}
"""Replies that can never be applied: each is rejected once, with its reason, never retried."""


def from_header(*values: str) -> bytes:
    """Ann's reply, accepting, under the From header lines `values` exactly as written."""
    return with_headers(reply_email(reply_calendar("ann@example.org", "ACCEPTED")), "From",
                        *values)


AMBIGUOUS_FROM: dict[str, tuple[bytes, str]] = {
    # name: (the message, words the reason must hold). Ann is the attendee; Eve sends, and
    # her domain's authentication passes. Each of these once let Eve answer for Ann.
    "two From headers": (from_header("ann@example.org", "eve@evil.example"), "2 From headers"),
    "two mailboxes in one From": (from_header("ann@example.org, eve@evil.example"),
                                  "not exactly one well-formed mailbox"),
    "an address as the display name": (from_header("ann@example.org <eve@evil.example>"),
                                       "not exactly one well-formed mailbox"),
    "a quoted address as the display name": (from_header('"ann@example.org" <eve@evil.example>'),
                                             "display name"),
    "an encoded address as the display name": (
        from_header("=?utf-8?q?ann=40example.org?= <eve@evil.example>"), "display name"),
    "a full-width at sign in the display name": (
        from_header('"ann\uff20example.org" <eve@evil.example>'), "display name"),
    "an address after the angle brackets": (from_header("<ann@example.org>eve@evil.example"),
                                            "not exactly one well-formed mailbox"),
    "a stray parenthesis": (from_header("ann@example.org)<eve@evil.example>"),
                            "not exactly one well-formed mailbox"),
    "an address in a comment": (from_header("ann@example.org (eve@evil.example)"),
                                "not exactly one well-formed mailbox"),
    "a group": (from_header("friends: ann@example.org;"), "not exactly one well-formed mailbox"),
    "a source route": (from_header("<@evil.example:ann@example.org>"),
                       "not exactly one well-formed mailbox"),
    "a quoted local part": (from_header('"ann@example.org"@evil.example'),
                            "not exactly one well-formed mailbox"),
    "an encoded word as the local part": (from_header("=?utf-8?q?ann?=@example.org"),
                                          "encoded word"),
    "no From at all": (from_header(), "no From header"),
}
"""Ann's replies under a `From` that is not exactly one well-formed mailbox: each is refused."""

GENUINE_FROM = (
    "ann@example.org", "<ann@example.org>", "Ann Lee <ann@example.org>",
    '"Lee, Ann" <ANN@Example.ORG>', "=?iso-8859-1?Q?Ann_M=FCller?= <ann@example.org>",
    "Ann M\u00fcller <ann@example.org>", "Ann Lee\r\n <ann@example.org>",
    "J. Lee <ann@example.org>",
)
"""Shapes of `From` that mail clients write for Ann: each is trusted as Ann."""
