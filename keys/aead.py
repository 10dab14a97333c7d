"""AES-256-GCM sealing with mandatory associated data and a format version byte.

Sealed format: ``VERSION (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes)``.
The associated data is built from a tuple of strings with length prefixes, so that
``("ab", "c")`` and ``("a", "bc")`` never collide.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.errors import DecryptionFailed

FORMAT_V1 = 1
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16


def encode_context(parts: Sequence[str]) -> bytes:
    """Encode context strings unambiguously as associated data."""
    if not parts:
        raise ValueError("associated data is never optional")
    out = []
    for part in parts:
        raw = part.encode("utf-8")
        out.append(len(raw).to_bytes(4, "big"))
        out.append(raw)
    return b"".join(out)


def seal(key: bytes | bytearray, plaintext: bytes, context: Sequence[str]) -> bytes:
    """Encrypt ``plaintext`` under ``key`` with a fresh random nonce, bound to ``context``."""
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(key).encrypt(nonce, plaintext, encode_context(context))
    return bytes([FORMAT_V1]) + nonce + body


def open_sealed(key: bytes | bytearray, sealed: bytes, context: Sequence[str]) -> bytes:
    """Decrypt a value made by :func:`seal`; any failure raises :class:`DecryptionFailed`."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[0] != FORMAT_V1:
        raise DecryptionFailed()
    return open_with(AESGCM(key), sealed, context)


def open_with(cipher: AESGCM, sealed: bytes, context: Sequence[str]) -> bytes:
    """:func:`open_sealed` with a cipher object already keyed (one key, many values)."""
    if len(sealed) < 1 + NONCE_BYTES + TAG_BYTES or sealed[0] != FORMAT_V1:
        raise DecryptionFailed()
    nonce, body = sealed[1 : 1 + NONCE_BYTES], sealed[1 + NONCE_BYTES :]
    try:
        return cipher.decrypt(nonce, body, encode_context(context))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed() from exc


def new_key() -> bytearray:
    """Return 32 fresh random bytes in a buffer that can be wiped."""
    return bytearray(os.urandom(KEY_BYTES))


def wipe(buffer: bytearray) -> None:
    """Overwrite a key buffer with zeros (best effort: Python may hold other copies)."""
    buffer[:] = bytes(len(buffer))  # same length: overwritten in place
