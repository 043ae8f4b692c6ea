"""Message format v1 checked by hand, so that a Lambda cold start need not import pydantic.

It accepts what the models in `cis.messages.invite_models` accept, builds the same request, and
finds the same problems in the same order as pydantic: in each object the unknown keys first,
then every field in the models' order, then the checks across fields once the fields are all
valid. It also decides JSON that is not plain text itself (a lone surrogate, deep nesting),
refusing what pydantic's JSON reader refuses. A property test holds the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from cis.domain.model import EventStatus, InviteRequest, PartStat
from cis.messages.invite_rules import (
    MAX_NESTING,
    ORIGIN_PATTERN,
    UID_PATTERN,
    WHITE_SPACE,
    Problem,
    check_address,
    check_event_times,
    check_same_event,
    check_time_value,
    check_timezone,
    domain_event,
    domain_invitee,
    single_line,
)

__all__ = ["MessageProblems", "json_object", "validate_message"]

Check = Callable[[Any], Any]
"""Turns a decoded JSON value into a field's value, or raises `_Bad`."""


class MessageProblems(Exception):
    """Raised when a decoded body is not a v1 message; `problems` as pydantic would list them."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        super().__init__(problems)
        self.problems = problems


class _Bad(Exception):
    """Raised by a check, with each problem placed relative to the value it checked."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems)
        self.problems = problems


def _one(message: str) -> _Bad:
    return _Bad(((), message))


def _characters(count: int) -> str:
    return f"{count} character" + "s" * (count != 1)


def _text(*, strip: bool = False, min_length: int = 0, max_length: int | None = None,
          pattern: str | None = None, then: Callable[[str], str] | None = None) -> Check:
    """A strict string with pydantic's `StringConstraints`, then an `AfterValidator`."""
    compiled = re.compile(pattern) if pattern else None
    after = _rule(then) if then else None

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            raise _one("Input should be a valid string")
        if strip:
            value = value.strip(WHITE_SPACE)
        if len(value) < min_length:
            raise _one(f"String should have at least {_characters(min_length)}")
        if max_length is not None and len(value) > max_length:
            raise _one(f"String should have at most {_characters(max_length)}")
        # fullmatch: pydantic's `$` does not match before a final newline, Python's does.
        if compiled and not compiled.fullmatch(value):
            raise _one(f"String should match pattern '{pattern}'")
        return after(value) if after else value

    return check


def _rule(rule: Callable[[Any], Any]) -> Check:
    """A rule from `cis.messages.invite_rules`, its ValueError worded as pydantic words it."""

    def check(value: Any) -> Any:
        try:
            return rule(value)
        except ValueError as exc:
            raise _one(f"Value error, {exc}") from None

    return check


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _choice(enum: type[StrEnum]) -> Check:
    members = {member.value: member for member in enum}
    *most, last = (repr(value) for value in members)
    expected = f"Input should be {', '.join(most)} or {last}"

    def check(value: Any) -> StrEnum:
        if isinstance(value, str) and value in members:
            return members[value]
        raise _one(expected)

    return check


def _integer(*, ge: int, le: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int:  # strict: neither a bool nor a whole float
            raise _one("Input should be a valid integer")
        if value < ge:
            raise _one(f"Input should be greater than or equal to {ge}")
        if value > le:
            raise _one(f"Input should be less than or equal to {le}")
        return value

    return check


def _version(value: Any) -> int:
    # Literal[1] read from JSON: pydantic takes 1, 1.0 and true alike, and reads whole
    # numbers as 64-bit integers.
    if isinstance(value, int | float) and value == 1:
        return 1
    if type(value) is int and not -(2**63) <= value < 2**63:
        raise _one("Unable to parse input string as an integer, exceeded maximum size")
    raise _one("Input should be 1")


_REQUIRED = object()
Fields = dict[str, tuple[Check, Any]]
"""Each field's check and its default (`_REQUIRED` when it has none), in the models' order."""


def _model(fields: Fields, across: Callable[[dict[str, Any]], None] | None = None) -> Check:
    """A pydantic model with `extra="forbid"`; `across` checks the fields together."""
    check_across = _rule(across) if across else None

    def check(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _one("Input should be an object")
        problems: list[Problem] = [
            ((key,), "Extra inputs are not permitted") for key in data if key not in fields
        ]
        values: dict[str, Any] = {}
        for name, (check_field, default) in fields.items():
            if name in data:
                try:
                    values[name] = check_field(data[name])
                except _Bad as bad:
                    problems.extend(((name, *where), message) for where, message in bad.problems)
            elif default is _REQUIRED:
                problems.append(((name,), "Field required"))
            else:
                values[name] = default
        if problems:
            raise _Bad(*problems)
        if check_across:
            check_across(values)
        return values

    return check


def _event_times(event: dict[str, Any]) -> None:
    event["start"], event["end"] = check_event_times(
        event["dtstart"], event["dtend"], event["timezone"])


def _same_event(message: dict[str, Any]) -> None:
    check_same_event(message["request"]["uid"], message["event"]["uid"])


_UID = _text(pattern=UID_PATTERN)
_ADDRESS = _text(strip=True, max_length=254, then=check_address)
_NAME = _text(strip=True, min_length=1, max_length=256)
_TIME = _rule(check_time_value)

_REQUEST: Fields = {
    "uid": (_UID, _REQUIRED),
    "email": (_ADDRESS, _REQUIRED),
    "name": (_optional(_NAME), None),
    "partstat": (_choice(PartStat), PartStat.NEEDS_ACTION),
    "origin": (_optional(_text(pattern=ORIGIN_PATTERN)), None),
}
_EVENT: Fields = {
    "uid": (_UID, _REQUIRED),
    "summary": (_text(min_length=1, max_length=1000, then=single_line), _REQUIRED),
    "description": (_optional(_text(max_length=20_000)), None),
    "description_html": (_optional(_text(max_length=100_000)), None),
    "dtstart": (_TIME, _REQUIRED),
    "dtend": (_TIME, _REQUIRED),
    "timezone": (_optional(_text(max_length=64, then=check_timezone)), None),
    "location": (_optional(_text(max_length=1000, then=single_line)), None),
    "organizer": (_text(strip=True, min_length=1, max_length=256, then=single_line), _REQUIRED),
    "mailto": (_ADDRESS, _REQUIRED),
    "sequence": (_integer(ge=0, le=2**31 - 1), 0),
    "status": (_choice(EventStatus), EventStatus.CONFIRMED),
}
_MESSAGE = _model({
    "version": (_version, 1),
    "request": (_model(_REQUEST), _REQUIRED),
    "event": (_model(_EVENT, across=_event_times), _REQUIRED),
}, across=_same_event)


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


def validate_message(data: Any) -> InviteRequest:
    """The request a decoded v1 body asks for.

    Raises:
        MessageProblems: every problem, in the order pydantic reports them; a body that is not
            plain text names no field (its one problem is at the root).

    """
    problem = _not_text(data)
    if problem:
        raise MessageProblems((((), problem),))
    try:
        message = _MESSAGE(data)
    except _Bad as bad:
        raise MessageProblems(bad.problems) from None
    request, event = message["request"], message["event"]
    return InviteRequest(
        event=domain_event(event, start=event["start"], end=event["end"]),
        invitee=domain_invitee(request),
    )
