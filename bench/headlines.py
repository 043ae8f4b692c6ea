"""Each bench's verdicts as JSON, so that `bench/all.py` can print them as one table.

A bench given `--headlines FILE` writes there one entry per figure it has a target for (or
that a reader of the summary needs), next to its own full table on standard output.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Headline:
    """One figure of one bench: its value as printed, and its target if it has one."""

    bench: str
    figure: str
    value: str
    target: str = ""
    met: bool | None = None


def add_option(parser: argparse.ArgumentParser) -> None:
    """The `--headlines FILE` option every bench shares."""
    parser.add_argument("--headlines", type=Path, default=None, metavar="FILE",
                        help="also write the headline figures to FILE as JSON (bench/all.py)")


def write(path: Path | None, headlines: list[Headline]) -> None:
    """Write `headlines` to `path`, when the bench was asked for them."""
    if path is not None:
        path.write_text(json.dumps([asdict(h) for h in headlines], indent=2) + "\n")


def read(path: Path) -> list[Headline]:
    """The headlines one bench wrote."""
    return [Headline(**entry) for entry in json.loads(path.read_text())]
