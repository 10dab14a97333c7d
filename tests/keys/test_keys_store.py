"""The key store: creating, using, racing for and destroying customers' data keys."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event

from dbkit import make_engine
from keys import (
    DecryptionFailed,
    KekProvider,
    KeyDestroyed,
    KeyNotFound,
    KeyStore,
    KeyWiped,
    LocalKekProvider,
)
from keys.store import _wrap_context

CTX = ("facekeep/template/v1", "t_1", "model-v1")


def test_ensure_key_creates_one_active_key_and_is_idempotent(store: KeyStore, clock, disk):
    record = store.ensure_key("alice")
    assert record.customer_id == "alice"
    assert record.state == "active"
    assert record.kek_epoch == store.kek.current_epoch() == 1
    assert record.created_at == clock()
    assert record.destroyed_at is None and record.destroy_reason is None
    assert record.key_id.startswith("k_")

    clock.advance(minutes=5)
    again = store.ensure_key("alice")
    assert again == record  # same key, same creation time
    assert store.record("alice") == record
    assert store.record_by_key_id(record.key_id) == record
    assert disk.count("data_keys") == 1 and disk.count("wrapped_keys") == 1

    other = store.ensure_key("bob")
    assert other.key_id != record.key_id
    listed = list(store.records())
    assert [r.key_id for r in listed] == sorted([record.key_id, other.key_id])
    assert {r.customer_id for r in listed} == {"alice", "bob"}


def test_commitment_in_the_record_recognises_the_data_key(store: KeyStore) -> None:
    record = store.ensure_key("alice")
    key = store.data_key("alice")
    assert key.key_id == record.key_id and key.customer_id == "alice"
    assert key.commitment() == record.commitment
    assert store.ensure_key("bob").commitment != record.commitment


def test_store_seal_open_round_trip_and_wrong_context(store: KeyStore) -> None:
    store.ensure_key("alice")
    sealed = store.seal("alice", b"\x01\x02\x03" * 100, CTX)
    assert store.open("alice", sealed, CTX) == b"\x01\x02\x03" * 100
    with pytest.raises(DecryptionFailed):
        store.open("alice", sealed, ("facekeep/template/v1", "t_2", "model-v1"))


def test_store_survives_reopening(store: KeyStore, open_store) -> None:
    store.ensure_key("alice")
    sealed = store.seal("alice", b"kept", CTX)
    store.close()
    assert open_store().open("alice", sealed, CTX) == b"kept"


def test_a_sealed_value_moved_to_another_customer_fails(store: KeyStore) -> None:
    store.ensure_key("alice")
    store.ensure_key("bob")
    sealed = store.seal("alice", b"alice's template", CTX)
    with pytest.raises(DecryptionFailed):
        store.open("bob", sealed, CTX)
    # Even with the same context string (the template context names the customer in the
    # vault, but the key alone must already refuse).
    with pytest.raises(DecryptionFailed):
        store.open("bob", sealed, ("facekeep/template/v1", "t_1", "model-v1"))


def test_unknown_customer(store: KeyStore) -> None:
    assert store.record("nobody") is None
    with pytest.raises(KeyNotFound) as info:
        store.data_key("nobody")
    assert info.value.code == "key_not_found" and info.value.customer_id == "nobody"
    with pytest.raises(KeyNotFound):
        store.seal("nobody", b"x", CTX)
    with pytest.raises(KeyNotFound):
        store.destroy("nobody", reason="erasure")


def _race(calls) -> list:
    """Run the callables at the same instant on separate threads; return their results."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = calls[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def test_ensure_key_race_on_one_store_leaves_exactly_one_key(store: KeyStore, disk) -> None:
    for round_ in range(5):
        customer = f"racer-{round_}"
        records = _race([lambda c=customer: store.ensure_key(c)] * 8)
        assert len({r.key_id for r in records}) == 1
        rows = disk.rows("SELECT key_id FROM data_keys WHERE customer_id = :c", {"c": customer})
        assert [r[0] for r in rows] == [records[0].key_id]
    assert disk.count("data_keys") == 5 and disk.count("wrapped_keys") == 5


