"""KEK rotation: live keys survive, old epochs and old copies of the key store die."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys import DecryptionFailed, KekError, KeyDestroyed, KeyStore, LocalKekProvider
from keys.errors import EpochNotOwned

CTX = ("facekeep/template/v1", "t_1", "model-v1")


def _populate(store: KeyStore, customers: list[str]) -> dict[str, bytes]:
    sealed = {}
    for c in customers:
        store.ensure_key(c)
        sealed[c] = store.seal(c, f"template of {c}".encode(), CTX)
    return sealed


def _epochs_on_disk(kek_dir: Path) -> list[str]:
    """The key files (each epoch also has an ``.owner`` file naming its key store)."""
    return sorted(p.name for p in kek_dir.iterdir() if p.suffix == ".kek")


def test_rotate_rewraps_live_keys_and_destroys_the_old_epoch(
    store: KeyStore, open_store, disk, backups, kek_dir: Path, db_url: str
) -> None:
    live = ["alice", "bob", "carol"]
    sealed = _populate(store, [*live, "erased"])
    store.destroy("erased", reason="erasure")
    before = {c: disk.wrapped(c) for c in live}
    commitments = {c: store.record(c).commitment for c in live}

    copy = backups.take(db_url)
    # The copy is a working key store before the rotation (so its later failure means
    # something): the current provider opens it.
    old_copy_store = open_store(url=copy.url)
    assert old_copy_store.open("alice", sealed["alice"], CTX) == b"template of alice"
    old_copy_store.close()

    rotation = store.rotate()
    assert rotation.new_epoch == 2
    assert rotation.destroyed_epochs == [1]
    assert rotation.rewrapped == len(live)

    assert _epochs_on_disk(kek_dir) == ["epoch-000002.kek"]
    assert store.kek.epochs() == [2]
    assert disk.rows("SELECT DISTINCT kek_epoch FROM wrapped_keys") == [(2,)]
    for c in live:
        assert disk.wrapped(c) != before[c]
        assert store.record(c).kek_epoch == 2
        assert store.record(c).commitment == commitments[c]
    assert store.record("erased").state == "destroyed"

    # A fresh process (new provider read from disk, no key cache) opens every live key.
    fresh = open_store()
    for c in live:
        assert fresh.open(c, sealed[c], CTX) == f"template of {c}".encode()
        assert fresh.data_key(c).commitment() == commitments[c]
    with pytest.raises(KeyDestroyed):
        fresh.data_key("erased")

    # The copy taken before rotation is useless with the KEKs that exist now.
    stale = open_store(url=copy.url, kek=LocalKekProvider(kek_dir))
    for c in live:
        with pytest.raises(DecryptionFailed):
            stale.data_key(c)
        with pytest.raises(DecryptionFailed):
            stale.open(c, sealed[c], CTX)


def test_keys_created_after_rotation_use_the_new_epoch(store: KeyStore, open_store) -> None:
    _populate(store, ["alice"])
    store.rotate()
    record = store.ensure_key("dave")
    assert record.kek_epoch == 2
    sealed = store.seal("dave", b"d", CTX)
    assert open_store().open("dave", sealed, CTX) == b"d"


def test_rotating_twice_keeps_only_the_newest_epoch(
    store: KeyStore, open_store, kek_dir: Path
) -> None:
    sealed = _populate(store, ["alice", "bob"])
    store.rotate()
    second = store.rotate()
    assert second.new_epoch == 3 and second.destroyed_epochs == [2] and second.rewrapped == 2
    assert _epochs_on_disk(kek_dir) == ["epoch-000003.kek"]
    fresh = open_store()
    assert fresh.open("bob", sealed["bob"], CTX) == b"template of bob"


def test_interrupted_rotation_is_finished_by_finish_rotation(
    store: KeyStore, open_store, disk, kek_dir: Path
) -> None:
    sealed = _populate(store, ["alice", "bob", "carol"])
    store.kek.new_epoch()  # the process dies right after creating the new epoch
    store.close()

    reopened = open_store()
    assert reopened.kek.epochs() == [1, 2]
    assert _epochs_on_disk(kek_dir) == ["epoch-000001.kek", "epoch-000002.kek"]
    # Half-rotated state is still fully usable: old keys open, new keys go to epoch 2.
    assert reopened.open("alice", sealed["alice"], CTX) == b"template of alice"
    assert reopened.ensure_key("dave").kek_epoch == 2
    sealed["dave"] = reopened.seal("dave", b"template of dave", CTX)

    result = reopened.finish_rotation()
    assert result.new_epoch == 2
    assert result.destroyed_epochs == [1]
    assert result.rewrapped == 3  # dave was already under epoch 2
    assert _epochs_on_disk(kek_dir) == ["epoch-000002.kek"]
    assert disk.rows("SELECT DISTINCT kek_epoch FROM wrapped_keys") == [(2,)]

    fresh = open_store()
    for c, value in sealed.items():
        assert fresh.open(c, value, CTX) == f"template of {c}".encode()

    # Finishing again is a no-op.
    again = fresh.finish_rotation()
    assert again.new_epoch == 2 and again.destroyed_epochs == [] and again.rewrapped == 0


def test_fixed_kek_store_cannot_rotate(db_url: str, clock) -> None:
    kek = LocalKekProvider(None, fixed=b"\x09" * 32)
    store = KeyStore.open_url(db_url, kek=kek, clock=clock)
    try:
        store.ensure_key("alice")
        with pytest.raises(KekError):
            store.rotate()
        assert store.record("alice").kek_epoch == 1
        assert store.seal("alice", b"x", CTX)
    finally:
        store.close()


# Another process rotated the KEK: the local provider re-reads its epoch files on use.


def test_key_created_by_a_process_that_missed_a_rotation_stays_openable(open_store) -> None:
    rotator, other = open_store(), open_store()  # two processes on one KEK dir and database
    _populate(rotator, ["alice"])
    rotator.rotate()  # epoch 1 is destroyed on disk
    other.ensure_key("dave")  # the other process still believes epoch 1 is current
    sealed = other.seal("dave", b"template of dave", CTX)
    # After a restart, dave's data must still open; otherwise it is silently lost.
    assert open_store().open("dave", sealed, CTX) == b"template of dave"


def test_a_process_that_missed_a_rotation_can_still_open_rewrapped_keys(open_store) -> None:
    rotator, other = open_store(), open_store()
    sealed = _populate(rotator, ["alice"])
    rotator.rotate()
    assert other.open("alice", sealed["alice"], CTX) == b"template of alice"


def test_rotation_reports_progress_batch_by_batch(store: KeyStore, open_store) -> None:
    sealed = _populate(store, [f"c{i:02d}" for i in range(25)])
    store.rotate_batch = 10
    seen: list[tuple[int, int]] = []
    rotation = store.rotate(progress=lambda done, total: seen.append((done, total)))
    assert rotation.rewrapped == 25
    assert seen == [(10, 25), (20, 25), (25, 25)]
    fresh = open_store()
    for c, blob in sealed.items():
        assert fresh.open(c, blob, CTX) == f"template of {c}".encode()


def test_a_restored_copy_cannot_rotate_or_destroy_the_originals_epochs(
    store: KeyStore, open_store, backups, db_url: str
) -> None:
    sealed = _populate(store, ["ana", "ben"])
    store.rotate()
    assert store.kek.epoch_owner(2) == store.store_id
    copy = backups.take(db_url)
    drill = open_store(url=copy.url)
    assert drill.store_id == store.store_id  # a byte copy carries the original's id...
    drill.new_identity()  # ...until it is restored as a drill (facekeep restore)
    assert drill.store_id != store.store_id
    assert not drill.owns_epoch(2) and store.owns_epoch(2)

    with pytest.raises(EpochNotOwned) as refused:
        drill.rotate()
    assert refused.value.code == "epoch_not_owned" and store.store_id in str(refused.value)
    with pytest.raises(EpochNotOwned):
        drill.finish_rotation()
    assert store.kek.epochs() == [2]  # nothing was created and nothing destroyed

    # The drill still reads what it restored, and production rotates as before.
    assert drill.open("ana", sealed["ana"], CTX) == b"template of ana"
    assert store.rotate().destroyed_epochs == [2]
    assert store.open("ben", sealed["ben"], CTX) == b"template of ben"
