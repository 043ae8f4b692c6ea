"""The real `cis` executable on a temporary directory: send, send again, stats, render."""

from __future__ import annotations

import email
import json
import subprocess
import sys
from email import policy
from pathlib import Path

import pytest

from cis.adapters.outbox import OutboxMailer

EXAMPLES = Path(__file__).parents[2] / "examples"
CIS = Path(sys.executable).parent / "cis"
UID = "launch-2026@example.org"


def cis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cis_with({}, *args, cwd=cwd)


def cis_with(
    environment: dict[str, str], *args: str, cwd: Path,
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(CIS.parent), "HOME": str(cwd), "LANG": "C.UTF-8", **environment}
    return subprocess.run([str(CIS), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "event.json").write_text((EXAMPLES / "event.json").read_text("utf-8"), "utf-8")
    (tmp_path / "attendees.csv").write_text((EXAMPLES / "attendees.csv").read_text("utf-8"),
                                            "utf-8")
    return tmp_path


def eml_files(workdir: Path) -> list[Path]:
    return sorted((workdir / "outbox").rglob("*.eml"))


def first_message_to(workdir: Path, address: str, uid: str = UID) -> Path:
    """Where `cis send` writes the first message to `address`, named as the outbox names it."""
    return OutboxMailer(directory=workdir / "outbox").path_for(uid, address)


def test_first_run_writes_one_eml_per_valid_attendee_and_reports_invalid_rows(
    workdir: Path,
) -> None:
    result = cis("send", "event.json", "attendees.csv", cwd=workdir)
    assert result.returncode == 1, result.stderr
    assert "sent: 4, already invited: 1, rejected: 1" in result.stdout
    assert "line 5: rejected: email 'carol@'" in result.stdout
    assert "using the local sender invites@localhost" in result.stderr
    assert eml_files(workdir) == sorted(
        first_message_to(workdir, address)
        for address in ("ann.lee@example.org", "bob@example.net", "dave@example.com",
                        "erin@example.com"))
    assert [p.parent for p in eml_files(workdir)] == [workdir / "outbox" / UID] * 4
    assert [p.name.split("~")[0] for p in eml_files(workdir)] == [
        "ann.lee@example.org", "bob@example.net", "dave@example.com", "erin@example.com"]
    message = email.message_from_bytes(first_message_to(workdir, "bob@example.net")
                                       .read_bytes(), policy=policy.default)
    assert message["To"] == "Bob Müller <bob@example.net>"
    assert "METHOD:REQUEST" in next(p for p in message.walk()
                                    if p.get_content_type() == "text/calendar").get_content()


def test_second_run_sends_nothing_and_says_so(workdir: Path) -> None:
    cis("send", "event.json", "attendees.csv", cwd=workdir)
    before = {p: p.stat().st_mtime_ns for p in eml_files(workdir)}
    again = cis("send", "event.json", "attendees.csv", cwd=workdir)
    assert "Nothing new to send" in again.stdout
    assert "sent: 0" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in eml_files(workdir)} == before


def test_rows_added_later_are_the_only_ones_invited(workdir: Path) -> None:
    cis("send", "event.json", "attendees.csv", cwd=workdir)
    with (workdir / "attendees.csv").open("a", encoding="utf-8") as handle:
        handle.write("frank@example.org,Frank,web\n")
    result = cis("send", "event.json", "attendees.csv", cwd=workdir)
    assert "sent: 1, already invited: 5" in result.stdout
    assert len(eml_files(workdir)) == 5


def test_stats_json_agrees_with_the_files_on_disk(workdir: Path) -> None:
    cis("send", "event.json", "attendees.csv", cwd=workdir)
    stats = json.loads(cis("stats", UID, "--json", cwd=workdir).stdout)
    assert stats["invites_sent"] == len(eml_files(workdir)) == 4
    assert stats["rsvp"] == {"NEEDS-ACTION": 4}
    assert sum(stats["by_origin"].values()) == 4
    recounted = json.loads(cis("stats", UID, "--json", "--recount", cwd=workdir).stdout)
    assert recounted == stats
    table = cis("stats", UID, cwd=workdir)
    assert table.returncode == 0
    assert "invites sent" in table.stdout


