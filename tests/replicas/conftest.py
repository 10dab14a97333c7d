"""Two real ``facekeep serve`` processes of one deployment (one PostgreSQL, one KEK, one
audit signing key), as the replica tests start them.

Helpers are handed out as fixtures (not imported from this module).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import launch_server, stop_process, wait_ready


@dataclass
class Replica:
    """One server: its address, its process and its stderr log."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    admin: str = ""

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """(status, body) of /readyz; (0, {}) when it does not answer."""
        try:
            r = httpx.get(self.url + "/readyz", timeout=10)
        except httpx.HTTPError:
            return 0, {}
        return r.status_code, r.json()


def run_cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, check=True
    )
    return dict(json.loads(out.stdout))


@pytest.fixture
def replica_pair(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], list[Replica]]]:
    """``replica_pair(env)`` -> two ready replicas of one deployment set up with ``env``
    (database URLs and settings): the first made by ``facekeep init``, the second
    sharing its KEK and audit signing key (as an HSM would). The first carries an admin
    key. Stopped at the end of the test."""
    started: list[Replica] = []

    def start(env: dict[str, str]) -> list[Replica]:
        first, second = tmp_path / "a", tmp_path / "b"
        run_cli({**env, "FACEKEEP_DATA_DIR": str(first)}, "init")
        second.mkdir(mode=0o700)
        shutil.copytree(first / "kek", second / "kek")
        shutil.copytree(first / "audit", second / "audit")
        for folder in (first, second):
            # Both start at once; each is waited for below.
            log = tmp_path / f"{folder.name}.log"
            launched = launch_server(
                None,
                env={**env, "FACEKEEP_DATA_DIR": str(folder)},
                log=log,
                command=(sys.executable, "-m", "api.cli"),
                ready=None,
            )
            started.append(Replica(launched.url, launched.proc, log))
        for replica in started:
            wait_ready(replica.process, replica.url + "/readyz", replica.log.read_text)
        started[0].admin = run_cli(
            {**env, "FACEKEEP_DATA_DIR": str(first)}, "keys", "create-admin"
        )["key"]
        return list(started)

    yield start
    for replica in started:
        replica.process.terminate()
    for replica in started:
        stop_process(replica.process)
