"""The in-memory handle of one customer's unwrapped data key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import NoReturn

from keys import aead
from keys.errors import KeyWiped

_COMMITMENT_LABEL = b"facekeep/key-commitment/v1"


def key_commitment(key: bytes | bytearray, key_id: str) -> str:
    """HMAC-SHA256 of a fixed label under the key: recognises a key without revealing it."""
    return hmac.new(bytes(key), _COMMITMENT_LABEL + key_id.encode(), hashlib.sha256).hexdigest()


class DataKey:
    """A customer's AES-256-GCM data key. Its bytes never appear in repr, str or pickles."""

    __slots__ = ("_key", "_wiped", "customer_id", "key_id")

    def __init__(self, key: bytearray, *, key_id: str, customer_id: str) -> None:
        if len(key) != aead.KEY_BYTES:
            raise ValueError("a data key is 32 bytes")
        self._key = key
        self._wiped = False
        self.key_id = key_id
        self.customer_id = customer_id

    def __repr__(self) -> str:
        return f"DataKey(key_id={self.key_id!r}, customer_id={self.customer_id!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("data keys cannot be pickled")

    def __copy__(self) -> NoReturn:
        raise TypeError("data keys cannot be copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError("data keys cannot be copied")

    def _live(self) -> bytearray:
        if self._wiped:
            raise KeyWiped(self.key_id)
        return self._key

    def seal(self, plaintext: bytes, context: Sequence[str]) -> bytes:
        """Encrypt under this key; ``context`` becomes the associated data."""
        return aead.seal(self._live(), plaintext, context)

    def open(self, sealed: bytes, context: Sequence[str]) -> bytes:
        """Decrypt a value sealed under this key with the same context."""
        return aead.open_sealed(self._live(), sealed, context)

    def commitment(self) -> str:
        """Return the key commitment (safe to publish)."""
        return key_commitment(self._live(), self.key_id)

    def wipe(self) -> None:
        """Zero the key buffer; the handle refuses every use afterwards."""
        self._wiped = True
        aead.wipe(self._key)
