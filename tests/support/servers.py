"""Launching ``facekeep serve``, waiting for a server process to answer, and stopping it."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from tests.support.ports import free_port

#: The ``facekeep`` console script of this environment.
FACEKEEP = Path(sys.executable).parent / "facekeep"


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


class Server:
    """A launched ``facekeep serve`` process: ``url``, ``port``, ``proc``; a context manager
    that stops it on exit."""

    def __init__(
        self, proc: subprocess.Popen[bytes], port: int, log_path: Path | None, grace: float = 15.0
    ) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.grace = grace

    def log(self) -> str:
        """What the server wrote so far ("" when its output was discarded)."""
        if self.log_path is None:
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, path: str = "/readyz", timeout: float = 90.0) -> Server:
        """Wait until ``path`` answers 200 (fails with the log if the process exits)."""
        wait_ready(self.proc, self.url + path, self.log, timeout)
        return self

    def wait_exit(self, timeout: float = 60.0) -> int:
        """Wait for the process to end by itself; its exit status."""
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM and wait; kill if it does not exit within ``grace`` s."""
        stop_process(self.proc, self.grace)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def launch_server(
    data_dir: Path | None,
    *,
    env: Mapping[str, str],
    log: Path | None = None,
    port: int | None = None,
    args: Sequence[str] = (),
    command: Sequence[str] = (str(FACEKEEP),),
    ready: str | None = "/readyz",
    timeout: float = 90.0,
    cwd: Path | None = None,
    grace: float = 15.0,
) -> Server:
    """Start ``<command> serve [--data-dir data_dir] --port port *args`` with exactly ``env``.

    stdout and stderr go to ``log`` (discarded if None); ``port`` defaults to a free one;
    ``command`` is the ``facekeep`` console script of this environment unless given (for
    instance another venv's); ``cwd`` its working directory. Waits until ``ready`` answers
    200 unless ``ready`` is None; ``grace`` is how long ``stop()`` waits before killing."""
    port = free_port() if port is None else port
    argv = [*command, "serve"]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    argv += ["--port", str(port), *args]
    sink: IO[bytes] | int = subprocess.DEVNULL if log is None else log.open("wb")
    try:
        proc = subprocess.Popen(argv, env=dict(env), cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    finally:
        # The child holds its own descriptor; the file is read by path.
        if not isinstance(sink, int):
            sink.close()
    server = Server(proc, port, log, grace)
    if ready is not None:
        try:
            server.wait_ready(ready, timeout)
        except BaseException:
            server.stop()
            raise
    return server
