"""The fan-out benchmark runs end to end on a small event and meets its own checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import fan_out
from bench.headlines import read


def test_bench_fans_out_a_small_event_over_several_invocations_without_losing_anyone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,000 attendees are 10 pages of about 0.17 modelled seconds each; a 10.5 s timeout
    # leaves 0.5 s past the 10 s reserve, so the fan-out must continue in later invocations.
    # (Peak memory is not checked here: at this size the fixed cost outweighs a page.)
    target = tmp_path / "headlines.json"
    status = fan_out.main(["--attendees", "1000", "--timeouts", "10.5", "900",
                           "--headlines", str(target)])

    output = capsys.readouterr().out
    assert status == 0
    found = {h.figure: h for h in read(target)}
    short = found["1,000 attendees, 10 s timeout: invocations (longest)"]
    assert int(short.value.split()[0]) > 1
    assert found["1,000 attendees, 900 s timeout: invocations (longest)"].value.startswith("1 ")
    assert found["messages handed on (10 s)"].value == "1,000"
    assert found["messages handed on (900 s)"].value == "1,000"
    checked = [h for h in found.values() if not h.figure.startswith("peak memory")]
    assert all(h.met for h in checked), [h for h in checked if not h.met]
    assert "SQS calls/attendee" in output
