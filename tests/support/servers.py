"""Waiting for a server process to answer, and stopping it."""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def http_ready(url: str, timeout: float = 2.0) -> bool:
    """Whether ``url`` answers 200 now (any failure to connect or other status: False)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status) == 200
    except (OSError, urllib.error.URLError):
        return False


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    log: Callable[[], str],
    timeout: float = 90.0,
) -> None:
    """Poll ``url`` (for instance a server's ``/readyz``) until it answers 200.

    Fails with the tail of ``log()`` if the process exits first or ``timeout`` passes; a
    bound on waiting, not a timed assert."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited {process.returncode}:\n{log()[-4000:]}")
        if http_ready(url):
            return
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready after {timeout} s:\n{log()[-4000:]}")


def stop_process(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Terminate (SIGTERM) and wait; kill only if it does not exit within ``grace`` s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