def test_ensure_key_race_across_two_store_instances(open_store, disk) -> None:
    first, second = open_store(), open_store()
    for round_ in range(5):
        customer = f"racer-{round_}"
        calls = [lambda c=customer, s=s: s.ensure_key(c) for s in (first, second) * 4]
        records = _race(calls)
        assert len({r.key_id for r in records}) == 1
        # Whoever lost the race uses the winner's key: values cross between instances.
        sealed = first.seal(customer, b"x", CTX)
        assert second.open(customer, sealed, CTX) == b"x"
        assert second.data_key(customer).commitment() == records[0].commitment
    assert disk.count("data_keys") == 5 and disk.count("wrapped_keys") == 5
    orphans = disk.rows(
        "SELECT key_id FROM wrapped_keys WHERE key_id NOT IN (SELECT key_id FROM data_keys)"
    )
    assert orphans == []


def test_destroy_records_state_time_and_reason_and_is_idempotent(store: KeyStore, clock):
    created = store.ensure_key("alice")
    store.data_key("alice")  # cached in this process
    clock.advance(hours=3)
    destroyed_at = clock()
    first = store.destroy("alice", reason="erasure")
    assert first.already_destroyed is False
    assert first.record.state == "destroyed"
    assert first.record.destroyed_at == destroyed_at
    assert first.record.destroy_reason == "erasure"
    assert first.record.key_id == created.key_id
    assert first.record.commitment == created.commitment  # still publishable proof
    assert store.record("alice") == first.record

    clock.advance(days=1)
    second = store.destroy("alice", reason="another reason")
    assert second.already_destroyed is True
    assert second.record == first.record  # time and reason of the first destruction kept


def test_a_destroyed_key_can_never_be_used_again(store: KeyStore, open_store) -> None:
    store.ensure_key("alice")
    store.ensure_key("bob")
    sealed = store.seal("alice", b"template", CTX)
    bob_sealed = store.seal("bob", b"bob", CTX)
    store.destroy("alice", reason="erasure")
    for s in (store, open_store()):  # this process (cache dropped) and a fresh one
        with pytest.raises(KeyDestroyed) as info:
            s.open("alice", sealed, CTX)
        assert info.value.code == "key_destroyed"
        assert info.value.customer_id == "alice"
        assert info.value.key_id == store.record("alice").key_id
        with pytest.raises(KeyDestroyed):
            s.data_key("alice")
        with pytest.raises(KeyDestroyed):
            s.seal("alice", b"new", CTX)
        with pytest.raises(KeyDestroyed):
            s.ensure_key("alice")  # no new key for a shredded customer
        assert s.open("bob", bob_sealed, CTX) == b"bob"


@pytest.mark.sqlite_only
def test_destroyed_wrapped_key_bytes_are_in_no_file(store: KeyStore, disk) -> None:
    customers = [f"cust-{i}" for i in range(20)]
    for c in customers:
        store.ensure_key(c)
        store.seal(c, b"x", CTX)
    victim = "cust-7"
    wrapped = disk.wrapped(victim)
    assert len(wrapped) == 1 + 12 + 32 + 16
    # The scan can see it before: the bytes are in keys.db or its WAL.
    assert disk.files_containing(wrapped) != []

    store.destroy(victim, reason="erasure")
    assert disk.files_containing(wrapped) == []
    names = {p.name for p in disk.files()}
    assert "keys.db" in names
    # The WAL/journal, where present, were scanned too (they are files in the directory).
    assert names <= {"keys.db", "keys.db-wal", "keys.db-shm", "keys.db-journal", "epoch-000001.kek"}

    # Still nowhere once the store is closed and the files are at rest.
    store.close()
    assert disk.files_containing(wrapped) == []
    assert disk.count("wrapped_keys") == 19
    # The other customers' wrapped keys were left alone.
    assert disk.files_containing(disk.wrapped("cust-8")) != []


