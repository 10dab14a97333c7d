"""The local key-encryption-key provider: key files, permissions, wrong KEKs. (What every
provider does alike, this one included, is in test_kek_contract.py.)"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from keys import DecryptionFailed, KekError, KekFileInsecure, KeyStore, LocalKekProvider

CTX = ("facekeep/dek/v1", "cust", "k_1", "1")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_writes_epoch_one_as_a_0600_file_of_32_bytes(kek_dir: Path) -> None:
    old_umask = os.umask(0o022)  # a permissive umask must not leak into the key file mode
    try:
        kek = LocalKekProvider.create(kek_dir)
    finally:
        os.umask(old_umask)
    files = sorted(p.name for p in kek_dir.iterdir())
    assert files == ["epoch-000001.kek"]
    key_file = kek_dir / "epoch-000001.kek"
    assert _mode(key_file) == 0o600
    assert key_file.stat().st_size == 32
    assert _mode(kek_dir) & 0o077 == 0
    assert kek.epochs() == [1] and kek.current_epoch() == 1


def test_create_is_idempotent_and_reloads_the_same_key(kek_dir: Path) -> None:
    first = LocalKekProvider.create(kek_dir)
    before = (kek_dir / "epoch-000001.kek").read_bytes()
    second = LocalKekProvider.create(kek_dir)
    assert (kek_dir / "epoch-000001.kek").read_bytes() == before
    wrapped = first.wrap(b"\x07" * 32, epoch=1, context=CTX)
    assert second.unwrap(wrapped, epoch=1, context=CTX) == bytearray(b"\x07" * 32)
    assert LocalKekProvider(kek_dir).unwrap(wrapped, epoch=1, context=CTX) == b"\x07" * 32


def test_two_created_directories_hold_different_keys(tmp_path: Path) -> None:
    a = LocalKekProvider.create(tmp_path / "a")
    b = LocalKekProvider.create(tmp_path / "b")
    assert (tmp_path / "a/epoch-000001.kek").read_bytes() != (
        tmp_path / "b/epoch-000001.kek"
    ).read_bytes()
    wrapped = a.wrap(b"\x01" * 32, epoch=1, context=CTX)
    with pytest.raises(DecryptionFailed):
        b.unwrap(wrapped, epoch=1, context=CTX)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o644, 0o666, 0o660, 0o610])
def test_a_key_file_accessible_to_others_is_refused(kek_dir: Path, mode: int) -> None:
    LocalKekProvider.create(kek_dir)
    key_file = kek_dir / "epoch-000001.kek"
    key_file.chmod(mode)
    with pytest.raises(KekFileInsecure) as info:
        LocalKekProvider(kek_dir)
    assert info.value.code == "kek_file_insecure"
    assert isinstance(info.value, KekError)
    assert key_file.read_bytes().hex() not in str(info.value)
    with pytest.raises(KekFileInsecure):
        LocalKekProvider.create(kek_dir)  # create() loads too; it must not "fix" or skip it
    key_file.chmod(0o600)
    assert LocalKekProvider(kek_dir).epochs() == [1]  # refused for its mode, nothing else


def test_one_insecure_epoch_file_refuses_the_whole_directory(kek_dir: Path) -> None:
    kek = LocalKekProvider.create(kek_dir)
    kek.new_epoch()
    (kek_dir / "epoch-000002.kek").chmod(0o644)
    with pytest.raises(KekFileInsecure):
        LocalKekProvider(kek_dir)


def test_a_key_file_of_the_wrong_size_is_refused(kek_dir: Path) -> None:
    LocalKekProvider.create(kek_dir)
    key_file = kek_dir / "epoch-000001.kek"
    key_file.write_bytes(b"\x01" * 31)
    with pytest.raises(KekError) as info:
        LocalKekProvider(kek_dir)
    assert not isinstance(info.value, KekFileInsecure)
    assert info.value.code == "kek_unavailable"


def test_missing_or_empty_key_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KekError):
        LocalKekProvider(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a key")
    with pytest.raises(KekError):
        LocalKekProvider(tmp_path / "empty")
    with pytest.raises(KekError):
        LocalKekProvider(None)


def test_fixed_kek_must_be_32_bytes_and_cannot_rotate() -> None:
    for size in (0, 16, 31, 33):
        with pytest.raises(KekError):
            LocalKekProvider(None, fixed=b"\x02" * size)
    kek = LocalKekProvider(None, fixed=b"\x02" * 32)
    assert kek.epochs() == [1]
    wrapped = kek.wrap(b"\x03" * 32, epoch=1, context=CTX)
    assert LocalKekProvider(None, fixed=b"\x02" * 32).unwrap(wrapped, epoch=1, context=CTX) == (
        b"\x03" * 32
    )
    with pytest.raises(KekError):
        kek.new_epoch()


def test_new_epoch_file_is_0600_and_current_epoch_cannot_be_destroyed(kek_dir: Path) -> None:
    kek = LocalKekProvider.create(kek_dir)
    assert kek.new_epoch() == 2
    assert _mode(kek_dir / "epoch-000002.kek") == 0o600
    assert kek.epochs() == [1, 2] and kek.current_epoch() == 2
    with pytest.raises(KekError):
        kek.destroy_epoch(2)
    assert (kek_dir / "epoch-000002.kek").exists()
    kek.destroy_epoch(1)
    assert not (kek_dir / "epoch-000001.kek").exists()
    assert kek.epochs() == [2]
    assert sorted(p.name for p in kek_dir.iterdir()) == ["epoch-000002.kek"]


def test_unwrap_under_an_unknown_epoch_is_decryption_failed(kek: LocalKekProvider) -> None:
    wrapped = kek.wrap(b"\x04" * 32, epoch=1, context=CTX)
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrapped, epoch=2, context=CTX)
    with pytest.raises(DecryptionFailed):
        kek.wrap(b"\x04" * 32, epoch=7, context=CTX)


def test_a_destroyed_epoch_unwraps_nothing_even_after_many_unwraps(
    kek: LocalKekProvider,
) -> None:
    # Unwrapping keeps a keyed cipher per epoch: destroying the epoch must drop it.
    old = kek.wrap(b"\x06" * 32, epoch=1, context=CTX)
    for _ in range(3):
        assert kek.unwrap(old, epoch=1, context=CTX) == bytearray(b"\x06" * 32)
    assert kek.new_epoch() == 2
    new = kek.wrap(b"\x07" * 32, epoch=2, context=CTX)
    assert kek.unwrap(new, epoch=2, context=CTX) == bytearray(b"\x07" * 32)
    kek.destroy_epoch(1)
    with pytest.raises(DecryptionFailed):
        kek.unwrap(old, epoch=1, context=CTX)
    assert kek.unwrap(new, epoch=2, context=CTX) == bytearray(b"\x07" * 32)


def test_an_epoch_destroyed_by_another_process_is_forgotten_on_reload(
    kek_dir: Path, kek: LocalKekProvider
) -> None:
    old = kek.wrap(b"\x08" * 32, epoch=1, context=CTX)
    assert kek.unwrap(old, epoch=1, context=CTX) == bytearray(b"\x08" * 32)
    other = LocalKekProvider(kek_dir)
    other.new_epoch()
    other.destroy_epoch(1)
    assert kek.epochs() == [2]  # re-read from disk: epoch 1 and its cipher are gone
    with pytest.raises(DecryptionFailed):
        kek.unwrap(old, epoch=1, context=CTX)


def test_wrong_kek_cannot_open_existing_keys(tmp_path: Path, open_store, kek: LocalKekProvider):
    store = open_store(kek=kek)
    customers = [f"cust-{i}" for i in range(3)]
    sealed = {}
    for c in customers:
        store.ensure_key(c)
        sealed[c] = store.seal(c, b"secret " + c.encode(), ("ctx", c))
    store.close()

    other = LocalKekProvider.create(tmp_path / "other-kek")  # a different key file
    wrong: KeyStore = open_store(kek=other)
    for c in customers:
        with pytest.raises(DecryptionFailed):
            wrong.data_key(c)
        with pytest.raises(DecryptionFailed):
            wrong.open(c, sealed[c], ("ctx", c))

    # The right KEK, re-read from its directory, still opens everything.
    right = open_store()
    for c in customers:
        assert right.open(c, sealed[c], ("ctx", c)) == b"secret " + c.encode()
