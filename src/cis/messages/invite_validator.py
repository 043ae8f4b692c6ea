"""Message format v1 checked field by field: the one validator of every run-time path.

`parse_message` and `parse_body` (the Lambda, the worker, library callers) check whole messages
with it, and the `cis` command checks EVENT.json and each CSV row with it; none of them imports
pydantic. A body's kind (one attendee, a fan-out, a resend) is told by its shape first
(`cis.messages.invite_rules.body_kind`); then, in each object, the unknown keys are reported
first (a misspelt key is the likeliest cause of what follows), then every field in the order
of the tables in docs/message-format.md, then the checks across fields once the fields are all
valid. A property test holds it to the pydantic models in `cis.messages.invite_models`: the
same bodies accepted, the same message built, the same field named first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from cis.domain.limits import MAX_REMINDER_MINUTES
from cis.domain.model import (
    Event,
    EventStatus,
    FanOut,
    InviteAction,
    Invitee,
    InviteRequest,
    PartStat,
    QueueMessage,
    Role,
)
from cis.domain.recurrence import MAX_EXDATES
from cis.messages.invite_rules import (
    MAX_NESTING,
    ORIGIN_PATTERN,
    ORIGIN_WORDS,
    UID_PATTERN,
    UID_WORDS,
    WHITE_SPACE,
    BodyKind,
    FieldProblem,
    Location,
    Problem,
    all_day,
    body_kind,
    check_address,
    check_link,
    check_order,
    check_rule,
    check_same_event,
    check_series,
    check_time_value,
    check_timezone,
    describe,
    domain_event,
    domain_invitee,
    domain_resend,
    not_one_attendee,
    single_line,
    to_datetime,
)

__all__ = [
    "MessageProblems", "json_object", "validate_attendee_message", "validate_event",
    "validate_message", "validate_request",
]

Check = Callable[[Any], Any]
"""Turns a decoded JSON value into a field's value, or raises `_Bad`."""


class MessageProblems(Exception):
    """Raised when a value is not what message format v1 asks for; lists every problem found.

    `field` and `reason` describe the first problem (`event.summary`, `must be a string`),
    with how many more there are; `problems` holds them all, located from the message's root.
    """

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        self.field, self.reason = describe(problems)
        super().__init__(f"{self.field}: {self.reason}")


class _Bad(Exception):
    """Raised by a check, with each problem placed relative to the value it checked."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems)
        self.problems = problems


def _one(message: str) -> _Bad:
    return _Bad(((), message))


def _text(*, strip: bool = False, non_empty: bool = False, max_length: int | None = None,
          pattern: tuple[str, str] | None = None,
          then: Callable[[str], str] | None = None) -> Check:
    """A string, stripped of white space at both ends when `strip`, then held to its limits.

    `pattern` is a regular expression and the words that say what it allows; `then` is a rule
    from `cis.messages.invite_rules`, applied last.
    """
    compiled = re.compile(pattern[0]) if pattern else None
    allowed = f"must be {pattern[1]}" if pattern else ""
    after = _rule(then) if then else None
    empty = "must not be empty or only white space" if strip else "must not be empty"

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise _one("must be a string")
        if strip:
            value = value.strip(WHITE_SPACE)
        if non_empty and not value:
            raise _one(empty)
        if max_length is not None and len(value) > max_length:
            raise _one(f"must be at most {max_length} characters")
        # fullmatch: a final newline fails too (a pattern's `$` alone lets one through).
        if compiled and not compiled.fullmatch(value):
            raise _one(allowed)
        return after(value) if after else value

    return check


def _rule(rule: Callable[[Any], Any]) -> Check:
    """A rule from `cis.messages.invite_rules`; its ValueError is the problem, word for word."""

    def check(value: Any) -> Any:
        try:
            return rule(value)
        except ValueError as exc:
            raise _one(str(exc)) from None

    return check


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _choice(enum: type[StrEnum]) -> Check:
    members = {member.value: member for member in enum}
    expected = f"must be one of {', '.join(members)}"

    def check(value: Any) -> StrEnum:
        if isinstance(value, str) and value in members:
            return members[value]
        raise _one(expected)

    return check


def _integer(*, ge: int, le: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int:  # neither a bool nor a number with a fraction or exponent
            raise _one("must be an integer")
        if value < ge:
            raise _one(f"must be at least {ge}")
        if value > le:
            raise _one(f"must be at most {le}")
        return value

    return check


def _array(check: Check, *, max_items: int, items: str) -> Check:
    """A JSON array of at most `max_items` values, each held to `check` at its index."""

    def checked(value: Any) -> list[Any]:
        if not isinstance(value, list):
            raise _one("must be an array")
        if len(value) > max_items:
            raise _one(f"must hold at most {max_items} {items}")
        problems: list[Problem] = []
        result = []
        for index, item in enumerate(value):
            try:
                result.append(check(item))
            except _Bad as bad:
                problems.extend(((index, *where), message) for where, message in bad.problems)
        if problems:
            raise _Bad(*problems)
        return result

    return checked


def _version(value: Any) -> int:
    # 1, 1.0 and true all mean version 1: JSON writers differ in how they spell a number.
    if isinstance(value, int | float) and value == 1:
        return 1
    raise _one("must be 1")


class _Required:
    """The default of a field that has none: its absence is a problem, in these words."""

    def __init__(self, words: str = "is required") -> None:
        self.words = words


_REQUIRED = _Required()
Fields = dict[str, tuple[Check, Any]]
"""Each field's check and its default (a `_Required` when it has none), in the documented order."""


