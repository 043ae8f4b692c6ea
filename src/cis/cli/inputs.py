"""Reading the command line's inputs: an event file and a streamed attendee CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cis.domain.model import Event, EventStatus, Invitee
from cis.messages.invite_validator import MessageProblems, validate_event, validate_request

REQUIRED_COLUMNS = ("email",)
OPTIONAL_COLUMNS = ("name", "origin", "role")


class UsageError(Exception):
    """Raised for input the user must fix before anything can run; the CLI exits with 2."""


@dataclass(frozen=True, slots=True)
class AttendeeRow:
    """One CSV row: an invitee, or the reason it cannot be one. `line` is 1-based."""

    line: int
    invitee: Invitee | None = None
    problem: str | None = None


def read_event(path: Path, *, default_status: EventStatus | None = None,
               err: TextIO | None = None) -> Event:
    """Read EVENT.json: the `event` object of message format v1 (or a whole v1 message).

    The event is checked as `parse_body` checks a message's event; a problem names the file
    and the field (`event.timezone`). `default_status` stands for a `status` left out (`cis
    cancel` takes a missing status as CANCELLED). A text longer than its limit is cut, and
    `err` is told which.
    """
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
    except RecursionError:
        raise UsageError(f"{path}: not JSON: nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("event"), dict):
        data = data["event"]
    if default_status is not None and isinstance(data, dict) and "status" not in data:
        data = {**data, "status": str(default_status)}
    try:
        event = validate_event(data)
    except MessageProblems as exc:
        raise UsageError(f"{path}: {exc.field}: {exc.reason}") from None
    if event.shortened and err is not None:
        err.write(f"{path}: longer than cis sends, cut to its limit with a mark: "
                  f"{', '.join('event.' + name for name in event.shortened)}\n")
    return event


def read_attendees(path: Path, event_uid: str) -> Iterator[AttendeeRow]:
    """Check the header now, then stream the rows, so a list of any length uses flat memory.

    The header must name an `email` column; `name`, `origin` and `role` are optional. A row with an
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
            f"expected email, and optionally name, origin and role"
        )


def attendee_row(
    line: int, row: dict[str | None, str | list[str] | None], event_uid: str
) -> AttendeeRow:
    """Check one row as the `request` object of a v1 message for the event.

    An empty cell is a field not given. A problem names the column and the value in it
    (`email 'carol@': not a valid email address: ...`).
    """
    if None in row:
        return AttendeeRow(line, problem="more fields than the header has columns")
    cells = {column: row.get(column) for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    values = {column: cell.strip() for column, cell in cells.items()
              if isinstance(cell, str) and cell.strip()}
    try:
        invitee = validate_request({"uid": event_uid, **values})
    except MessageProblems as exc:
        column = exc.field.removeprefix("request.")
        given = f" {values[column]!r}" if column in values else ""
        return AttendeeRow(line, problem=f"{column}{given}: {exc.reason}")
    return AttendeeRow(line, invitee=invitee)
