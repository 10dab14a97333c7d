"""Stored formats pinned by JSON test vectors (tests/vectors/*.json), in the manner of
pyca/cryptography's Fernet vectors: today's code must open and verify every vector, and,
where the format is deterministic once its randomness is fixed, encode the same inputs to
the same bytes. A format change is caught here at once; the vectors are written by
tests/vectors/generate.py, by hand, never at test time.

The format tests touch no database (SQLite pass only); the last tests write the audit
vectors through the real writers on the engine under test and compare the stored rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dbkit import make_engine, writing
from keys import DecryptionFailed, LocalKekProvider, aead
from keys.datakey import DataKey, key_commitment
from keys.kek import _write_key_file
from keys.signing import Ed25519Signer
from keys.store import _wrap_context
from vault.audit import receipts
from vault.audit.events import Actor, append_event, append_events, canonical_json, leaf
from vault.audit.log import AuditLog, TreeHead, check_head_signature, head_from_json
from vault.audit.merkle import MerkleTree, leaf_hash
from vault.audit.signing import check_signature, public_key_id, sign_text
from vault.consent import ConsentRequest
from vault.errors import SignatureInvalid
from vault.models import metadata
from vault.templates import open_template, seal_template, template_context

VECTORS = Path(__file__).parent / "vectors"


def _load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


TEMPLATES = _load("sealed_template.json")
WRAPPED = _load("wrapped_key.json")
LEAVES = _load("audit_leaf.json")
HEADS = _load("tree_head.json")
RECEIPTS = _load("destruction_receipt.json")
CONSENT_RECEIPTS = _load("consent_receipt.json")


def _ids(cases: list[dict[str, Any]], key: str = "description") -> list[str]:
    return [str(case.get(key, i)) for i, case in enumerate(cases)]


def _pin_nonce(monkeypatch: pytest.MonkeyPatch, nonce_hex: str) -> None:
    """The next AES-GCM nonce :mod:`keys.aead` draws is the vector's."""
    nonce = bytes.fromhex(nonce_hex)
    monkeypatch.setattr(aead, "os", SimpleNamespace(urandom=lambda n: nonce[:n]))


def _signer(tmp_path: Path, vectors: dict[str, Any]) -> Ed25519Signer:
    """The vectors' audit key, loaded from a 0600 seed file as the service loads it."""
    path = tmp_path / "signing-ed25519.key"
    _write_key_file(path, bytearray(bytes.fromhex(vectors["signing_seed"])))
    signer = Ed25519Signer.load(path)
    assert signer.public_bytes.hex() == vectors["public_key"]
    assert signer.key_id == vectors["key_id"] == public_key_id(signer.public_bytes)
    return signer


class _OneKey:
    """The part of a KeyStore that templates use, holding one customer's data key."""

    def __init__(self, case: dict[str, Any]) -> None:
        self.customer_id = case["customer_id"]
        self.key = DataKey(
            bytearray(bytes.fromhex(case["data_key"])), key_id="k", customer_id=self.customer_id
        )

    def seal(self, customer_id: str, plaintext: bytes, context: Any) -> bytes:
        assert customer_id == self.customer_id
        return self.key.seal(plaintext, context)

    def open(self, customer_id: str, sealed: bytes, context: Any) -> bytes:
        assert customer_id == self.customer_id
        return self.key.open(sealed, context)


def _event(case: dict[str, Any]) -> dict[str, Any]:
    """An audit vector's event as the writers take it."""
    event = dict(case["event"])
    event["ts"] = datetime.fromisoformat(event["ts"])
    event["actor"] = Actor(**event["actor"])
    return event