def _object(fields: Fields, across: Callable[[dict[str, Any]], None] | None = None,
            refused: dict[str, str] | None = None) -> Check:
    """A JSON object holding `fields` and nothing else; `across` checks the fields together.

    `refused` words the problem of a key that is a field of v1 elsewhere but not here.
    """
    words = refused or {}

    def check(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _one("must be an object")
        problems: list[Problem] = [
            ((key,), words.get(key, "is not a field of message format v1"))
            for key in data if key not in fields
        ]
        values: dict[str, Any] = {}
        for name, (check_field, default) in fields.items():
            if name in data:
                try:
                    values[name] = check_field(data[name])
                except _Bad as bad:
                    problems.extend(((name, *where), message) for where, message in bad.problems)
            elif isinstance(default, _Required):
                problems.append(((name,), default.words))
            else:
                values[name] = default
        if problems:
            raise _Bad(*problems)
        if across:
            across(values)
        return values

    return check


def _event_times(event: dict[str, Any]) -> None:
    """Resolve the times in the event's zone (as `start` and `end`); the end comes after.

    Dates alone, with no zone, make an all-day event (`all_day`).
    """
    try:
        event["all_day"] = all_day(event["dtstart"], event["dtend"], event["timezone"])
    except FieldProblem as exc:
        raise _Bad((exc.location, str(exc))) from None
    problems: list[Problem] = []
    for name, key in (("dtstart", "start"), ("dtend", "end")):
        try:
            event[key] = to_datetime(event[name], event["timezone"], name,
                                     all_day=event["all_day"])
        except ValueError as exc:
            problems.append(((name,), str(exc)))
    if problems:
        raise _Bad(*problems)
    try:
        check_order(event["start"], event["end"], all_day=event["all_day"])
    except ValueError as exc:
        raise _Bad((("dtend",), str(exc))) from None
    try:
        event["exdate_moments"] = check_series(
            event["rrule"], event["exdates"], start=event["start"], end=event["end"],
            timezone=event["timezone"], all_day=event["all_day"])
    except FieldProblem as exc:
        raise _Bad((exc.location, str(exc))) from None


def _same_event(message: dict[str, Any]) -> None:
    try:
        check_same_event(message["request"]["uid"], message["event"]["uid"])
    except ValueError as exc:
        raise _Bad((("request", "uid"), str(exc))) from None


_UID = _text(pattern=(UID_PATTERN, UID_WORDS))
_ADDRESS = _text(strip=True, max_length=254, then=check_address)
_NAME = _text(strip=True, non_empty=True, max_length=256)
_TIME = _rule(check_time_value)

_INVITEE: Fields = {
    "uid": (_UID, _REQUIRED),
    "email": (_ADDRESS, _REQUIRED),
    "name": (_optional(_NAME), None),
    "partstat": (_choice(PartStat), PartStat.NEEDS_ACTION),
    "origin": (_optional(_text(pattern=(ORIGIN_PATTERN, ORIGIN_WORDS))), None),
    "role": (_choice(Role), Role.REQ_PARTICIPANT),
}
_REQUEST = _object({**_INVITEE, "action": (_choice(InviteAction), InviteAction.INVITE)})
# The `cis` command's CSV row names an invitee to invite and nothing more.
_REQUEST_ALONE = _object(_INVITEE, refused={
    "action": "is not read from a request alone, which names only the invitee"})
_RESEND_REQUEST = _object({
    "uid": (_UID, _REQUIRED),
    "email": (_ADDRESS, _REQUIRED),
    "action": (_choice(InviteAction), _REQUIRED),
}, refused=dict.fromkeys(
    ("name", "partstat", "origin", "role"),
    "is not a field of a resend, which takes only uid, email and action"))
_EVENT = _object({
    "uid": (_UID, _REQUIRED),
    # Texts longer than their limits are cut when the event is built (`shorten_event`).
    "summary": (_text(non_empty=True, then=single_line), _REQUIRED),
    "description": (_optional(_text()), None),
    "description_html": (_optional(_text()), None),
    "dtstart": (_TIME, _REQUIRED),
    "dtend": (_TIME, _REQUIRED),
    "timezone": (_optional(_text(max_length=64, then=check_timezone)), None),
    "location": (_optional(_text(then=single_line)), None),
    "organizer": (_text(strip=True, non_empty=True, max_length=256, then=single_line),
                  _REQUIRED),
    "mailto": (_ADDRESS, _REQUIRED),
    "sequence": (_integer(ge=0, le=2**31 - 1), 0),
    "status": (_choice(EventStatus), EventStatus.CONFIRMED),
    "url": (_optional(_text(then=check_link)), None),
    "reminder_minutes": (_optional(_integer(ge=0, le=MAX_REMINDER_MINUTES)), None),
    "rrule": (_optional(_text(then=check_rule)), None),
    "exdates": (_optional(_array(_TIME, max_items=MAX_EXDATES, items="dates")), None),
}, across=_event_times)
_ATTENDEE_MESSAGE = _object({
    "version": (_version, 1),
    "request": (_REQUEST, _REQUIRED),
    "event": (_EVENT, _REQUIRED),
}, across=_same_event)
_REMOVAL_MESSAGE = _object({
    "version": (_version, 1),
    "request": (_REQUEST, _REQUIRED),
    "event": (_EVENT, _Required(
        "is required for a removal, which carries the event at the SEQUENCE of the removal")),
}, across=_same_event)
_FAN_OUT_MESSAGE = _object({
    "version": (_version, 1),
    "event": (_EVENT, _REQUIRED),
})
_RESEND_MESSAGE = _object({
    "version": (_version, 1),
    "request": (_RESEND_REQUEST, _REQUIRED),
}, refused={"event": "is ambiguous in a resend, which sends the event's current version as "
            "stored: leave out event to resend that, or leave out request.action to send "
            "this event"})


def _attendee(data: Any) -> InviteRequest:
    """One attendee's body: an invitation, an update, the event's cancellation, a removal."""
    request = data.get("request") if isinstance(data, dict) else None
    removal = isinstance(request, dict) and request.get("action") == "remove"
    message = (_REMOVAL_MESSAGE if removal else _ATTENDEE_MESSAGE)(data)
    return InviteRequest(event=_domain_event(message["event"]),
                         invitee=domain_invitee(message["request"]),
                         action=message["request"]["action"])


def _any_message(data: Any) -> QueueMessage:
    kind = body_kind(data)
    if kind is BodyKind.FAN_OUT:
        return FanOut(_domain_event(_FAN_OUT_MESSAGE(data)["event"]))
    if kind is BodyKind.RESEND:
        return domain_resend(_RESEND_MESSAGE(data)["request"])
    return _attendee(data)


def _one_attendee(data: Any) -> InviteRequest:
    problem = not_one_attendee(data)
    if problem:
        raise _Bad(problem)
    return _attendee(data)


def _domain_event(event: dict[str, Any]) -> Event:
    return domain_event(event, start=event["start"], end=event["end"], all_day=event["all_day"],
                        exdates=event["exdate_moments"])


class _Repeated(dict[str, Any]):
    """A JSON object naming a key more than once; `replaced` holds the values that lost."""

    replaced: tuple[Any, ...] = ()


def json_object(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """`json`'s `object_pairs_hook` for a v1 body: a key named twice counts with its last value.

    The values it replaces are kept aside, so that they too must be text (`_not_text`).
    """
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    last = {key: index for index, (key, _) in enumerate(pairs)}
    repeated = _Repeated(value)
    repeated.replaced = tuple(item for index, (key, item) in enumerate(pairs)
                              if last[key] != index)
    return repeated


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _not_text(value: Any) -> str | None:
    r"""Why a decoded JSON value cannot be read as Unicode text, or None when it can.

    Every string, key or value, must be Unicode text: a surrogate code point (an unpaired
    `\ud800` escape) is not. No value may sit inside more than `MAX_NESTING` arrays and
    objects, counted from `value` itself. Both hold wherever the value occurs, even under a key
    that a later one of the same name replaces (when `json_object` read the object).
    """
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_NESTING:
            return f"nests arrays and objects more than {MAX_NESTING} deep"
        if isinstance(item, str):
            if not item.isascii() and (found := _SURROGATE.search(item)):
                return (f"a string holds U+{ord(found.group()):04X}, a lone surrogate, which is "
                        "not Unicode text")
        elif isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
            if isinstance(item, _Repeated):
                pending.extend((child, depth + 1) for child in item.replaced)
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return None


def _checked(check: Check, data: Any, within: Location) -> Any:
    """`check(data)` for the object at `within`, every problem located from the root."""
    problem = _not_text(data)
    if problem:
        raise MessageProblems(((within, problem),))
    try:
        return check(data)
    except _Bad as bad:
        raise MessageProblems(tuple(((*within, *where), message)
                                    for where, message in bad.problems)) from None


def validate_message(data: Any) -> QueueMessage:
    """What a decoded v1 body asks for: one attendee's message, a fan-out or a resend.

    Raises:
        MessageProblems: every problem, its field named from the root (`request.email`);
            a problem with the body as a whole names `body`.

    """
    message: QueueMessage = _checked(_any_message, data, ())
    return message


def validate_attendee_message(data: Any) -> InviteRequest:
    """The request a decoded v1 body for one attendee asks for; a fan-out or resend is refused.

    Raises:
        MessageProblems: as `validate_message`; a fan-out names `request`, a resend
            `request.action`, whatever else is wrong with them.

    """
    request: InviteRequest = _checked(_one_attendee, data, ())
    return request


def validate_event(data: Any) -> Event:
    """The event a decoded v1 `event` object describes (the `cis` command's EVENT.json).

    Raises:
        MessageProblems: every problem, its field named as in a message (`event.summary`).

    """
    return _domain_event(_checked(_EVENT, data, ("event",)))


def validate_request(data: Any) -> Invitee:
    """The invitee a decoded v1 `request` object names (one row of the `cis` command's CSV).

    Its `uid` is checked as a uid; that it equals the event's is a check of whole messages.
    An `action` is refused: what is asked of the invitee is said by a whole message.

    Raises:
        MessageProblems: every problem, its field named as in a message (`request.email`).

    """
    return domain_invitee(_checked(_REQUEST_ALONE, data, ("request",)))
