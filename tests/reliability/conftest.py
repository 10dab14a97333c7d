"""Fixtures of the reliability and security tests: real deployments in temporary folders,
real ``facekeep serve`` processes on free 127.0.0.1 ports (their stdout and stderr kept in
files), the command line run as a subprocess, and the figures each test measures.

A deployment gets its databases from the root ``new_db_urls`` fixture, so the same tests
run on SQLite files (inside the data directory) and on PostgreSQL schemas; every server
and command of a deployment is given its URLs explicitly. Helpers are handed out as
fixtures (not imported from this module) so the tests work under any pytest import mode.

Figures (request counts, latencies, memory, load counts) are written as JSON under
``test-artifacts/reliability/`` for the README's "Reliability" section.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api import credentials
from api.runtime import Runtime, init_data_dir, open_runtime
from api.settings import Settings
from tests.support import free_port, wait_ready
from vault import SYSTEM

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "reliability"
ENGINE = os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite")
VENUE = "hcm-1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def base_env(**extra: str) -> dict[str, str]:
    """This process's environment without any FACEKEEP_ variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass(frozen=True)
class Keys:
    """Credentials made for a deployment: secrets and ids."""

    admin: str
    auditor: str
    kiosk: str
    kiosk_id: str
    admin_id: str
    auditor_id: str


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert lines, f"no output (exit {self.returncode}): {self.stderr[-2000:]}"
        value = json.loads(lines[-1])
        assert isinstance(value, dict)
        return value


