"""How the flows retry a store that pushed back: briefly, with jitter, where it happened."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: a random wait up to `first * 2**n`, at most `cap`.

    Consumers that collided (two DynamoDB transactions on one item, throttled together) would
    collide again if they waited alike; a random wait spreads them apart, and a small `first`
    keeps a conflict that passes in milliseconds from costing more than that.
    """

    first: float = 0.02
    cap: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before retry number `attempt` (0 for the first retry)."""
        return rng.uniform(0.0, min(self.cap, self.first * 2 ** attempt))
