"""Failing safely when the database fails: a locked, unreachable or full database answers
``503 database_unavailable`` with ``Retry-After`` after a short lock wait (request paths
wait ``FACEKEEP_DB_LOCK_TIMEOUT_SECONDS``, 2 s; before this a locked SQLite held the
request for 30 s and then answered 500), and /readyz says "not ready" when the vault
cannot commit a write, from a probe that runs at most once a second."""

from __future__ import annotations

import socket
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import event, text

from api.readiness import WriteProbe
from dbkit import make_engine
from tests.conftest import ENGINE

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

VENUE = "hcm-1"


def raw_client(svc: Any) -> TestClient:
    """A client of the running service without the fixture's fail-on-5xx hook (not
    entered: the service's own client already ran the app's startup)."""
    return TestClient(svc.app, raise_server_exceptions=False)


def unavailable(r: Any) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "database_unavailable"
    assert r.headers["retry-after"] == "2"
    assert r.headers["x-request-id"]


@contextmanager
def locked(svc: Any, customer_id: str) -> Iterator[None]:
    """Another process holds the vault's write lock (SQLite) or the customer's row
    (PostgreSQL) for as long as the block runs."""
    if ENGINE == "sqlite":
        conn = sqlite3.connect(svc.root / "vault.db", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = make_engine(svc.settings.vault_url())
    with engine.connect() as conn, conn.begin():
        conn.execute(
            text("SELECT 1 FROM customers WHERE customer_id = :c FOR UPDATE"), {"c": customer_id}
        )
        yield
    engine.dispose()


def test_a_locked_database_answers_503_at_once(make_service, face_embedding) -> None:
    svc = make_service(match_rate=0)
    svc.venue(VENUE)
    client = raw_client(svc)
    guest = svc.enrol_vectors([face_embedding("obama_1")], venues=(VENUE,))
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    vector = [float(x) for x in face_embedding("obama_2")]
    with locked(svc, guest.id):
        unavailable(
            client.post(f"/v1/customers/{guest.id}/revoke", json={}, headers=svc.admin.headers)
        )
        unavailable(client.post(f"/v1/customers/{guest.id}/access-code", headers=svc.admin.headers))
        if ENGINE == "sqlite":  # the whole database is locked there: matches wait too
            unavailable(client.post("/v1/match", json={"embedding": vector}, headers=kiosk.headers))
    # Nothing was half done; once the lock is gone the same calls succeed.
    r = client.post("/v1/match", json={"embedding": vector}, headers=kiosk.headers)
    assert r.status_code == 200 and r.json()["customer"] == guest.id
    r = client.post(f"/v1/customers/{guest.id}/revoke", json={}, headers=svc.admin.headers)
    assert r.status_code == 200


def test_readyz_is_not_ready_while_the_vault_cannot_commit(make_service) -> None:
    svc = make_service()
    client = raw_client(svc)
    guest = svc.enrol_vectors([[0.05] * 128], venues=(VENUE,))
    assert client.get("/readyz").status_code == 200
    probe = svc.app.state.facekeep.readiness
    probe._answer = None  # forget the cached answer (the next one is at most 1 s old)
    if ENGINE == "sqlite":
        with locked(svc, guest.id):
            r = client.get("/readyz")
    else:
        with full_postgres(svc, "health_probes"):
            r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["code"] == "not_ready"
    probe._answer = None
    assert client.get("/readyz").status_code == 200


def test_the_write_probe_runs_at_most_once_per_second(make_service) -> None:
    svc = make_service()
    ticks = [100.0]
    probe = WriteProbe(svc.engine, svc.runtime.vault.now, clock=lambda: ticks[0])
    writes: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "health_probes" in statement and not statement.startswith("SELECT"):
            writes.append(statement)

    event.listen(svc.engine, "before_cursor_execute", count)
    try:
        assert probe.ready() and probe.ready() and probe.ready()
        first = len(writes)
        assert first >= 1
        ticks[0] += 0.5
        assert probe.ready() and len(writes) == first  # cached
        ticks[0] += 0.6
        assert probe.ready() and len(writes) > first  # probed again
    finally:
        event.remove(svc.engine, "before_cursor_execute", count)


@contextmanager
def full_postgres(svc: Any, table: str) -> Iterator[None]:
    """Every insert into ``table`` fails as a full disk does (SQLSTATE 53100)."""
    engine = make_engine(svc.settings.vault_url())
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION fk_disk_full() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; "
                "END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER fk_disk_full BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fk_disk_full()"
            )
        )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER fk_disk_full ON {table}"))
            conn.execute(text("DROP FUNCTION fk_disk_full()"))
        engine.dispose()


@contextmanager
def full_sqlite(svc: Any) -> Iterator[None]:
    """The vault file may not grow by a single page, as on a full disk."""

    def cap(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(svc.engine, "connect", cap)
    svc.engine.dispose()
    try:
        yield
    finally:
        event.remove(svc.engine, "connect", cap)
        svc.engine.dispose()


def test_a_full_database_answers_503(make_service) -> None:
    svc = make_service()
    client = raw_client(svc)
    full = full_sqlite(svc) if ENGINE == "sqlite" else full_postgres(svc, "audit_events")
    statuses = []
    with full:
        for n in range(400):  # until the free space left in the file's pages runs out
            r = client.post(
                "/v1/venues", json={"id": f"v{n}", "name": "x" * 200}, headers=svc.admin.headers
            )
            statuses.append(r.status_code)
            if r.status_code != 201:
                break
    unavailable(r)
    assert set(statuses[:-1]) <= {201}
    # The venue whose write failed does not exist (the transaction rolled back).
    names = client.get("/v1/venues", headers=svc.admin.headers).json()["venues"]
    assert f"v{len(statuses) - 1}" not in {v["id"] for v in names}


class Relay:
    """A TCP relay in front of PostgreSQL that the test can cut, as a network would."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.open:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.open = False
        with suppress(OSError):  # wakes the accepting thread (close alone would not)
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


@pytest.mark.skipif(ENGINE != "postgresql", reason="an unreachable server: PostgreSQL only")
def test_an_unreachable_database_answers_503(open_service, embedder, tmp_path, db_urls) -> None:
    from tests.api.conftest import Service

    parts = urlsplit(db_urls.vault)
    relay = Relay(parts.hostname or "127.0.0.1", parts.port or 5432)
    netloc = f"{parts.username}@127.0.0.1:{relay.port}"
    through = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    urls = type(db_urls)(through, db_urls.keys)
    svc = Service(tmp_path / "data", embedder, urls)
    try:
        client = raw_client(svc)
        assert client.get("/v1/venues", headers=svc.admin.headers).status_code == 200
        relay.cut()
        unavailable(client.get("/v1/venues", headers=svc.admin.headers))
        unavailable(
            client.post("/v1/venues", json={"id": "v", "name": "v"}, headers=svc.admin.headers)
        )
        assert client.get("/readyz").status_code == 503
    finally:
        svc.close()
