"""One contract, every KEK provider: local key files, PKCS#11 (a real SoftHSM2 token) and
transit (a real OpenBao dev server) answer the same calls the same way.

Each test runs once per provider. What only one provider has (its wire format, its
storage, its server's own refusals) is tested beside it: test_keys_kek.py (local),
test_kek_pkcs11.py and test_kek_transit.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from keys import DecryptionFailed, KekError, KekProvider, KeyStore, LocalKekProvider
from tests.keys.providers import Token, Transit, backup_db, vault_flow

CONTEXT = ("facekeep/dek/v1", "cust-1", "k_1", "1")


class Harness(Protocol):
    """A provider's backend as the contract sees it."""

    def make(self, *, create: bool = True, owner: str | None = None) -> KekProvider:
        """A provider on the backend (``create``: make epoch 1 if there is none)."""
        ...

    def held(self) -> list[int]:
        """The epochs whose key material the backend still holds (not the provider's
        own answer: its files, token objects or the server's key versions)."""
        ...

    def secrets(self) -> list[str]:
        """What must never show in a provider's ``repr``."""
        ...


class LocalHarness:
    def __init__(self, root: Path) -> None:
        self.dir = root / "kek"

    def make(self, *, create: bool = True, owner: str | None = None) -> KekProvider:
        if create:
            return LocalKekProvider.create(self.dir, owner=owner)
        return LocalKekProvider(self.dir)

    def held(self) -> list[int]:
        return sorted(int(p.name[6:12]) for p in self.dir.glob("epoch-??????.kek"))

    def secrets(self) -> list[str]:
        return [p.read_bytes().hex() for p in self.dir.glob("epoch-??????.kek")]


class Pkcs11Harness:
    def __init__(self, token: Token) -> None:
        self.token = token

    def make(self, *, create: bool = True, owner: str | None = None) -> KekProvider:
        return self.token.provider(create=create, owner=owner)

    def held(self) -> list[int]:
        prefix = "facekeep-kek-"
        return sorted(int(x[len(prefix) :]) for x in self.token.labels() if x.startswith(prefix))

    def secrets(self) -> list[str]:
        return [self.token.pin]


class TransitHarness:
    def __init__(self, transit: Transit, admin: Any) -> None:
        self.transit = transit
        self.admin = admin

    def make(self, *, create: bool = True, owner: str | None = None) -> KekProvider:
        return self.transit.provider(create=create, owner=owner)

    def held(self) -> list[int]:
        info = self.admin.secrets.transit.read_key(
            self.transit.key, mount_point=self.transit.mount
        )["data"]
        # Versions below min_available_version are trimmed from storage (0: none trimmed).
        first = max(1, int(info["min_available_version"]))
        return list(range(first, int(info["latest_version"]) + 1))

    def secrets(self) -> list[str]:
        return [self.transit.bao.token]


@pytest.fixture(params=["local", "pkcs11", "transit"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "pkcs11":
        return Pkcs11Harness(request.getfixturevalue("token"))
    if request.param == "transit":
        transit = request.getfixturevalue("transit")
        return TransitHarness(transit, request.getfixturevalue("admin"))
    return LocalHarness(tmp_path)


@pytest.fixture
def kek(backend: Harness) -> KekProvider:
    return backend.make()


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., KeyStore]]:
    """``open_store(kek, path=None)`` -> a key store in a SQLite file (closed at teardown):
    the provider is the subject here, not the database engine."""
    stores: list[KeyStore] = []

    def make(kek: KekProvider, path: Path | None = None) -> KeyStore:
        store = KeyStore.open_url(f"sqlite:///{path or tmp_path / 'keys.db'}", kek=kek)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def test_round_trip_with_a_fresh_nonce_each_time(kek: KekProvider) -> None:
    assert kek.epochs() == [1] and kek.current_epoch() == 1
    dek = bytearray(os.urandom(32))
    wrapped = kek.wrap(dek, epoch=1, context=CONTEXT)
    assert bytes(dek) not in wrapped
    assert kek.wrap(dek, epoch=1, context=CONTEXT) != wrapped
    out = kek.unwrap(wrapped, epoch=1, context=CONTEXT)
    assert isinstance(out, bytearray) and out == dek


def test_any_mismatch_is_decryption_failed(kek: KekProvider) -> None:
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    kek.new_epoch()
    bad = [
        (wrapped, 1, ("facekeep/dek/v1", "cust-2", "k_1", "1")),  # another customer
        (wrapped, 1, ("facekeep/dek/v1", "cust-1k", "_1", "1")),  # same bytes, other split
        (wrapped, 1, ("facekeep/dek/v1", "cust-1", "k_2", "1")),  # another key id
        (wrapped, 1, ("facekeep/dek/v1", "cust-1", "k_1", "2")),  # another version
        (wrapped, 2, CONTEXT),  # another epoch's KEK
        (wrapped, 7, CONTEXT),  # an epoch that never existed
        (wrapped, 0, CONTEXT),
        (wrapped[:-1], 1, CONTEXT),
        (b"", 1, CONTEXT),
    ]
    for blob, epoch, context in bad:
        with pytest.raises(DecryptionFailed):
            kek.unwrap(blob, epoch=epoch, context=context)
    # The provider is still healthy afterwards.
    assert len(kek.unwrap(wrapped, epoch=1, context=CONTEXT)) == 32


