"""Delays between reconnect attempts: exponential, capped, partly random so clients don't return in step."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """``initial * factor**attempt`` seconds, at most ``max``; the fraction ``jitter`` of it is drawn at random."""

    initial: float = 0.5
    max: float = 10.0
    factor: float = 2.0
    jitter: float = 0.5

    def delay(self, attempt: int) -> float:
        base = min(self.max, self.initial * self.factor**attempt)
        return base * (1 - self.jitter) + random.random() * base * self.jitter
