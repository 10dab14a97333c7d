"""The PKCS#11 KEK provider against a real SoftHSM2 token in a temporary directory."""

from __future__ import annotations

import os
import secrets
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11

from keys import DecryptionFailed, KekError, KeyStore
from keys.kek_pkcs11 import Pkcs11KekProvider
from tests.keys.providers import SOFTHSM_MODULE, SoftHsm, backup_db, vault_flow

CONTEXT = ("facekeep/dek/v1", "cust-1", "k_1", "1")


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """One SoftHSM2 token directory per test process (the module reads SOFTHSM2_CONF
    once, when it is first loaded)."""
    hsm = SoftHsm.setup(tmp_path_factory.mktemp("softhsm"))
    before = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(hsm.conf)
    yield hsm
    if before is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = before


class Token:
    """A fresh token: its label, PIN and providers opened on it (closed at teardown)."""

    def __init__(self, hsm: SoftHsm) -> None:
        self.hsm = hsm
        self.pin = "pin-" + secrets.token_hex(6)
        self.label = hsm.new_token(self.pin)
        # Let the already-loaded module see the new slot.
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()
        self.opened: list[Pkcs11KekProvider] = []

    def provider(self, *, create: bool = True, prefix: str = "facekeep-kek") -> Pkcs11KekProvider:
        make = Pkcs11KekProvider.create if create else Pkcs11KekProvider
        provider = make(SOFTHSM_MODULE, self.label, self.pin, key_label_prefix=prefix)
        self.opened.append(provider)
        return provider

    def public_session(self) -> pkcs11.Session:
        """A session without login: it sees private objects while a provider is logged
        in, and closing it does not log the provider out."""
        return pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=self.label).open(rw=True)

    def labels(self) -> list[str]:
        with self.public_session() as session:
            return sorted(
                str(o[Attribute.LABEL])
                for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
            )

    def close(self) -> None:
        for provider in self.opened:
            provider.close()


@pytest.fixture
def token(softhsm: SoftHsm) -> Iterator[Token]:
    t = Token(softhsm)
    yield t
    t.close()


@pytest.fixture
def kek(token: Token) -> Pkcs11KekProvider:
    return token.provider()


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[..., KeyStore]]:
    stores: list[KeyStore] = []

    def make(kek: Pkcs11KekProvider, path: Path | None = None) -> KeyStore:
        store = KeyStore.open_url(f"sqlite:///{path or tmp_path / 'keys.db'}", kek=kek)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def test_round_trip(kek: Pkcs11KekProvider) -> None:
    assert kek.name == "pkcs11"
    assert kek.epochs() == [1] and kek.current_epoch() == 1
    dek = bytearray(os.urandom(32))
    wrapped = kek.wrap(dek, epoch=1, context=CONTEXT)
    assert wrapped[0] == 0x01 and len(wrapped) == 1 + 12 + 32 + 16
    assert bytes(dek) not in wrapped
    assert kek.wrap(dek, epoch=1, context=CONTEXT) != wrapped  # a fresh nonce each time
    out = kek.unwrap(wrapped, epoch=1, context=CONTEXT)
    assert isinstance(out, bytearray) and out == dek


def test_any_mismatch_is_decryption_failed(kek: Pkcs11KekProvider) -> None:
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    kek.new_epoch()
    bad = [
        (wrapped, 1, ("facekeep/dek/v1", "cust-2", "k_1", "1")),  # another customer
        (wrapped, 1, ("facekeep/dek/v1", "cust-1k", "_1", "1")),  # same bytes, other split
        (wrapped, 2, CONTEXT),  # another epoch's KEK
        (wrapped, 7, CONTEXT),  # an epoch that never existed
        (wrapped, 0, CONTEXT),
        (wrapped[:-1], 1, CONTEXT),
        (wrapped[:20], 1, CONTEXT),
        (b"", 1, CONTEXT),
        (b"\x02" + wrapped[1:], 1, CONTEXT),
    ]
    for i in range(1, len(wrapped)):  # every byte of nonce, ciphertext and tag
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x01
        bad.append((bytes(tampered), 1, CONTEXT))
    for blob, epoch, context in bad:
        with pytest.raises(DecryptionFailed):
            kek.unwrap(blob, epoch=epoch, context=context)
    # The provider is still healthy afterwards.
    assert len(kek.unwrap(wrapped, epoch=1, context=CONTEXT)) == 32


