"""Clocks a test moves by hand, so nothing waits for real time to pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A wall clock the test moves by hand (timezone-aware UTC)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)``; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


class Ticker:
    """A monotonic clock in seconds (a stand-in for ``time.monotonic``) moved by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds``; returns the new reading."""
        self.now += seconds
        return self.now
