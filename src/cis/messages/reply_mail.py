"""Reading an iTIP REPLY (or COUNTER) out of whatever MIME shape a calendar client sends.

Clients differ: Gmail puts `text/calendar` inline and attaches `invite.ics`, Outlook sends
base64 `text/calendar` or an `application/ics` attachment and writes `MAILTO:` in capitals,
Apple uses quoted-printable. All are read the same way here.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import re
from email import policy
from email.message import Message
from email.utils import parsedate_to_datetime

import icalendar

from cis.domain.model import ItipMethod, PartStat
from cis.domain.rendering.text import one_line
from cis.domain.rsvp import (
    MAX_CALENDAR_BYTES,
    MAX_REPLY_BYTES,
    MAX_SOURCE_LENGTH,
    RESERVED_SOURCE_PREFIX,
    Reply,
    Verdicts,
    quoted,
)
from cis.errors import InvalidReplyError, NotAReplyError
from cis.messages.reply_sender import read_sender

ANSWER_METHODS = (ItipMethod.REPLY, ItipMethod.COUNTER)
_CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_VERDICT = re.compile(r"\b(spf|dkim|dmarc)=([a-z]+)", re.IGNORECASE)
# The longest UID and address an invitation can have (the invite format's own limits): a
# reply naming a longer one answers nothing cis sent, and would not even fit a storage key.
_MAX_UID_LENGTH = 255
_MAX_ADDRESS_LENGTH = 254

_NOT_MAIL_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"})
"""Python codecs that decode bytes to text but are no charset mail is written in."""

_UNREADABLE = (ValueError, LookupError, ArithmeticError, TypeError, RecursionError)
"""What the email and icalendar parsers raise on input they cannot read.

Reading is a function of the bytes alone, so such a failure is as final as a refusal of our
own: trying again reads the same bytes. A programming error (AttributeError, NameError) is not
among them: it is retried, so it reaches the dead-letter queue and its alarm.
"""


def read_reply(raw: bytes) -> tuple[Reply, Verdicts]:
    """Parse a received message into the reply it carries and the verdicts SES stamped on it.

    Raises:
        NotAReplyError: mail with no calendar, or a calendar that is not REPLY/COUNTER
            (an out-of-office, a person writing, a forwarded invitation).
        InvalidReplyError: a reply that cannot be read: oversized, malformed, ambiguous.

    """
    if len(raw) > MAX_REPLY_BYTES:
        raise InvalidReplyError(f"message is larger than {MAX_REPLY_BYTES} bytes")
    try:
        return _read(raw)
    except _UNREADABLE as exc:
        raise InvalidReplyError(
            f"the message cannot be read: {type(exc).__name__}: {quoted(str(exc), 200)}"
        ) from exc


def _read(raw: bytes) -> tuple[Reply, Verdicts]:
    message = email.message_from_bytes(raw, policy=policy.compat32)
    verdicts = verdicts_from_headers(message)
    calendar, method = _reply_calendar(message)
    events = list(calendar.walk("VEVENT"))
    if len(events) != 1:
        raise InvalidReplyError(f"a reply holds exactly one VEVENT, found {len(events)}")
    vevent = events[0]
    uid = str(vevent.get("UID", "")).strip()
    if not uid:
        raise InvalidReplyError("the VEVENT has no UID")
    if len(uid) > _MAX_UID_LENGTH:
        raise InvalidReplyError(f"the UID is {len(uid)} characters; an invitation's has at "
                                f"most {_MAX_UID_LENGTH}")
    try:
        from_address, from_problem = read_sender(_headers(message, "From")), None
    except InvalidReplyError as exc:
        from_address, from_problem = "", exc.reason
    attendee = _replying_attendee(vevent, uid)
    address = _MAILTO.sub("", str(attendee)).strip()
    if len(address) > _MAX_ADDRESS_LENGTH:
        raise InvalidReplyError(f"the ATTENDEE address is {len(address)} characters; an "
                                f"invited one has at most {_MAX_ADDRESS_LENGTH}", event_uid=uid)
    partstat = _partstat(attendee, method, uid)
    return Reply(
        method=method,
        event_uid=uid,
        attendee=address,
        partstat=partstat,
        dtstamp=_dtstamp(vevent, message, uid),
        source=_source(calendar, uid),
        from_address=from_address,
        from_problem=from_problem,
        cancelled=str(vevent.get("STATUS", "")).strip().upper() == "CANCELLED",
        sequence=_sequence(vevent, uid),
        delegated_to=tuple(_MAILTO.sub("", d).strip() for d in _param_list(attendee,
                                                                            "DELEGATED-TO")),
    ), verdicts


def _headers(message: Message, name: str) -> list[str]:
    """Every header called `name`, raw: folded and undecoded, as the message carries it."""
    return [value for key, value in message.raw_items() if key.lower() == name.lower()]


def verdicts_from_headers(message: Message) -> Verdicts:
    """Read SES's verdicts: `Authentication-Results: amazonses.com; spf=...` and the scans.

    The scans are `X-SES-Spam-Verdict` and `X-SES-Virus-Verdict`. A sender may write such
    headers of their own beside SES's; one that says FAIL anywhere makes the verdict FAIL,
    since a sender can only hurt their own reply that way.
    """
    spam = _scan_verdict(message, "X-SES-Spam-Verdict")
    virus = _scan_verdict(message, "X-SES-Virus-Verdict")
    for header in message.get_all("Authentication-Results") or []:
        text = str(header)
        if not text.strip().lower().startswith("amazonses.com"):
            continue
        found = {name.lower(): value.upper() for name, value in _VERDICT.findall(text)}
        return Verdicts(spf=found.get("spf"), dkim=found.get("dkim"), dmarc=found.get("dmarc"),
                        spam=spam, virus=virus)
    return Verdicts(spam=spam, virus=virus)


def _scan_verdict(message: Message, name: str) -> str | None:
    """FAIL if any `name` header says so, else the first one's word (PASS, GRAY...), or None."""
    words = [str(value).strip().upper()[:32] for value in message.get_all(name) or []]
    if "FAIL" in words:
        return "FAIL"
    return words[0] if words else None


