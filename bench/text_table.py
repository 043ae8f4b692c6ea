"""What the benches share in printing their figures: aligned columns, and the machine's CPUs."""

from __future__ import annotations

import os
from collections.abc import Sequence


def aligned(lines: Sequence[Sequence[str]]) -> str:
    """Plain text columns: the first (a name) left-aligned, the figures right-aligned."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines
    )


def cpus_available() -> int | None:
    """The CPUs this process may run on (its affinity where the system tells it)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
