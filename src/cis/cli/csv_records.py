"""The records of a CSV file, each with the line it starts on, numbered as an editor numbers it.

`csv` counts the lines it was handed, and a text file decodes in blocks: a bad byte is then
reported lines before where it is, and a record that spans lines at its last one. Here the
file is handed over one physical line at a time (a line ends with LF, CRLF or CR, as editors
and Python's universal newlines end them), each line is checked to be UTF-8 as it is read,
and every record carries the line it starts on. Quotes are read strictly and a record is
bounded: a quote left open, or text after a closing quote, is an error naming its line
instead of a guess that swallows the rest of the file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

__all__ = ["MAX_ROW_CHARACTERS", "CsvProblem", "Record", "open_csv", "read_records"]

MAX_ROW_CHARACTERS = 16_384
"""Characters one record may hold, line ends included. A valid attendee row (address, name and
origin at their longest) needs under 700; without a bound, one quote left open takes in the
rest of the file as a single name."""

_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
"""What `surrogateescape` turns a byte that is not UTF-8 into (U+DC80 + the byte)."""

_QUOTE, _DELIMITER, _LINE_ENDS = '"', ",", "\r\n"


class CsvProblem(Exception):
    """Raised when the file cannot be read as CSV; `line` is the physical line to look at."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"{line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: its fields, and the physical line it starts on (1-based)."""

    line: int
    fields: list[str]


class _TooLong(Exception):
    """Raised inside `csv` when the record being read passes `MAX_ROW_CHARACTERS`."""


class _Lines:
    """The file's physical lines, numbered, checked, and kept for the record being read."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self.number = 0
        #: The lines of the current record so far, to find where a quote was left open.
        self.record: list[str] = []
        self._size = 0

    def start_record(self) -> int:
        """Forget the last record; return the line the next one starts on."""
        self.record = []
        self._size = 0
        return self.number + 1

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        # Never read more than the record may still hold, so one endless line costs no memory.
        line = self._handle.readline(MAX_ROW_CHARACTERS - self._size + 1)
        if not line:
            raise StopIteration
        self.number += 1
        if not line.isascii() and (bad := _ESCAPED_BYTE.search(line)):
            byte = ord(bad.group()) - 0xDC00
            raise CsvProblem(self.number, f"column {bad.start() + 1}: byte 0x{byte:02X} is not "
                                          "UTF-8; save the file as UTF-8")
        self.record.append(line)
        self._size += len(line)
        if self._size > MAX_ROW_CHARACTERS:
            raise _TooLong
        return line


def open_csv(path: Path) -> TextIO:
    """Open `path` for `read_records`, keeping what is needed to name a line.

    UTF-8, a byte order mark skipped; line ends left as they are; a byte that is not UTF-8
    kept as an escape, so that the line it is on can be named.
    """
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


def read_records(handle: TextIO) -> Iterator[Record]:
    """Every record of a file opened with `open_csv`; a blank line is a record with no field.

    Raises:
        CsvProblem: a line that is not UTF-8, a record longer than `MAX_ROW_CHARACTERS`, a
            quoted field never closed, or text after a closing quote; nothing after it is read.

    """
    lines = _Lines(handle)
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _malformed(start, lines, exc) from None
        except _TooLong:
            raise _too_long(start, lines) from None
        yield Record(start, fields)


def _malformed(start: int, lines: _Lines, error: csv.Error) -> CsvProblem:
    scan = _scan_quotes(start, lines.record)
    if scan.stray is not None:
        line, column = scan.stray
        return CsvProblem(line, f"column {column}: text after the closing quote of a quoted "
                                'field; a " inside a quoted field is written twice ("")')
    if scan.open_since is not None:
        return CsvProblem(scan.open_since, "a quoted field starts here and is never closed "
                                           '(its closing " is missing)')
    return CsvProblem(lines.number, f"malformed CSV: {error}")


def _too_long(start: int, lines: _Lines) -> CsvProblem:
    opened = _scan_quotes(start, lines.record).open_since
    if opened is not None:
        return CsvProblem(opened, f"a quoted field starts here and is still open after "
                                  f"{MAX_ROW_CHARACTERS:,} characters (is its closing \" "
                                  "missing?)")
    return CsvProblem(start, f"the row starting here is longer than {MAX_ROW_CHARACTERS:,} "
                             "characters")


@dataclass(frozen=True, slots=True)
class _QuoteScan:
    """Where a record's quotes went wrong, found by reading it again as `csv` reads it."""

    #: The line of the quote that opened a field still open at the end of the record.
    open_since: int | None = None
    #: The first (line, column) of text after the closing quote of a quoted field.
    stray: tuple[int, int] | None = None


def _scan_quotes(start: int, record: list[str]) -> _QuoteScan:
    """Read the record's characters with the states of `csv`'s strict reader.

    Only called once a record failed, so its speed does not matter; `csv` reads the rest.
    """
    state, opened = "start", start
    for offset, text in enumerate(record):
        line = start + offset
        for column, char in enumerate(text, start=1):
            ends_field = char == _DELIMITER or char in _LINE_ENDS
            if state == "start":
                if char == _QUOTE:
                    state, opened = "quoted", line
                elif not ends_field:
                    state = "field"
            elif state == "field":
                if ends_field:
                    state = "start"
            elif state == "quoted":
                if char == _QUOTE:
                    state = "closed"  # the field's end, unless a second quote follows
            elif char == _QUOTE:
                state = "quoted"
            elif ends_field:
                state = "start"
            else:
                return _QuoteScan(stray=(line, column))
    return _QuoteScan(open_since=opened if state == "quoted" else None)
