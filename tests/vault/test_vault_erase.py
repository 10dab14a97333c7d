"""Erasure by crypto-shredding: idempotence, no re-enrolment, backups, crash recovery."""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import event

from keys import KeyDestroyed
from vault import CustomerErased, CustomerExists, CustomerNotFound, Vault, read_events


def _match(vault: Vault, probe, actor, *, purpose="checkin", venue="venue-1"):
    return vault.match(probe, purpose=purpose, venue=venue, actor=actor)


def _actions(vault: Vault, customer_id: str) -> list[str]:
    return [e.action for e in read_events(vault.engine, customer_id=customer_id)]


def test_erase_shreds_the_key_but_keeps_the_ciphertext(vault, faces, consent, staff, clock):
    enrolment = vault.enroll(
        [faces.photo("alice"), faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    assert len(vault.open_templates("alice")) == 2  # decryptable before
    sealed_before = vault.sealed_templates("alice")
    clock.advance(hours=1)

    erasure = vault.erase("alice", reason="customer request", actor=staff)
    assert erasure.already_erased is False
    assert erasure.customer_id == "alice"
    assert erasure.key_ids == (enrolment.key_id,)
    assert erasure.commitments == (vault.keys.record("alice").commitment,)
    assert erasure.reason == "customer request"
    assert erasure.erased_at == clock()

    assert _match(vault, faces.photo("alice"), staff) is None
    assert _match(vault, faces.photo("alice"), staff, purpose="marketing") is None
    assert "alice" not in vault.index
    assert _match(vault, faces.photo("bob"), staff).customer_id == "bob"

    record = vault.keys.record("alice")
    assert record.state == "destroyed" and record.destroy_reason == "erasure"
    with pytest.raises(KeyDestroyed):
        vault.open_templates("alice")
    # The ciphertext is still there, untouched, and useless.
    assert vault.sealed_templates("alice") == sealed_before
    assert len(sealed_before) == 2

    view = vault.show("alice")
    assert view.status == "erased" and view.key_state == "destroyed"
    assert view.erased_at == clock() and view.erase_reason == "customer request"
    assert all(p.revoked_at is not None for c in view.consents for p in c.purposes)
    assert all(p.revoke_reason == "erasure" for c in view.consents for p in c.purposes)


def test_erase_is_idempotent(vault, faces, consent, staff, clock) -> None:
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    first = vault.erase("alice", reason="customer request", actor=staff)
    events = len(list(read_events(vault.engine)))
    clock.advance(days=3)
    second = vault.erase("alice", reason="asked again", actor=staff)
    assert second.already_erased is True
    assert second.key_ids == first.key_ids and second.commitments == first.commitments
    assert second.erased_at == first.erased_at
    assert second.reason == "customer request"
    assert second.audit_seq is None
    assert len(list(read_events(vault.engine))) == events  # nothing new happened
    assert vault.keys.record("alice").destroyed_at == first.erased_at


def test_erase_of_unknown_customer(vault, staff) -> None:
    with pytest.raises(CustomerNotFound) as info:
        vault.erase("nobody", reason="x", actor=staff)
    assert info.value.code == "customer_not_found"


def test_erased_id_cannot_be_re_enrolled(vault, faces, consent, staff) -> None:
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    vault.erase("alice", reason="customer request", actor=staff)
    with pytest.raises(CustomerErased) as info:
        vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    assert info.value.code == "customer_erased"
    with pytest.raises(CustomerErased):
        vault.grant("alice", consent(), actor=staff)
    with pytest.raises(CustomerErased):
        vault.revoke("alice", actor=staff)
    with pytest.raises(CustomerErased):
        vault.replace_templates("alice", [faces.photo("alice")], actor=staff)
    assert _match(vault, faces.photo("alice"), staff) is None
    # The same face under a new id is a new customer (the vault does not know faces).
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice-2")
    assert _match(vault, faces.photo("alice"), staff).customer_id == "alice-2"


def test_enrolling_an_existing_id(vault, faces, consent, staff) -> None:
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    with pytest.raises(CustomerExists) as info:
        vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="alice")
    assert info.value.code == "customer_exists"
    assert _match(vault, faces.photo("bob"), staff) is None
    assert _match(vault, faces.photo("alice"), staff).customer_id == "alice"


def test_restored_backup_cannot_bring_an_erased_customer_back(
    env, faces, consent, staff, backups
) -> None:
    vault = env.open()
    for name in ("alice", "bob", "carol"):
        vault.enroll([faces.photo(name)], consent(), actor=staff, customer_id=name)
    backup = backups.take(env.vault_url)
    wrapped = env.wrapped_key("alice")
    vault.erase("alice", reason="customer request", actor=staff)
    env.close(vault)

    # Put the old vault database back beside the live key store.
    backups.restore(backup, env.vault_url)

    restored = env.open()
    assert restored.show("alice").status == "active"  # the backup predates the erase...
    with pytest.raises(KeyDestroyed):
        restored.open_templates("alice")  # ...but the key is gone
    assert len(restored.sealed_templates("alice")) == 1
    assert "alice" not in restored.index
    assert _match(restored, faces.photo("alice"), staff) is None
    for name in ("bob", "carol"):
        assert _match(restored, faces.photo(name), staff).customer_id == name
    # The template database never held a key, so the backup did not carry one either.
    assert not backup.contains(wrapped)
    assert env.files_containing(wrapped) == []
    assert env.rows_containing(wrapped) == []
    # Erasing again on the restored copy completes without error and records it.
    assert restored.erase("alice", reason="re-applied", actor=staff).key_ids
    assert restored.show("alice").status == "erased"


def test_restored_backup_older_than_the_enrolment_refuses_the_erased_id(
    env, faces, consent, staff, backups
) -> None:
    vault = env.open()
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    backup = backups.take(env.vault_url)
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    vault.erase("alice", reason="customer request", actor=staff)
    env.close(vault)
    backups.restore(backup, env.vault_url)

    restored = env.open()
    with pytest.raises(CustomerNotFound):
        restored.show("alice")
    # The key store remembers the shredded id: it cannot be enrolled afresh.
    with pytest.raises(CustomerErased):
        restored.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    assert _match(restored, faces.photo("bob"), staff).customer_id == "bob"


@pytest.mark.parametrize("point", ["erase.after_begin", "erase.after_destroy"])
def test_crash_during_erase_is_completed_at_restart(
    env, faces, consent, staff, crash_at, crash_type, point
) -> None:
    fault = crash_at(point)
    vault = env.open(fault=fault)
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    with pytest.raises(crash_type):
        vault.erase("alice", reason="customer request", actor=staff)
    assert point in fault.seen
    # What the crash left on disk: half an erase.
    assert env.sql("SELECT status FROM customers WHERE customer_id='alice'") == [("erasing",)]
    key_state = env.sql("SELECT state FROM data_keys WHERE customer_id='alice'", db="keys")[0][0]
    assert key_state == ("active" if point == "erase.after_begin" else "destroyed")
    env.close(vault)  # the process is gone

    restarted = env.open(start=False)
    completed = restarted.start()
    assert [e.customer_id for e in completed] == ["alice"]
    assert completed[0].reason == "customer request"
    assert completed[0].already_erased is False

    view = restarted.show("alice")
    assert view.status == "erased" and view.key_state == "destroyed"
    assert restarted.keys.record("alice").state == "destroyed"
    with pytest.raises(KeyDestroyed):
        restarted.open_templates("alice")
    assert _match(restarted, faces.photo("alice"), staff) is None
    assert _match(restarted, faces.photo("bob"), staff).customer_id == "bob"

    events = list(read_events(restarted.engine, customer_id="alice"))
    assert [e.action for e in events] == ["enrol", "erase.begin", "erase.complete"]
    begin, complete = events[1], events[2]
    assert begin.body["actor"] == {"role": staff.role, "id": staff.id}
    assert complete.body["actor"]["role"] == "system"  # finished by recovery
    assert complete.body["details"]["key_ids"] == [view.key_id]
    assert complete.body["details"]["reason"] == "customer request"

    # A second restart finds nothing left to do.
    env.close(restarted)
    assert env.open(start=False).start() == []


def test_retrying_a_crashed_erase_in_the_same_process_completes_it(
    env, faces, consent, staff, crash_at, crash_type
) -> None:
    vault = env.open(fault=crash_at("erase.after_destroy", times=1))
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    with pytest.raises(crash_type):
        vault.erase("alice", reason="customer request", actor=staff)
    assert _match(vault, faces.photo("alice"), staff) is None  # out of the index at once
    erasure = vault.erase("alice", reason="retry", actor=staff)
    assert erasure.already_erased is False
    assert erasure.reason == "customer request"
    assert vault.show("alice").status == "erased"
    assert _actions(vault, "alice") == ["enrol", "erase.begin", "erase.complete"]


def test_crash_after_key_creation_leaves_no_half_customer(
    env, faces, consent, staff, crash_at, crash_type
) -> None:
    fault = crash_at("enroll.after_key", times=0)  # armed after bob's enrolment
    vault = env.open(fault=fault)
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    fault.times = 1
    events_before = env.count("audit_events")
    with pytest.raises(crash_type):
        vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    with pytest.raises(CustomerNotFound):
        vault.show("alice")
    for table in ("customers", "consents", "templates"):
        assert env.count(table, customer_id="alice") == 0, table
    assert env.count("audit_events") == events_before
    assert _match(vault, faces.photo("alice"), staff) is None
    orphan_key = vault.keys.record("alice")
    assert orphan_key is not None and orphan_key.state == "active"  # until recovery
    env.close(vault)

    restarted = env.open()  # recovery discards the unused key, with an audit event
    assert restarted.keys.record("alice") is None
    with pytest.raises(CustomerNotFound):
        restarted.show("alice")
    assert _match(restarted, faces.photo("alice"), staff) is None
    enrolment = restarted.enroll(
        [faces.photo("alice")], consent(), actor=staff, customer_id="alice"
    )
    assert enrolment.key_id != orphan_key.key_id  # a fresh key for the new enrolment
    assert _match(restarted, faces.photo("alice"), staff).customer_id == "alice"
    assert _match(restarted, faces.photo("bob"), staff).customer_id == "bob"
    assert _actions(restarted, "alice")[:2] == ["enrol.abandoned", "enrol"]
    assert env.count("customers") == 2


def test_crash_after_enrol_commit_is_indexed_at_restart(
    env, faces, consent, staff, crash_at, crash_type
) -> None:
    vault = env.open(fault=crash_at("enroll.after_commit"))
    with pytest.raises(crash_type):
        vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    assert vault.show("alice").status == "active"  # committed
    env.close(vault)
    restarted = env.open()
    assert _match(restarted, faces.photo("alice"), staff).customer_id == "alice"
    with pytest.raises(CustomerExists):
        restarted.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")


# Two replicas sharing the databases (what PostgreSQL deployments run).


class _Interleave:
    """Right after ``vault`` first executes SQL starting with ``marker`` (inside a write
    transaction), run ``action`` on another thread and give it up to 2 s to finish before
    that transaction goes on. On SQLite it cannot finish: it waits for the write lock."""

    def __init__(self, vault: Vault, marker: str, action) -> None:
        self.threads: list[threading.Thread] = []

        @event.listens_for(vault.engine, "after_cursor_execute")
        def _interleave(conn, cursor, statement, parameters, context, executemany) -> None:
            if not self.threads and statement.lstrip().startswith(marker):
                thread = threading.Thread(target=action)
                self.threads.append(thread)
                thread.start()
                thread.join(timeout=2)

    def join(self) -> None:
        assert len(self.threads) == 1, "the interleaved action never ran"
        self.threads[0].join(timeout=60)
        assert not self.threads[0].is_alive()


def test_a_consent_granted_on_another_replica_during_an_erase_does_not_survive_it(
    env, faces, consent, staff
) -> None:
    eraser, granter = env.open(), env.open()
    eraser.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    erasures = []
    # The granter has read alice's row (active) in its transaction when the erase starts.
    interleaved = _Interleave(
        granter,
        "SELECT customers.",
        lambda: erasures.append(eraser.erase("alice", reason="customer request", actor=staff)),
    )
    # Refusing the grant would be as good as granting it and revoking it in the erase.
    with contextlib.suppress(CustomerErased):
        granter.grant("alice", consent(["marketing"], ["venue-2"]), actor=staff)
    interleaved.join()
    assert len(erasures) == 1

    view = eraser.show("alice")
    assert view.status == "erased"
    # Every consent an erased customer has is revoked, whichever replica wrote it.
    assert all(p.revoked_at is not None for c in view.consents for p in c.purposes)
    assert _actions(eraser, "alice")[-1] == "erase.complete"


def test_concurrent_erases_on_two_replicas_begin_once(env, faces, consent, staff) -> None:
    first, second = env.open(), env.open()
    first.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    erasures = []
    # The first erase has marked alice "erasing" (not yet committed) when the second starts.
    interleaved = _Interleave(
        first,
        "UPDATE customers",
        lambda: erasures.append(second.erase("alice", reason="second request", actor=staff)),
    )
    erasures.append(first.erase("alice", reason="customer request", actor=staff))
    interleaved.join()
    assert len(erasures) == 2

    assert _actions(first, "alice").count("erase.begin") == 1
    assert first.show("alice").erase_reason == "customer request"


def test_an_erase_completed_by_another_replica_is_not_completed_twice(
    env, faces, consent, staff, clock
) -> None:
    other = env.open()
    erasures = []

    def other_replica_finishes(point: str) -> None:
        if point == "erase.after_destroy" and not erasures:
            # Meanwhile another replica erases too (or restarts and recovers it).
            erasures.append(other.erase("alice", reason="second request", actor=staff))
            clock.advance(minutes=1)

    vault = env.open(fault=other_replica_finishes)
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    mine = vault.erase("alice", reason="customer request", actor=staff)
    theirs = erasures[0]
    assert theirs.already_erased is False and theirs.reason == "customer request"

    assert _actions(vault, "alice") == ["enrol", "erase.begin", "erase.complete"]
    assert vault.show("alice").erased_at == theirs.erased_at
    assert mine.erased_at == theirs.erased_at
