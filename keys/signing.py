"""Ed25519 key handles: a signing key kept in a 0600 seed file (:class:`Ed25519Signer`)
or inside a PKCS#11 token (:class:`TokenSigner`), raw signatures, and public-key parsing.

These are the primitives under the audit log's signatures (tree heads, receipts). They
stay in ``keys`` because only ``keys`` touches ``cryptography.hazmat`` and key handles
belong with the other keys (a repr that shows the id, never the bytes; no pickling).
What is signed, in which encoding, and what a bad signature means for the audit log is
the audit subsystem's business: :mod:`vault.audit.signing`.

The audit key is a different key from the KEK. With the local or transit KEK provider it
is kept in its own 0600 file (``DATA_DIR/audit/signing-ed25519.key``), which every
replica of a deployment must share; with the PKCS#11 provider it is a non-extractable
Ed25519 key pair inside the token, shared by every replica that opens the token.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from keys.errors import KekError
from keys.kek import _read_key_file, _write_key_file


class SignatureInvalid(Exception):
    """A signature does not verify under the given public key."""


class Ed25519Signer:
    """An Ed25519 signing key from a seed file; its repr shows only the key id."""

    __slots__ = ("_private", "key_id", "public_bytes")

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_bytes = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = public_key_id(self.public_bytes)

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self.key_id!r})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("signing keys cannot be pickled")

    @classmethod
    def load_or_create(cls, path: Path) -> Ed25519Signer:
        """Load the key file, creating a new key (mode 0600) if there is none."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            seed = bytearray(os.urandom(32))
            _write_key_file(path, seed)
        return cls.load(path)

    @classmethod
    def load(cls, path: Path) -> Ed25519Signer:
        """Load an existing key file (refused if other users can read it)."""
        try:
            seed = _read_key_file(path)
        except FileNotFoundError:
            raise KekError(f"no audit signing key at {path}; run `facekeep init`") from None
        return cls(Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return (
            self._private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


class TokenSigner(Ed25519Signer):
    """An Ed25519 signer whose private key never leaves a token: it signs through
    ``sign`` (for example a PKCS#11 session) and knows only the public key."""

    __slots__ = ("_sign",)

    def __init__(self, public_bytes: bytes, sign: Callable[[bytes], bytes]) -> None:
        if len(public_bytes) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        self._sign = sign
        self.public_bytes = public_bytes
        self.key_id = public_key_id(public_bytes)

    def __repr__(self) -> str:
        return f"TokenSigner(key_id={self.key_id!r})"

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature made inside the token, checked before it is handed out."""
        signature = self._sign(message)
        verify_signature(self.public_bytes, signature, message)
        return signature

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        return (
            Ed25519PublicKey.from_public_bytes(self.public_bytes)
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )


def public_key_id(public_bytes: bytes) -> str:
    """A short id of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_bytes).hexdigest()[:16]


def load_public_key(text: str) -> bytes:
    """Raw 32-byte Ed25519 public key from PEM or base64 text."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def verify_signature(public_bytes: bytes, signature: bytes, message: bytes) -> None:
    """Raise SignatureInvalid unless ``signature`` signs ``message`` under the key."""
    try:
        Ed25519PublicKey.from_public_bytes(public_bytes).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid("signature does not verify") from exc
