"""Progress for long runs: a bar that redraws on a terminal, plain lines everywhere else."""

from __future__ import annotations

import time
from typing import TextIO


class Progress:
    """Reports how many rows were handled; never more than a few lines a second."""

    def __init__(self, stream: TextIO, *, label: str, every: int = 1000) -> None:
        self._stream = stream
        self._label = label
        self._every = every
        self._tty = stream.isatty()
        self._last_draw = 0.0
        self._started = time.monotonic()
        self.done = 0

    def advance(self, count: int = 1) -> None:
        """Count handled rows and redraw when it is worth it."""
        before = self.done
        self.done += count
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._stream.write(f"\r{self._label}: {self.done} {self._bar()}")
                self._stream.flush()
        elif before // self._every != self.done // self._every:
            self._stream.write(f"{self._label}: {self.done}\n")
            self._stream.flush()

    def finish(self) -> None:
        """End the bar's line so the summary starts on its own."""
        if self._tty:
            elapsed = time.monotonic() - self._started
            self._stream.write(f"\r{self._label}: {self.done} done in {elapsed:.1f}s\n")
            self._stream.flush()

    def _bar(self) -> str:
        rate = self.done / max(time.monotonic() - self._started, 1e-6)
        return f"({rate:,.0f}/s)"
