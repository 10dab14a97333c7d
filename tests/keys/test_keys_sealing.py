"""AES-256-GCM sealing (keys.aead) and the DataKey handle."""

from __future__ import annotations

import base64
import copy
import os
import pickle

import pytest

from keys import DataKey, DecryptionFailed, KeyWiped, aead, key_commitment

CTX = ("facekeep/test", "customer-1", "template-1")


@pytest.mark.parametrize("size", [0, 1, 16, 512, 100_000])
def test_seal_open_round_trip(size: int) -> None:
    key = aead.new_key()
    plaintext = os.urandom(size)
    sealed = aead.seal(key, plaintext, CTX)
    assert len(sealed) == 1 + aead.NONCE_BYTES + size + aead.TAG_BYTES
    assert sealed[0] == aead.FORMAT_V1
    if size >= 16:
        assert plaintext not in sealed
    assert aead.open_sealed(key, sealed, CTX) == plaintext


def _failure_cases(
    key: bytearray, sealed: bytes
) -> dict[str, tuple[bytes | bytearray, bytes, tuple[str, ...]]]:
    other_key = aead.new_key()
    flip = lambda i: sealed[:i] + bytes([sealed[i] ^ 0x01]) + sealed[i + 1 :]  # noqa: E731
    return {
        "wrong key": (other_key, sealed, CTX),
        "wrong context value": (key, sealed, ("facekeep/test", "customer-2", "template-1")),
        "context reordered": (key, sealed, (CTX[0], CTX[2], CTX[1])),
        "context extra part": (key, sealed, (*CTX, "")),
        "context missing part": (key, sealed, CTX[:2]),
        "context re-split": (key, sealed, ("facekeep/test", "customer-1template-1", "")),
        "empty context": (key, sealed, ()),
        "version byte changed": (key, bytes([2]) + sealed[1:], CTX),
        "nonce bit flipped": (key, flip(5), CTX),
        "ciphertext bit flipped": (key, flip(1 + aead.NONCE_BYTES), CTX),
        "tag bit flipped": (key, flip(len(sealed) - 1), CTX),
        "truncated": (key, sealed[:-1], CTX),
        "too short": (key, sealed[: 1 + aead.NONCE_BYTES + aead.TAG_BYTES - 1], CTX),
        "empty": (key, b"", CTX),
        "extra byte": (key, sealed + b"\0", CTX),
    }


def test_every_failure_is_the_single_decryption_failed() -> None:
    key = aead.new_key()
    sealed = aead.seal(key, b"a 128-d face template would be here", CTX)
    assert aead.open_sealed(key, sealed, CTX)  # the untouched value does open
    for name, (k, value, ctx) in _failure_cases(key, sealed).items():
        with pytest.raises(DecryptionFailed) as info:
            aead.open_sealed(k, value, ctx)
        # One error type and one message whatever went wrong: nothing tells the causes apart.
        assert type(info.value) is DecryptionFailed, name
        assert str(info.value) == "decryption failed", name
        assert info.value.code == "decryption_failed", name


def test_context_parts_are_length_prefixed() -> None:
    assert aead.encode_context(("ab", "c")) != aead.encode_context(("a", "bc"))
    key = aead.new_key()
    sealed = aead.seal(key, b"x", ("ab", "c"))
    with pytest.raises(DecryptionFailed):
        aead.open_sealed(key, sealed, ("a", "bc"))
    with pytest.raises(DecryptionFailed):
        aead.open_sealed(key, sealed, ("abc",))


def test_sealing_without_context_is_refused() -> None:
    with pytest.raises(ValueError):
        aead.seal(aead.new_key(), b"x", ())


def test_two_seals_of_the_same_plaintext_use_different_nonces() -> None:
    key = aead.new_key()
    plaintext = b"\x00" * 512
    sealed = [aead.seal(key, plaintext, CTX) for _ in range(64)]
    assert all(s[0] == aead.FORMAT_V1 for s in sealed)
    nonces = {s[1 : 1 + aead.NONCE_BYTES] for s in sealed}
    assert len(nonces) == len(sealed)
    assert all(len(n) == aead.NONCE_BYTES for n in nonces)
    assert len({s[1 + aead.NONCE_BYTES :] for s in sealed}) == len(sealed)
    assert all(aead.open_sealed(key, s, CTX) == plaintext for s in sealed)


