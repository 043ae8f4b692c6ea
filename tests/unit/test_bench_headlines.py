"""The bench summary: headlines survive the trip through JSON and the table shows verdicts."""

from __future__ import annotations

from pathlib import Path

from bench import all as bench_all
from bench.headlines import Headline, read, write


def test_headlines_written_by_a_bench_read_back_equal(tmp_path: Path) -> None:
    written = [
        Headline("render", "x floor", "1.7", "<= 10", True),
        Headline("aws_cost", "WCU per invite", "5.90", "<= 2.2", False),
        Headline("bulk_send", "invites/s", "2,000"),
    ]
    write(tmp_path / "h.json", written)
    assert read(tmp_path / "h.json") == written


def test_no_file_is_written_unless_asked(tmp_path: Path) -> None:
    write(None, [Headline("render", "x floor", "1.7")])
    assert list(tmp_path.iterdir()) == []


def test_summary_table_shows_each_verdict_and_each_bench_that_failed() -> None:
    text = bench_all.table(
        [Headline("render", "x floor", "1.7", "<= 10", True),
         Headline("aws_cost", "WCU per invite", "5.90", "<= 2.2", False),
         Headline("bulk_send", "invites/s", "2,000")],
        failed=["cold_start"],
    )
    rows = text.splitlines()[2:]
    assert rows == [
        "| render | x floor | 1.7 | <= 10 | met |",
        "| aws_cost | WCU per invite | 5.90 | <= 2.2 | NOT met |",
        "| bulk_send | invites/s | 2,000 |  |  |",
        "| cold_start | (did not run to the end) | | | FAILED |",
    ]
