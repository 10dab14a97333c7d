"""Write the JSON test vectors of facekeep's stored formats (tests/vectors/*.json).

Run once, by hand, when a format deliberately changes (a new version byte, a new leaf
field): ``.venv/bin/python tests/vectors/generate.py``. The tests never run it: they read
the files and check that today's code opens, verifies and re-encodes them byte for byte
(tests/test_vectors.py), as pyca/cryptography does with its Fernet vectors. A change to
a format that was not meant shows up there as a failing vector, not as a silently
regenerated file: never regenerate to make a failing test pass.

Every input is fixed here (keys, nonces, ids, times), and the randomness the code draws
(AES-GCM nonces, receipt ids) is pinned to the values written down, so running this
again writes the same bytes. The keys below are test keys and protect nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # run as a script from anywhere

from keys import aead  # noqa: E402
from keys.datakey import DataKey, key_commitment  # noqa: E402
from keys.kek import LocalKekProvider, _write_key_file  # noqa: E402
from keys.signing import Ed25519Signer  # noqa: E402
from keys.store import _wrap_context  # noqa: E402
from vault.audit import receipts  # noqa: E402
from vault.audit.events import SYSTEM, Actor, canonical_json, leaf  # noqa: E402
from vault.audit.log import TreeHead, head_body  # noqa: E402
from vault.audit.merkle import MerkleTree, leaf_hash  # noqa: E402
from vault.audit.signing import sign_text  # noqa: E402
from vault.consent import ConsentRequest  # noqa: E402
from vault.templates import template_context  # noqa: E402

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _fixed(label: str, size: int = 32) -> bytes:
    """Test bytes derived from a label, so the file shows where each value comes from."""
    return hashlib.sha256(f"facekeep test vector: {label}".encode()).digest()[:size]


@contextmanager
def _nonce(value: bytes) -> Iterator[None]:
    """Make :mod:`keys.aead` draw ``value`` as its next random nonce."""
    saved = aead.os
    aead.os = SimpleNamespace(urandom=lambda n: value[:n])  # type: ignore[assignment]
    try:
        yield
    finally:
        aead.os = saved


def signer(seed: bytes) -> Ed25519Signer:
    """An audit signer from a fixed seed, loaded from a 0600 file as the service does."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signing-ed25519.key"
        _write_key_file(path, bytearray(seed))
        return Ed25519Signer.load(path)


def sealed_templates() -> dict[str, Any]:
    """Templates sealed under a customer's data key."""
    cases = []
    for name, customer, template, model, dims in (
        ("an SFace template", "cust-0001", "tpl-01", "sface-2021dec-int8", 128),
        ("a dlib template", "guest.42", "t_7", "dlib-resnet-v1", 128),
    ):
        key = _fixed(f"data key of {customer}")
        nonce = _fixed(f"nonce of {customer}/{template}", aead.NONCE_BYTES)
        rng = np.random.default_rng(int.from_bytes(_fixed(template, 4), "big"))
        vector = rng.uniform(-0.3, 0.3, dims).astype("<f4")
        context = template_context(customer, template, model)
        with _nonce(nonce):
            sealed = DataKey(bytearray(key), key_id="k", customer_id=customer).seal(
                vector.tobytes(), context
            )
        cases.append(
            {
                "description": name,
                "data_key": key.hex(),
                "customer_id": customer,
                "template_id": template,
                "model_version": model,
                "context": list(context),
                "nonce": nonce.hex(),
                "embedding_f32le": vector.tobytes().hex(),
                "sealed": sealed.hex(),
            }
        )
    good = cases[0]
    sealed = bytes.fromhex(good["sealed"])
    flipped = bytearray(sealed)
    flipped[20] ^= 0x01
    invalid = [
        {"description": "a ciphertext byte flipped", "sealed": bytes(flipped).hex()},
        {"description": "the tag cut short", "sealed": sealed[:-1].hex()},
        {"description": "an unknown version byte", "sealed": (b"\x02" + sealed[1:]).hex()},
        {"description": "too short to hold nonce and tag", "sealed": sealed[:28].hex()},
        {
            "description": "another customer's context",
            "sealed": sealed.hex(),
            "context": list(
                template_context("cust-0002", good["template_id"], good["model_version"])
            ),
        },
        {
            "description": "another model version",
            "sealed": sealed.hex(),
            "context": list(template_context(good["customer_id"], good["template_id"], "x")),
        },
    ]
    return {
        "format": "sealed template v1: 0x01 || nonce (12) || AES-256-GCM ciphertext || tag "
        "(16); associated data: each context string as a 4-byte big-endian length and "
        "its UTF-8 bytes; plaintext: 128 little-endian float32",
        "vectors": cases,
        "invalid": [{**good, **case} for case in invalid],
    }


