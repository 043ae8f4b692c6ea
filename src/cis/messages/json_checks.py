"""Checks of decoded JSON values: the pieces the v1 field tables are built from.

Kept apart from the tables (`cis.messages.invite_validator`) because they know nothing of
message format v1's fields: a string held to its limits, a choice among an enum's values, an
integer in a range, an array, an object of named fields. Each check reports every problem it
finds, placed relative to the value it checked, so that an object reports all its fields at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from cis.messages.invite_rules import WHITE_SPACE, Problem

__all__ = [
    "REQUIRED", "BadValue", "Check", "Fields", "Required", "array", "choice", "from_rule",
    "integer", "object_of", "optional", "text", "version",
]

Check = Callable[[Any], Any]
"""Turns a decoded JSON value into a field's value, or raises `BadValue`."""


class BadValue(Exception):
    """Raised by a check, with each problem placed relative to the value it checked."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__(problems)
        self.problems = problems


def _one(message: str) -> BadValue:
    return BadValue(((), message))


def text(*, strip: bool = False, non_empty: bool = False, max_length: int | None = None,
         pattern: tuple[str, str] | None = None,
         then: Callable[[str], str] | None = None) -> Check:
    """A string, stripped of white space at both ends when `strip`, then held to its limits.

    `pattern` is a regular expression and the words that say what it allows; `then` is a rule
    from `cis.messages.invite_rules`, applied last.
    """
    compiled = re.compile(pattern[0]) if pattern else None
    allowed = f"must be {pattern[1]}" if pattern else ""
    after = from_rule(then) if then else None
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


def from_rule(rule: Callable[[Any], Any]) -> Check:
    """A rule from `cis.messages.invite_rules`; its ValueError is the problem, word for word."""

    def check(value: Any) -> Any:
        try:
            return rule(value)
        except ValueError as exc:
            raise _one(str(exc)) from None

    return check


def optional(check: Check) -> Check:
    """`check`, or None for a JSON null: an optional field may be given as null or left out."""
    return lambda value: None if value is None else check(value)


def choice(enum: type[StrEnum]) -> Check:
    """One of `enum`'s values, spelt exactly; the problem lists them all, so the fix is plain."""
    members = {member.value: member for member in enum}
    expected = f"must be one of {', '.join(members)}"

    def check(value: Any) -> StrEnum:
        if isinstance(value, str) and value in members:
            return members[value]
        raise _one(expected)

    return check


def integer(*, ge: int, le: int) -> Check:
    """A whole JSON number from `ge` to `le`: a count or a sequence, never a flag or a fraction."""
    def check(value: Any) -> int:
        if type(value) is not int:  # neither a bool nor a number with a fraction or exponent
            raise _one("must be an integer")
        if value < ge:
            raise _one(f"must be at least {ge}")
        if value > le:
            raise _one(f"must be at most {le}")
        return value

    return check


def array(check: Check, *, max_items: int, items: str) -> Check:
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
            except BadValue as bad:
                problems.extend(((index, *where), message) for where, message in bad.problems)
        if problems:
            raise BadValue(*problems)
        return result

    return checked


def version(value: Any) -> int:
    """The format's version, which must be 1.

    1, 1.0 and true all mean version 1: JSON writers differ in how they spell a number.
    """
    if isinstance(value, int | float) and value == 1:
        return 1
    raise _one("must be 1")


class Required:
    """The default of a field that has none: its absence is a problem, in these words."""

    def __init__(self, words: str = "is required") -> None:
        self.words = words


REQUIRED = Required()
Fields = dict[str, tuple[Check, Any]]
"""Each field's check and its default (a `Required` when it has none), in the documented order."""


def object_of(fields: Fields, across: Callable[[dict[str, Any]], None] | None = None,
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
                except BadValue as bad:
                    problems.extend(((name, *where), message) for where, message in bad.problems)
            elif isinstance(default, Required):
                problems.append(((name,), default.words))
            else:
                values[name] = default
        if problems:
            raise BadValue(*problems)
        if across:
            across(values)
        return values

    return check