def test_the_kek_never_leaves_the_token(token: Token, kek: Pkcs11KekProvider) -> None:
    with token.public_session() as session:
        key = session.get_key(label="facekeep-kek-000001")
        with pytest.raises(p11.AttributeSensitive):
            key[Attribute.VALUE]
        attrs = key.get_attributes(
            [
                Attribute.TOKEN,
                Attribute.PRIVATE,
                Attribute.SENSITIVE,
                Attribute.EXTRACTABLE,
                Attribute.ALWAYS_SENSITIVE,
                Attribute.NEVER_EXTRACTABLE,
                Attribute.COPYABLE,
                Attribute.MODIFIABLE,
                Attribute.WRAP,
                Attribute.VALUE_LEN,
            ]
        )
        assert attrs == {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.ALWAYS_SENSITIVE: True,
            Attribute.NEVER_EXTRACTABLE: True,
            Attribute.COPYABLE: False,
            Attribute.MODIFIABLE: False,
            Attribute.WRAP: False,
            Attribute.VALUE_LEN: 32,
        }
        # Not by wrapping it under a key we control either.
        export = session.generate_key(
            KeyType.AES, 256, capabilities=MechanismFlag.WRAP | MechanismFlag.ENCRYPT
        )
        with pytest.raises(p11.PKCS11Error):
            export.wrap_key(key)
        # Nor by copying it into an extractable object.
        with pytest.raises(p11.PKCS11Error):
            key.copy({Attribute.EXTRACTABLE: True, Attribute.LABEL: "stolen"})


def test_rotation_destroys_the_old_kek(
    softhsm: SoftHsm,
    token: Token,
    kek: Pkcs11KekProvider,
    open_store: Callable[..., KeyStore],
    tmp_path: Path,
) -> None:
    store = open_store(kek)
    customers = ["ana", "ben", "cao"]
    sealed: dict[str, bytes] = {}
    for c in customers:
        store.ensure_key(c)
        sealed[c] = store.seal(c, b"template of " + c.encode(), ("t", c))
    backup = backup_db(tmp_path / "keys.db", tmp_path / "keys-before-rotation.db")
    files_at_epoch_1 = softhsm.object_files()
    assert token.labels() == ["facekeep-kek-000001"]

    rotation = store.rotate()

    assert rotation.new_epoch == 2 and rotation.destroyed_epochs == [1]
    assert rotation.rewrapped == 3
    assert kek.epochs() == [2]
    assert token.labels() == ["facekeep-kek-000002"]
    gone = files_at_epoch_1 - softhsm.object_files()
    assert len(gone) == 1, "the epoch 1 key object's file must leave the token directory"
    assert not any(p.exists() for p in gone)

    # Live keys still open, through a fresh store with an empty cache.
    fresh = open_store(token.provider(create=False))
    for c in customers:
        assert fresh.open(c, sealed[c], ("t", c)) == b"template of " + c.encode()

    # The copy taken before rotation is useless: its KEK no longer exists.
    old = open_store(kek, backup)
    for c in customers:
        with pytest.raises(DecryptionFailed):
            old.data_key(c)


def test_a_rotation_by_another_process_is_seen(
    token: Token, kek: Pkcs11KekProvider, open_store: Callable[..., KeyStore]
) -> None:
    store = open_store(kek)
    store.ensure_key("ana")
    open_store(token.provider(create=False)).rotate()  # as another process would
    assert kek.current_epoch() == 2
    record = store.ensure_key("ben")
    assert record.kek_epoch == 2
    assert open_store(kek).data_key("ben").key_id == record.key_id


def test_destroy_epoch_rules(token: Token, kek: Pkcs11KekProvider) -> None:
    with pytest.raises(KekError, match="current"):
        kek.destroy_epoch(1)
    assert kek.new_epoch() == 2
    assert kek.new_epoch() == 3
    with pytest.raises(KekError, match="current"):
        kek.destroy_epoch(3)
    kek.destroy_epoch(2)
    kek.destroy_epoch(2)  # already gone: nothing to do
    assert kek.epochs() == [1, 3]
    assert token.labels() == ["facekeep-kek-000001", "facekeep-kek-000003"]


def test_create_is_idempotent_and_open_needs_a_key(token: Token) -> None:
    with pytest.raises(KekError, match="facekeep init"):
        token.provider(create=False)
    first = token.provider()
    again = token.provider()
    assert first.epochs() == again.epochs() == [1]
    assert token.provider(create=False).current_epoch() == 1
    # Another prefix is another, independent set of epochs.
    assert token.provider(prefix="other-kek").epochs() == [1]
    assert token.labels() == ["facekeep-kek-000001", "other-kek-000001"]