def test_sender_and_rsvp_address_come_from_flags_or_environment(workdir: Path) -> None:
    result = cis("send", "event.json", "attendees.csv", "--sender",
                 "{} via Invites <invites@example.com>", "--rsvp-email", "rsvp@example.com",
                 cwd=workdir)
    assert "using the local" not in result.stderr
    raw = first_message_to(workdir, "erin@example.com").read_bytes()
    assert b'From: "Smith, John via Invites" <invites@example.com>' in raw


def test_attendees_whose_addresses_read_alike_or_are_the_longest_get_a_file_each(
    workdir: Path,
) -> None:
    longest = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.org"
    alike = ["ann!x@example.org", "ann#x@example.org", "ann_x@example.org"]
    rows = "".join(f"{address},Guest {n}\n" for n, address in enumerate([*alike, longest]))
    (workdir / "alike.csv").write_text("email,name\n" + rows, "utf-8")

    result = cis("send", "event.json", "alike.csv", cwd=workdir)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "sent: 4, already invited: 0, rejected: 0, failed: 0, pending: 0" in result.stdout
    assert len(eml_files(workdir)) == 4
    for address in [*alike, longest]:
        message = email.message_from_bytes(first_message_to(workdir, address).read_bytes(),
                                           policy=policy.default)
        assert message["To"].addresses[0].addr_spec == address


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("send", "missing.json", "attendees.csv"), "missing.json: no such file"),
        (("send", "event.json", "missing.csv"), "missing.csv: no such file"),
        (("send", "event.json", "bad-header.csv"), "header has no 'email' column"),
        (("send", "bad-event.json", "attendees.csv"), "event.dtend"),
        (("stats", UID, "--state", "nowhere.db"), "no state file"),
        (("render", "event.json", "--to", "not-an-address"), "--to:"),
        (("send", "event.json", "attendees.csv", "--smtp", "ftp://x"), "SMTP URL scheme"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_what_to_fix(
    workdir: Path, args: tuple[str, ...], message: str,
) -> None:
    (workdir / "bad-header.csv").write_text("mail,name\na@example.org,A\n", "utf-8")
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    event["dtend"] = "2026-12-01T09:00:00"
    (workdir / "bad-event.json").write_text(json.dumps(event), "utf-8")
    result = cis(*args, cwd=workdir)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [("render", "gap.json", "--to", "x@example.org"),
                                     ("send", "gap.json", "attendees.csv")])
def test_an_event_that_takes_no_time_once_the_clocks_skip_an_hour_is_refused(
    workdir: Path, command: tuple[str, ...],
) -> None:
    event = json.loads((workdir / "event.json").read_text("utf-8"))
    event.update(dtstart="2026-03-29T02:30:00", dtend="2026-03-29T03:00:00",
                 timezone="Europe/Berlin")
    (workdir / "gap.json").write_text(json.dumps(event), "utf-8")

    result = cis(*command, cwd=workdir)

    assert result.returncode == 2, result.stdout + result.stderr
    assert ("gap.json: event.dtend: dtend must be after dtstart: dtstart 2026-03-29T02:30:00 "
            "does not exist in Europe/Berlin") in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert eml_files(workdir) == []


def test_every_subcommand_has_help(workdir: Path) -> None:
    for command in ("send", "stats", "render", "enqueue", "worker"):
        result = cis(command, "--help", cwd=workdir)
        assert result.returncode == 0
        assert f"usage: cis {command}" in result.stdout


def test_render_prints_the_invitation_for_one_attendee(workdir: Path) -> None:
    result = subprocess.run([str(CIS), "render", "event.json", "--to", "x@example.org",
                             "--name", "X"], cwd=workdir, capture_output=True, timeout=60,
                            check=False)
    assert result.returncode == 0
    message = email.message_from_bytes(result.stdout, policy=policy.default)
    assert message["To"] == "X <x@example.org>"
    assert b"\r\n" in result.stdout
    assert not list((workdir).rglob("*.eml"))
