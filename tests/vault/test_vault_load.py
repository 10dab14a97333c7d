"""The cold start (bulk load_index) and the group-committed match events: the same index
and the same audit rows as the one-customer-at-a-time and one-event-at-a-time paths."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

import vault.loading as loading
from vault import Vault
from vault.audit import append_event, read_events
from vault.audit.events import append_events
from vault.index import MatchIndex
from vault.models import audit_events, customers, metadata
from vault.service import open_vault


def _reference_index(vault: Vault) -> MatchIndex:
    """The index as the per-customer path (``IndexLoader.index_customer``) builds it."""
    reference = open_vault(
        vault.engine,
        keys=vault.keys,
        model_name="x",
        model_version=vault.model_version,
        clock=vault.clock,
    )
    with vault.engine.connect() as conn:
        ids = (
            conn.execute(select(customers.c.customer_id).where(customers.c.status == "active"))
            .scalars()
            .all()
        )
    for customer_id in ids:
        reference.loader.index_customer(customer_id)
    return reference.index


def _same_index(a: MatchIndex, b: MatchIndex) -> None:
    assert sorted(a.customer_ids()) == sorted(b.customer_ids())
    assert len(a) == len(b)
    for customer_id in a.customer_ids():
        assert a.grants(customer_id) == b.grants(customer_id), customer_id


@pytest.mark.parametrize("chunk", [2, 1_000])
def test_cold_start_builds_the_index_the_per_customer_path_builds(
    env, faces, consent, staff, clock, monkeypatch, chunk
) -> None:
    monkeypatch.setattr(loading, "LOAD_CHUNK", chunk)  # several pages, or one
    vault = env.open()
    soon = clock.now + timedelta(days=2)
    for i in range(7):
        vault.enroll(
            [faces.photo(f"p{i}"), faces.photo(f"p{i}", 0.2)][: 1 + i % 2],
            consent(("checkin", "marketing") if i % 3 else ("checkin",), ("v1", "v2")),
            actor=staff,
            customer_id=f"cust-{i}",
        )
    clock.advance(minutes=1)
    vault.grant("cust-1", consent(("checkin",), ("v3",), expires_at=soon), actor=staff)
    clock.advance(minutes=1)
    vault.grant("cust-2", consent(("marketing",), ("v1",)), actor=staff)
    vault.revoke("cust-3", purpose="checkin", actor=staff)
    vault.revoke("cust-4", actor=staff)  # every purpose: out of the index
    vault.erase("cust-5", reason="asked", actor=staff)
    clock.advance(days=3)  # cust-1's extra consent has expired
    env.close(vault)

    restarted = env.open()
    _same_index(restarted.index, _reference_index(restarted))
    assert "cust-4" not in restarted.index and "cust-5" not in restarted.index
    assert [g.purpose for g in restarted.index.grants("cust-2")][-1] == "marketing"
    hit = restarted.match(faces.photo("p6"), purpose="checkin", venue="v2", actor=staff)
    assert hit is not None and hit.customer_id == "cust-6"
    progress = restarted.progress.as_dict()
    assert progress["phase"] == "ready" and progress["fraction"] == 1.0
    # Active customers' templates, of every customer read (revoked ones included).
    assert progress["templates_read"] == progress["templates_total"] > 0


def test_group_committed_match_events_are_all_written(env, faces, consent, staff) -> None:
    vault = env.open()
    for i in range(3):
        vault.enroll([faces.photo(f"p{i}")], consent(), actor=staff, customer_id=f"cust-{i}")
    errors: list[BaseException] = []
    found: list[str | None] = []

    def kiosk(k: int) -> None:
        try:
            for j in range(15):
                name = f"p{(k + j) % 4}"  # p3 was never enrolled
                probe = faces.photo(name)
                hit = vault.match(probe, purpose="checkin", venue="venue-1", actor=staff)
                found.append(hit.customer_id if hit else None)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    events = list(read_events(vault.engine, action="match"))
    assert len(events) == len(found) == 180
    assert sorted(e.customer_id or "" for e in events) == sorted(c or "" for c in found)
    seqs = [e.seq for e in read_events(vault.engine)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no duplicate
    queue = vault.matcher.queue
    assert queue.events == 180 and queue.batches <= 180


def _match(vault: Vault, probe, how: str, actor):
    """``Vault.match`` (a thread waits for the audit event) or ``match_async`` (an event
    loop awaits it), with the same arguments."""
    kwargs = {"purpose": "checkin", "venue": "venue-1", "actor": actor}
    if how == "async":
        return asyncio.run(vault.match_async(probe, **kwargs))
    return vault.match(probe, **kwargs)


@pytest.mark.parametrize("how", ["sync", "async"])
def test_a_match_revoked_elsewhere_is_refused_inside_the_audit_transaction(
    env, faces, consent, staff, how
) -> None:
    here, there = env.open(), env.open()
    here.enroll([faces.photo("ann")], consent(), actor=staff, customer_id="ann")
    there.follow_changes()
    hit = _match(there, faces.photo("ann"), how, staff)
    assert hit is not None and hit.customer_id == "ann"
    matched = list(read_events(there.engine, action="match"))[-1]
    assert matched.body["outcome"] == "match" and matched.customer_id == "ann"
    here.revoke("ann", actor=staff)
    assert "ann" in there.index  # it has not followed the change yet
    assert _match(there, faces.photo("ann"), how, staff) is None
    last = list(read_events(there.engine, action="match"))[-1]
    assert last.body["outcome"] == "no_match" and last.customer_id is None
    assert "ann" not in there.index  # it caught up on the refusal


def test_batched_audit_rows_are_what_append_event_writes(env, staff, clock) -> None:
    from sqlalchemy import create_engine

    events = [
        {
            "ts": clock.now + timedelta(seconds=i),
            "actor": staff,
            "action": "match",
            "outcome": "match" if i % 2 else "no_match",
            "customer_id": f"c{i}" if i % 2 else None,
            "details": {"purpose": "checkin", "venue": "v1", "distance": 0.3 + i / 100},
        }
        for i in range(5)
    ]
    one, many = create_engine("sqlite://"), create_engine("sqlite://")
    for engine in (one, many):
        metadata.create_all(engine)
    with one.begin() as conn:
        singles = [append_event(conn, **event) for event in events]
    with many.begin() as conn:
        batched = append_events(conn, events)
    assert singles == batched == [0, 1, 2, 3, 4]
    rows = []
    for engine in (one, many):
        with engine.connect() as conn:
            rows.append(conn.execute(select(audit_events).order_by(audit_events.c.seq)).all())
    assert rows[0] == rows[1]