def test_pin_never_shown(token: Token, kek: Pkcs11KekProvider) -> None:
    assert token.pin not in repr(kek)
    kek.close()  # the token logs out once no provider holds it
    with pytest.raises(KekError) as info:
        Pkcs11KekProvider(SOFTHSM_MODULE, token.label, token.pin + "-wrong")
    assert "PinIncorrect" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert token.pin not in "".join(traceback.format_exception(info.value))
    with pytest.raises(KekError, match="no PKCS#11 token"):
        Pkcs11KekProvider(SOFTHSM_MODULE, "no-such-token", token.pin)
    with pytest.raises(KekError, match="cannot load"):
        Pkcs11KekProvider("/nonexistent/libpkcs11.so", token.label, token.pin)


def test_an_extractable_key_under_the_label_is_refused(token: Token) -> None:
    planted = token.provider(prefix="planted")
    with token.public_session() as session:
        session.generate_key(
            KeyType.AES,
            256,
            label="planted-000002",
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={Attribute.EXTRACTABLE: True, Attribute.SENSITIVE: False},
        )
    assert planted.current_epoch() == 2
    with pytest.raises(KekError, match="refusing"):
        planted.wrap(os.urandom(32), epoch=2, context=CONTEXT)


def test_threads_share_the_session(kek: Pkcs11KekProvider) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                dek = os.urandom(32)
                wrapped = kek.wrap(dek, epoch=1, context=CONTEXT)
                assert kek.unwrap(wrapped, epoch=1, context=CONTEXT) == dek
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_full_vault_flow(token: Token, kek: Pkcs11KekProvider, tmp_path: Path) -> None:
    vault_flow(tmp_path, kek)
    assert token.labels() == ["facekeep-kek-000002"]


def test_settings_build_the_provider(token: Token, tmp_path: Path) -> None:
    from api.runtime import make_kek
    from api.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        kek_provider="pkcs11",
        pkcs11_module=SOFTHSM_MODULE,
        pkcs11_token_label=token.label,
        pkcs11_pin=token.pin,
    )
    assert token.pin not in repr(settings)
    kek = make_kek(settings, create=True)
    try:
        assert isinstance(kek, Pkcs11KekProvider) and kek.epochs() == [1]
    finally:
        kek.close()
    with pytest.raises(KekError, match="PKCS11_PIN"):
        make_kek(Settings(data_dir=tmp_path, kek_provider="pkcs11"))


class CountingPkcs11(Pkcs11KekProvider):
    """Counts how often the KEK object is searched for in the token (a seam: every
    call still goes to the real token)."""

    finds = 0

    def _find_key(self, session: pkcs11.Session, epoch: int) -> Any:
        type(self).finds += 1
        return super()._find_key(session, epoch)


def test_the_key_object_is_found_once_per_epoch(token: Token) -> None:
    token.provider()
    kek = CountingPkcs11(SOFTHSM_MODULE, token.label, token.pin)
    token.opened.append(kek)
    CountingPkcs11.finds = 0
    contexts = [("facekeep/dek/v1", f"cust-{i}", f"k_{i}", "1") for i in range(50)]
    deks = [os.urandom(32) for _ in contexts]
    wrapped = kek.wrap_many([(d, 1, c) for d, c in zip(deks, contexts, strict=True)])
    items = [(w, 1, c) for w, c in zip(wrapped, contexts, strict=True)]
    items[3] = (wrapped[3], 1, contexts[4])  # another customer's associated data
    items[9] = (wrapped[9][:-1] + bytes([wrapped[9][-1] ^ 1]), 1, contexts[9])  # tampered
    out = kek.unwrap_many(items)
    assert [i for i, raw in enumerate(out) if raw is None] == [3, 9]
    assert all(out[i] == deks[i] for i in range(50) if i not in (3, 9))
    assert CountingPkcs11.finds == 1

    # Another process rotates and destroys epoch 1: the cached handle is not trusted
    # blindly, the key is looked up again and is gone.
    other = token.provider(create=False)
    assert other.new_epoch() == 2
    other.destroy_epoch(1)
    with pytest.raises(DecryptionFailed):
        kek.unwrap(wrapped[0], epoch=1, context=contexts[0])
    assert kek.unwrap_many(items[:2]) == [None, None]


def test_epochs_name_the_key_store_that_made_them(token: Token) -> None:
    kek = Pkcs11KekProvider.create(SOFTHSM_MODULE, token.label, token.pin, owner="ks_prod")
    token.opened.append(kek)
    assert kek.epoch_owner(1) == "ks_prod"
    assert kek.new_epoch(owner="ks_drill") == 2
    assert kek.epoch_owner(2) == "ks_drill"
    assert kek.new_epoch() == 3
    assert kek.epoch_owner(3) is None
    with token.public_session() as session:
        key = next(session.get_objects({Attribute.LABEL: "facekeep-kek-000001"}))
        with pytest.raises(p11.PKCS11Error):  # the binding cannot be rewritten
            key[Attribute.ID] = b"ks_drill"
