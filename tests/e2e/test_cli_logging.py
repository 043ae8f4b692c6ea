"""The `cis` command's log lines: readable text on stderr, addresses masked, LOG_LEVEL obeyed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_cli_send import EXAMPLES, cis_with

UID = "launch-2026@example.org"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("event.json", "attendees.csv"):
        (tmp_path / name).write_text((EXAMPLES / name).read_text("utf-8"), "utf-8")
    return tmp_path


def outcome_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("invite ")]


def test_verbose_prints_one_readable_line_per_outcome_with_addresses_masked(
    workdir: Path,
) -> None:
    result = cis_with({}, "-v", "send", "event.json", "attendees.csv", cwd=workdir)
    lines = outcome_lines(result.stderr)
    sent = [line for line in lines if line.startswith("invite sent: ")]
    assert len(sent) == 4, result.stderr
    assert any(f"event_uid={UID} attendee=a***@example.org sent_as=invitation delivery_id="
               in line for line in sent)
    # The outbox names each file after its attendee, by design; nothing else names them.
    outside_paths = re.sub(r'delivery_id="[^"]*"', "", result.stderr)
    assert "ann.lee@example.org" not in outside_paths
    assert "ann.lee@example.org~" in result.stderr
    assert all("{" not in line for line in lines)  # text, not a JSON document


def test_log_level_opens_the_outcome_lines_without_verbose(workdir: Path) -> None:
    quiet = cis_with({}, "send", "event.json", "attendees.csv", cwd=workdir)
    assert outcome_lines(quiet.stderr) == []
    again = cis_with({"LOG_LEVEL": "info"}, "send", "event.json", "attendees.csv", cwd=workdir)
    assert [line.split(":")[0] for line in outcome_lines(again.stderr)] == [
        "invite duplicate"] * 5


def test_verbose_wins_over_a_quieter_log_level(workdir: Path) -> None:
    result = cis_with({"LOG_LEVEL": "ERROR"}, "-v", "send", "event.json", "attendees.csv",
                      cwd=workdir)
    assert len(outcome_lines(result.stderr)) == 5


def test_a_malformed_log_level_is_a_usage_error(workdir: Path) -> None:
    result = cis_with({"LOG_LEVEL": "chatty"}, "send", "event.json", "attendees.csv",
                      cwd=workdir)
    assert result.returncode == 2
    assert "LOG_LEVEL='CHATTY' is not a log level" in result.stderr
    assert not (workdir / "outbox").exists()
