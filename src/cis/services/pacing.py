"""Sending no faster than a rate: the share of the account's mail quota one consumer may use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["SendPacer"]


class SendPacer:
    """Spaces one service's sends at least `1 / rate` seconds apart, whichever thread sends.

    Evenly spaced sends, rather than bursts up to a per-second budget, keep the sum of many
    consumers, each paced to its share, within the account's rate at every moment: the mail
    system then never refuses a send for its rate, and nothing is handed back for it.
    """

    def __init__(
        self, rate: float, *, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Pace to `rate` sends per second.

        Raises:
            ValueError: `rate` is not a positive number.

        """
        if not rate > 0:
            raise ValueError(f"a send rate must be a positive number of sends per second, "
                             f"not {rate!r}")
        self.rate = rate
        self._interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until the next send may go, without booking it."""
        with self._lock:
            return max(0.0, self._next - self._clock())

    def wait(self) -> None:
        """Wait for the next free moment to send, and book it."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self._interval
        if at > now:
            self._sleep(at - now)