def wrapped_keys() -> dict[str, Any]:
    """Data keys wrapped by the local KEK provider (epoch 1, a fixed KEK)."""
    kek = _fixed("local KEK, epoch 1")
    provider = LocalKekProvider(None, fixed=kek)
    cases = []
    for customer, key_id in (("cust-0001", "dk_0001"), ("khách-hàng", "dk_0002")):
        dek = _fixed(f"data key of {customer}")
        nonce = _fixed(f"wrap nonce of {key_id}", aead.NONCE_BYTES)
        context = _wrap_context(customer, key_id, 1)
        with _nonce(nonce):
            wrapped = provider.wrap(dek, epoch=1, context=context)
        cases.append(
            {
                "description": f"the data key of {customer}",
                "provider": "local",
                "kek": kek.hex(),
                "epoch": 1,
                "customer_id": customer,
                "key_id": key_id,
                "context": list(context),
                "nonce": nonce.hex(),
                "data_key": dek.hex(),
                "wrapped": wrapped.hex(),
                "commitment": key_commitment(dek, key_id),
            }
        )
    good = cases[0]
    wrapped = bytes.fromhex(good["wrapped"])
    invalid = [
        {"description": "wrapped for another key id", "key_id": "dk_9999"},
        {"description": "wrapped under another epoch", "epoch": 2},
        {"description": "the last byte changed", "wrapped": (wrapped[:-1] + b"\x00").hex()},
    ]
    return {
        "format": "wrapped data key (local KEK provider) v1: 0x01 || nonce (12) || "
        "AES-256-GCM(data key) || tag (16) under the epoch's KEK; associated data: "
        "('facekeep/dek/v1', customer id, key id, epoch) encoded as for templates; "
        "commitment: HMAC-SHA256(data key, 'facekeep/key-commitment/v1' || key id)",
        "vectors": cases,
        "invalid": [{**good, **case} for case in invalid],
    }


def _events() -> list[dict[str, Any]]:
    staff = Actor(role="staff", id="cred_staff_1")
    kiosk = Actor(role="kiosk", id="kiosk-lobby")
    return [
        {
            "ts": T0,
            "actor": staff,
            "action": "enrol",
            "customer_id": "cust-0001",
            "details": {"consent": "cn_1", "purposes": ["checkin"], "templates": 3},
        },
        {
            "ts": T0.replace(second=5, microsecond=250000),
            "actor": kiosk,
            "action": "match",
            "outcome": "match",
            "customer_id": "cust-0001",
            "details": {
                "purpose": "checkin",
                "venue": "venue-1",
                "consent": "cn_1",
                "distance": 0.3121,
            },
        },
        {
            "ts": T0.replace(minute=1),
            "actor": kiosk,
            "action": "match",
            "outcome": "no_match",
            "details": {"purpose": "checkin", "venue": "venue-1"},
        },
        {
            "ts": T0.replace(minute=2),
            "actor": SYSTEM,
            "action": "breach.recorded",
            "details": {"summary": "Thiết bị bị mất tại quầy lễ tân"},
        },
        {
            "ts": T0.replace(minute=3),
            "actor": staff,
            "action": "revoke",
            "outcome": "ok",
            "customer_id": "cust-0001",
            "details": None,
        },
    ]


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in event.items() if k not in ("ts", "actor")}
    return {
        "ts": event["ts"].isoformat(),
        "actor": {"role": event["actor"].role, "id": event["actor"].id},
        **out,
    }


