"""Hostile attendee lists and event files given to the real `cis` command.

Nothing may be sent from a list that names a column twice or cannot be read to its end, the
refusal names the line, and a run that stops on bad input half way says what it had sent.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from cis.cli import local_commands, main
from cis.cli.inputs import AttendeeList, AttendeeRow, CsvChanged
from cis.domain.model import Invitee

CIS = Path(sys.executable).parent / "cis"
EXAMPLES = Path(__file__).parents[2] / "examples"
UID = "launch-2026@example.org"


def cis(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(CIS.parent), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([str(CIS), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "event.json").write_text((EXAMPLES / "event.json").read_text("utf-8"), "utf-8")
    return tmp_path


def nothing_sent(workdir: Path) -> bool:
    return not list(workdir.rglob("*.eml"))


def test_a_header_naming_email_twice_invites_nobody(workdir: Path) -> None:
    (workdir / "a.csv").write_text("email,name,email\nann@example.org,Ann,eve@example.org\n",
                                   "utf-8")
    result = cis("send", "event.json", "a.csv", cwd=workdir)
    assert result.returncode == 2
    assert "a.csv:1: header names column 'email' twice (columns 1 and 3)" in result.stderr
    assert "nothing was sent" in result.stderr
    assert nothing_sent(workdir)


def test_a_quote_left_open_invites_nobody_and_names_its_line(workdir: Path) -> None:
    rows = ["ann@example.org,Ann", 'bob@example.org,"Bob', "carol@example.org,Carol",
            "dave@example.org,Dave"]
    (workdir / "a.csv").write_text("email,name\n" + "\n".join(rows) + "\n", "utf-8")
    result = cis("send", "event.json", "a.csv", cwd=workdir)
    assert result.returncode == 2, result.stdout
    assert "a.csv:3: a quoted field starts here and is never closed" in result.stderr
    assert nothing_sent(workdir)


def test_enqueue_refuses_the_same_lists_before_it_talks_to_the_queue(workdir: Path) -> None:
    (workdir / "a.csv").write_text("email,Email\nann@example.org,eve@example.org\n", "utf-8")
    result = cis("enqueue", "event.json", "a.csv", "--queue-url",
                 "https://sqs.us-east-1.amazonaws.com/123456789012/q", cwd=workdir)
    assert result.returncode == 2
    assert "header names column 'email' twice" in result.stderr
    assert "nothing was enqueued" in result.stderr


@pytest.mark.parametrize("depth", [201, 995, 100_000])
@pytest.mark.parametrize("command", ["send", "update", "cancel", "remove", "render", "enqueue"])
def test_a_deeply_nested_event_file_is_refused_naming_it_with_no_traceback(
    workdir: Path, command: str, depth: int,
) -> None:
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    text = json.dumps(event)[:-1] + ', "location": ' + "[" * depth + "]" * depth + "}"
    (workdir / "deep.json").write_text(text, "utf-8")
    (workdir / "a.csv").write_text("email\nann@example.org\n", "utf-8")
    (workdir / "cis.db").touch()
    args = {
        "send": ["deep.json", "a.csv"], "update": ["deep.json"], "cancel": ["deep.json"],
        "remove": ["deep.json", "ann@example.org"], "render": ["deep.json", "--to", "a@b.org"],
        "enqueue": ["deep.json", "a.csv", "--queue-url", "https://sqs.us-east-1.amazonaws.com/1/q"],
    }[command]
    result = cis(command, *args, cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith(f"cis {command}: deep.json: ")
    assert "nested" in result.stderr or "nests" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_event_file_of_endless_bytes_is_refused_without_reading_it_all(
    workdir: Path,
) -> None:
    result = cis("render", "/dev/zero", "--to", "a@example.org", cwd=workdir)
    assert result.returncode == 2
    assert "/dev/zero: larger than 262,144 bytes" in result.stderr


def test_a_list_that_changes_under_a_run_stops_it_with_the_summary_of_what_was_sent(
    workdir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def rows() -> Iterator[AttendeeRow]:
        for n in range(150):
            yield AttendeeRow(n + 2, Invitee(f"guest{n}@example.org"))
        raise CsvChanged("a.csv:152: a quoted field starts here and is never closed (the "
                         "list changed after it was checked)")

    monkeypatch.setattr(local_commands, "read_attendees",
                        lambda path, uid: AttendeeList(200, rows()))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["send", str(workdir / "event.json"), "a.csv", "--state",
                       str(workdir / "cis.db"), "--outbox", str(workdir / "outbox")])
    assert status == 2
    assert "  sent: 150, already invited: 0, rejected: 0, failed: 0, pending: 0, " \
           "not started: 50" in out.getvalue()
    assert "Stopped before the end of the list" in out.getvalue()
    assert err.getvalue().endswith("cis send: a.csv:152: a quoted field starts here and is "
                                   "never closed (the list changed after it was checked)\n")
    assert len(list((workdir / "outbox").rglob("*.eml"))) == 150


def test_enqueue_of_a_list_that_changes_under_it_says_what_it_enqueued(
    workdir: Path, moto_server: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    from cis.cli import queue_commands

    def rows() -> Iterator[AttendeeRow]:
        for n in range(25):
            yield AttendeeRow(n + 2, Invitee(f"guest{n}@example.org"))
        raise CsvChanged("a.csv:27: a quoted field starts here and is never closed (the "
                         "list changed after it was checked)")

    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"cis-changed-{workdir.name}")["QueueUrl"]
    monkeypatch.setattr(queue_commands, "read_attendees",
                        lambda path, uid: AttendeeList(40, rows()))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(["enqueue", str(workdir / "event.json"), "a.csv", "--queue-url",
                       queue_url, "--endpoint-url", moto_server, "--region", "us-east-1"])
    assert status == 2
    assert out.getvalue().startswith("Enqueued 25 invite request(s)")
    assert err.getvalue().endswith("cis enqueue: a.csv:27: a quoted field starts here and is "
                                   "never closed (the list changed after it was checked)\n")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url,
                                          AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "25"
