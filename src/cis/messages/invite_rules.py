"""The rules of message format v1's fields, shared by the validator and the pydantic models.

The validator checks every message at run time; the models, which give the exported JSON Schema
and are the reference the validator is tested against, call the same rules, so each rule and its
wording live once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cis.domain.links import link_problem
from cis.domain.model import Event, Invitee, Resend
from cis.domain.recurrence import SeriesError, series
from cis.domain.recurrence_rule import parse_rule
from cis.domain.shortening import shorten_event
from cis.domain.zones import iana_zone

MAX_BODY_BYTES = 256 * 1024
"""SQS's own limit; anything larger cannot have come from a well-behaved producer."""

MAX_NESTING = 200
"""Arrays and objects a value may sit inside, counted from the message (or the object checked).

Far deeper than any v1 message needs, and the depth the models' JSON reader allows, so the two
refuse the same bodies (test_deep_nesting_gets_the_same_answer_from_both).
"""

UID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9@._:+=-]{0,254}$"
UID_WORDS = "1-255 characters of A-Z a-z 0-9 @ . _ : + = -, starting with a letter or digit"
ORIGIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ORIGIN_WORDS = "1-64 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit"
_UID = re.compile(UID_PATTERN)
_EPOCH_MAX = 7258118399  # 2199-12-31T23:59:59Z
_YEARS = range(1970, 2200)
"""Invitations are for events people attend: anything outside these years is a mistake, and
times near the ends of Python's datetime range overflow when moved between zones."""

WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000")
"""The Unicode White_Space characters, stripped from both ends of names and addresses (as the
models' `strip_whitespace` strips them). `str.strip()` would also remove U+001C to U+001F, which
are not White_Space: they are kept, so an address starting with one is refused."""

Location = tuple[str | int, ...]
Problem = tuple[Location, str]
"""Where a problem is (keys from the message's root) and what is wrong there."""


def address_problem(value: str) -> str | None:
    """Why `value` cannot be an invite address (ASCII, RFC 5322 syntax), or None when it can.

    email-validator decides the syntax. An address of the plain shape nearly every invite
    has is accepted without it (see `plainly_valid`), so a cold start with good requests
    does not import it: its import builds Unicode tables that cost about as much as
    rendering.

    An internationalised domain is refused, with its ASCII (IDNA) form in the reason: cis
    writes headers and SMTP envelopes without SMTPUTF8, and taking the ASCII form silently
    would make one attendee of two spellings that the rest of cis compares as text.
    """
    if plainly_valid(value):
        return None
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return str(exc)
    if not value.isascii():
        return ("the domain must be ASCII (cis sends without SMTPUTF8): write an "
                f"internationalised domain in its IDNA form, as {valid.ascii_email}")
    return None


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_SPECIAL_USE_TOP_LEVEL = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
"""The special-use names email-validator refuses (its SPECIAL_USE_DOMAIN_NAMES): all one label."""


def plainly_valid(value: str) -> bool:
    """Whether `value` is an address email-validator is sure to accept, decided without it.

    ASCII; a dot-atom local part of at most 64 characters; a domain of at least two labels of
    letters, digits and single hyphens (no `--`, so no Punycode), at most 253 characters,
    ending in an alphabetic top-level label that is not special-use; 254 characters in all.
    Anything else is left to email-validator. A property test holds that it accepts
    everything this accepts.
    """
    if len(value) > 254 or not value.isascii():
        return False
    local, at, domain = value.rpartition("@")
    if not at or len(local) > 64 or len(domain) > 253 or not _LOCAL_PART.fullmatch(local):
        return False
    labels = domain.split(".")
    top = labels[-1]
    return (
        len(labels) >= 2
        and "--" not in domain
        and all(_LABEL.fullmatch(label) for label in labels)
        and top.isalpha()
        and top.lower() not in _SPECIAL_USE_TOP_LEVEL
    )


