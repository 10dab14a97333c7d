"""The PKCS#11 KEK provider against a real SoftHSM2 token in a temporary directory."""

from __future__ import annotations

import os
import threading
import traceback
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, MechanismFlag
from pkcs11 import exceptions as p11

from keys import DecryptionFailed, KekError
from keys.kek_pkcs11 import Pkcs11KekProvider
from tests.keys.providers import SOFTHSM_MODULE, SoftHsm, Token

CONTEXT = ("facekeep/dek/v1", "cust-1", "k_1", "1")


@pytest.fixture
def kek(token: Token) -> Pkcs11KekProvider:
    return token.provider()


def test_wrapped_format(kek: Pkcs11KekProvider) -> None:
    # Round trips, fresh nonces and the common refusals: test_kek_contract.py.
    assert kek.name == "pkcs11"
    dek = bytearray(os.urandom(32))
    wrapped = kek.wrap(dek, epoch=1, context=CONTEXT)
    assert wrapped[0] == 0x01 and len(wrapped) == 1 + 12 + 32 + 16
    assert kek.unwrap(wrapped, epoch=1, context=CONTEXT) == dek


def test_every_tampered_byte_is_decryption_failed(kek: Pkcs11KekProvider) -> None:
    # Other contexts, epochs and truncation: test_kek_contract.py.
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    bad = [wrapped[:20], b"\x02" + wrapped[1:]]  # cut inside the nonce; another version byte
    for i in range(1, len(wrapped)):  # every byte of nonce, ciphertext and tag
        tampered = bytearray(wrapped)
        tampered[i] ^= 0x01
        bad.append(bytes(tampered))
    for blob in bad:
        with pytest.raises(DecryptionFailed):
            kek.unwrap(blob, epoch=1, context=CONTEXT)
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


def test_a_destroyed_epoch_leaves_the_token_directory(
    softhsm: SoftHsm, token: Token, kek: Pkcs11KekProvider
) -> None:
    # Rotation through a key store and backups taken before it: test_kek_contract.py.
    files_at_epoch_1 = softhsm.object_files()
    assert token.labels() == ["facekeep-kek-000001"]
    assert kek.new_epoch() == 2
    kek.destroy_epoch(1)
    assert token.labels() == ["facekeep-kek-000002"]
    gone = files_at_epoch_1 - softhsm.object_files()
    assert len(gone) == 1, "the epoch 1 key object's file must leave the token directory"
    assert not any(p.exists() for p in gone)


def test_any_epoch_but_the_current_can_be_destroyed(token: Token, kek: Pkcs11KekProvider) -> None:
    # The current epoch's refusal and the oldest's destruction: test_kek_contract.py.
    assert kek.new_epoch() == 2
    assert kek.new_epoch() == 3
    kek.destroy_epoch(2)
    kek.destroy_epoch(2)  # already gone: nothing to do
    assert kek.epochs() == [1, 3]
    assert token.labels() == ["facekeep-kek-000001", "facekeep-kek-000003"]


def test_another_prefix_is_another_set_of_epochs(token: Token) -> None:
    # Creating twice, and opening without a key: test_kek_contract.py.
    assert token.provider().epochs() == [1]
    assert token.provider(prefix="other-kek").epochs() == [1]
    assert token.labels() == ["facekeep-kek-000001", "other-kek-000001"]


def test_pin_never_shown(token: Token, kek: Pkcs11KekProvider) -> None:
    # Not in the provider's repr either: test_kek_contract.py.
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


def test_the_owner_binding_cannot_be_rewritten(token: Token) -> None:
    # Epochs named after their key store: test_kek_contract.py.
    kek = token.provider(owner="ks_prod")
    assert kek.epoch_owner(1) == "ks_prod"
    with token.public_session() as session:
        key = next(session.get_objects({Attribute.LABEL: "facekeep-kek-000001"}))
        with pytest.raises(p11.PKCS11Error):  # the binding cannot be rewritten
            key[Attribute.ID] = b"ks_drill"