def _reply_calendar(message: Message) -> tuple[icalendar.Calendar, ItipMethod]:
    """The first calendar part that is a reply; other calendars mean the mail is no reply.

    At most `MAX_CALENDAR_BYTES` of calendar text are parsed, whatever the number of parts.
    """
    seen_methods = []
    broken = None
    budget = MAX_CALENDAR_BYTES
    for part in message.walk():
        if part.is_multipart() or not _is_calendar(part):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        budget -= len(payload)
        if budget < 0:
            raise InvalidReplyError(
                f"the calendar parts hold more than {MAX_CALENDAR_BYTES} bytes")
        try:
            calendar = icalendar.Calendar.from_ical(_calendar_text(part, payload))
        except InvalidReplyError as exc:
            broken = exc.reason
            continue
        except ValueError as exc:
            broken = f"the calendar does not parse: {quoted(str(exc), 200)}"
            continue
        method = str(calendar.get("METHOD", "")).strip().upper()
        if method in ANSWER_METHODS:
            return calendar, ItipMethod(method)
        seen_methods.append(one_line(method[:40]) or "none")
    if broken:
        raise InvalidReplyError(broken)
    if seen_methods:
        raise NotAReplyError(f"calendar method {seen_methods[0]} is not a reply")
    raise NotAReplyError("no calendar in the message")


def _calendar_text(part: Message, payload: bytes) -> str:
    """The part's bytes as text, in the charset it declares (UTF-8 when it declares none).

    A charset Python does not know, or one that is no charset of mail (`idna`,
    `unicode_escape`), is refused: no later attempt can decode the part differently.
    """
    charset = part.get_content_charset() or "utf-8"
    try:
        codec = codecs.lookup(charset).name
    except (LookupError, ValueError):
        raise InvalidReplyError(f"the calendar's charset {quoted(charset)} is unknown") from None
    if codec in _NOT_MAIL_CHARSETS:
        raise InvalidReplyError(f"the calendar's charset {quoted(charset)} is no charset "
                                "mail is written in")
    try:
        return payload.decode(codec, errors="replace")
    except (LookupError, UnicodeError):
        raise InvalidReplyError(f"the calendar's charset {quoted(charset)} does not decode "
                                "bytes to text") from None


def _is_calendar(part: Message) -> bool:
    filename = (part.get_filename() or "").lower()
    return part.get_content_type() in _CALENDAR_TYPES or filename.endswith(".ics")


