"""Two real `facekeep serve` processes on two ports, sharing one PostgreSQL and one KEK,
behave as one service: an enrolment on one is matchable on the other (by NOTIFY), and a
revocation or erasure on one is refused by the other for every match that starts after
the call returned, under concurrent match load."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support import wait_until

PG_URL = os.environ.get("FACEKEEP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def replicas(
    replica_pair: Callable[[dict[str, str]], list[Any]], pg_schemas: tuple[str, str]
) -> list[Any]:
    vault_url, keys_url = pg_schemas
    env = {
        **os.environ,
        "FACEKEEP_DATABASE_URL": vault_url,
        "FACEKEEP_KEYSTORE_URL": keys_url,
        "FACEKEEP_MATCH_RATE": "0",
        "FACEKEEP_RETENTION_INTERVAL_SECONDS": "0",
        # B polls only every 10 minutes: an update it learns within the test's bounds
        # came from NOTIFY.
        "FACEKEEP_FOLLOW_INTERVAL_SECONDS": "600",
    }
    return replica_pair(env)


@pytest.fixture
def pg_schemas(
    new_db_urls: Callable[[Path], Any], tmp_path: Path, pg_admin: Any
) -> tuple[str, str]:
    """Always PostgreSQL, whatever engine the rest of the suite runs on."""
    from sqlalchemy import create_engine, text

    if pg_admin is None:  # the suite runs on SQLite: make schemas here
        import secrets

        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                tag = secrets.token_hex(6)
                names = [f"fk_{tag}_vault", f"fk_{tag}_keys"]
                for name in names:
                    conn.execute(text(f'CREATE SCHEMA "{name}"'))
        except Exception as exc:
            pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {exc}")
        finally:
            engine.dispose()
        return tuple(f"{PG_URL}?options=-csearch_path%3D{n}" for n in names)  # type: ignore[return-value]
    urls = new_db_urls(tmp_path / "db")
    return urls.vault, urls.keys


@dataclass
class Load:
    """Kiosk clients matching one embedding in a loop on one replica."""

    url: str
    key: str
    embedding: list[float]
    results: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, threads: int = 8) -> list[threading.Thread]:
        def worker() -> None:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                while not self.stop.is_set():
                    started = time.monotonic()
                    r = client.post(
                        "/v1/match",
                        json={"embedding": self.embedding},
                        headers={"Authorization": f"Bearer {self.key}"},
                    )
                    self.results.append((started, r.status_code, r.json()))

        workers = [threading.Thread(target=worker) for _ in range(threads)]
        for w in workers:
            w.start()
        return workers


def _enrol(url: str, admin: str, photo: bytes, customer: str) -> dict[str, Any]:
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
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.faces
def test_two_replicas_agree_on_enrolment_revocation_and_erasure(
    replicas: list[Any],
    face_bytes: Callable[[str], bytes],
    served_embedding: Callable[[str], Any],
) -> None:
    a, b = replicas
    admin = a.admin
    auth = {"Authorization": f"Bearer {admin}"}
    assert (
        httpx.post(
            a.url + "/v1/venues", json={"id": "hcm-1", "name": "HCM 1"}, headers=auth
        ).status_code
        == 201
    )
    kiosk = httpx.post(
        b.url + "/v1/kiosks",
        json={"venue": "hcm-1", "purposes": ["checkin"], "allow_embeddings": True},
        headers=auth,
    ).json()["key"]
    probe = [float(x) for x in np.asarray(served_embedding("obama_2"))]

    def match_on_b() -> dict[str, Any]:
        r = httpx.post(
            b.url + "/v1/match",
            json={"embedding": probe},
            headers={"Authorization": f"Bearer {kiosk}"},
            timeout=10,
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    assert match_on_b() == {"match": False}

    # 1. Enrolled on A, matchable on B by NOTIFY (B polls only every 10 minutes). How fast
    # is not asserted here: a bound on waiting only (timing belongs to the benchmark).
    enrolled = _enrol(a.url, admin, face_bytes("obama_1.jpg"), "guest-obama")
    wait_until(
        lambda: match_on_b().get("customer") == "guest-obama",
        "B learns of A's enrolment by NOTIFY",
        timeout=30,
        interval=0.02,
    )

    # 2. Revoked on A while 8 kiosk clients hammer B: nothing that starts later matches.
    load = Load(b.url, kiosk, probe)
    workers = load.run()
    time.sleep(0.5)
    r = httpx.post(
        a.url + "/v1/me/revoke",
        json={},
        headers={"Authorization": f"Bearer {enrolled['access_code']}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    revoked_at = time.monotonic()
    time.sleep(1.0)
    load.stop.set()
    for w in workers:
        w.join()
    before = [res for start, _, res in load.results if start < revoked_at - 0.2]
    late = [res for start, _, res in load.results if start > revoked_at and res.get("match")]
    assert any(res.get("match") for res in before), "the load never matched before revocation"
    assert late == [], f"{len(late)} matches started after the revocation returned"
    assert all(status == 200 for _, status, _ in load.results)

    # 3. Re-enrolled (a new id), then erased on A under load on B.
    again = _enrol(a.url, admin, face_bytes("obama_1.jpg"), "guest-obama-2")
    wait_until(
        lambda: match_on_b().get("customer") == "guest-obama-2",
        "B learns of A's new enrolment by NOTIFY",
        timeout=30,
        interval=0.02,
    )
    load = Load(b.url, kiosk, probe)
    workers = load.run()
    time.sleep(0.5)
    r = httpx.delete(
        a.url + "/v1/me", headers={"Authorization": f"Bearer {again['access_code']}"}, timeout=10
    )
    assert r.status_code == 200, r.text
    erased_at = time.monotonic()
    time.sleep(1.0)
    load.stop.set()
    for w in workers:
        w.join()
    late = [res for start, _, res in load.results if start > erased_at and res.get("match")]
    assert late == []
    assert all(status == 200 for _, status, _ in load.results)
    assert match_on_b() == {"match": False}
