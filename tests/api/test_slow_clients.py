"""Against a real ``facekeep serve``: what a client can make the server hold.

- A large anonymous body is refused from its headers: the server's peak memory grows by
  at most a few MB (before: about a gigabyte, parsing 40 MB of JSON before looking at
  the credential) and /healthz answers meanwhile.
- Headers that come too slowly are cut off with 408, headers that are too large with
  431; a body that stalls is cut off with 408.
- X-Forwarded-For is believed only from FACEKEEP_TRUSTED_PROXIES: uvicorn believed it
  from 127.0.0.1 by default, so a local client could pose as any address and escape
  the guessing throttle.
- ``serve`` refuses the development KEK on a network address unless told otherwise.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.access import new_access_code
from tests.support import launch_server


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def exchange(port: int, raw: bytes, *, pause: float = 0.0, rest: bytes = b"") -> bytes:
    """Send ``raw``, wait ``pause`` seconds, send ``rest``, then read the answer (until
    the server closes, or 20 s)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(raw)
        if pause:
            time.sleep(pause)
        if rest:
            with contextlib.suppress(OSError):  # the server may have closed already
                s.sendall(rest)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


@pytest.fixture
def data_dir(tmp_path: Path, facekeep_bin: Path, subprocess_env: Any, db_urls: Any) -> Path:
    data = tmp_path / "data"
    done = subprocess.run(
        [str(facekeep_bin), "init", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=subprocess_env(FACEKEEP_DATABASE_URL=db_urls.vault, FACEKEEP_KEYSTORE_URL=db_urls.keys),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return data


@pytest.fixture
def db_env(db_urls: Any) -> dict[str, str]:
    return {"FACEKEEP_DATABASE_URL": db_urls.vault, "FACEKEEP_KEYSTORE_URL": db_urls.keys}


def test_a_large_anonymous_body_costs_the_server_nothing(serve, data_dir, db_env) -> None:
    server = serve(data_dir, **db_env)
    body = b'{"id": "v1", "name": "' + b"9" * (30 * 1024 * 1024) + b'"}'
    for _ in range(3):  # settle: the first requests import and allocate what they need
        httpx.get(server.url + "/healthz")
        httpx.post(
            server.url + "/v1/venues", content=b"{}", headers={"content-type": "application/json"}
        )
    before = peak_rss_kb(server.proc.pid)
    answers: list[int] = []

    def upload() -> None:
        try:
            r = httpx.post(
                server.url + "/v1/venues",
                content=body,
                headers={"content-type": "application/json", "authorization": "Bearer nope"},
                timeout=60,
            )
            answers.append(r.status_code)
        except httpx.HTTPError:
            answers.append(0)  # the server closed the connection after answering

    sender = threading.Thread(target=upload)
    sender.start()
    health = [httpx.get(server.url + "/healthz", timeout=5).status_code for _ in range(5)]
    sender.join(120)
    assert health == [200] * 5
    assert answers and answers[0] in (401, 0), answers
    grown_mb = (peak_rss_kb(server.proc.pid) - before) / 1024
    assert grown_mb < 8, f"the server's peak memory grew by {grown_mb:.1f} MB"


def test_slow_or_oversized_headers_and_stalled_bodies_are_cut_off(serve, data_dir, db_env) -> None:
    server = serve(
        data_dir,
        FACEKEEP_HEADER_TIMEOUT_SECONDS="1",
        FACEKEEP_BODY_IDLE_TIMEOUT_SECONDS="1",
        FACEKEEP_MAX_HEADER_BYTES="8192",
        **db_env,
    )
    # Half the headers, then silence: 408 and the connection closed.
    answer = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", pause=3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    # Headers over the limit: 431.
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20_000 + b"\r\n\r\n"
    assert exchange(server.port, big).startswith(b"HTTP/1.1 431")
    # Normal headers still work.
    ok = exchange(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200")
    # A body that stops coming: 408 (the gate's read timeout). The staff sign-in is a
    # public route with a body, so no credential is needed to try.
    head = (
        b"POST /v1/staff/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 500\r\n\r\n"
    )
    answer = exchange(server.port, head + b'{"staff": "a', pause=3, rest=b'", "pin": "1"}')
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer


def guesses(url: str, forwarded: list[str]) -> list[int]:
    return [
        httpx.get(
            url + "/v1/me",
            headers={"authorization": f"Bearer {new_access_code()}", "x-forwarded-for": ip},
        ).status_code
        for ip in forwarded
    ]


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(
    serve, data_dir, db_env
) -> None:
    spoofed = [f"10.9.{i}.1" for i in range(12)]
    env = {
        "FACEKEEP_CODE_FAILURES_PER_MINUTE": "3",
        "FACEKEEP_CODE_FAILURE_BURST": "3",
        "FACEKEEP_CODE_FAILURES_GLOBAL_PER_MINUTE": "0",
        **db_env,
    }
    server = serve(data_dir, **env)
    # From 127.0.0.1, which is not a trusted proxy here: one address, one budget.
    statuses = guesses(server.url, spoofed)
    assert statuses[:3] == [401] * 3 and set(statuses[3:]) == {429}, statuses
    server.stop()
    trusting = serve(data_dir, FACEKEEP_TRUSTED_PROXIES="127.0.0.1", **env)
    # Behind a trusted proxy each forwarded client has its own budget.
    assert guesses(trusting.url, spoofed) == [401] * len(spoofed)


def test_serve_refuses_the_local_kek_on_a_network_address(
    data_dir, facekeep_bin, subprocess_env, db_env
) -> None:
    env = subprocess_env(
        FACEKEEP_CONTROLLER="Công ty TNHH Karaoke Mẫu",
        FACEKEEP_PRIVACY_CONTACT="privacy@example.vn",
        **db_env,
    )
    done = subprocess.run(
        [str(facekeep_bin), "serve", "--data-dir", str(data_dir), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1
    error = json.loads(done.stdout.strip().splitlines()[-1])
    assert error["error"] == "local_kek_refused"
    assert "FACEKEEP_ALLOW_LOCAL_KEK=1" in error["message"]
    # Accepted when said so (the port then opens).
    with launch_server(
        data_dir,
        env={**env, "FACEKEEP_ALLOW_LOCAL_KEK": "1"},
        args=("--host", "0.0.0.0"),
        command=(str(facekeep_bin),),
        ready="/healthz",
        timeout=60.0,
    ):
        pass