# -- sealed templates ------------------------------------------------------------------


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", TEMPLATES["vectors"], ids=_ids(TEMPLATES["vectors"]))
def test_sealed_template_opens(case: dict[str, Any]) -> None:
    args = (case["customer_id"], case["template_id"], case["model_version"])
    assert list(template_context(*args)) == case["context"]
    vector = open_template(_OneKey(case), *args, bytes.fromhex(case["sealed"]))  # type: ignore[arg-type]
    assert vector.dtype == np.float32
    assert vector.astype("<f4").tobytes().hex() == case["embedding_f32le"]


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", TEMPLATES["vectors"], ids=_ids(TEMPLATES["vectors"]))
def test_sealed_template_encodes_to_the_vector(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin_nonce(monkeypatch, case["nonce"])
    vector = np.frombuffer(bytes.fromhex(case["embedding_f32le"]), dtype="<f4")
    args = (case["customer_id"], case["template_id"], case["model_version"])
    sealed = seal_template(_OneKey(case), *args, vector)  # type: ignore[arg-type]
    assert sealed.hex() == case["sealed"]


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", TEMPLATES["invalid"], ids=_ids(TEMPLATES["invalid"]))
def test_invalid_sealed_template_is_refused(case: dict[str, Any]) -> None:
    key = _OneKey(case)
    with pytest.raises(DecryptionFailed):
        key.open(case["customer_id"], bytes.fromhex(case["sealed"]), tuple(case["context"]))


# -- wrapped data keys -----------------------------------------------------------------


def _kek(case: dict[str, Any]) -> LocalKekProvider:
    assert case["provider"] == "local"
    return LocalKekProvider(None, fixed=bytes.fromhex(case["kek"]))


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", WRAPPED["vectors"], ids=_ids(WRAPPED["vectors"]))
def test_wrapped_key_unwraps(case: dict[str, Any]) -> None:
    context = _wrap_context(case["customer_id"], case["key_id"], case["epoch"])
    assert list(context) == case["context"]
    dek = _kek(case).unwrap(bytes.fromhex(case["wrapped"]), epoch=case["epoch"], context=context)
    assert bytes(dek).hex() == case["data_key"]
    assert key_commitment(dek, case["key_id"]) == case["commitment"]


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", WRAPPED["vectors"], ids=_ids(WRAPPED["vectors"]))
def test_wrapped_key_encodes_to_the_vector(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _pin_nonce(monkeypatch, case["nonce"])
    context = _wrap_context(case["customer_id"], case["key_id"], case["epoch"])
    wrapped = _kek(case).wrap(bytes.fromhex(case["data_key"]), epoch=case["epoch"], context=context)
    assert wrapped.hex() == case["wrapped"]


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", WRAPPED["invalid"], ids=_ids(WRAPPED["invalid"]))
def test_invalid_wrapped_key_is_refused(case: dict[str, Any]) -> None:
    context = _wrap_context(case["customer_id"], case["key_id"], case["epoch"])
    with pytest.raises(DecryptionFailed):
        _kek(case).unwrap(bytes.fromhex(case["wrapped"]), epoch=1, context=context)


# -- audit leaves ----------------------------------------------------------------------


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", LEAVES["vectors"], ids=_ids(LEAVES["vectors"], "seq"))
def test_audit_leaf_is_built_and_hashed_as_the_vector(case: dict[str, Any]) -> None:
    text = leaf(case["seq"], _event(case))
    assert text == case["leaf"]
    assert leaf_hash(text.encode("utf-8")).hex() == case["leaf_hash"]
    body = json.loads(case["leaf"])
    assert body["v"] == 1 and body["seq"] == case["seq"]
    assert canonical_json(body) == case["leaf"]  # canonical: parsing and writing again


# -- signed tree heads -----------------------------------------------------------------


@pytest.mark.engine_neutral
@pytest.mark.parametrize("case", HEADS["vectors"], ids=_ids(HEADS["vectors"], "tree_size"))
def test_tree_head_verifies_and_signs_to_the_vector(case: dict[str, Any], tmp_path: Path) -> None:
    head = head_from_json(case["head"])
    public = bytes.fromhex(HEADS["public_key"])
    check_head_signature(head, public)
    tree = MerkleTree.from_leaf_hashes(bytes.fromhex(h) for h in case["leaf_hashes"])
    assert tree.root().hex() == head.root_hash
    assert [h for h in case["leaf_hashes"]] == [
        c["leaf_hash"] for c in LEAVES["vectors"][: case["tree_size"]]
    ]
    # Ed25519 is deterministic: the same body and key give the same signature.
    signer = _signer(tmp_path, HEADS)
    assert canonical_json(head.signed_body()) == case["signed"]
    again = TreeHead(
        head.tree_size,
        head.root_hash,
        head.timestamp,
        signer.key_id,
        sign_text(signer, case["signed"]),
    )
    assert again.to_json() == case["head"]
    forged = TreeHead(
        head.tree_size + 1, head.root_hash, head.timestamp, head.key_id, head.signature
    )
    with pytest.raises(SignatureInvalid):
        check_head_signature(forged, public)


# -- receipts ---------------------------------------------------------------------------


def _receipt_body(
    kind: str, case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The receipt body today's builder makes from the vector's inputs."""
    inputs = case["inputs"]
    monkeypatch.setattr(receipts, "_receipt_id", lambda prefix: inputs["receipt_id"])
    policy = receipts.ReceiptPolicy(**inputs["policy"])
    at = datetime.fromisoformat(inputs["at"])
    if kind == "consent":
        consent = dict(inputs["consent"])
        expires = consent.pop("expires_at")
        return receipts.consent_receipt_body(
            policy=policy,
            customer_id=inputs["customer_id"],
            consent_id=inputs["consent_id"],
            consent=ConsentRequest(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in consent.items()},
                expires_at=None if expires is None else datetime.fromisoformat(expires),
            ),
            at=at,
        )
    return receipts.destruction_receipt_body(
        policy=policy,
        customer_id=inputs["customer_id"],
        key_ids=inputs["key_ids"],
        commitments=inputs["commitments"],
        kek_epoch=inputs["kek_epoch"],
        reason=inputs["reason"],
        at=at,
        log_index=inputs["log_index"],
    )


RECEIPT_CASES = [
    pytest.param(kind, vectors, case, id=f"{kind}-{case['inputs']['receipt_id']}")
    for kind, vectors in (("destruction", RECEIPTS), ("consent", CONSENT_RECEIPTS))
    for case in vectors["vectors"]
]


@pytest.mark.engine_neutral
@pytest.mark.parametrize(("kind", "vectors", "case"), RECEIPT_CASES)
def test_receipt_verifies_and_signs_to_the_vector(
    kind: str,
    vectors: dict[str, Any],
    case: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = case["document"]
    public = bytes.fromhex(vectors["public_key"])
    text = canonical_json(document["receipt"])
    assert text == case["body"]
    check_signature(public, document["signature"], text.encode("utf-8"))
    with pytest.raises(SignatureInvalid):
        check_signature(public, document["signature"], text.replace("1", "2").encode("utf-8"))
    body = _receipt_body(kind, case, monkeypatch)
    assert canonical_json(body) == case["body"]
    signer = _signer(tmp_path, vectors)
    signed = receipts.SignedReceipt(
        receipt_id=body["receipt_id"],
        kind=kind,
        customer_id=body["pii_principal_id"],
        body=canonical_json(body),
        signature=sign_text(signer, canonical_json(body)),
        key_id=signer.key_id,
    )
    assert signed.document() == document
    assert signed.sha256() == case["sha256"]


# -- the real writers, on the engine under test ----------------------------------------


@pytest.fixture
def vault_engine(db_urls: Any) -> Any:
    engine = make_engine(db_urls.vault)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_the_writers_store_the_vector_leaves_and_sign_the_vector_head(
    vault_engine: Any, tmp_path: Path
) -> None:
    events = [_event(case) for case in LEAVES["vectors"]]
    with writing(vault_engine) as conn:
        assert append_event(conn, **events[0]) == 0  # one event: what most changes write
        assert append_events(conn, events[1:]) == list(range(1, len(events)))  # the queue
    with vault_engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT seq, leaf, leaf_hash FROM audit_events ORDER BY seq"
        ).all()
    assert [(r[0], r[1], bytes(r[2]).hex()) for r in rows] == [
        (c["seq"], c["leaf"], c["leaf_hash"]) for c in LEAVES["vectors"]
    ]
    case = HEADS["vectors"][-1]
    assert case["tree_size"] == len(events)
    at = datetime.fromisoformat(case["head"]["timestamp"])
    log = AuditLog(vault_engine, signer=_signer(tmp_path, HEADS), clock=lambda: at)
    assert log.sign_head().to_json() == case["head"]


def test_an_issued_receipt_is_stored_as_the_vector(
    vault_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = RECEIPTS["vectors"][0]
    body = _receipt_body("destruction", case, monkeypatch)
    at = datetime.fromisoformat(case["inputs"]["at"])
    with writing(vault_engine) as conn:
        signed, _ = receipts.issue(
            conn,
            _signer(tmp_path, RECEIPTS),
            kind="destruction",
            body=body,
            at=at,
            actor=Actor(role="system", id="facekeep"),
        )
    stored = receipts.read_receipts(vault_engine, receipt_id=signed.receipt_id)
    assert [r.document() for r in stored] == [case["document"]]
    with vault_engine.connect() as conn:
        logged = conn.exec_driver_sql("SELECT leaf FROM audit_events").scalar_one()
    assert json.loads(logged)["details"] == {
        "receipt_id": case["inputs"]["receipt_id"],
        "sha256": case["sha256"],
    }
