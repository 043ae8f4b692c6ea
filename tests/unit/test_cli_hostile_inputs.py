"""Hostile attendee lists and event files: refused once, by line, before anything is sent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cis.cli import inputs
from cis.cli.inputs import UsageError, read_attendees, read_event
from cis.messages.invite_rules import MAX_BODY_BYTES
from tests.support import event_json

HEADER = "email,name,origin\n"


def write(tmp_path: Path, text: str, name: str = "a.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def refusal(path: Path) -> str:
    """The message `read_attendees` refuses the file with, before yielding any row."""
    with pytest.raises(UsageError) as caught:
        read_attendees(path, "u1")
    return str(caught.value)


def good_rows(count: int, start: int = 0) -> str:
    return "".join(f"guest{n}@example.org,Guest {n},web\n" for n in range(start, start + count))


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("email,name,email\n", "email"),
        ("email,name,Email\n", "email"),
        ("Email, Name ,name\n", "name"),
        ("origin,email,ORIGIN \n", "origin"),
    ],
)
def test_a_column_named_twice_is_refused_naming_it(
    tmp_path: Path, header: str, column: str,
) -> None:
    path = write(tmp_path, header + "a@example.org,Ann,b@example.org\n")
    message = refusal(path)
    assert message.startswith(f"{path}:1: ")
    assert f"column {column!r} twice" in message


def test_an_unterminated_quote_is_refused_at_the_line_where_it_opens(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + good_rows(1) + 'bob@example.org,"Bob,web\n'
                 + good_rows(3, start=1))
    message = refusal(path)
    assert message.startswith(f"{path}:3: ")
    assert "quoted field" in message and "never closed" in message


def test_an_unterminated_quote_before_a_long_tail_is_still_found_where_it_opens(
    tmp_path: Path,
) -> None:
    # Everything after the quote would fit in one name of a few hundred kilobytes.
    path = write(tmp_path, HEADER + good_rows(5) + 'bob@example.org,"Bob,web\n'
                 + good_rows(20_000, start=5))
    message = refusal(path)
    assert message.startswith(f"{path}:7: ")
    assert "quoted field" in message
    assert f"{inputs.MAX_ROW_CHARACTERS:,}" in message


def test_the_open_quote_is_found_on_the_line_it_opens_even_inside_a_longer_row(
    tmp_path: Path,
) -> None:
    # Line 2 opens a name that closes on line 3, where the origin's quote opens for good.
    path = write(tmp_path, HEADER + 'ann@example.org,"Ann\nLee","web\n' + good_rows(2))
    message = refusal(path)
    assert message.startswith(f"{path}:3: ")


def test_a_character_after_a_closing_quote_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + good_rows(2) + '"carol@example.org"x,Carol,web\n')
    message = refusal(path)
    assert message.startswith(f"{path}:4: ")
    assert "closing quote" in message


def test_a_byte_that_is_not_utf8_is_refused_at_its_own_line_and_column(tmp_path: Path) -> None:
    # Far enough down that decoding in blocks would report an earlier line.
    before = (HEADER + good_rows(9_000)).encode()
    path = tmp_path / "a.csv"
    path.write_bytes(before + b"dan@example.org,Dan M\xfcller,web\n" + good_rows(100).encode())
    message = refusal(path)
    assert message.startswith(f"{path}:9002: ")
    assert "column 22" in message and "0xFC" in message and "UTF-8" in message


def test_a_huge_field_is_refused_at_the_line_where_its_row_starts(tmp_path: Path) -> None:
    huge = "x" * 200_000
    path = write(tmp_path, HEADER + good_rows(5) + f'bob@example.org,"{huge}",web\n'
                 + good_rows(2, start=5))
    message = refusal(path)
    assert message.startswith(f"{path}:7: ")
    assert f"{inputs.MAX_ROW_CHARACTERS:,} characters" in message


def test_a_huge_unquoted_line_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + good_rows(2) + "y" * 100_000 + "\n")
    assert refusal(path).startswith(f"{path}:4: ")


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_lines_are_counted_as_an_editor_counts_them(tmp_path: Path, end: str) -> None:
    text = end.join(["email,name", "ann@example.org,Ann", "", 'bob@example.org,"Bob',
                     'Smith"', "carol@,Carol", "dave@example.org,Dave"]) + end
    path = write(tmp_path, text)
    rows = list(read_attendees(path, "u1"))
    assert [(row.line, row.problem is None) for row in rows] == [
        (2, True), (4, True), (6, False), (7, True)]
    assert rows[1].invitee is not None and rows[1].invitee.name == f"Bob{end}Smith"


def test_a_row_spanning_lines_is_reported_at_the_line_where_it_starts(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + 'bad@,"Ann\nLee",web\n' + good_rows(1))
    rows = list(read_attendees(path, "u1"))
    assert [(row.line, row.problem is None) for row in rows] == [(2, False), (4, True)]


def test_more_rows_than_the_bound_are_refused_before_any_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inputs, "MAX_ROWS", 5)
    assert len(list(read_attendees(write(tmp_path, HEADER + good_rows(5)), "u1"))) == 5
    path = write(tmp_path, HEADER + good_rows(3) + "\n\n" + good_rows(3, start=3), "b.csv")
    message = refusal(path)
    assert message.startswith(f"{path}:9: ")
    assert "more than 5 attendee rows" in message


def test_the_header_must_be_the_first_line(tmp_path: Path) -> None:
    path = write(tmp_path, "\n" + HEADER + good_rows(1))
    assert refusal(path).startswith(f"{path}:1: ")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_an_attendee_list_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    assert "not a regular file" in refusal(tmp_path)
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    assert "not a regular file" in refusal(fifo)


def test_an_event_file_larger_than_a_message_may_be_is_refused_unread(tmp_path: Path) -> None:
    text = json.dumps(event_json("u1"))
    path = tmp_path / "e.json"
    path.write_text(text[:-1] + " " * MAX_BODY_BYTES + "}", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        read_event(path)
    assert str(caught.value) == f"{path}: larger than {MAX_BODY_BYTES:,} bytes"


def test_an_event_file_holds_each_key_to_the_rules_a_queue_message_is_held_to(
    tmp_path: Path,
) -> None:
    # A key named twice counts with its last value, and the value it replaces must be text.
    text = json.dumps(event_json("u1"))
    path = tmp_path / "e.json"
    path.write_text('{"summary": "\\ud800", ' + text[1:], encoding="utf-8")
    with pytest.raises(UsageError, match="lone surrogate"):
        read_event(path)


def test_send_help_states_the_list_rules_the_bounds_and_the_exit_statuses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cis.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["send", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needed in (f"{inputs.MAX_ROW_CHARACTERS:,} characters", f"{inputs.MAX_ROWS:,} rows",
                   f"at most {MAX_BODY_BYTES:,} bytes", "each at most once", "LF, CRLF or CR",
                   "3 the state file or the mail target cannot be written",
                   "130 or 143 stopped by SIGINT (Ctrl-C) or SIGTERM"):
        assert needed in text
