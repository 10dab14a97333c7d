"""KEKs that live inside a PKCS#11 token (a hardware security module, or SoftHSM2).

The KEK of epoch N is an AES-256 secret key object labelled ``{prefix}-{N:06d}``,
generated inside the token as sensitive, non-extractable, non-copyable and
non-modifiable. Data keys are wrapped with CKM_AES_GCM inside the token:
``0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)``, with the encoded context
as associated data. Destroying an epoch destroys the key object, so copies of the key
store made before a rotation can no longer be unwrapped.

The one logged-in session per token that every provider in the process shares is in
:mod:`keys.pkcs11_session`; the audit signing key pair in :mod:`keys.pkcs11_signer`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11

from keys import aead
from keys.errors import DecryptionFailed, KekError
from keys.kek import UnwrapItem, WrapItem
from keys.pkcs11_session import GONE, STALE, TokenLink, attach, detach, token_errors
from keys.pkcs11_signer import token_signer
from keys.signing import TokenSigner

__all__ = ["Pkcs11KekProvider"]

T = TypeVar("T")

FORMAT_V1 = 0x01
_NONCE_BYTES = 12
_TAG_BYTES = 16
_EPOCH_DIGITS = 6

# What every KEK object must say about itself before it is used.
_REQUIRED = {
    Attribute.KEY_TYPE: KeyType.AES,
    Attribute.VALUE_LEN: aead.KEY_BYTES,
    Attribute.TOKEN: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.ALWAYS_SENSITIVE: True,
    Attribute.NEVER_EXTRACTABLE: True,
}


def _well_formed(wrapped: bytes, epoch: int) -> bool:
    """Whether ``wrapped`` can be a version-1 wrapped key of a valid epoch at all."""
    return (
        len(wrapped) >= 1 + _NONCE_BYTES + _TAG_BYTES
        and wrapped[0] == FORMAT_V1
        and 0 < epoch < 10**_EPOCH_DIGITS
    )


class Pkcs11KekProvider:
    """KEK provider backed by AES-256 key objects inside a PKCS#11 token."""

    name = "pkcs11"
    batch_size = 1_000

    def __init__(
        self,
        module_path: str,
        token_label: str,
        pin: str,
        key_label_prefix: str = "facekeep-kek",
    ) -> None:
        self._connect(module_path, token_label, pin, key_label_prefix)
        if not self.epochs():
            self.close()
            raise KekError(
                f"no key-encryption key labelled {key_label_prefix}-NNNNNN in PKCS#11 token "
                f"{token_label!r}; run `facekeep init` to create one"
            )

    def _connect(self, module_path: str, token_label: str, pin: str, prefix: str) -> None:
        if not prefix or not prefix.isprintable():
            raise KekError("the PKCS#11 key label prefix must be printable and not empty")
        self._module_path = module_path
        self._token_label = token_label
        self._prefix = prefix
        self._label_re = re.compile(rf"^{re.escape(prefix)}-(\d{{{_EPOCH_DIGITS}}})$")
        # epoch -> (session generation, key object): finding and checking the object
        # costs several times the unwrap itself, and a cold start unwraps a million keys.
        self._handles: dict[int, tuple[int, Any]] = {}
        self._link: TokenLink | None = attach(module_path, token_label, pin)
        try:
            self._run(lambda session: None)  # fail fast on a bad module, token or PIN
        except BaseException:
            self.close()
            raise

    @classmethod
    def create(
        cls,
        module_path: str,
        token_label: str,
        pin: str,
        key_label_prefix: str = "facekeep-kek",
        *,
        owner: str | None = None,
    ) -> Pkcs11KekProvider:
        """Open the token and generate epoch 1, bound to key store ``owner``, if it holds
        no KEK yet (idempotent)."""
        provider = cls.__new__(cls)
        provider._connect(module_path, token_label, pin, key_label_prefix)
        try:
            if not provider.epochs():
                provider.new_epoch(owner=owner)
        except BaseException:
            provider.close()
            raise
        return provider

    def __repr__(self) -> str:
        return (
            f"Pkcs11KekProvider(module_path={self._module_path!r}, "
            f"token_label={self._token_label!r}, key_label_prefix={self._prefix!r})"
        )

    def close(self) -> None:
        """Release this provider's share of the token session (idempotent)."""
        link, self._link = self._link, None
        if link is not None:
            detach(link)

    # -- session plumbing ----------------------------------------------------------------

    def _run(self, op: Callable[[pkcs11.Session], T]) -> T:
        """Run ``op`` on the shared session, retrying once on a stale session."""
        link = self._link
        if link is None:
            raise KekError("this PKCS#11 provider is closed")
        return link.run(op)

    def _label(self, epoch: int) -> str:
        if not 0 < epoch < 10**_EPOCH_DIGITS:
            raise KekError(f"epoch {epoch} is out of range")
        return f"{self._prefix}-{epoch:0{_EPOCH_DIGITS}d}"

    def _objects(self, session: pkcs11.Session, epoch: int) -> list[Any]:
        return list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: self._label(epoch)}
            )
        )

    def _key(self, session: pkcs11.Session, epoch: int) -> Any | None:
        """The KEK object of an epoch, checked to be a sealed AES-256 key; None if absent.

        Found and checked once per session, then taken from the handle cache."""
        link = self._link
        assert link is not None
        cached = self._handles.get(epoch)
        if cached is not None and cached[0] == link.generation:
            return cached[1]
        key = self._find_key(session, epoch)
        if key is not None:
            self._handles[epoch] = (link.generation, key)
        return key

    def _find_key(self, session: pkcs11.Session, epoch: int) -> Any | None:
        found = self._objects(session, epoch)
        if not found:
            return None
        if len(found) > 1:
            raise KekError(f"several PKCS#11 objects are labelled {self._label(epoch)!r}")
        key = found[0]
        attrs = key.get_attributes(list(_REQUIRED))
        if any(attrs.get(name) != value for name, value in _REQUIRED.items()):
            raise KekError(
                f"PKCS#11 key {self._label(epoch)!r} is not a sensitive, never-extractable "
                "AES-256 key generated in the token; refusing to use it"
            )
        return key

    def _list_epochs(self, session: pkcs11.Session) -> list[int]:
        found: set[int] = set()
        for obj in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}):
            match = self._label_re.match(str(obj[Attribute.LABEL]))
            if match:
                found.add(int(match.group(1)))
        return sorted(found)

    # -- KekProvider ---------------------------------------------------------------------

    def epochs(self) -> list[int]:
        """Every epoch with a key object in the token, oldest first."""

        return self._run(self._list_epochs)

    def current_epoch(self) -> int:
        """The newest epoch in the token."""
        epochs = self.epochs()
        if not epochs:
            raise KekError(f"no key-encryption key in PKCS#11 token {self._token_label!r}")
        return epochs[-1]

    def wrap(self, dek: bytes | bytearray, *, epoch: int, context: tuple[str, ...]) -> bytes:
        """AES-GCM-encrypt ``dek`` inside the token under the KEK of ``epoch``."""
        aad = aead.encode_context(context)
        nonce = os.urandom(_NONCE_BYTES)

        def op(session: pkcs11.Session) -> bytes:
            key = self._key(session, epoch)
            if key is None:
                raise KekError(f"no KEK for epoch {epoch} in the PKCS#11 token")
            with token_errors("PKCS#11 wrap failed"):
                try:
                    body = key.encrypt(
                        bytes(dek),
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=pkcs11.GCMParams(nonce, aad),
                    )
                except GONE:
                    self._handles.pop(epoch, None)
                    raise KekError(f"no KEK for epoch {epoch} in the PKCS#11 token") from None
            return bytes([FORMAT_V1]) + nonce + bytes(body)

        return self._run(op)

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        """``wrap`` for each item (PKCS#11 has no batch call; the handle is cached)."""
        return [self.wrap(dek, epoch=epoch, context=context) for dek, epoch, context in items]

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        """Decrypt a wrapped data key inside the token; any mismatch is DecryptionFailed."""
        if not _well_formed(wrapped, epoch):
            raise DecryptionFailed()
        result = self.unwrap_many([(wrapped, epoch, context)])[0]
        if result is None:
            raise DecryptionFailed()
        return result

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        """Decrypt many wrapped data keys inside the token under one lock, each with its
        own associated data; an item that does not open is None."""

        def op(session: pkcs11.Session) -> list[bytearray | None]:
            return [self._unwrap_one(session, *item) for item in items]

        return self._run(op)

    def _unwrap_one(
        self, session: pkcs11.Session, wrapped: bytes, epoch: int, context: tuple[str, ...]
    ) -> bytearray | None:
        if not _well_formed(wrapped, epoch):
            return None
        for _attempt in range(2):
            key = self._key(session, epoch)
            if key is None:
                return None
            try:
                plain = key.decrypt(
                    bytes(wrapped[1 + _NONCE_BYTES :]),
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=pkcs11.GCMParams(
                        bytes(wrapped[1 : 1 + _NONCE_BYTES]), aead.encode_context(context)
                    ),
                )
            except STALE:
                raise
            except GONE:
                # Destroyed by another process since it was cached: look it up again.
                self._handles.pop(epoch, None)
                continue
            except p11.PKCS11Error:
                return None
            return bytearray(plain)
        return None

    def probe(self) -> None:
        """List the epochs: a call that needs the module, the token and the login."""
        self.epochs()

    def new_epoch(self, *, owner: str | None = None) -> int:
        """Generate the next epoch's key object inside the token, its CKA_ID naming the
        key store it belongs to, and return its number."""

        def op(session: pkcs11.Session) -> int:
            epoch = max(self._list_epochs(session), default=0) + 1
            label = self._label(epoch)
            bound = {Attribute.ID: owner.encode()} if owner else {}
            with token_errors("cannot generate a KEK in the PKCS#11 token"):
                key = session.generate_key(
                    KeyType.AES,
                    aead.KEY_BYTES * 8,
                    label=label,
                    store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    template={
                        Attribute.TOKEN: True,
                        Attribute.PRIVATE: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.MODIFIABLE: False,
                        Attribute.COPYABLE: False,
                        Attribute.WRAP: False,
                        Attribute.UNWRAP: False,
                        Attribute.DERIVE: False,
                        Attribute.SIGN: False,
                        Attribute.VERIFY: False,
                        **bound,
                    },
                )
            if len(self._objects(session, epoch)) != 1:
                # Another process generated the same epoch at the same moment.
                key.destroy()
                raise KekError(f"concurrent KEK rotation created {label!r} twice; retry")
            return epoch

        return self._run(op)

    def epoch_owner(self, epoch: int) -> str | None:
        """The key store named in the epoch's CKA_ID (None: unbound or absent)."""

        def op(session: pkcs11.Session) -> str | None:
            for obj in self._objects(session, epoch):
                try:
                    raw = bytes(obj[Attribute.ID])
                except p11.PKCS11Error:
                    return None
                return raw.decode("utf-8", "replace") or None
            return None

        return self._run(op)

    def destroy_epoch(self, epoch: int) -> None:
        """Destroy the key object of a non-current epoch (no-op if already gone)."""

        def op(session: pkcs11.Session) -> None:
            if epoch >= max(self._list_epochs(session), default=0):
                raise KekError("the current KEK epoch cannot be destroyed")
            self._handles.pop(epoch, None)
            for obj in self._objects(session, epoch):
                with token_errors(f"cannot destroy PKCS#11 key {self._label(epoch)!r}"):
                    obj.destroy()
            if self._objects(session, epoch):
                raise KekError(f"PKCS#11 key {self._label(epoch)!r} survived destruction")

        self._run(op)

    # -- the audit signing key ------------------------------------------------------------

    def audit_signer(self, label: str, *, create: bool = False) -> TokenSigner:
        """The deployment's audit signing key: an Ed25519 key pair in the token labelled
        ``label`` (private part sensitive and never extractable), made if ``create``."""
        return token_signer(self._run, label, create=create, token_label=self._token_label)
