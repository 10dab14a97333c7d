"""What a guest does on their own page and its entry in the register of data-subject
requests are one transaction, on the engine under test: a withdrawal, an objection, a
photo retake and an erasure commit together with their register entry or not at all.

The fault is real: a trigger on the register's table makes the database refuse the entry
inside the action's transaction, and the action must then not have happened (consent
still active, templates unchanged, customer not erased, nothing in the audit log). With
the trigger gone, the same request does both. And a ``facekeep serve`` killed (SIGKILL)
right after the action commits, where the register entry used to be written in a second
transaction, keeps the entry after its restart."""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError

from api import credentials
from api.app import create_app
from api.compliance.requests import ALREADY_ERASED, carry_out
from api.operations import enroll_vectors
from api.runtime import init_data_dir, open_runtime
from api.settings import Settings
from tests.support import launch_server, wait_until
from tests.support.consents import consent_request
from tests.support.faces import FakeEmbedder
from vault import SYSTEM, Actor, ConsentRequest, InvalidRequest, read_events
from vault.audit import AUDIT_LOCK
from vault.models import subject_requests
from vault.requests import RequestClosed, RequestRegister

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

VENUE = "hoa-sen-1"
ERASED = "erased: data key destroyed (crypto-shred)"


def _vector(seed: int) -> Any:
    vector = np.random.default_rng(seed).normal(size=128)
    return vector / np.linalg.norm(vector)


def _png(seed: int) -> bytes:
    """A small real PNG, distinct per seed (the fake embedder knows it by its bytes)."""
    pixels = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


RETAKE = _png(1)  # a new photo of the guest: the fake embedder answers their own vector


def _consent() -> ConsentRequest:
    return consent_request(
        VENUE,
        "checkin",
        "marketing",
        notice_text="Thông báo thử nghiệm",
        notice_version="v2",
        lang="vi",
    )


def _fake() -> FakeEmbedder:
    fake = FakeEmbedder()
    fake.add(RETAKE, lambda: _vector(0))
    return fake


def _prepare(data_dir: Path) -> tuple[str, str]:
    """A deployment in ``data_dir`` with one guest (the vector of seed 0) who has an
    access code: (customer id, access code)."""
    settings = Settings(data_dir=data_dir)
    init_data_dir(settings)
    runtime = open_runtime(settings, embedder=_fake())
    try:
        vault = runtime.vault
        credentials.ensure_venue(vault.engine, VENUE, "Karaoke Hoa Sen 1", vault.now(), SYSTEM)
        result = enroll_vectors(runtime, [_vector(0)], _consent(), actor=SYSTEM)
    finally:
        runtime.close()
    return result.enrolment.customer_id, result.access_code


@dataclass
class Site:
    """A running app (in-process) with one guest, and the vault it serves."""

    client: TestClient
    runtime: Any
    customer: str
    code: str

    @property
    def engine(self) -> Engine:
        return self.runtime.vault.engine  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.code}"}

    def state(self) -> dict[str, Any]:
        """What an action could change: the customer's status, their consents' purposes,
        their templates and key, the audit log and the register."""
        view = self.runtime.vault.show(self.customer)
        return {
            "status": view.status,
            "key_state": view.key_state,
            "templates": sorted(t.template_id for t in view.templates),
            "purposes": sorted(
                (p.purpose, p.revoked_at is None) for c in view.consents for p in c.purposes
            ),
            "events": [e.action for e in read_events(self.engine)],
            "register": RequestRegister(self.engine).find(customer_id=self.customer),
        }


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    data_dir = tmp_path / "data"
    customer, code = _prepare(data_dir)
    app = create_app(Settings(data_dir=data_dir), embedder=_fake())
    # No hook failing on 5xx: a refused register entry is a server error by design.
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, app.state.facekeep.runtime, customer, code)


