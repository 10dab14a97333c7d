"""KEKs that live inside a PKCS#11 token (a hardware security module, or SoftHSM2).

The KEK of epoch N is an AES-256 secret key object labelled ``{prefix}-{N:06d}``,
generated inside the token as sensitive, non-extractable, non-copyable and
non-modifiable. Data keys are wrapped with CKM_AES_GCM inside the token:
``0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)``, with the encoded context
as associated data. Destroying an epoch destroys the key object, so copies of the key
store made before a rotation can no longer be unwrapped.

PKCS#11 login belongs to the whole process, not to a session: closing any logged-in
session logs every session of the process out. Providers on one token therefore share a
single logged-in session (reference counted), used under a lock since sessions are not
thread-safe.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11

from keys import aead
from keys.errors import DecryptionFailed, KekError
from keys.kek import UnwrapItem, WrapItem
from keys.signing import TokenSigner

__all__ = ["Pkcs11KekProvider"]

T = TypeVar("T")

FORMAT_V1 = 0x01
_NONCE_BYTES = 12
_TAG_BYTES = 16
_EPOCH_DIGITS = 6

# Errors after which the session is stale (token re-plugged, library re-initialised,
# logged out) and one fresh session may be tried.
_STALE = (
    p11.SessionHandleInvalid,
    p11.SessionClosed,
    p11.DeviceRemoved,
    p11.TokenNotPresent,
    p11.UserNotLoggedIn,
)
# A cached object handle that no longer names the key (destroyed by another process).
_GONE = (p11.KeyHandleInvalid, p11.ObjectHandleInvalid)
# The Ed25519 curve (RFC 8410) and the DER header of a 32-byte OCTET STRING, the form in
# which tokens report an Edwards public key (CKA_EC_POINT).
_ED25519_OID = "1.3.101.112"
_OCTETS_32 = b"\x04\x20"

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


class _TokenLink:
    """The one logged-in session this process keeps on one token."""

    def __init__(self, module_path: str, token_label: str, pin: str) -> None:
        self.module_path = module_path
        self.token_label = token_label
        self.pin = pin
        self.lock = threading.RLock()
        self.refs = 0
        self.pid = os.getpid()
        self._session: pkcs11.Session | None = None
        # Bumped whenever the session is dropped: object handles found in an older
        # session are not trusted again.
        self.generation = 0

    def __repr__(self) -> str:
        return f"<_TokenLink module={self.module_path!r} token={self.token_label!r}>"

    def session(self) -> pkcs11.Session:
        """The shared session, opened and logged in on first use."""
        if self.pid != os.getpid():
            raise KekError(
                "a PKCS#11 provider cannot be used across fork(); create it in the child"
            )
        if self._session is None:
            self._session = self._open()
        return self._session

    def _open(self) -> pkcs11.Session:
        try:
            lib = pkcs11.lib(self.module_path)
        except p11.PKCS11Error:
            raise KekError(f"cannot load the PKCS#11 module {self.module_path}") from None
        try:
            token = lib.get_token(token_label=self.token_label)
        except p11.NoSuchToken:
            raise KekError(f"no PKCS#11 token labelled {self.token_label!r}") from None
        except p11.PKCS11Error as exc:
            raise KekError(
                f"PKCS#11 token {self.token_label!r} is unavailable ({type(exc).__name__})"
            ) from None
        try:
            return token.open(rw=True, user_pin=self.pin)
        except p11.UserAlreadyLoggedIn:
            # Something else in this process is logged in; login is process-wide.
            return token.open(rw=True)
        except p11.PKCS11Error as exc:
            # Never chain: nothing about the PIN may reach a traceback.
            raise KekError(
                f"login to PKCS#11 token {self.token_label!r} failed ({type(exc).__name__})"
            ) from None

    def reset(self) -> None:
        """Drop the session (best effort close); the next use opens a new one."""
        session, self._session = self._session, None
        self.generation += 1
        if session is not None and self.pid == os.getpid():
            with contextlib.suppress(p11.PKCS11Error):
                session.close()


_LINKS: dict[tuple[str, str], _TokenLink] = {}
_LINKS_LOCK = threading.Lock()


def _attach(module_path: str, token_label: str, pin: str) -> _TokenLink:
    with _LINKS_LOCK:
        link = _LINKS.get((module_path, token_label))
        if link is None or link.pid != os.getpid():
            link = _TokenLink(module_path, token_label, pin)
            _LINKS[(module_path, token_label)] = link
        elif not hmac.compare_digest(link.pin.encode(), pin.encode()):
            raise KekError(
                f"PKCS#11 token {token_label!r} is already open in this process "
                "with a different PIN"
            )
        link.refs += 1
        return link


def _detach(link: _TokenLink) -> None:
    with _LINKS_LOCK:
        link.refs -= 1
        if link.refs > 0:
            return
        if _LINKS.get((link.module_path, link.token_label)) is link:
            del _LINKS[(link.module_path, link.token_label)]
    with link.lock:
        link.reset()


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
        self._link: _TokenLink | None = _attach(module_path, token_label, pin)
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
            _detach(link)

    # -- session plumbing ----------------------------------------------------------------

    def _run(self, op: Callable[[pkcs11.Session], T]) -> T:
        """Run ``op`` on the shared session, retrying once on a stale session."""
        link = self._link
        if link is None:
            raise KekError("this PKCS#11 provider is closed")
        with link.lock:
            for attempt in range(2):
                session = link.session()
                try:
                    return op(session)
                except _STALE as exc:
                    link.reset()
                    if attempt:
                        raise KekError(
                            f"PKCS#11 token {self._token_label!r} is unavailable "
                            f"({type(exc).__name__})"
                        ) from None
        raise AssertionError("unreachable")

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
            try:
                body = key.encrypt(
                    bytes(dek),
                    mechanism=Mechanism.AES_GCM,
                    mechanism_param=pkcs11.GCMParams(nonce, aad),
                )
            except _STALE:
                raise
            except _GONE:
                self._handles.pop(epoch, None)
                raise KekError(f"no KEK for epoch {epoch} in the PKCS#11 token") from None
            except p11.PKCS11Error as exc:
                raise KekError(f"PKCS#11 wrap failed ({type(exc).__name__})") from None
            return bytes([FORMAT_V1]) + nonce + bytes(body)

        return self._run(op)

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        """``wrap`` for each item (PKCS#11 has no batch call; the handle is cached)."""
        return [self.wrap(dek, epoch=epoch, context=context) for dek, epoch, context in items]

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        """Decrypt a wrapped data key inside the token; any mismatch is DecryptionFailed."""
        if (
            len(wrapped) < 1 + _NONCE_BYTES + _TAG_BYTES
            or wrapped[0] != FORMAT_V1
            or not 0 < epoch < 10**_EPOCH_DIGITS
        ):
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
        if (
            len(wrapped) < 1 + _NONCE_BYTES + _TAG_BYTES
            or wrapped[0] != FORMAT_V1
            or not 0 < epoch < 10**_EPOCH_DIGITS
        ):
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
            except _STALE:
                raise
            except _GONE:
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
            try:
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
            except _STALE:
                raise
            except p11.PKCS11Error as exc:
                raise KekError(
                    f"cannot generate a KEK in the PKCS#11 token ({type(exc).__name__})"
                ) from None
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
                try:
                    obj.destroy()
                except _STALE:
                    raise
                except p11.PKCS11Error as exc:
                    raise KekError(
                        f"cannot destroy PKCS#11 key {self._label(epoch)!r} ({type(exc).__name__})"
                    ) from None
            if self._objects(session, epoch):
                raise KekError(f"PKCS#11 key {self._label(epoch)!r} survived destruction")

        self._run(op)

    # -- the audit signing key ------------------------------------------------------------

    def audit_signer(self, label: str, *, create: bool = False) -> TokenSigner:
        """The deployment's audit signing key: an Ed25519 key pair in the token labelled
        ``label`` (private part sensitive and never extractable), made if ``create``."""

        def find(session: pkcs11.Session) -> tuple[Any, bytes] | None:
            private = list(
                session.get_objects(
                    {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}
                )
            )
            public = list(
                session.get_objects(
                    {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label}
                )
            )
            if not private and not public:
                return None
            if len(private) != 1 or len(public) != 1:
                raise KekError(f"PKCS#11 token holds an incomplete signing key {label!r}")
            attrs = private[0].get_attributes([Attribute.SENSITIVE, Attribute.EXTRACTABLE])
            if attrs.get(Attribute.SENSITIVE) is not True or attrs.get(Attribute.EXTRACTABLE):
                raise KekError(f"PKCS#11 signing key {label!r} is extractable; refusing it")
            point = bytes(public[0][Attribute.EC_POINT])
            raw = point[2:] if point[:2] == _OCTETS_32 and len(point) == 34 else point
            if len(raw) != 32:
                raise KekError(f"PKCS#11 key {label!r} is not an Ed25519 key")
            return private[0], raw

        def generate(session: pkcs11.Session) -> tuple[Any, bytes]:
            from pkcs11.util.ec import encode_named_curve_parameters

            found = find(session)
            if found is not None:
                return found
            try:
                params = session.create_domain_parameters(
                    KeyType.EC_EDWARDS,
                    {Attribute.EC_PARAMS: encode_named_curve_parameters(_ED25519_OID)},
                    local=True,
                )
                params.generate_keypair(
                    store=True,
                    label=label,
                    mechanism=Mechanism.EC_EDWARDS_KEY_PAIR_GEN,
                    private_template={
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.PRIVATE: True,
                        Attribute.SIGN: True,
                    },
                )
            except _STALE:
                raise
            except p11.PKCS11Error as exc:
                raise KekError(
                    f"cannot generate an Ed25519 signing key in the token ({type(exc).__name__})"
                ) from None
            made = find(session)
            assert made is not None
            return made

        found = self._run(generate if create else find)
        if found is None:
            raise KekError(
                f"no audit signing key labelled {label!r} in PKCS#11 token "
                f"{self._token_label!r}; run `facekeep init` to create one"
            )
        public = found[1]

        def sign(message: bytes) -> bytes:
            def op(session: pkcs11.Session) -> bytes:
                located = find(session)
                if located is None:
                    raise KekError(f"the audit signing key {label!r} left the token")
                try:
                    return bytes(located[0].sign(message, mechanism=Mechanism.EDDSA))
                except _STALE:
                    raise
                except p11.PKCS11Error as exc:
                    raise KekError(f"PKCS#11 signing failed ({type(exc).__name__})") from None

            return self._run(op)

        return TokenSigner(public, sign)
