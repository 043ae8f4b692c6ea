"""The bulk-send benchmark runs end to end on a tiny list and prints its table (no timing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench import bulk_send

TIMES = ("invites", "wall s", "cpu s", "invites/s", "us/invite", "x floor", "cpu x floor")


def table_rows(output: str) -> dict[str, dict[str, str]]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("run "))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def test_bench_sends_a_tiny_list_with_both_mailers_and_prints_positive_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = bulk_send.main(["--n", "200", "--workdir", str(tmp_path)])

    output = capsys.readouterr().out
    assert status == 0
    rows = table_rows(output)
    assert set(rows) == {"floor (csv + str.format) @200", "null @20", "null @200",
                         "outbox @20", "outbox @200"}
    for name, row in rows.items():
        assert all(number(row[figure]) > 0 for figure in TIMES), name
        if not name.startswith("floor"):
            assert number(row["py peak MiB"]) > 0, name
            assert number(row["maxrss MiB"]) > 0, name
            assert number(row["+maxrss MiB"]) >= 0, name
    assert "py peak 200/20 = " in output
    assert "py live at 20 " in output
    assert list(tmp_path.iterdir()) == []
