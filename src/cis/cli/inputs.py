"""Reading the command line's inputs: an event file and a streamed attendee CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from cis.domain.model import Event, Invitee
from cis.messages.invite_format import EventV1, RequestV1, first_problem

REQUIRED_COLUMNS = ("email",)
OPTIONAL_COLUMNS = ("name", "origin")


class UsageError(Exception):
    """Raised for input the user must fix before anything can run; the CLI exits with 2."""


@dataclass(frozen=True, slots=True)
class AttendeeRow:
    """One CSV row: an invitee, or the reason it cannot be one. `line` is 1-based."""

    line: int
    invitee: Invitee | None = None
    problem: str | None = None


def read_event(path: Path) -> Event:
    """Read EVENT.json: the `event` object of message format v1 (or a whole v1 message)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("event"), dict):
        data = data["event"]
    try:
        return EventV1.model_validate_json(json.dumps(data)).to_domain()
    except ValidationError as exc:
        field, reason = first_problem(exc, within="event")
        raise UsageError(f"{path}: {field}: {reason}") from None


def read_attendees(path: Path, event_uid: str) -> Iterator[AttendeeRow]:
    """Check the header now, then stream the rows, so a list of any length uses flat memory.

    The header must name an `email` column; `name` and `origin` are optional. A row with an
    invalid address becomes a problem row with its line number rather than stopping the run.
    """
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    reader = csv.DictReader(handle)
    try:
        columns = [c.strip().lower() for c in reader.fieldnames or []]
        _check_columns(path, columns)
    except (csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        raise UsageError(f"{path}:1: malformed CSV header: {exc}") from None
    except UsageError:
        handle.close()
        raise
    reader.fieldnames = columns
    return _rows(path, handle, reader, event_uid)


def _rows(
    path: Path, handle: TextIO, reader: csv.DictReader[str], event_uid: str
) -> Iterator[AttendeeRow]:
    with handle:
        try:
            for row in reader:
                yield attendee_row(reader.line_num, row, event_uid)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}:{reader.line_num}: malformed CSV: {exc}") from None


def _check_columns(path: Path, columns: list[str]) -> None:
    if not columns:
        raise UsageError(f"{path}: empty file; the first line must be a header with 'email'")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise UsageError(
            f"{path}:1: header has no {', '.join(repr(c) for c in missing)} column "
            f"(found {', '.join(repr(c) for c in columns)})"
        )
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise UsageError(
            f"{path}:1: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
            f"expected email, and optionally name and origin"
        )


def attendee_row(
    line: int, row: dict[str | None, str | list[str] | None], event_uid: str
) -> AttendeeRow:
    """Validate one row's fields as a v1 request would be; problems name the field."""
    if None in row:
        return AttendeeRow(line, problem="more fields than the header has columns")
    values = {key: (value or "").strip() for key, value in row.items() if isinstance(value, str)}
    if not values.get("email"):
        return AttendeeRow(line, problem="email is empty")
    request = {"uid": event_uid, "email": values["email"]}
    for optional in OPTIONAL_COLUMNS:
        if values.get(optional):
            request[optional] = values[optional]
    try:
        parsed = RequestV1.model_validate_json(json.dumps(request))
    except ValidationError as exc:
        field, reason = first_problem(exc)
        return AttendeeRow(line, problem=f"{field} {values.get(field, '')!r}: {reason}")
    return AttendeeRow(line, invitee=Invitee(
        email=parsed.email, name=parsed.name, partstat=parsed.partstat, origin=parsed.origin,
    ))