def test_destroyed_wrapped_key_bytes_are_in_no_row(store: KeyStore, open_store, disk) -> None:
    """What the file scan above checks on SQLite, checked on the rows on every engine:
    PostgreSQL keeps dead tuples until vacuumed, so there erasure rests on the row being
    deleted (and the key with it); no table may still hold the wrapped bytes."""
    customers = [f"cust-{i}" for i in range(20)]
    for c in customers:
        store.ensure_key(c)
        store.seal(c, b"x", CTX)
    victim = "cust-7"
    wrapped = disk.wrapped(victim)
    assert disk.rows_containing(wrapped) == ["wrapped_keys.wrapped"]  # the scan sees it

    store.destroy(victim, reason="erasure")
    assert disk.rows_containing(wrapped) == []
    store.close()
    assert disk.rows_containing(wrapped) == []
    assert disk.count("wrapped_keys") == 19
    assert disk.rows_containing(disk.wrapped("cust-8")) == ["wrapped_keys.wrapped"]
    assert open_store().record(victim).state == "destroyed"


def test_raw_data_keys_are_never_written_to_disk(store: KeyStore, disk, kek) -> None:
    for c in ("alice", "bob", "carol"):
        store.ensure_key(c)
    raw = {}
    for c in ("alice", "bob", "carol"):
        record = store.record(c)
        raw[c] = bytes(
            kek.unwrap(
                disk.wrapped(c),
                epoch=record.kek_epoch,
                context=_wrap_context(c, record.key_id, record.kek_epoch),
            )
        )
        assert store.data_key(c).commitment() == record.commitment  # really the data key
    store.destroy("bob", reason="erasure")
    for key in raw.values():
        assert disk.files_containing(key) == []
        assert disk.rows_containing(key) == []  # the only check of the database on PostgreSQL


def test_destroy_time_comes_from_the_injected_clock(store: KeyStore, clock) -> None:
    store.ensure_key("alice")
    clock.now = clock.now + timedelta(days=400)
    assert store.destroy("alice", reason="r").record.destroyed_at == clock.now


def test_a_handle_evicted_from_the_cache_never_seals_under_a_zero_key(db_url, kek, clock):
    store = KeyStore(make_engine(db_url), kek=kek, clock=clock, cache_size=1)
    store.create_schema()
    try:
        store.ensure_key("alice")
        store.ensure_key("bob")
        handle = store.data_key("alice")  # e.g. held by an enrolment in progress
        store.data_key("bob")  # another request evicts alice from the cache
        with pytest.raises(KeyWiped):
            handle.seal(b"alice's template", CTX)  # never under an all-zero key
        # The store itself fetches a fresh handle: sealing through it works.
        sealed = store.seal("alice", b"alice's template", CTX)
        assert store.open("alice", sealed, CTX) == b"alice's template"
    finally:
        store.close()


def test_local_provider_satisfies_the_kek_protocol(kek: LocalKekProvider) -> None:
    assert isinstance(kek, KekProvider)


def _pause_inside_transaction(
    store: KeyStore, marker: str, until: threading.Event
) -> threading.Event:
    """Make ``store`` stop right before executing SQL starting with ``marker`` (inside its
    write transaction) until ``until`` is set or 2 s pass; returns the "paused" event."""
    paused = threading.Event()

    @event.listens_for(store.engine, "before_cursor_execute")
    def _pause(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().startswith(marker) and not paused.is_set():
            paused.set()
            until.wait(timeout=2)

    return paused


def test_concurrent_destroys_on_two_instances_keep_the_first(open_store, clock) -> None:
    first, second = open_store(), open_store()
    created = first.ensure_key("alice")
    first_at = clock()
    second_read = threading.Event()
    paused = _pause_inside_transaction(first, "UPDATE data_keys", second_read)

    @event.listens_for(second.engine, "after_cursor_execute")
    def _read(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM data_keys" in statement:
            second_read.set()

    results: dict[str, object] = {}
    a = threading.Thread(target=lambda: results.update(a=first.destroy("alice", reason="erasure")))
    a.start()
    assert paused.wait(timeout=30)  # the first destroy is inside its transaction
    clock.advance(minutes=1)
    # SQLite: the second waits for the first's write lock (BEGIN IMMEDIATE), then sees the
    # key destroyed. PostgreSQL: it must wait for, then see, the first's row as well.
    results["b"] = second.destroy("alice", reason="second request")
    a.join(timeout=60)
    assert not a.is_alive()

    assert [results["a"].already_destroyed, results["b"].already_destroyed] == [False, True]
    record = second.record("alice")
    assert record.key_id == created.key_id
    assert record.destroyed_at == first_at and record.destroy_reason == "erasure"
    assert results["b"].record == record
