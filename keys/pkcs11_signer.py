"""The audit signing key inside a PKCS#11 token: an Ed25519 key pair whose private part
is sensitive and never extractable (see :meth:`Pkcs11KekProvider.audit_signer`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass

from keys.errors import KekError
from keys.pkcs11_session import token_errors
from keys.signing import TokenSigner

T = TypeVar("T")

# The Ed25519 curve (RFC 8410) and the DER header of a 32-byte OCTET STRING, the form in
# which tokens report an Edwards public key (CKA_EC_POINT).
_ED25519_OID = "1.3.101.112"
_OCTETS_32 = b"\x04\x20"


class SessionRunner(Protocol):
    """Runs an operation on the provider's shared session (``Pkcs11KekProvider._run``)."""

    def __call__(self, op: Callable[[pkcs11.Session], T]) -> T: ...


def _find(session: pkcs11.Session, label: str) -> tuple[Any, bytes] | None:
    """The private key object and raw public key labelled ``label``; None if absent."""
    private = list(
        session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label})
    )
    public = list(
        session.get_objects({Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.LABEL: label})
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


def _generate(session: pkcs11.Session, label: str) -> tuple[Any, bytes]:
    """The key pair labelled ``label``, generated in the token unless it is there."""
    from pkcs11.util.ec import encode_named_curve_parameters

    found = _find(session, label)
    if found is not None:
        return found
    with token_errors("cannot generate an Ed25519 signing key in the token"):
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
    made = _find(session, label)
    assert made is not None
    return made


def token_signer(run: SessionRunner, label: str, *, create: bool, token_label: str) -> TokenSigner:
    """The signer over the key pair ``label`` in the token, made if ``create``."""

    def locate(session: pkcs11.Session) -> tuple[Any, bytes] | None:
        return _generate(session, label) if create else _find(session, label)

    found = run(locate)
    if found is None:
        raise KekError(
            f"no audit signing key labelled {label!r} in PKCS#11 token "
            f"{token_label!r}; run `facekeep init` to create one"
        )

    def sign(message: bytes) -> bytes:
        def op(session: pkcs11.Session) -> bytes:
            located = _find(session, label)
            if located is None:
                raise KekError(f"the audit signing key {label!r} left the token")
            with token_errors("PKCS#11 signing failed"):
                return bytes(located[0].sign(message, mechanism=Mechanism.EDDSA))

        return run(op)

    return TokenSigner(found[1], sign)
