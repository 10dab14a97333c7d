"""Two replicas on a PRIVATE PostgreSQL (its own initdb and port, never the shared server)
that is restarted under them: each replica's change follower reconnects, catches up from
the audit log, says so in /readyz and the metrics, and learns enrolments made on the other
replica again, including one whose notification it missed."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.support import free_port, wait_until

METRICS_TOKEN = "metrics-" + "f" * 24


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster run as the ``postgres`` user in a temporary folder."""

    root: Path
    port: int
    bindir: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        command = [str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        self._ctl("-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def restart(self) -> None:
        # With the log file again: a postmaster holding our pipes would never let go.
        self._ctl("-m", "fast", "-l", str(self.root / "server.log"), "-w", "restart")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL's initdb is not installed (apt package postgresql)")
    bindir = Path(found[-1]).parent
    # Not under tmp_path: the postgres user must reach it (pytest's folders are 0700).
    root = Path(tempfile.mkdtemp(prefix="facekeep-pg-"))
    initdb = [str(bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres"]
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        initdb = ["runuser", "-u", "postgres", "--", *initdb]
    subprocess.run([*initdb, "--no-sync"], check=True, capture_output=True, timeout=120)
    pg = PrivatePostgres(root, free_port(), bindir)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def replicas(
    replica_pair: Callable[[dict[str, str]], list[Any]], private_pg: PrivatePostgres
) -> list[Any]:
    engine = create_engine(private_pg.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for name in ("fk_vault", "fk_keys"):
            conn.execute(text(f"CREATE SCHEMA {name}"))
    engine.dispose()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")},
        "FACEKEEP_DATABASE_URL": f"{private_pg.url}?options=-csearch_path%3Dfk_vault",
        "FACEKEEP_KEYSTORE_URL": f"{private_pg.url}?options=-csearch_path%3Dfk_keys",
        "FACEKEEP_MATCH_RATE": "0",
        "FACEKEEP_RETENTION_INTERVAL_SECONDS": "0",
        # Polling is slow: prompt updates after the restart must come from LISTEN again.
        "FACEKEEP_FOLLOW_INTERVAL_SECONDS": "20",
        "FACEKEEP_METRICS_TOKEN": METRICS_TOKEN,
    }
    return replica_pair(env)


def _enrol(url: str, admin: str, photo: bytes, customer: str) -> None:
    for _attempt in range(20):  # the first request after a restart may meet a dead pool
        r = httpx.post(
            url + "/v1/enrolments",
            headers={"Authorization": f"Bearer {admin}"},
            files=[("image", ("p.jpg", photo))],
            data={
                "customer": customer,
                "purposes": "checkin",
                "venues": "hcm-1",
                "notice_version": "v1",
                "lang": "vi",
            },
            timeout=30,
        )
        if r.status_code != 503:
            break
        time.sleep(0.5)
    assert r.status_code == 201, r.text


def _metric(url: str, name: str) -> float:
    r = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200, r.text
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no metric {name}")


@pytest.mark.faces
def test_the_follower_survives_a_postgresql_restart(
    replicas: list[Any],
    private_pg: PrivatePostgres,
    face_bytes: Callable[[str], bytes],
    served_embedding: Callable[[str], Any],
) -> None:
    a, b = replicas
    admin = a.admin
    auth = {"Authorization": f"Bearer {admin}"}
    venue = httpx.post(a.url + "/v1/venues", json={"id": "hcm-1", "name": "HCM 1"}, headers=auth)
    assert venue.status_code == 201, venue.text
    kiosk = httpx.post(
        b.url + "/v1/kiosks",
        json={"venue": "hcm-1", "purposes": ["checkin"], "allow_embeddings": True},
        headers=auth,
    ).json()["key"]

    def matched_on_b(photo: str) -> str | None:
        probe = [float(x) for x in np.asarray(served_embedding(photo))]
        try:
            r = httpx.post(
                b.url + "/v1/match",
                json={"embedding": probe},
                headers={"Authorization": f"Bearer {kiosk}"},
                timeout=10,
            )
        except httpx.HTTPError:
            return None
        return r.json().get("customer") if r.status_code == 200 else None

    _enrol(a.url, admin, face_bytes("obama_1.jpg"), "guest-obama")
    wait_until(lambda: matched_on_b("obama_2") == "guest-obama", "B learns of A's enrolment", 5)
    assert b.readyz()[1]["follower"]["state"] == "following"

    # The database restarts under both replicas: B is not ready while it is away...
    private_pg.restart()
    # ...and ready again once its follower has reconnected and caught up.
    wait_until(
        lambda: b.readyz()[0] == 200 and b.readyz()[1]["follower"]["reconnects"] >= 1,
        "B's follower reconnects",
    )
    assert b.readyz()[1]["follower"]["state"] == "following"
    assert _metric(b.url, "facekeep_follower_reconnects") >= 1
    assert _metric(b.url, "facekeep_follower_up") == 1

    # An enrolment on A after the restart reaches B through LISTEN again (B polls only
    # every 20 s).
    _enrol(a.url, admin, face_bytes("biden_1.jpg"), "guest-biden")
    wait_until(lambda: matched_on_b("biden_2") == "guest-biden", "B learns of it after restart", 10)

    # B's listening connection is cut and an enrolment lands before it is back: B misses
    # the notification and catches up from the audit log when it reconnects.
    engine = create_engine(private_pg.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        cut = conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
            )
        ).all()
    engine.dispose()
    assert len(cut) == 2  # one listener per replica
    _enrol(a.url, admin, face_bytes("kit_harington_1.jpg"), "guest-kit")
    wait_until(lambda: matched_on_b("kit_harington_2") == "guest-kit", "B catches up", 15)
    wait_until(lambda: b.readyz()[0] == 200, "B ready")
    status = b.readyz()[1]["follower"]
    assert status["state"] == "following" and status["reconnects"] >= 2, status
    for line in b.log.read_text().splitlines():  # every log line is JSON
        assert line.startswith("{") and line.endswith("}"), line