def audit_leaves() -> dict[str, Any]:
    """Audit events as canonical-JSON leaves and their RFC 6962 leaf hashes."""
    cases = []
    for seq, event in enumerate(_events()):
        text = leaf(seq, event)
        cases.append(
            {
                "seq": seq,
                "event": _event_json(event),
                "leaf": text,
                "leaf_hash": leaf_hash(text.encode("utf-8")).hex(),
            }
        )
    return {
        "format": "audit leaf v1: canonical JSON (sorted keys, no spaces, UTF-8 kept) of "
        '{"v": 1, "seq", "ts", "actor": {"role", "id"}, "action", "outcome", "customer", '
        '"details"}; leaf hash: SHA-256(0x00 || leaf)',
        "vectors": cases,
    }


def tree_heads(leaves: dict[str, Any], seed: bytes) -> dict[str, Any]:
    """Signed tree heads over the first leaves of :func:`audit_leaves`."""
    audit = signer(seed)
    hashes = [bytes.fromhex(case["leaf_hash"]) for case in leaves["vectors"]]
    tree = MerkleTree.from_leaf_hashes(hashes)
    cases = []
    for size in (1, 3, len(hashes)):
        at = T0.replace(hour=10, minute=size)
        root = tree.root(size).hex()
        body = head_body(size, root, at, audit.key_id)
        signature = sign_text(audit, canonical_json(body))
        head = TreeHead(size, root, at, audit.key_id, signature)
        cases.append(
            {
                "tree_size": size,
                "leaf_hashes": [h.hex() for h in hashes[:size]],
                "signed": canonical_json(body),
                "head": head.to_json(),
            }
        )
    return {
        "format": "signed tree head v1: Ed25519 over the canonical JSON of "
        '{"v": 1, "log": "facekeep-audit", "tree_size", "root_hash" (hex, RFC 6962), '
        '"timestamp", "key_id"}; served and exported with "signature" (base64) and '
        '"alg": "Ed25519"; key id: first 16 hex digits of SHA-256(raw public key)',
        "signing_seed": seed.hex(),
        "public_key": audit.public_bytes.hex(),
        "key_id": audit.key_id,
        "vectors": cases,
    }


@contextmanager
def _receipt_id(value: str) -> Iterator[None]:
    """Make the receipt builders draw ``value`` as the next receipt id."""
    saved = receipts._receipt_id
    receipts._receipt_id = lambda prefix: value  # type: ignore[assignment]
    try:
        yield
    finally:
        receipts._receipt_id = saved


def _signed(
    audit: Ed25519Signer, kind: str, customer: str, receipt_id: str, text: str
) -> dict[str, Any]:
    """A receipt body's vector fields: the body, its hash and the signed document."""
    signed = receipts.SignedReceipt(
        receipt_id=receipt_id,
        kind=kind,
        customer_id=customer,
        body=text,
        signature=sign_text(audit, text),
        key_id=audit.key_id,
    )
    return {"body": text, "sha256": signed.sha256(), "document": signed.document()}