class Server:
    """``python -m api.cli serve`` on a free port; stdout and stderr go to files."""

    def __init__(self, deployment: Deployment, name: str, env: dict[str, str]) -> None:
        self.deployment = deployment
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        folder = deployment.root / "logs"
        folder.mkdir(exist_ok=True)
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"
        self._out = self.out_path.open("wb")
        self._err = self.err_path.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "serve",
                "--data-dir",
                str(deployment.data_dir),
                "--port",
                str(self.port),
            ],
            env=env,
            cwd=deployment.root,
            stdout=self._out,
            stderr=self._err,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def logs(self) -> bytes:
        for handle in (self._out, self._err):
            if not handle.closed:
                handle.flush()
        return self.out_path.read_bytes() + self.err_path.read_bytes()

    def log_text(self) -> str:
        return self.logs().decode("utf-8", errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> Server:
        wait_ready(self.proc, self.url + "/readyz", self.log_text, timeout)
        return self

    def status(self) -> dict[str, int]:
        """Memory figures of the server process from /proc (kB)."""
        out: dict[str, int] = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS", "VmPeak", "VmSize", "Threads"):
                out[name] = int(value.split()[0])
        return out

    def wait_exit(self, timeout: float = 30.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()
            self._err.close()

    def stop(self) -> None:
        """Stop gracefully (SIGTERM), killing only if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        self._err.close()


@dataclass
class Deployment:
    """One facekeep deployment: a data directory, its two databases, a TMPDIR."""

    root: Path
    data_dir: Path
    vault_url: str
    keys_url: str
    tmpdir: Path
    servers: list[Server] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": self.data_dir,
            "database_url": self.vault_url,
            "keystore_url": self.keys_url,
            "retention_interval_seconds": 0,
        }
        values.update(overrides)
        return Settings(**values)

    def env(self, **extra: str) -> dict[str, str]:
        values = {
            "FACEKEEP_DATABASE_URL": self.vault_url,
            "FACEKEEP_KEYSTORE_URL": self.keys_url,
            "FACEKEEP_RETENTION_INTERVAL_SECONDS": "0",
            "TMPDIR": str(self.tmpdir),
        }
        values.update(extra)
        return base_env(**values)

    def init(self) -> Deployment:
        init_data_dir(self.settings())
        return self

    @contextlib.contextmanager
    def runtime(self, **kwargs: Any) -> Iterator[Runtime]:
        """The deployment opened in this process (as an operator's tool would)."""
        runtime = open_runtime(self.settings(), **kwargs)
        try:
            yield runtime
        finally:
            runtime.close()

    def keys(self, venue: str = VENUE, purposes: Sequence[str] = ("checkin",)) -> Keys:
        """An admin, an auditor and a kiosk key, made offline in the credential tables."""
        with self.runtime(start=False) as runtime:
            engine = runtime.vault.engine
            now = datetime.now(UTC)
            credentials.ensure_venue(engine, venue, venue, now, SYSTEM)
            made = {
                role: credentials.create_key(
                    engine,
                    role=role,
                    now=now,
                    actor=SYSTEM,
                    venue=venue if role == "kiosk" else None,
                    purposes=tuple(purposes) if role == "kiosk" else (),
                    label=f"reliability {role}",
                    # A trusted edge device's kiosk: the tests send embeddings as well.
                    allow_embeddings=role == "kiosk",
                )
                for role in ("admin", "auditor", "kiosk")
            }
        return Keys(
            admin=made["admin"][0],
            auditor=made["auditor"][0],
            kiosk=made["kiosk"][0],
            kiosk_id=made["kiosk"][1].key_id,
            admin_id=made["admin"][1].key_id,
            auditor_id=made["auditor"][1].key_id,
        )

    def serve(self, name: str = "server", *, wait: bool = True, **env: str) -> Server:
        server = Server(self, name, self.env(**env))
        self.servers.append(server)
        return server.wait_ready() if wait else server

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 180.0
    ) -> CliResult:
        """``python -m api.cli ARGS`` against this deployment (``--data-dir`` is added
        where a command takes it)."""
        argv = list(args)
        if argv[:2] != ["audit", "verify"]:
            argv += ["--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "api.cli", *argv],
            env=self.env(**(env or {})),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def cli_batch(
        self, *commands: Sequence[str], env: dict[str, str] | None = None, timeout: float = 180.0
    ) -> list[CliResult]:
        """Several commands through the CLI's own entry point (``api.cli.main``) in one
        interpreter, one after the other: the same code as separate ``facekeep``
        invocations, without paying the interpreter's start-up for each."""
        argvs = [
            [*c] if list(c[:2]) == ["audit", "verify"] else [*c, "--data-dir", str(self.data_dir)]
            for c in commands
        ]
        done = subprocess.run(
            [sys.executable, "-c", _BATCH, json.dumps(argvs)],
            env=self.env(**(env or {})),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results = json.loads(done.stdout.splitlines()[-1])
        return [CliResult(r["code"], r["stdout"], done.stderr) for r in results]

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


_BATCH = """
import contextlib, io, json, sys
from api.cli import main

results = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["facekeep", *argv]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    results.append({"code": code, "stdout": out.getvalue()})
print(json.dumps(results))
"""


@pytest.fixture(scope="session")
def make_deployment(
    tmp_path_factory: pytest.TempPathFactory, new_db_urls: Callable[[Path], Any]
) -> Iterator[Callable[..., Deployment]]:
    """``make_deployment(name, init=True)`` -> a fresh deployment (servers stopped at the
    end of the session, or earlier with ``stop_all``)."""
    made: list[Deployment] = []

    def make(name: str, *, init: bool = True) -> Deployment:
        root = tmp_path_factory.mktemp(name)
        data_dir = root / "data"
        urls = new_db_urls(data_dir)
        tmpdir = root / "tmp"
        tmpdir.mkdir()
        deployment = Deployment(root, data_dir, urls.vault, urls.keys, tmpdir)
        made.append(deployment)
        return deployment.init() if init else deployment

    yield make
    for deployment in made:
        deployment.stop_all()


@pytest.fixture(scope="session")
def figures() -> Callable[[str, dict[str, Any]], None]:
    """``figures(name, values)`` records measured figures in
    test-artifacts/reliability/NAME[-ENGINE].json (merged with what is there)."""

    def record(name: str, values: dict[str, Any]) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}-{ENGINE}.json"
        current: dict[str, Any] = {}
        if path.exists():
            with contextlib.suppress(ValueError):
                current = json.loads(path.read_text())
        current.update(values)
        current["engine"] = ENGINE
        current["recorded_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")

    return record


@pytest.fixture(scope="session")
def enrol_form() -> Callable[..., dict[str, Any]]:
    """``enrol_form(customer=..., purposes=..., venues=...)`` -> multipart data fields."""

    def form(
        customer: str | None = None,
        purposes: Sequence[str] = ("checkin",),
        venues: Sequence[str] = (VENUE,),
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "purposes": ",".join(purposes),
            "venues": ",".join(venues),
            "notice_version": "v1",
            "lang": "vi",
        }
        if customer is not None:
            data["customer"] = customer
        return data

    return form


@pytest.fixture(scope="session")
def auth() -> Callable[[str], dict[str, str]]:
    return bearer
