"""iCalendar content lines (RFC 5545 section 3.1), byte for byte as icalendar 7.3 writes them.

The invite path writes its calendars with these few functions instead of icalendar, whose
import alone costs a Lambda cold start about 40 ms. Every rule here is icalendar's
serialiser, quirks included, so that an invitation's bytes stay stable for the clients that
hold it: a client compares an update with what it holds. Held by the byte-for-byte
comparisons with an icalendar-based writer in tests/property/test_ical_equivalence.py
(`tests/reference_ical.py`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

__all__ = [
    "cal_address",
    "content_line",
    "date_time",
    "date_value",
    "duration",
    "fold",
    "integer",
    "parameter",
    "parameter_value",
    "recur",
    "serialise",
    "text",
    "uid_text",
    "uri",
    "utc_offset",
]

# Content lines are folded before the octet that would make them 75 long, never inside a UTF-8
# sequence, and never right after a backslash or caret (the first character of an escape),
# which moves to the next line instead. Continuation lines start with one space.
_FOLD_WIDTH = 74
_ESCAPE_STARTS = frozenset(b"\\^")
_FOLD = b"\r\n "

# RFC 6868 parameter escapes, and the characters that make a parameter value quoted.
_CARET_ESCAPES = {"^": "^^", "\n": "^n", "\r": "^n", "\r\n": "^n", '"': "^'"}
_CARET_ESCAPED = re.compile(r'\^|\r\n|\r|\n|"')
_QUOTED_WHEN = re.compile("[,;:\u2019]")
# A CN is also quoted when it holds a space or an apostrophe.
_CN_QUOTED_WHEN = frozenset(" '")

# The order Outlook, Exchange and Google print RRULE parts in (BYMONTH before BYDAY); RFC 5545's
# grammar lists BYDAY first, and some strict consumers compare VTIMEZONEs textually.
_RECUR_ORDER = (
    "RSCALE", "FREQ", "UNTIL", "COUNT", "INTERVAL", "BYSECOND", "BYMINUTE", "BYHOUR",
    "BYMONTH", "BYDAY", "BYWEEKDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS", "WKST",
    "SKIP",
)

_INTEGER_RANGE = (-(2**31), 2**31 - 1)


def serialise(lines: Iterable[str]) -> bytes:
    """The lines as UTF-8, each folded and ended by CRLF.

    Raises:
        UnicodeEncodeError: a line holds text UTF-8 cannot carry (a lone surrogate).

    """
    return b"".join([fold(line.encode("utf-8")) + b"\r\n" for line in lines])


def fold(line: bytes) -> bytes:
    """Fold one UTF-8 content line (without its CRLF) at 75 octets, as icalendar does.

    Each piece holds at most 74 octets, so a continuation line with its leading space is 75.
    """
    if len(line) <= _FOLD_WIDTH:
        return line
    pieces = []
    start = 0
    while len(line) - start > _FOLD_WIDTH:
        cut = start + _FOLD_WIDTH
        while line[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: back to the lead byte
            cut -= 1
        if line[cut - 1] in _ESCAPE_STARTS and cut - start > 1:
            cut -= 1
        pieces.append(line[start:cut])
        start = cut
    pieces.append(line[start:])
    return _FOLD.join(pieces)


def content_line(name: str, value: str, parameters: Mapping[str, str] | None = None) -> str:
    """``NAME;PARAM=value:value``, parameters sorted by name and quoted as icalendar quotes them.

    `value` is already written in its type's format (see `text`, `date_time` and the others).
    One byte order mark (U+FEFF) at its start is dropped, as icalendar dropped it: it decoded
    each value it had just encoded as "UTF-8 with signature".
    """
    value = value.removeprefix("\ufeff")
    if not parameters:
        return f"{name}:{value}"
    written = ";".join(parameter(key, parameters[key]) for key in sorted(parameters))
    return f"{name};{written}:{value}"


def parameter(name: str, value: str) -> str:
    """``NAME=value``; a CN is quoted also when it holds a space or an apostrophe."""
    quote = name == "CN" and not _CN_QUOTED_WHEN.isdisjoint(value)
    return f"{name}={parameter_value(value, always_quote=quote)}"


def parameter_value(value: str, *, always_quote: bool = False) -> str:
    """A parameter value with RFC 6868 caret escapes, in double quotes where it needs them.

    A value holding ``,``, ``;``, ``:`` or a right single quotation mark is quoted; a double
    quote, which a parameter value cannot hold, is written as ``^'``.
    """
    escaped = _CARET_ESCAPED.sub(lambda match: _CARET_ESCAPES[match.group(0)], value)
    if always_quote or _QUOTED_WHEN.search(escaped):
        return f'"{escaped}"'
    return escaped


def text(value: str) -> str:
    """A TEXT value escaped as RFC 5545 section 3.3.11 says, and nothing more.

    Backslash, semicolon, comma and line feed are escaped; the value must hold no carriage
    return (`cis.domain.rendering.text.plain_text` turns every line break into a line feed).
    """
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    )


def uid_text(value: str) -> str:
    r"""A TEXT value escaped as icalendar's vText escapes it, for the UID.

    That reads a backslash followed by a capital N as a line break first, and writes CRLF and
    CR as ``\n``. Used for the UID alone: a calendar matches an updated invitation to the
    event it holds by the UID's text, so the UID is written the same way in every version
    of an invitation (held by test_uid_text_is_escaped_as_icalendar_escapes_text).
    """
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def cal_address(address: str) -> str:
    """A CAL-ADDRESS value (a URI, unescaped).

    Raises:
        ValueError: the address holds a CR or LF, which would start a line of its own.

    """
    if "\r" in address or "\n" in address:
        raise ValueError(f"A CAL-ADDRESS value may not contain CR or LF characters: {address!r}")
    return address


def date_time(moment: dt.datetime, *, utc: bool) -> str:
    """A DATE-TIME as its clock reads it, whole seconds: ``...Z`` in UTC, else local time.

    A local time names its zone in a TZID parameter, or none at all (floating, or a
    VTIMEZONE's DTSTART). The fraction of a second is dropped.
    """
    written = (
        f"{moment.year:04}{moment.month:02}{moment.day:02}"
        f"T{moment.hour:02}{moment.minute:02}{moment.second:02}"
    )
    return written + "Z" if utc else written


def date_value(day: dt.date) -> str:
    """A DATE: ``20270501``."""
    return f"{day.year:04}{day.month:02}{day.day:02}"


def utc_offset(offset: dt.timedelta) -> str:
    """A UTC-OFFSET: ``+0200``, ``-0330``, with seconds only when there are some (``-001730``)."""
    sign = "-" if offset < dt.timedelta(0) else "+"
    seconds = abs(offset).days * 86_400 + abs(offset).seconds
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if seconds:
        return f"{sign}{hours:02}{minutes:02}{seconds:02}"
    return f"{sign}{hours:02}{minutes:02}"


def duration(delta: dt.timedelta) -> str:
    """A DURATION, as icalendar writes one: ``-PT15M``, ``-PT1H30M``, ``-P1D``, ``P0D``.

    Whole days as ``D`` (never weeks), the rest as hours, minutes and seconds, each only when
    there is some (minutes also between hours and seconds).
    """
    sign = ""
    if delta.days < 0:
        sign, delta = "-", -delta
    time = ""
    if delta.seconds:
        hours, rest = divmod(delta.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        time = "T"
        if hours:
            time += f"{hours}H"
        if minutes or (hours and seconds):
            time += f"{minutes}M"
        if seconds:
            time += f"{seconds}S"
    if delta.days == 0 and time:
        return f"{sign}P{time}"
    return f"{sign}P{delta.days}D{time}"


def uri(value: str) -> str:
    """A URI value, written as it is (no TEXT escaping: commas and semicolons are the URI's).

    Raises:
        ValueError: the value holds a CR or LF, which would start a line of its own.

    """
    if "\r" in value or "\n" in value:
        raise ValueError(f"A URI value may not contain CR or LF characters: {value!r}")
    return value


def integer(value: int) -> str:
    """An INTEGER value.

    Raises:
        ValueError: the value is outside the signed 32 bits RFC 5545 section 3.3.8 allows.

    """
    number = int(value)
    low, high = _INTEGER_RANGE
    if not low <= number <= high:
        raise ValueError(f"Integer {number} is outside the RFC 5545 range [{low}, {high}]")
    return str(number)


def recur(parts: Mapping[str, str | int]) -> str:
    """A RECUR value, its parts in the order Outlook prints them (``FREQ=YEARLY;BYMONTH=3;...``)."""
    return ";".join(
        f"{name}={parts[name]}" for name in sorted(parts, key=_RECUR_ORDER.index)
    )
