"""A real ``facekeep serve`` process on 127.0.0.1, and a lean HTTP/1.1 load generator.

The load generator runs in the benchmark's process on the same two cores as the server,
so it is kept cheap: requests are serialised once, each kiosk client holds one keep-alive
connection and sends its next request when the answer has arrived (closed loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any FACEKEEP_ variable of the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env.update(extra)
    return env


class Server:
    """``facekeep serve`` (this checkout's ``api.cli``) on a free port; ``startup_s`` is
    spawn-to-ready time."""

    def __init__(self, data_dir: Path, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self._log_path = log
        self._log = log.open("wb")
        env = clean_env(
            FACEKEEP_HOST=HOST, **{f"FACEKEEP_{k.upper()}": v for k, v in settings.items()}
        )
        self.started = time.perf_counter()
        # main() of an imported api.cli rather than ``-m api.cli``: the image workers are
        # spawned, and spawn runs a ``-m`` main module again in each worker (as
        # ``__mp_main__``), importing the command line a second time beside ``api.cli``.
        serve = "from api.cli import main; main()"
        command = [sys.executable, "-c", serve, "serve", "--data-dir", str(data_dir)]
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*command, "--port", str(self.port)],
            start_new_session=True,  # its image workers share its process group
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.startup_s = float("nan")
        self.ready: dict[str, Any] = {}

    def wait_ready(self, timeout: float = 600.0) -> float:
        """Poll /readyz every 20 ms; returns seconds from spawn to the first 200."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2)
                conn.request("GET", "/readyz")
                response = conn.getresponse()
                body = response.read()
                conn.close()
                if response.status == 200:
                    self.startup_s = time.perf_counter() - self.started
                    self.ready = json.loads(body)
                    return self.startup_s
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.log()[-3000:]}")

    def rss_bytes(self) -> int:
        """Resident memory of the server process."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def stop(self, *, crash: bool = False) -> None:
        """Stop (SIGTERM), or ``crash`` it (SIGKILL: only what was committed survives)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        # Its image worker processes (started with spawn) are in its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()


# -- requests ----------------------------------------------------------------------------


def request_bytes(
    method: str, path: str, token: str | None, body: bytes = b"", ctype: str = ""
) -> bytes:
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    if token:
        head.append(f"Authorization: Bearer {token}")
    if ctype:
        head.append(f"Content-Type: {ctype}")
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def json_body(value: Any) -> tuple[bytes, str]:
    return json.dumps(value, separators=(",", ":")).encode(), "application/json"


def multipart_body(
    fields: dict[str, str], files: Sequence[tuple[str, str, bytes]]
) -> tuple[bytes, str]:
    boundary = "facekeepbench" + os.urandom(8).hex()
    parts: list[bytes] = []
    for name, value in fields.items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for name, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


# -- the closed-loop load generator ------------------------------------------------------


@dataclass
class Load:
    """What a load run saw."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # connection errors
    answers: list[tuple[int, int, Any]] = field(default_factory=list)  # (client, request, JSON)
    seconds: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0) + self.statuses.get(201, 0)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in (200, 201)) + self.failures

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def ms(self, pct: float) -> float:
        return (
            float(np.percentile(np.array(self.latencies) * 1e3, pct))
            if self.latencies
            else float("nan")
        )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        if line[:15].lower() == "content-length:":
            length = int(line[15:].strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _client(
    client: int,
    port: int,
    requests: Sequence[bytes],
    start: int,
    step: int,
    deadline: float,
    limit: int | None,
    keep_answers: bool,
    out: Load,
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    i = start
    sent = 0
    try:
        while time.perf_counter() < deadline and (limit is None or sent < limit):
            index = i % len(requests)
            began = time.perf_counter()
            writer.write(requests[index])
            try:
                status, body = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError):
                out.failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
                continue
            out.latencies.append(time.perf_counter() - began)
            out.statuses[status] += 1
            if keep_answers:
                out.answers.append((client, index, json.loads(body) if body else None))
            i += step
            sent += 1
    finally:
        writer.close()


def run_load(
    port: int,
    per_client: Sequence[Sequence[bytes]],
    *,
    seconds: float | None = None,
    requests_per_client: int | None = None,
    keep_answers: bool = False,
) -> Load:
    """Closed loop: client ``c`` cycles through ``per_client[c]`` (offset so that
    clients send different requests) for ``seconds`` or ``requests_per_client``."""
    out = Load()
    clients = len(per_client)

    async def main() -> None:
        deadline = time.perf_counter() + (seconds if seconds is not None else 1e9)
        began = time.perf_counter()
        await asyncio.gather(
            *(
                _client(c, port, reqs, c, clients, deadline, requests_per_client, keep_answers, out)
                for c, reqs in enumerate(per_client)
            )
        )
        out.seconds = time.perf_counter() - began

    asyncio.run(main())
    return out


class Client:
    """A small synchronous keep-alive client for administrative calls."""

    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.token = token

    def call(
        self, method: str, path: str, body: Any = None, raw: tuple[bytes, str] | None = None
    ) -> tuple[int, Any, float]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data: bytes | None = None
        if raw is not None:
            data, headers["Content-Type"] = raw
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            began = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                if attempt == 2:
                    raise
        elapsed = time.perf_counter() - began
        return response.status, (json.loads(payload) if payload else None), elapsed

    def close(self) -> None:
        self.conn.close()
