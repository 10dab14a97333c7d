"""In-process token buckets, one per client key: ``429`` with ``Retry-After`` when empty."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class RateLimiter:
    """``rate`` tokens per second up to ``burst``; ``take`` returns seconds to wait or 0.

    ``clock`` (seconds, monotonic) is a public attribute so a test can hand in a clock it
    moves by hand instead of sleeping until a bucket refills."""

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend ``cost`` tokens of ``key``; returns 0 if allowed, else seconds until allowed."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens = self._refilled(key, now)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:
                self._buckets.clear()  # bound memory under a flood of distinct keys
            return (cost - tokens) / self.rate

    def blocked(self, key: str) -> float:
        """Seconds until ``key`` has a whole token again (0 if it has one now)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens = self._refilled(key, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def _refilled(self, key: str, now: float) -> float:
        """``key``'s tokens at ``now``: what it had, plus the refill since, up to the burst
        (a key never seen has a full bucket). The caller holds the lock."""
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)


def retry_after(seconds: float) -> str:
    """The ``Retry-After`` header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(seconds)))