def refuse_register(
    engine: Engine, change: str = "INSERT", table: str = "subject_requests"
) -> None:
    """Make the database refuse every new register entry (``INSERT``) or every change to
    one (``UPDATE``), or such changes to another ``table``: a trigger that raises."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_change BEFORE {change} ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'the register refuses'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'the register refuses'; END $$"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_change BEFORE {change} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_change()"
                )
            )


def accept_register(engine: Engine, table: str = "subject_requests") -> None:
    """Drop the trigger of :func:`refuse_register`."""
    with engine.begin() as conn:
        on = "" if conn.dialect.name == "sqlite" else f" ON {table}"
        conn.execute(text(f"DROP TRIGGER refuse_change{on}"))
        if conn.dialect.name != "sqlite":
            conn.execute(text("DROP FUNCTION refuse_change()"))


Action = Callable[[Site], httpx.Response]

ACTIONS: dict[str, Action] = {
    "withdrawal": lambda s: s.client.post(
        "/v1/me/revoke", json={"purpose": "checkin"}, headers=s.headers
    ),
    "objection": lambda s: s.client.post(
        "/v1/me/objections", json={"purpose": "marketing"}, headers=s.headers
    ),
    "correction": lambda s: s.client.put(
        "/v1/me/templates",
        files=[("image", ("retake.png", RETAKE, "image/png"))],
        headers=s.headers,
    ),
    "erasure": lambda s: s.client.delete("/v1/me", headers=s.headers),
}

# What each action records: (purpose, outcome) of its register entry, and the audit
# event of the action itself.
RECORDED = {
    "withdrawal": ("checkin", "withdrawn: checkin", "consent.revoke"),
    "objection": ("marketing", "objection: marketing", "consent.revoke"),
    "correction": (None, "photos retaken: 1 templates", "templates.replace"),
    "erasure": (None, ERASED, "erase.begin"),
}


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_a_refused_register_entry_undoes_the_action(site: Site, kind: str) -> None:
    before = site.state()
    assert before["status"] == "active" and before["key_state"] == "active"
    assert before["register"] == []
    refuse_register(site.engine)
    r = ACTIONS[kind](site)
    assert r.status_code >= 500, r.text
    assert "the register refuses" not in r.text  # no database detail in an answer
    # Nothing happened: same consents, templates, key and status, nothing logged; the
    # access code still opens the guest's page.
    assert site.state() == before
    assert site.client.get("/v1/me", headers=site.headers).status_code == 200
    # The guest still matches where they consented (the index was not touched either).
    hit = site.runtime.vault.match(_vector(0), purpose="checkin", venue=VENUE, actor=SYSTEM)
    assert hit is not None and hit.customer_id == site.customer


@pytest.mark.parametrize("kind", list(ACTIONS))
def test_the_action_and_its_register_entry_happen_together(site: Site, kind: str) -> None:
    before = site.state()
    refuse_register(site.engine)
    assert ACTIONS[kind](site).status_code >= 500
    accept_register(site.engine)
    r = ACTIONS[kind](site)
    assert r.status_code == 200, r.text
    after = site.state()
    purpose, outcome, action = RECORDED[kind]
    [entry] = after["register"]
    assert (entry.kind, entry.channel, entry.status) == (kind, "self-service", "completed")
    assert (entry.purpose, entry.outcome, entry.customer_id) == (purpose, outcome, site.customer)
    assert entry.received_at == entry.acknowledged_at == entry.completed_at
    assert entry.recorded_by == f"customer:{site.customer}"
    new = after["events"][len(before["events"]) :]
    assert action in new and new.count("request.open") == new.count("request.complete") == 1
    if kind == "withdrawal":
        assert ("checkin", False) in after["purposes"] and ("marketing", True) in after["purposes"]
    elif kind == "objection":
        assert ("marketing", False) in after["purposes"] and ("checkin", True) in after["purposes"]
    elif kind == "correction":
        assert len(after["templates"]) == 1 and after["templates"] != before["templates"]
    else:
        assert (after["status"], after["key_state"]) == ("erased", "destroyed")
        assert all(not active for _, active in after["purposes"])
        # Erasing again changes nothing and records nothing more.
        assert site.runtime.vault.erase(site.customer, reason="again", actor=SYSTEM).already_erased
        assert len(site.state()["register"]) == 1


@pytest.mark.parametrize(
    ("point", "kind", "operate"),
    [
        (
            "revoke.after_commit",
            "withdrawal",
            lambda c, h: c.post("/v1/me/revoke", json={"purpose": "checkin"}, headers=h),
        ),
        ("erase.after_begin", "erasure", lambda c, h: c.delete("/v1/me", headers=h)),
    ],
)
def test_a_crash_right_after_the_action_commits_keeps_its_register_entry(
    tmp_path: Path, point: str, kind: str, operate: Callable[..., httpx.Response]
) -> None:
    data_dir = tmp_path / "data"
    customer, code = _prepare(data_dir)
    env = {k: v for k, v in os.environ.items() if k != "FACEKEEP_DATA_DIR"}
    env["FACEKEEP_RETENTION_INTERVAL_SECONDS"] = "0"
    server = launch_server(data_dir, env={**env, "FACEKEEP_FAULT_POINT": point})
    with server, httpx.Client(base_url=server.url, timeout=120) as client:
        with pytest.raises(httpx.TransportError):
            operate(client, {"Authorization": f"Bearer {code}"})
        assert server.wait_exit(60) == -9  # killed at the point, as a crash would
    launch_server(data_dir, env=env).stop()  # a start recovers what the crash left
    runtime = open_runtime(Settings(data_dir=data_dir), embedder=_fake())
    try:
        view = runtime.vault.show(customer)
        [entry] = RequestRegister(runtime.vault.engine).find(customer_id=customer)
    finally:
        runtime.close()
    assert (entry.kind, entry.status) == (kind, "completed")
    if kind == "erasure":
        assert (view.status, view.key_state, entry.outcome) == ("erased", "destroyed", ERASED)
    else:
        revoked = {p.purpose for c in view.consents for p in c.purposes if p.revoked_at}
        assert revoked == {"checkin"} and entry.outcome == "withdrawn: checkin"


def test_an_erasure_already_under_way_is_recorded_when_it_is_taken_over(site: Site) -> None:
    """A customer left ``erasing`` (a crash after the erasure began) and erased now: the
    entry is written in the transaction that takes the erasure over, before the key is
    destroyed and erase.complete and its receipt are written."""
    with site.engine.begin() as conn:
        conn.execute(
            text("UPDATE customers SET status = 'erasing' WHERE customer_id = :c"),
            {"c": site.customer},
        )
    vault = site.runtime.vault
    asked = RequestRegister(site.engine).self_service(kind="erasure", outcome=ERASED)
    done = vault.erase(site.customer, reason="customer request", actor=SYSTEM, register_entry=asked)
    assert not done.already_erased
    after = site.state()
    assert after["status"] == "erased"
    [entry] = after["register"]
    assert (entry.kind, entry.status, entry.outcome) == ("erasure", "completed", ERASED)
    assert after["events"][-4:] == [
        "request.open",
        "request.complete",
        "erase.complete",
        "receipt.destruction",
    ]


# -- requests staff carry out (counter, telephone, letter) ------------------------------

DESK = Actor(role="admin", id="key_desk")
# What staff carry out, as each kind's effect on the guest's consents and status.
STAFF_KINDS = {
    "withdrawal": ("checkin", [("checkin", False), ("marketing", True)], "active"),
    "objection": (None, [("checkin", True), ("marketing", False)], "active"),
    "restriction": (None, [("checkin", False), ("marketing", False)], "active"),
    "erasure": (None, [("checkin", False), ("marketing", False)], "erased"),
}


def _staff_request(site: Site, kind: str) -> str:
    purpose = STAFF_KINDS[kind][0] if kind in STAFF_KINDS else None
    opened = RequestRegister(site.engine).open(
        kind=kind, channel="counter", actor=DESK, customer_id=site.customer, purpose=purpose
    )
    return opened.request_id


@pytest.mark.parametrize("kind", list(STAFF_KINDS))
def test_a_request_staff_carry_out_is_completed_with_its_action_or_not_at_all(
    site: Site, kind: str
) -> None:
    request_id = _staff_request(site, kind)
    register = RequestRegister(site.engine)
    before = site.state()
    refuse_register(site.engine, "UPDATE")
    with pytest.raises(DBAPIError, match="the register refuses"):
        carry_out(site.runtime, register, request_id, actor=DESK)
    # The register could not complete the request, so the action did not happen.
    assert site.state() == before
    assert register.get(request_id).status == "open"
    accept_register(site.engine)

    closed, result = carry_out(site.runtime, register, request_id, actor=DESK)
    _, purposes, status = STAFF_KINDS[kind]
    after = site.state()
    assert (closed.status, after["status"], after["purposes"]) == ("completed", status, purposes)
    assert result != {}
    new = after["events"][len(before["events"]) :]
    # The completion is written in the action's transaction: beside its event (before
    # erase.begin, which erase.complete and its receipt follow).
    if kind == "erasure":
        assert new == ["request.complete", "erase.begin", "erase.complete", "receipt.destruction"]
    else:
        assert new == ["consent.revoke", "request.complete"]
    with pytest.raises(RequestClosed):
        carry_out(site.runtime, register, request_id, actor=DESK)


def test_a_request_closed_meanwhile_undoes_the_action(site: Site) -> None:
    """Staff A takes the request, staff B refuses it before A's withdrawal commits: the
    withdrawal is not done (the completion, in its transaction, finds the request closed)."""
    request_id = _staff_request(site, "withdrawal")
    register = RequestRegister(site.engine)
    completion = register.completion(request_id, outcome="withdrawn: checkin stopped")
    register.refuse(request_id, reason="not the guest", actor=DESK)
    before = site.state()
    with pytest.raises(RequestClosed):
        site.runtime.vault.revoke(
            site.customer, purpose="checkin", actor=DESK, register_entry=completion
        )
    assert site.state() == before
    assert ("checkin", True) in before["purposes"]


def test_a_request_of_another_customer_is_refused_before_anything_is_done(site: Site) -> None:
    register = RequestRegister(site.engine)
    opened = register.open(kind="erasure", channel="letter", actor=DESK, customer_id="someone")
    before = site.state()
    with pytest.raises(InvalidRequest, match="another customer"):
        carry_out(site.runtime, register, opened.request_id, actor=DESK, customer_id=site.customer)
    assert site.state() == before
    assert register.get(opened.request_id).status == "open"


def test_an_erasure_whose_key_is_not_destroyed_is_finished_by_carrying_it_out_again(
    site: Site,
) -> None:
    """The request is completed with the erasure's first transaction (from there the
    erasure is sure to finish); if the key's destruction then fails, the customer is left
    ``erasing`` and carrying the request out again finishes it, instead of answering that
    the request is closed."""
    request_id = _staff_request(site, "erasure")
    register = RequestRegister(site.engine)
    keys_engine = site.runtime.keys.engine
    refuse_register(keys_engine, "DELETE", table="wrapped_keys")  # the key store refuses
    with pytest.raises(DBAPIError, match="the register refuses"):
        carry_out(site.runtime, register, request_id, actor=DESK)
    left = site.state()
    assert (left["status"], left["key_state"]) == ("erasing", "active")
    assert register.get(request_id).status == "completed"
    assert "erase.begin" in left["events"] and "erase.complete" not in left["events"]
    accept_register(keys_engine, table="wrapped_keys")

    closed, result = carry_out(site.runtime, register, request_id, actor=DESK)
    assert closed.status == "completed" and result["erased"] is True
    after = site.state()
    assert (after["status"], after["key_state"]) == ("erased", "destroyed")
    assert after["events"].count("request.complete") == 1
    with pytest.raises(RequestClosed):  # now there is nothing left to finish
        carry_out(site.runtime, register, request_id, actor=DESK)


def test_an_erasure_under_way_is_completed_with_the_transaction_that_takes_it_over(
    site: Site,
) -> None:
    request_id = _staff_request(site, "erasure")
    with site.engine.begin() as conn:
        conn.execute(
            text("UPDATE customers SET status = 'erasing' WHERE customer_id = :c"),
            {"c": site.customer},
        )
    before = site.state()
    closed, result = carry_out(site.runtime, RequestRegister(site.engine), request_id, actor=DESK)
    assert (closed.status, closed.outcome) == ("completed", ERASED)
    assert result["erased"] is True and result["already_erased"] is False
    after = site.state()
    assert (after["status"], after["key_state"]) == ("erased", "destroyed")
    new = after["events"][len(before["events"]) :]
    assert new == ["request.complete", "erase.complete", "receipt.destruction"]


@pytest.mark.parametrize("kind", ["withdrawal", "restriction", "erasure"])
def test_a_request_for_a_customer_erased_before_is_completed_with_nothing_to_do(
    site: Site, kind: str
) -> None:
    request_id = _staff_request(site, kind)
    site.runtime.vault.erase(site.customer, reason="earlier request", actor=SYSTEM)
    before = site.state()
    closed, _ = carry_out(site.runtime, RequestRegister(site.engine), request_id, actor=DESK)
    assert (closed.status, closed.outcome) == ("completed", ALREADY_ERASED)
    after = site.state()
    assert after["events"][len(before["events"]) :] == ["request.complete"]


@pytest.mark.skipif(
    os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite") != "postgresql",
    reason="SQLite runs one writer at a time: there is no lock order to get wrong",
)
def test_closing_a_request_takes_the_audit_lock_before_the_request_row(site: Site) -> None:
    """A vault action appends its audit event (taking the audit log's lock), then
    completes its request (taking the request's row). Staff acknowledging the same request
    meanwhile must take the locks in the same order, or PostgreSQL finds a deadlock and
    aborts one of them."""
    register = RequestRegister(site.engine)
    request_id = _staff_request(site, "withdrawal")
    acknowledged: list[Any] = []

    def waiting_for_the_audit_lock() -> bool:
        with site.engine.connect() as conn:
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event = 'advisory' AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )

    with site.engine.connect() as action:
        transaction = action.begin()
        action.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": AUDIT_LOCK})
        staff = threading.Thread(
            target=lambda: acknowledged.append(register.acknowledge(request_id, actor=DESK))
        )
        staff.start()
        wait_until(waiting_for_the_audit_lock, "the acknowledgement waits for the audit lock")
        # The action now takes the request's row: free, since the other waits before it.
        action.execute(text("SET LOCAL lock_timeout = '10s'"))
        row = action.execute(
            select(subject_requests)
            .where(subject_requests.c.request_id == request_id)
            .with_for_update()
        ).first()
        assert row is not None and row.status == "open"
        transaction.commit()
    staff.join(30)
    assert [r.status for r in acknowledged] == ["acknowledged"]
