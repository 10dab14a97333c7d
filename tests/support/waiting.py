"""Polling for a condition instead of sleeping a guessed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    check: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.1
) -> None:
    """Poll ``check`` every ``interval`` s until it holds; fail naming ``what`` after
    ``timeout``. (A bound on waiting, not a timed assert: how fast it holds is not checked.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what}")
