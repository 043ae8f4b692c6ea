"""Message format v1 checked field by field: the one validator of every run-time path.

`parse_message` and `parse_body` (the Lambda, the worker, library callers) check whole messages
with it, and the `cis` command checks EVENT.json and each CSV row with it; none of them imports
pydantic. A body's kind (one attendee, a fan-out, a resend) is told by its shape first
(`cis.messages.invite_rules.body_kind`); then, in each object, the unknown keys are reported
first (a misspelt key is the likeliest cause of what follows), then every field in the order
of the tables in docs/message-format.md, then the checks across fields once the fields are all
valid. A property test holds it to the pydantic models in `cis.messages.invite_models`: the
same bodies accepted, the same message built, the same field named first. The tables are built
from the generic checks of `cis.messages.json_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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
from cis.messages.json_checks import (
    REQUIRED,
    BadValue,
    Check,
    Fields,
    Required,
    array,
    choice,
    from_rule,
    integer,
    object_of,
    optional,
    text,
    version,
)

__all__ = [
    "MessageProblems", "json_object", "validate_attendee_message", "validate_event",
    "validate_message", "validate_request",
]


class MessageProblems(Exception):
    """Raised when a value is not what message format v1 asks for; lists every problem found.

    `field` and `reason` describe the first problem (`event.summary`, `must be a string`),
    with how many more there are; `problems` holds them all, located from the message's root.
    """

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        self.field, self.reason = describe(problems)
        super().__init__(f"{self.field}: {self.reason}")


def _event_times(event: dict[str, Any]) -> None:
    """Resolve the times in the event's zone (as `start` and `end`); the end comes after.

    Dates alone, with no zone, make an all-day event (`all_day`).
    """
    try:
        event["all_day"] = all_day(event["dtstart"], event["dtend"], event["timezone"])
    except FieldProblem as exc:
        raise BadValue((exc.location, str(exc))) from None
    problems: list[Problem] = []
    for name, key in (("dtstart", "start"), ("dtend", "end")):
        try:
            event[key] = to_datetime(event[name], event["timezone"], name,
                                     all_day=event["all_day"])
        except ValueError as exc:
            problems.append(((name,), str(exc)))
    if problems:
        raise BadValue(*problems)
    try:
        check_order(event["start"], event["end"], all_day=event["all_day"])
    except ValueError as exc:
        raise BadValue((("dtend",), str(exc))) from None
    try:
        event["exdate_moments"] = check_series(
            event["rrule"], event["exdates"], start=event["start"], end=event["end"],
            timezone=event["timezone"], all_day=event["all_day"])
    except FieldProblem as exc:
        raise BadValue((exc.location, str(exc))) from None


def _same_event(message: dict[str, Any]) -> None:
    try:
        check_same_event(message["request"]["uid"], message["event"]["uid"])
    except ValueError as exc:
        raise BadValue((("request", "uid"), str(exc))) from None


_UID = text(pattern=(UID_PATTERN, UID_WORDS))
_ADDRESS = text(strip=True, max_length=254, then=check_address)
_NAME = text(strip=True, non_empty=True, max_length=256)
_TIME = from_rule(check_time_value)

_INVITEE: Fields = {
    "uid": (_UID, REQUIRED),
    "email": (_ADDRESS, REQUIRED),
    "name": (optional(_NAME), None),
    "partstat": (choice(PartStat), PartStat.NEEDS_ACTION),
    "origin": (optional(text(pattern=(ORIGIN_PATTERN, ORIGIN_WORDS))), None),
    "role": (choice(Role), Role.REQ_PARTICIPANT),
}
_REQUEST = object_of({**_INVITEE, "action": (choice(InviteAction), InviteAction.INVITE)})
# The `cis` command's CSV row names an invitee to invite and nothing more.
_REQUEST_ALONE = object_of(_INVITEE, refused={
    "action": "is not read from a request alone, which names only the invitee"})
_RESEND_REQUEST = object_of({
    "uid": (_UID, REQUIRED),
    "email": (_ADDRESS, REQUIRED),
    "action": (choice(InviteAction), REQUIRED),
}, refused=dict.fromkeys(
    ("name", "partstat", "origin", "role"),
    "is not a field of a resend, which takes only uid, email and action"))
_EVENT = object_of({
    "uid": (_UID, REQUIRED),
    # Texts longer than their limits are cut when the event is built (`shorten_event`).
    "summary": (text(non_empty=True, then=single_line), REQUIRED),
    "description": (optional(text()), None),
    "description_html": (optional(text()), None),
    "dtstart": (_TIME, REQUIRED),
    "dtend": (_TIME, REQUIRED),
    "timezone": (optional(text(max_length=64, then=check_timezone)), None),
    "location": (optional(text(then=single_line)), None),
    "organizer": (text(strip=True, non_empty=True, max_length=256, then=single_line),
                  REQUIRED),
    "mailto": (_ADDRESS, REQUIRED),
    "sequence": (integer(ge=0, le=2**31 - 1), 0),
    "status": (choice(EventStatus), EventStatus.CONFIRMED),
    "url": (optional(text(then=check_link)), None),
    "reminder_minutes": (optional(integer(ge=0, le=MAX_REMINDER_MINUTES)), None),
    "rrule": (optional(text(then=check_rule)), None),
    "exdates": (optional(array(_TIME, max_items=MAX_EXDATES, items="dates")), None),
}, across=_event_times)
_ATTENDEE_MESSAGE = object_of({
    "version": (version, 1),
    "request": (_REQUEST, REQUIRED),
    "event": (_EVENT, REQUIRED),
}, across=_same_event)
_REMOVAL_MESSAGE = object_of({
    "version": (version, 1),
    "request": (_REQUEST, REQUIRED),
    "event": (_EVENT, Required(
        "is required for a removal, which carries the event at the SEQUENCE of the removal")),
}, across=_same_event)
_FAN_OUT_MESSAGE = object_of({
    "version": (version, 1),
    "event": (_EVENT, REQUIRED),
})
_RESEND_MESSAGE = object_of({
    "version": (version, 1),
    "request": (_RESEND_REQUEST, REQUIRED),
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
        raise BadValue(problem)
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
    except BadValue as bad:
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
