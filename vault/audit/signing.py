"""Audit signatures: what the audit key signs, how a signature travels, how it is checked.

A tree head or a receipt is signed over its canonical JSON (UTF-8); the signature travels
as base64 beside the document, labelled ``"alg": "Ed25519"`` and with the short id of
the key (:func:`keys.signing.public_key_id`) that auditors pin. A signature that does not
verify is a :class:`vault.errors.SignatureInvalid`, part of the vault's error tree.

The key itself is a ``keys`` handle (:class:`keys.signing.Ed25519Signer` from a 0600
file, or :class:`keys.signing.TokenSigner` in a PKCS#11 token): only ``keys`` imports
``cryptography.hazmat``, and key handles belong with the other keys. The audit code
depends only on the :class:`AuditSigner` protocol below, so either handle (or a test's
fake) serves.
"""

from __future__ import annotations

import base64
from typing import Protocol

from keys import signing as _ed25519
from keys.signing import load_public_key, public_key_id
from vault.errors import SignatureInvalid

__all__ = [
    "ALG",
    "AuditSigner",
    "SignatureInvalid",
    "check_signature",
    "load_public_key",
    "public_key_id",
    "sign_text",
]

ALG = "Ed25519"


class AuditSigner(Protocol):
    """What the audit log needs of its signing key."""

    @property
    def key_id(self) -> str:
        """Short id of the public key (what auditors pin and heads name)."""
        ...

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature of ``message``."""
        ...

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo)."""
        ...


def sign_text(signer: AuditSigner, text: str) -> str:
    """The base64 signature of ``text`` (canonical JSON) under the audit key."""
    return base64.b64encode(signer.sign(text.encode("utf-8"))).decode()


def check_signature(
    public_bytes: bytes, signature: str, message: bytes, *, validate: bool = True
) -> None:
    """Raise :class:`SignatureInvalid` unless base64 ``signature`` signs ``message``.

    ``validate=False`` skips characters outside the base64 alphabet before decoding, as
    the offline export verifier always has; a signature that is not base64 at all raises
    ``ValueError`` (``binascii.Error``) either way.
    """
    raw = base64.b64decode(signature, validate=validate)
    try:
        _ed25519.verify_signature(public_bytes, raw, message)
    except _ed25519.SignatureInvalid as exc:
        raise SignatureInvalid("signature does not verify") from exc
