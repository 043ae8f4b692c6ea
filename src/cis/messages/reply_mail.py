"""Reading an iTIP REPLY (or COUNTER) out of whatever MIME shape a calendar client sends.

Clients differ: Gmail puts `text/calendar` inline and attaches `invite.ics`, Outlook sends
base64 `text/calendar` or an `application/ics` attachment and writes `MAILTO:` in capitals,
Apple uses quoted-printable. All are read the same way here.
"""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

import icalendar

from cis.domain.model import ItipMethod, PartStat
from cis.domain.rsvp import MAX_REPLY_BYTES, Reply, Verdicts
from cis.errors import InvalidReplyError, NotAReplyError

ANSWER_METHODS = (ItipMethod.REPLY, ItipMethod.COUNTER)
_CALENDAR_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_VERDICT = re.compile(r"\b(spf|dkim|dmarc)=([a-z]+)", re.IGNORECASE)


def read_reply(raw: bytes) -> tuple[Reply, Verdicts]:
    """Parse a received message into the reply it carries and the verdicts SES stamped on it.

    Raises:
        NotAReplyError: mail with no calendar, or a calendar that is not REPLY/COUNTER
            (an out-of-office, a person writing, a forwarded invitation).
        InvalidReplyError: a reply that cannot be read: oversized, malformed, ambiguous.

    """
    if len(raw) > MAX_REPLY_BYTES:
        raise InvalidReplyError(f"message is larger than {MAX_REPLY_BYTES} bytes")
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
    from_address = parseaddr(str(message.get("From", "")))[1]
    attendee = _replying_attendee(vevent, uid)
    address = _MAILTO.sub("", str(attendee)).strip()
    partstat = _partstat(attendee, method, uid)
    return Reply(
        method=method,
        event_uid=uid,
        attendee=address,
        partstat=partstat,
        dtstamp=_dtstamp(vevent, message, uid),
        source=str(calendar.get("PRODID", "unknown")).strip() or "unknown",
        from_address=from_address,
        cancelled=str(vevent.get("STATUS", "")).strip().upper() == "CANCELLED",
        sequence=_sequence(vevent, uid),
        delegated_to=tuple(_MAILTO.sub("", d).strip() for d in _param_list(attendee,
                                                                            "DELEGATED-TO")),
    ), verdicts


def verdicts_from_headers(message: Message) -> Verdicts:
    """Read SES's `Authentication-Results: amazonses.com; spf=...; dkim=...; dmarc=...`."""
    for header in message.get_all("Authentication-Results") or []:
        text = str(header)
        if not text.strip().lower().startswith("amazonses.com"):
            continue
        found = {name.lower(): value.upper() for name, value in _VERDICT.findall(text)}
        return Verdicts(spf=found.get("spf"), dkim=found.get("dkim"), dmarc=found.get("dmarc"))
    return Verdicts()


def _reply_calendar(message: Message) -> tuple[icalendar.Calendar, ItipMethod]:
    """The first calendar part that is a reply; other calendars mean the mail is no reply."""
    seen_methods = []
    broken = None
    for part in message.walk():
        if part.is_multipart() or not _is_calendar(part):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = payload.decode(part.get_content_charset() or "utf-8", errors="replace")
        try:
            calendar = icalendar.Calendar.from_ical(text)
        except ValueError as exc:
            broken = f"the calendar does not parse: {exc}"
            continue
        method = str(calendar.get("METHOD", "")).strip().upper()
        if method in ANSWER_METHODS:
            return calendar, ItipMethod(method)
        seen_methods.append(method or "none")
    if broken:
        raise InvalidReplyError(broken)
    if seen_methods:
        raise NotAReplyError(f"calendar method {seen_methods[0]} is not a reply")
    raise NotAReplyError("no calendar in the message")


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


def _dtstamp(vevent: icalendar.cal.Component, message: Message, uid: str) -> dt.datetime:
    """The reply's DTSTAMP (when the attendee answered), else the mail's Date header."""
    stamp = vevent.get("DTSTAMP")
    moment = getattr(stamp, "dt", None)
    if isinstance(moment, dt.datetime):
        return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    date_header = message.get("Date")
    if date_header:
        try:
            parsed = parsedate_to_datetime(str(date_header))
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise InvalidReplyError("the reply has neither a DTSTAMP nor a Date header", event_uid=uid)
