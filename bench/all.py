"""Run every bench, each in its own process, then print their verdicts as one table.

Each bench prints its full table as it goes; the summary at the end lists every figure that
has a target, measured as a ratio against a baseline run in the same process as the figure.
Exit status 1 when a bench failed to run, not when a target is missed: the table says that.

Run from the repository root: `.venv/bin/python bench/all.py` (what `make bench` does; about
ten minutes on 2 cores, half of it bench/contention.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from headlines import Headline, read

BENCH = Path(__file__).resolve().parent
RUNS: tuple[tuple[str, list[str]], ...] = (
    ("render", ["render.py"]),
    ("render_series", ["render.py", "--names", "mixed", "--event",
                       str(BENCH.parent / "examples" / "event-series.json")]),
    ("aws_cost", ["aws_cost.py"]),
    ("cold_start", ["cold_start.py"]),
    ("bulk_send", ["bulk_send.py", "--n", "100000", "--small", "10000", "--mailer", "null",
                   "--no-trace"]),
    ("contention", ["contention.py"]),
    ("fan_out", ["fan_out.py"]),
)


def run(name: str, command: list[str], folder: Path) -> list[Headline] | None:
    """Run one bench with its output passed through; its headlines, or None if it failed."""
    target = folder / f"{name}.json"
    print(f"==> {name}: {' '.join(command)}", flush=True)
    started = time.perf_counter()
    finished = subprocess.run([sys.executable, str(BENCH / command[0]), *command[1:],
                               "--headlines", str(target)], check=False)
    print(f"==> {name}: exit {finished.returncode} after {time.perf_counter() - started:,.0f}s",
          flush=True)
    print(flush=True)
    if finished.returncode != 0 or not target.exists():
        return None
    return read(target)


def table(headlines: list[Headline], failed: list[str]) -> str:
    """One Markdown table: bench, figure, value, target, verdict."""
    lines = ["| bench | figure | value | target | verdict |", "|---|---|---:|---|---|"]
    for h in headlines:
        verdict = "" if h.met is None else ("met" if h.met else "NOT met")
        lines.append(f"| {h.bench} | {h.figure} | {h.value} | {h.target} | {verdict} |")
    lines.extend(f"| {name} | (did not run to the end) | | | FAILED |" for name in failed)
    return "\n".join(lines)


def main() -> int:
    headlines: list[Headline] = []
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cis-bench-") as tmp:
        for name, command in RUNS:
            got = run(name, command, Path(tmp))
            if got is None:
                failed.append(name)
            else:
                headlines.extend(got)
    print("cis benchmarks: every ratio is against a baseline run in the same process")
    print()
    print(table(headlines, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