def destruction_receipts(seed: bytes) -> dict[str, Any]:
    """Destruction receipts, signed with the audit key."""
    audit = signer(seed)
    policy = receipts.ReceiptPolicy(
        controller="Khách sạn Sông Hàn", jurisdiction="VN", policy_url="https://example.test/p"
    )
    cases = []
    for receipt_id, customer, keys, epoch, reason, index in (
        ("dr_00112233445566778899", "cust-0001", ["dk_0001"], 1, "customer request", 41),
        ("dr_aabbccddeeff00112233", "guest.42", ["dk_0002", "dk_0003"], None, "retention", 7),
    ):
        commitments = [key_commitment(_fixed(f"data key {k}"), k) for k in keys]
        with _receipt_id(receipt_id):
            body = receipts.destruction_receipt_body(
                policy=policy,
                customer_id=customer,
                key_ids=keys,
                commitments=commitments,
                kek_epoch=epoch,
                reason=reason,
                at=T0.replace(hour=11),
                log_index=index,
            )
        text = canonical_json(body)
        cases.append(
            {
                "inputs": {
                    "policy": {
                        "controller": policy.controller,
                        "jurisdiction": policy.jurisdiction,
                        "policy_url": policy.policy_url,
                    },
                    "receipt_id": receipt_id,
                    "customer_id": customer,
                    "key_ids": keys,
                    "commitments": commitments,
                    "kek_epoch": epoch,
                    "reason": reason,
                    "at": T0.replace(hour=11).isoformat(),
                    "log_index": index,
                },
                **_signed(audit, "destruction", customer, receipt_id, text),
            }
        )
    return {
        "format": "destruction receipt facekeep-destruction-receipt/1: canonical JSON body "
        "signed with Ed25519 by the audit key; the document is "
        '{"receipt", "signature" (base64), "key_id", "alg": "Ed25519"}; the audit log '
        "records SHA-256(body)",
        "signing_seed": seed.hex(),
        "public_key": audit.public_bytes.hex(),
        "key_id": audit.key_id,
        "vectors": cases,
    }


def consent_receipts(seed: bytes) -> dict[str, Any]:
    """Consent receipts, signed with the audit key."""
    audit = signer(seed)
    policy = receipts.ReceiptPolicy()  # the defaults a deployment starts with
    cases = []
    for receipt_id, customer, consent_id, consent in (
        (
            "cr_00112233445566778899",
            "cust-0001",
            "cn_1",
            ConsentRequest(
                purposes=("checkin", "marketing", "checkin"),
                venues=("venue-2", "venue-1", "venue-2"),
                notice_text="Chúng tôi dùng khuôn mặt của bạn để nhận phòng.",
                notice_version="2026-11",
                lang="vi",
                method="counter",
                device="tablet-3",
                expires_at=T0.replace(year=2027),
            ),
        ),
        (
            "cr_aabbccddeeff00112233",
            "guest.42",
            "cn_2",
            ConsentRequest(
                purposes=("checkin",),
                venues=("lobby",),
                notice_text="We use your face to check you in.",
                notice_version="v3",
                lang="en",
            ),
        ),
    ):
        with _receipt_id(receipt_id):
            body = receipts.consent_receipt_body(
                policy=policy, customer_id=customer, consent_id=consent_id, consent=consent, at=T0
            )
        text = canonical_json(body)
        cases.append(
            {
                "inputs": {
                    "policy": asdict(policy),
                    "receipt_id": receipt_id,
                    "customer_id": customer,
                    "consent_id": consent_id,
                    "consent": {
                        **asdict(consent),
                        "expires_at": consent.expires_at.isoformat()
                        if consent.expires_at
                        else None,
                    },
                    "at": T0.isoformat(),
                },
                **_signed(audit, "consent", customer, receipt_id, text),
            }
        )
    return {
        "format": "consent receipt facekeep-consent-receipt/1 (Kantara Consent Receipt, "
        "ISO/IEC TS 27560 fields): canonical JSON body signed with Ed25519 by the audit "
        'key; the document is {"receipt", "signature" (base64), "key_id", "alg": '
        '"Ed25519"}; the audit log records SHA-256(body)',
        "signing_seed": seed.hex(),
        "public_key": audit.public_bytes.hex(),
        "key_id": audit.key_id,
        "vectors": cases,
    }


def write(name: str, value: dict[str, Any]) -> None:
    """Write one vector file (sorted keys, one space indent, UTF-8 kept, final newline)."""
    text = json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    (HERE / name).write_text(text, encoding="utf-8")
    print(f"wrote {HERE / name}")


def main() -> None:
    """Write every vector file."""
    seed = _fixed("audit signing key")
    leaves = audit_leaves()
    write("sealed_template.json", sealed_templates())
    write("wrapped_key.json", wrapped_keys())
    write("audit_leaf.json", leaves)
    write("tree_head.json", tree_heads(leaves, seed))
    write("destruction_receipt.json", destruction_receipts(seed))
    write("consent_receipt.json", consent_receipts(seed))


if __name__ == "__main__":
    main()