def _attendees(vevent: icalendar.cal.Component) -> list[icalendar.vCalAddress]:
    value = vevent.get("ATTENDEE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _replying_attendee(vevent: icalendar.cal.Component, uid: str) -> icalendar.vCalAddress:
    """The one ATTENDEE answering; a delegate's line (DELEGATED-FROM) does not count."""
    attendees = [a for a in _attendees(vevent) if not _param_list(a, "DELEGATED-FROM")]
    if len(attendees) == 1:
        return attendees[0]
    if not attendees:
        raise InvalidReplyError("the reply names no ATTENDEE", event_uid=uid)
    raise InvalidReplyError(
        f"a reply names exactly one ATTENDEE, found {len(attendees)}", event_uid=uid
    )


def _param_list(address: icalendar.vCalAddress, name: str) -> list[str]:
    value = address.params.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _partstat(
    attendee: icalendar.vCalAddress, method: ItipMethod, uid: str
) -> PartStat | None:
    raw = str(attendee.params.get("PARTSTAT", "")).strip().upper()
    if not raw:
        if method is ItipMethod.COUNTER:
            return None
        raise InvalidReplyError("the ATTENDEE has no PARTSTAT", event_uid=uid)
    try:
        return PartStat(raw)
    except ValueError:
        raise InvalidReplyError(f"PARTSTAT {raw!r} is not one a VEVENT allows",
                                event_uid=uid) from None


def _sequence(vevent: icalendar.cal.Component, uid: str) -> int:
    """The version the reply answers: its SEQUENCE, 0 when it has none (RFC 5545 3.8.7.4).

    One whole number from 0 up; a list, a negative or a broken value is refused, as no
    version of ours can be told from it.
    """
    value = vevent.get("SEQUENCE")
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return int(value)
    shown = [str(v) for v in value] if isinstance(value, list) else str(value)
    raise InvalidReplyError(f"SEQUENCE {shown!r} is not one whole number from 0 up",
                            event_uid=uid)


def _source(calendar: icalendar.Calendar, uid: str) -> str:
    """The calendar's PRODID as one line, cut to `MAX_SOURCE_LENGTH`; `unknown` without one."""
    prodid = calendar.get("PRODID")
    if isinstance(prodid, list):
        raise InvalidReplyError(f"the calendar has {len(prodid)} PRODIDs", event_uid=uid)
    text = one_line(str(prodid or "")).strip()
    if text.startswith(RESERVED_SOURCE_PREFIX):
        raise InvalidReplyError(f"PRODID {quoted(text)} takes the prefix "
                                f"{RESERVED_SOURCE_PREFIX!r} of cis's own history entries",
                                event_uid=uid)
    return text[:MAX_SOURCE_LENGTH] or "unknown"


def _dtstamp(vevent: icalendar.cal.Component, message: Message, uid: str) -> dt.datetime:
    """The reply's DTSTAMP (when the attendee answered), else the mail's Date header."""
    stamp = vevent.get("DTSTAMP")
    if isinstance(stamp, list):
        raise InvalidReplyError(f"the VEVENT has {len(stamp)} DTSTAMPs", event_uid=uid)
    if stamp is not None:
        try:
            moment = stamp.dt
        except ValueError:
            raise InvalidReplyError("DTSTAMP is not a date-time", event_uid=uid) from None
        if isinstance(moment, dt.datetime):
            return _in_utc(moment, "DTSTAMP", uid)
    date_header = message.get("Date")
    if not date_header:
        raise InvalidReplyError("the reply has neither a DTSTAMP nor a Date header",
                                event_uid=uid)
    try:
        parsed = parsedate_to_datetime(str(date_header))
    except (TypeError, ValueError, IndexError):
        raise InvalidReplyError(f"the Date header {quoted(str(date_header))} is not a date "
                                "(and the reply has no DTSTAMP)", event_uid=uid) from None
    return _in_utc(parsed, "the Date header", uid)


def _in_utc(moment: dt.datetime, what: str, uid: str) -> dt.datetime:
    """`moment` in UTC (a floating time read as UTC); refused when UTC has no such moment."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidReplyError(f"{what} {moment.isoformat()} is out of range in UTC",
                                event_uid=uid) from None
