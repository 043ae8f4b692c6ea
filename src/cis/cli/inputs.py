"""Reading the command line's inputs: an event file and a streamed attendee CSV."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cis.cli.csv_records import MAX_ROW_CHARACTERS, CsvProblem, Record, open_csv, read_records
from cis.domain.model import Event, EventStatus, Invitee
from cis.messages.invite_rules import MAX_BODY_BYTES
from cis.messages.invite_validator import (
    MessageProblems,
    json_object,
    validate_event,
    validate_request,
)

__all__ = [
    "MAX_ROWS", "MAX_ROW_CHARACTERS", "AttendeeList", "AttendeeRow", "CsvChanged", "UsageError",
    "attendee_row", "read_attendees", "read_event",
]

REQUIRED_COLUMNS = ("email",)
OPTIONAL_COLUMNS = ("name", "origin", "role")
MAX_ROWS = 1_000_000
"""Attendee rows one list may hold: ten times the longest list measured (docs/performance.md),
and a bound on the time the check of the whole list takes before anything is sent."""


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

    The event is checked as `parse_body` checks a message's event: at most `MAX_BODY_BYTES`
    (it must fit in a message), a key named twice counts with its last value, and every
    value must be text nested at most 200 deep. A problem names the file and the field
    (`event.timezone`). `default_status` stands for a `status` left out (`cis cancel` takes a
    missing status as CANCELLED). A text longer than its limit is cut, and `err` is told
    which.
    """
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BODY_BYTES + 1)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    if len(raw) > MAX_BODY_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BODY_BYTES:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=json_object)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{path}: not JSON: nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("event"), dict):
        data = data["event"]
    if default_status is not None and isinstance(data, dict) and "status" not in data:
        data["status"] = str(default_status)
    try:
        event = validate_event(data)
    except MessageProblems as exc:
        raise UsageError(f"{path}: {exc.field}: {exc.reason}") from None
    if event.shortened and err is not None:
        err.write(f"{path}: longer than cis sends, cut to its limit with a mark: "
                  f"{', '.join('event.' + name for name in event.shortened)}\n")
    return event


@dataclass(frozen=True, slots=True)
class AttendeeList:
    """An attendee list checked whole: how many rows it held then, and its rows, streamed."""

    count: int
    rows: Iterator[AttendeeRow]

    def __iter__(self) -> Iterator[AttendeeRow]:
        return self.rows


def read_attendees(path: Path, event_uid: str) -> AttendeeList:
    """Check the whole list now, then stream its rows, so nothing is sent from a broken file.

    The header must name an `email` column, and `name` and `origin` at most once each. The
    whole file is read once before this returns: a line that is not UTF-8, a quote left
    open, text after a closing quote, a row longer than `MAX_ROW_CHARACTERS` or more than
    `MAX_ROWS` rows are refused here, naming the line, before any row is handed out. The rows
    are then read again, one at a time, so a list of any length uses flat memory. A row
    with an invalid address becomes a problem row with its line number rather than stopping
    the run. Line numbers are physical lines, as an editor shows them; a row spanning lines
    is numbered by its first.

    Raises:
        UsageError: naming the file and line; `CsvChanged` from the rows if the file no
            longer reads as it did when it was checked.

    """
    columns, count = _checked_list(path)
    return AttendeeList(count, _rows(path, columns, event_uid))


class CsvChanged(UsageError):
    """Raised mid-stream when the list, checked whole before, no longer reads as it did."""


def _open_list(path: Path) -> TextIO:
    """The list, opened for reading; it must be a regular file since it is read twice."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"{path}: not a regular file; the list is read twice (checked "
                             "whole before anything is sent), so it must be a file")
        handle = open_csv(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc}") from None
    return handle


def _checked_list(path: Path) -> tuple[list[str], int]:
    """Read the whole list once, checking what can stop a run; return its columns and rows."""
    with _open_list(path) as handle:
        try:
            records = read_records(handle)
            columns = _columns(path, next(records, None))
            rows = 0
            for record in records:
                if record.fields:
                    rows += 1
                    _check_count(path, record.line, rows)
        except CsvProblem as exc:
            raise UsageError(f"{path}:{exc.line}: {exc.reason}") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc}") from None
    return columns, rows


def _rows(path: Path, columns: list[str], event_uid: str) -> Iterator[AttendeeRow]:
    with _open_list(path) as handle:
        try:
            records = read_records(handle)
            if _columns(path, next(records, None)) != columns:
                raise CsvChanged(f"{path}:1: the header changed while the list was read")
            rows = 0
            for record in records:
                if not record.fields:
                    continue
                rows += 1
                _check_count(path, record.line, rows)
                cells: dict[str | None, str | list[str] | None] = dict(
                    zip(columns, record.fields, strict=False))
                if len(record.fields) > len(columns):
                    cells[None] = record.fields[len(columns):]
                yield attendee_row(record.line, cells, event_uid)
        except CsvProblem as exc:
            raise CsvChanged(f"{path}:{exc.line}: {exc.reason} (the list changed after it "
                             "was checked)") from None
        except UsageError as exc:
            raise CsvChanged(str(exc)) from None
        except OSError as exc:
            raise CsvChanged(f"{path}: cannot read: {exc}") from None


def _check_count(path: Path, line: int, rows: int) -> None:
    if rows > MAX_ROWS:
        raise UsageError(
            f"{path}:{line}: more than {MAX_ROWS:,} attendee rows; split the list into files "
            f"of at most {MAX_ROWS:,} rows and send each (nobody is invited twice)")


def _columns(path: Path, header: Record | None) -> list[str]:
    """The header's columns as they are matched: trimmed, in lower case, each named once."""
    if header is None:
        raise UsageError(f"{path}: empty file; the first line must be a header with 'email'")
    if not header.fields:
        raise UsageError(f"{path}:1: the first line must be the header (email, and optionally "
                         "name and origin); it is empty")
    columns = [c.strip().lower() for c in header.fields]
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
    for position, column in enumerate(columns):
        if column in columns[:position]:
            first = columns.index(column)
            raise UsageError(
                f"{path}:1: header names column {column!r} twice (columns {first + 1} and "
                f"{position + 1}); which one to use would be a guess")
    return columns


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