def check_address(value: str) -> str:
    """The address itself, when it can be invited."""
    problem = address_problem(value)
    if problem:
        raise ValueError(f"not a valid email address: {problem}")
    return value


def check_link(value: str) -> str:
    """The meeting link itself, when an invitation may carry it (`link_problem`)."""
    problem = link_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def check_rule(value: str) -> str:
    """The RRULE as cis writes it, when it is a rule cis sends (`parse_rule`)."""
    return parse_rule(value).text()


def check_series(rrule: str | None, exdates: Sequence[Any] | None, *, start: dt.datetime,
                 end: dt.datetime, timezone: str | None,
                 all_day: bool) -> tuple[dt.datetime, ...]:
    """The starts of the occurrences left out, when the rule and its exceptions make a series.

    Each of `exdates` is written the way dtstart is (a date for an all-day event), and must
    start an occurrence; the rule must suit the event's times (see `cis.domain.recurrence`).

    Raises:
        FieldProblem: placed on `rrule`, `dtend`, `exdates` or one of them.

    """
    if rrule is None:
        if exdates:
            raise FieldProblem(("exdates",), "are only for a recurring event: give rrule too")
        return ()
    moments: list[dt.datetime] = []
    for index, value in enumerate(exdates or ()):
        if all_day and not is_date(value):
            raise FieldProblem(("exdates", index),
                               "must be a date (2027-05-08), as dtstart is: an all-day event")
        try:
            moments.append(to_datetime(value, timezone, "exdate", all_day=all_day))
        except ValueError as exc:
            raise FieldProblem(("exdates", index), str(exc)) from None
    try:
        series(rrule, start, end, timezone, all_day, moments)
    except SeriesError as exc:
        raise FieldProblem(exc.location, str(exc)) from None
    except ValueError as exc:
        raise FieldProblem(("rrule",), str(exc)) from None
    return tuple(moments)


def check_timezone(value: str) -> str:
    """The zone name itself, when the IANA database names a zone so."""
    iana_zone(value)
    return value


def single_line(value: str) -> str:
    """The text itself, when it cannot break a header or a content line."""
    if any(ord(ch) < 32 and ch != "\t" for ch in value):
        raise ValueError("must not contain line breaks or control characters")
    return value


