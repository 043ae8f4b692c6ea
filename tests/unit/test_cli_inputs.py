"""Reading the command's inputs: CSV rows by line, event files by field."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from cis.cli.identity import resolve_identity
from cis.cli.inputs import UsageError, attendee_row, read_attendees, read_event
from tests.support import event_json


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_carry_their_line_numbers_and_problems(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "a.csv", "Email,Name,Origin\n"
                     "a@example.org,A,web\n"
                     "\n"
                     "bad@,B,\n"
                     '"c@example.org","Lee, C",api\n'
                     "d@example.org,D,not allowed!\n"
                     "e@example.org,E,web,extra\n")
    rows = list(read_attendees(csv_path, "u1"))
    assert [(r.line, r.invitee.email if r.invitee else None) for r in rows] == [
        (2, "a@example.org"), (4, None), (5, "c@example.org"), (6, None), (7, None)]
    assert rows[2].invitee is not None and rows[2].invitee.name == "Lee, C"
    assert rows[1].problem is not None and rows[1].problem.startswith("email 'bad@'")
    assert rows[3].problem is not None and rows[3].problem.startswith("origin")
    assert rows[4].problem == "more fields than the header has columns"


def test_header_problems_are_usage_errors_raised_before_any_row(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown column"):
        read_attendees(write(tmp_path, "x.csv", "email,phone\n"), "u1")
    with pytest.raises(UsageError, match="empty file"):
        read_attendees(write(tmp_path, "y.csv", ""), "u1")


def test_event_file_may_hold_the_event_or_a_whole_message(tmp_path: Path) -> None:
    plain = write(tmp_path, "e.json", json.dumps(event_json("u1")))
    wrapped = write(tmp_path, "m.json", json.dumps({"event": event_json("u1")}))
    assert read_event(plain) == read_event(wrapped)


def test_event_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    bad = write(tmp_path, "e.json", json.dumps(event_json("u1", timezone="Mars/Base")))
    with pytest.raises(UsageError, match=r"e\.json: event\.timezone: unknown IANA time zone"):
        read_event(bad)
    with pytest.raises(UsageError, match="not JSON"):
        read_event(write(tmp_path, "n.json", "{"))


def test_row_problems_name_the_column_and_say_what_is_expected(tmp_path: Path) -> None:
    csv_path = write(tmp_path, "a.csv", "email,name,origin\n"
                     ",Ann,web\n"
                     f"b@example.org,{'x' * 257},\n"
                     "c@example.org, ,web site\n")
    assert [row.problem for row in read_attendees(csv_path, "u1")] == [
        "email: is required",
        f"name '{'x' * 257}': must be at most 256 characters",
        "origin 'web site': must be 1-64 characters of A-Z a-z 0-9 _ . : -, starting with a "
        "letter or digit",
    ]


def test_rows_are_stripped_and_empty_cells_are_fields_not_given() -> None:
    row = attendee_row(9, {"email": " ann@example.org\t", "name": "  ", "origin": ""}, "u1")
    assert row.invitee is not None
    assert (row.invitee.email, row.invitee.name, row.invitee.origin) == (
        "ann@example.org", None, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (json.dumps({k: v for k, v in event_json("u1").items() if k != "summary"}),
         "event.summary: is required"),
        (json.dumps(event_json("u1", sequence="1")), "event.sequence: must be an integer"),
        (json.dumps(event_json("u1", colour="red")),
         "event.colour: is not a field of message format v1"),
        ("[]", "event: must be an object"),
        (json.dumps(event_json("u1", summary="\ud800")),
         "event: a string holds U+D800, a lone surrogate, which is not Unicode text"),
        (json.dumps(event_json("u1", location=json.loads("[" * 201 + "]" * 201))),
         "event: nests arrays and objects more than 200 deep"),
        ("[" * 100_000 + "]" * 100_000, "not JSON: nested too deeply"),
    ],
)
def test_event_file_problems_are_usage_errors_naming_the_field(
    tmp_path: Path, text: str, message: str,
) -> None:
    path = write(tmp_path, "e.json", text)
    with pytest.raises(UsageError) as caught:
        read_event(path)
    assert str(caught.value) == f"{path}: {message}"


def test_identity_defaults_are_local_and_announced_once() -> None:
    notices = io.StringIO()
    identity = resolve_identity(None, None, {}, notices)
    assert (identity.sender, identity.rsvp_email) == ("invites@localhost", "rsvp@localhost")
    assert notices.getvalue().count("\n") == 1


def test_identity_prefers_flags_then_environment() -> None:
    notices = io.StringIO()
    environ = {"SENDER": "env@example.org", "RSVP_EMAIL": "r@example.org"}
    assert resolve_identity("flag@example.org", None, environ, notices).sender == (
        "flag@example.org")
    assert resolve_identity(None, None, environ, notices).rsvp_email == "r@example.org"
    assert notices.getvalue() == ""
    with pytest.raises(UsageError, match="--sender"):
        resolve_identity("nobody", None, environ, notices)