def test_batches_fail_item_by_item(kek: KekProvider) -> None:
    contexts = [("facekeep/dek/v1", f"cust-{i}", f"k_{i}", "1") for i in range(12)]
    deks = [os.urandom(32) for _ in contexts]
    wrapped = kek.wrap_many([(d, 1, c) for d, c in zip(deks, contexts, strict=True)])
    items = [(w, 1, c) for w, c in zip(wrapped, contexts, strict=True)]
    items[3] = (wrapped[3], 1, contexts[4])  # another customer's associated data
    items[9] = (wrapped[9][:-1], 1, contexts[9])  # cut short
    out = kek.unwrap_many(items)
    assert [i for i, raw in enumerate(out) if raw is None] == [3, 9]
    assert all(out[i] == deks[i] for i in range(12) if i not in (3, 9))


def test_create_is_idempotent_and_open_needs_a_key(backend: Harness) -> None:
    with pytest.raises(KekError, match="facekeep init"):
        backend.make(create=False)
    first = backend.make()
    again = backend.make()
    assert first.epochs() == again.epochs() == [1]
    wrapped = first.wrap(b"\x07" * 32, epoch=1, context=CONTEXT)
    opened = backend.make(create=False)
    assert opened.current_epoch() == 1
    assert opened.unwrap(wrapped, epoch=1, context=CONTEXT) == bytearray(b"\x07" * 32)
    assert again.unwrap(wrapped, epoch=1, context=CONTEXT) == bytearray(b"\x07" * 32)
    assert backend.held() == [1]


def test_secrets_never_show_in_repr(backend: Harness, kek: KekProvider) -> None:
    shown = repr(kek)
    for secret in backend.secrets():
        assert secret not in shown


def test_rotation_destroys_the_old_kek(
    backend: Harness, kek: KekProvider, open_store: Callable[..., KeyStore], tmp_path: Path
) -> None:
    store = open_store(kek)
    customers = ["ana", "ben", "cao"]
    sealed: dict[str, bytes] = {}
    for c in customers:
        store.ensure_key(c)
        sealed[c] = store.seal(c, b"template of " + c.encode(), ("t", c))
    backup = backup_db(tmp_path / "keys.db", tmp_path / "keys-before-rotation.db")
    assert backend.held() == [1]

    rotation = store.rotate()

    assert rotation.new_epoch == 2 and rotation.destroyed_epochs == [1]
    assert rotation.rewrapped == 3
    assert kek.epochs() == [2]
    assert backend.held() == [2]
    # Live keys still open, through a fresh store with an empty cache.
    fresh = open_store(backend.make(create=False))
    for c in customers:
        assert fresh.open(c, sealed[c], ("t", c)) == b"template of " + c.encode()
    # The copy taken before rotation is useless: its KEK no longer exists.
    old = open_store(kek, backup)
    for c in customers:
        with pytest.raises(DecryptionFailed):
            old.data_key(c)


def test_a_rotation_by_another_process_is_seen(
    backend: Harness, kek: KekProvider, open_store: Callable[..., KeyStore]
) -> None:
    store = open_store(kek)
    store.ensure_key("ana")
    open_store(backend.make(create=False)).rotate()  # as another process would
    assert kek.current_epoch() == 2
    record = store.ensure_key("ben")
    assert record.kek_epoch == 2
    assert open_store(kek).data_key("ben").key_id == record.key_id


def test_destroy_epoch_rules(backend: Harness, kek: KekProvider) -> None:
    with pytest.raises(KekError, match="current"):
        kek.destroy_epoch(1)
    assert kek.new_epoch() == 2
    assert kek.new_epoch() == 3
    with pytest.raises(KekError, match="current"):
        kek.destroy_epoch(3)
    kek.destroy_epoch(1)
    kek.destroy_epoch(1)  # already gone: nothing to do
    assert kek.epochs() == [2, 3]
    assert backend.held() == [2, 3]


def test_epochs_name_the_key_store_that_made_them(backend: Harness) -> None:
    kek = backend.make(owner="ks_prod")
    assert kek.epoch_owner(1) == "ks_prod"
    assert kek.new_epoch(owner="ks_drill") == 2
    assert kek.epoch_owner(2) == "ks_drill"
    assert kek.new_epoch() == 3
    assert kek.epoch_owner(3) is None
    kek.destroy_epoch(1)
    assert kek.epoch_owner(1) is None  # the marker goes with the epoch
    assert kek.epoch_owner(2) == "ks_drill"


def test_full_vault_flow(backend: Harness, kek: KekProvider, tmp_path: Path) -> None:
    vault_flow(tmp_path, kek)
    assert backend.held() == [2]