def check_time_value(value: Any) -> Any:
    """The time value itself, when it is epoch seconds or ISO 8601 in the years allowed."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be Unix epoch seconds or an ISO 8601 string")
    if isinstance(value, str):
        try:
            year = dt.datetime.fromisoformat(value).year
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
        if year not in _YEARS:
            raise ValueError(f"year {year} is outside {_YEARS.start}-{_YEARS.stop - 1}")
    elif not 0 <= value <= _EPOCH_MAX:
        raise ValueError(f"epoch seconds out of range (0 to {_EPOCH_MAX}, years 1970-2199)")
    return value


class FieldProblem(ValueError):
    """Raised by a check across an object's fields, for the field it places the problem on.

    `location` is relative to the object checked: `("dtstart",)`, `("exdates", 2)`.
    """

    def __init__(self, location: Location, reason: str) -> None:
        super().__init__(reason)
        self.location = location


def is_date(value: object) -> bool:
    """Whether a checked time value is a date alone (`2027-05-01`), with no time of day."""
    if not isinstance(value, str):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def all_day(dtstart: object, dtend: object, timezone: str | None) -> bool:
    """Whether the event's times make it an all-day event: both dates, and no `timezone`.

    A date with a `timezone` keeps the meaning it has had in v1, midnight in that zone; so an
    all-day event names no zone, as RFC 5545 writes one (DATE values).

    Raises:
        FieldProblem: one time is a date and the other a time, without a zone: an all-day
            or a timed event, it cannot be told which.

    """
    start_date, end_date = is_date(dtstart), is_date(dtend)
    if timezone is None and start_date != end_date:
        field, other = ("dtstart", "dtend") if start_date else ("dtend", "dtstart")
        raise FieldProblem((field,), (
            f"{field} is a date and {other} a time: give both as dates (an all-day event, "
            "with no timezone) or both as times"))
    return timezone is None and start_date and end_date


def check_event_times(dtstart: int | float | str, dtend: int | float | str,
                      timezone: str | None) -> tuple[dt.datetime, dt.datetime, bool]:
    """The event's start and end, and whether it is all-day, when the end comes after the start.

    Raises:
        FieldProblem: see `all_day`.
        ValueError: a time needs a zone it lacks, or the event ends before it starts; the
            reason names the field first.

    """
    whole_days = all_day(dtstart, dtend, timezone)
    start = to_datetime(dtstart, timezone, "dtstart", all_day=whole_days)
    end = to_datetime(dtend, timezone, "dtend", all_day=whole_days)
    check_order(start, end, all_day=whole_days)
    return start, end, whole_days


def check_order(start: dt.datetime, end: dt.datetime, *, all_day: bool = False) -> None:
    """Pass when the event ends after it starts (both resolved by `to_datetime`), as instants.

    Two times in one zone compare by their wall-clock readings in Python, so the comparison
    is made in UTC: a wall time in the hour the clocks skip is read with the offset before
    the jump (02:30 on a spring-forward day as 03:30), and 02:30 to 03:00 is no time at all.
    The reason then says which time was skipped and how it was read. An all-day event ends
    on the day after its last (RFC 5545), so a one-day event's dtend is the next day.
    """
    if end.astimezone(dt.UTC) > start.astimezone(dt.UTC):
        return
    if all_day:
        raise ValueError("dtend must be after dtstart: an all-day event's dtend is the day "
                         "after its last day (2027-05-02 for a day on 2027-05-01)")
    skipped = [_skipped(name, moment) for name, moment in (("dtstart", start), ("dtend", end))
               if _in_gap(moment)]
    if skipped:
        raise ValueError("dtend must be after dtstart: " + "; ".join(skipped))
    raise ValueError("dtend must be after dtstart")


def _in_gap(moment: dt.datetime) -> bool:
    """Whether the zone's clocks never show `moment`'s wall time (they skip it)."""
    shown = moment.astimezone(dt.UTC).astimezone(moment.tzinfo)
    return shown.replace(tzinfo=None) != moment.replace(tzinfo=None)


def _skipped(name: str, moment: dt.datetime) -> str:
    shown = moment.astimezone(dt.UTC).astimezone(moment.tzinfo)
    return (f"{name} {moment.replace(tzinfo=None).isoformat()} does not exist in "
            f"{moment.tzinfo} (its clocks skip it) and is read as {shown.isoformat()}")


def to_datetime(value: int | float | str, timezone: str | None, field: str, *,
                all_day: bool = False) -> dt.datetime:
    """Resolve a checked time value to whole seconds (iCalendar's resolution).

    `field` names the value in the one error left to find here. The date of an all-day
    event (see `all_day`) is midnight UTC of that day.
    """
    if all_day:
        return dt.datetime.combine(dt.date.fromisoformat(str(value)), dt.time(), dt.UTC)
    zone = ZoneInfo(timezone) if timezone else dt.UTC
    if isinstance(value, int | float):
        moment = dt.datetime.fromtimestamp(value, dt.UTC).astimezone(zone)
    else:
        parsed = dt.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            if timezone is None:
                raise ValueError(f"{field} has no UTC offset, so `timezone` is required")
            moment = parsed.replace(tzinfo=zone)
        else:
            moment = parsed.astimezone(zone)
    return moment.replace(microsecond=0)


def check_same_event(request_uid: str, event_uid: str) -> None:
    """Pass when the request is for the event it travels with."""
    if request_uid != event_uid:
        raise ValueError("request.uid must equal event.uid")


def describe(problems: Sequence[Problem]) -> tuple[str, str]:
    """The dotted field and the reason of the first problem, and how many more there are.

    A problem at the message's root names the field `body`.
    """
    location, reason = problems[0]
    field = ".".join(str(part) for part in location) or "body"
    if len(problems) > 1:
        reason += f" (and {len(problems) - 1} more problem(s))"
    return field, reason


class BodyKind(StrEnum):
    """Which body of message format v1 a decoded body is, told by its shape alone."""

    #: `request` and `event`: send one attendee one version (invitation, update, removal).
    ATTENDEE = "attendee"
    #: `event` and no `request`: bring every attendee already sent something to this version.
    FAN_OUT = "fan-out"
    #: A `request` whose `action` is `resend`: send the event's current version again.
    RESEND = "resend"


def body_kind(data: Any) -> BodyKind:
    """What a decoded body asks for, read from its keys and `request.action` alone.

    Whatever is plainly neither a fan-out nor a resend is one attendee's body: a body with
    `request` and `event` and no `action` is an invitation to every reader of v1, and any
    other body gets the problems one attendee's body would have (`{}`: `request: is required`).
    """
    if isinstance(data, dict):
        request = data.get("request")
        if isinstance(request, dict) and request.get("action") == "resend":
            return BodyKind.RESEND
        if "request" not in data and "event" in data:
            return BodyKind.FAN_OUT
    return BodyKind.ATTENDEE


FAN_OUT_NOT_ONE_ATTENDEE = (
    "is required by parse_body, which reads one attendee's body; a body with event and no "
    "request is a fan-out to the event's attendees: read it with parse_message")
RESEND_NOT_ONE_ATTENDEE = (
    "resend is read by parse_message: parse_body reads one attendee's body, which carries "
    "the event, and a resend carries none")


def not_one_attendee(data: Any) -> Problem | None:
    """Why `parse_body`, which reads one attendee's body, refuses a decoded body, if it does.

    A fan-out or a resend is refused by its kind before any field is checked: whatever else
    is wrong with it, `parse_message` is what reads it.
    """
    kind = body_kind(data)
    if kind is BodyKind.FAN_OUT:
        return ("request",), FAN_OUT_NOT_ONE_ATTENDEE
    if kind is BodyKind.RESEND:
        return ("request", "action"), RESEND_NOT_ONE_ATTENDEE
    return None


def event_uid_of(data: Any) -> str | None:
    """The event uid of an invalid body, if it shows a plausible one, to count the rejection."""
    if not isinstance(data, dict):
        return None
    for section in ("event", "request"):
        part = data.get(section)
        if isinstance(part, dict):
            uid = part.get("uid")
            if isinstance(uid, str) and _UID.fullmatch(uid):
                return uid
    return None


def domain_event(fields: Mapping[str, Any], *, start: dt.datetime, end: dt.datetime,
                 all_day: bool = False, exdates: tuple[dt.datetime, ...] = ()) -> Event:
    """The domain event from a checked v1 `event` object, its times already resolved.

    The one mapping from wire fields to the domain, for the validator and the models alike.
    A text longer than its limit is cut there (`shorten_event`), and named in `shortened`.
    """
    return shorten_event(Event(
        uid=fields["uid"],
        summary=fields["summary"],
        start=start,
        end=end,
        organizer=fields["organizer"],
        mailto=fields["mailto"],
        timezone=fields["timezone"],
        description=fields["description"],
        description_html=fields["description_html"],
        location=fields["location"],
        sequence=fields["sequence"],
        status=fields["status"],
        url=fields["url"],
        reminder_minutes=fields["reminder_minutes"],
        all_day=all_day,
        rrule=fields["rrule"],
        exdates=exdates,
    ))


def domain_invitee(fields: Mapping[str, Any]) -> Invitee:
    """The domain invitee from a checked v1 `request` object."""
    return Invitee(
        email=fields["email"],
        name=fields["name"],
        partstat=fields["partstat"],
        origin=fields["origin"],
        role=fields["role"],
    )


def domain_resend(fields: Mapping[str, Any]) -> Resend:
    """The domain resend from a checked v1 resend `request` object."""
    return Resend(event_uid=fields["uid"], email=fields["email"])