def test_wipe_zeroes_the_buffer() -> None:
    key = aead.new_key()
    assert any(key)
    aead.wipe(key)
    assert key == bytearray(aead.KEY_BYTES)


# -- DataKey -------------------------------------------------------------------------------


def _data_key() -> tuple[DataKey, bytes]:
    raw = os.urandom(32)
    return DataKey(bytearray(raw), key_id="k_0123", customer_id="cust-1"), raw


def _leaks(text: str, raw: bytes) -> list[str]:
    forms = {
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "bytes repr": repr(raw)[2:-1],
        "latin-1": raw.decode("latin-1"),
        "list of ints": str(list(raw))[1:-1],
    }
    found = [name for name, form in forms.items() if form in text]
    # Also no 8-byte stretch of the key in hex (a partial dump is a leak too).
    hex_text = text.lower()
    found += [f"hex[{i}:{i + 8}]" for i in range(25) if raw[i : i + 8].hex() in hex_text]
    return found


def test_datakey_repr_and_str_never_show_key_bytes() -> None:
    key, raw = _data_key()
    for text in (repr(key), str(key), f"{key}", f"{key!r}", format(key, ""), repr([key])):
        assert "k_0123" in text and "cust-1" in text
        assert _leaks(text, raw) == []


def test_datakey_has_no_attribute_dict_to_dump() -> None:
    key, _ = _data_key()
    assert not hasattr(key, "__dict__")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_datakey_cannot_be_pickled(protocol: int) -> None:
    key, _ = _data_key()
    with pytest.raises(TypeError):
        pickle.dumps(key, protocol=protocol)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [key]}, protocol=protocol)


def test_datakey_cannot_be_copied() -> None:
    key, _ = _data_key()
    with pytest.raises(TypeError):
        copy.copy(key)
    with pytest.raises(TypeError):
        copy.deepcopy(key)
    with pytest.raises(TypeError):
        copy.deepcopy({"k": key})


def test_datakey_refuses_a_key_of_the_wrong_length() -> None:
    for size in (0, 16, 31, 33, 64):
        with pytest.raises(ValueError):
            DataKey(bytearray(size), key_id="k", customer_id="c")


def test_datakey_seal_open_round_trip_and_context_binding() -> None:
    key, raw = _data_key()
    sealed = key.seal(b"template", CTX)
    assert key.open(sealed, CTX) == b"template"
    # Interoperable with the module functions: the handle really uses its own key.
    assert aead.open_sealed(raw, sealed, CTX) == b"template"
    with pytest.raises(DecryptionFailed):
        key.open(sealed, ("facekeep/test", "customer-2", "template-1"))
    other, _ = _data_key()
    with pytest.raises(DecryptionFailed):
        other.open(sealed, CTX)


def test_key_commitment_is_stable_recognises_the_key_and_differs_across_keys() -> None:
    key, raw = _data_key()
    first = key.commitment()
    assert key.commitment() == first  # stable across calls
    assert DataKey(bytearray(raw), key_id="k_0123", customer_id="x").commitment() == first
    assert key_commitment(raw, "k_0123") == first  # recognises the key from its bytes
    assert len(first) == 64 and int(first, 16) >= 0  # hex SHA-256
    assert _leaks(first, raw) == []

    assert key_commitment(os.urandom(32), "k_0123") != first  # another key, same id
    assert key_commitment(raw, "k_0124") != first  # same key, another id
    commitments = {key_commitment(os.urandom(32), "k_0123") for _ in range(50)}
    assert len(commitments) == 50


def test_a_wiped_datakey_is_unusable() -> None:
    key, _ = _data_key()
    sealed = key.seal(b"before", CTX)
    key.wipe()
    with pytest.raises(KeyWiped):
        key.open(sealed, CTX)
    # Sealing is refused too, never silently done under a publicly known key.
    with pytest.raises(KeyWiped):
        key.seal(b"after wipe", CTX)
