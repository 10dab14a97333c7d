"""Auditor routes: read the audit log and key states; change nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.answers import (
    AuditEvents,
    AuditKey,
    ConsistencyProof,
    InclusionProof,
    KeyState,
    KeyStates,
    Receipt,
    Receipts,
    TreeHead,
    TreeHeads,
)
from api.auth import public, roles
from api.problems import Problem
from api.state import app_state
from keys import KeyRecord
from vault import read_events
from vault.audit.receipts import read_receipts

router = APIRouter(tags=["auditor"])


@router.get("/v1/audit/events", **roles("auditor"))
def audit_events(
    request: Request,
    # The sequence column is a 32-bit INTEGER on PostgreSQL (and SQLite binds at most
    # 64 bits): larger values are refused here instead of failing in the database.
    after: int = Query(default=-1, ge=-1, le=2**31 - 1),
    limit: int = Query(default=100, ge=1, le=1000),
    customer: str | None = Query(default=None, max_length=64),
) -> AuditEvents:
    """Audit events in order, paged by sequence number."""
    engine = app_state(request).runtime.vault.engine
    events = list(read_events(engine, after=after, limit=limit, customer_id=customer))
    return AuditEvents(
        events=[{**e.body, "leaf_hash": e.leaf_hash.hex()} for e in events],
        next_after=events[-1].seq if events else after,
    )


def _key_json(record: KeyRecord) -> KeyState:
    return KeyState(
        key_id=record.key_id,
        customer=record.customer_id,
        state=record.state,
        kek_epoch=record.kek_epoch,
        commitment=record.commitment,
        created_at=record.created_at.isoformat(),
        destroyed_at=record.destroyed_at.isoformat() if record.destroyed_at else None,
        destroy_reason=record.destroy_reason,
    )


@router.get("/v1/keys", **roles("auditor"))
def key_states(
    request: Request,
    state: str | None = Query(default=None, pattern="^(active|destroyed)$"),
) -> KeyStates:
    """Every data key's state (never key bytes)."""
    keys = app_state(request).runtime.keys
    return KeyStates(
        keys=[_key_json(r) for r in keys.records() if state is None or r.state == state]
    )


@router.get("/v1/keys/{key_id}", **roles("auditor"))
def key_state(key_id: str, request: Request) -> KeyState:
    """One data key's state."""
    record = app_state(request).runtime.keys.record_by_key_id(key_id)
    if record is None:
        raise Problem("key_not_found", f"no key {key_id!r}")
    return _key_json(record)


def _log(request: Request) -> Any:
    audit = app_state(request).runtime.vault.audit
    assert audit is not None
    return audit


@router.get("/.well-known/facekeep-audit-key", **public())
def audit_public_key(request: Request) -> AuditKey:
    """The Ed25519 public key that verifies tree heads and receipts."""
    signer = _log(request).signer
    return AuditKey(key_id=signer.key_id, alg="Ed25519", public_key_pem=signer.public_pem())


@router.get("/v1/audit/head", **roles("auditor"))
def audit_head(request: Request) -> TreeHead:
    """The latest signed tree head (a new one is signed if the log grew)."""
    return TreeHead.model_validate(_log(request).sign_head().to_json())


@router.get("/v1/audit/heads", **roles("auditor"))
def audit_heads(request: Request) -> TreeHeads:
    """Every signed tree head."""
    return TreeHeads(heads=[TreeHead.model_validate(h.to_json()) for h in _log(request).heads()])


@router.get("/v1/audit/proofs/inclusion", **roles("auditor"))
def inclusion_proof(
    request: Request,
    index: int = Query(ge=0),
    tree_size: int | None = Query(default=None, ge=1),
) -> InclusionProof:
    """Inclusion proof of entry ``index`` in the tree of ``tree_size`` (default: latest)."""
    log = _log(request)
    size = tree_size or log.sign_head().tree_size
    if index >= size or size > log.size():
        raise Problem("invalid_request", "need index < tree_size <= the log size")
    leaf, leaf_hash = log.leaf(index)
    return InclusionProof(
        index=index,
        tree_size=size,
        leaf=leaf,
        leaf_hash=leaf_hash,
        proof=log.inclusion_proof(index, size),
        root_hash=log.tree().root(size).hex(),
    )


@router.get("/v1/audit/proofs/consistency", **roles("auditor"))
def consistency_proof(
    request: Request,
    first: int = Query(ge=0),
    second: int | None = Query(default=None, ge=1),
) -> ConsistencyProof:
    """Consistency proof between two tree sizes (default second: latest)."""
    log = _log(request)
    second = second or log.sign_head().tree_size
    if first > second or second > log.size():
        raise Problem("invalid_request", "need first <= second <= the log size")
    tree = log.tree()
    return ConsistencyProof(
        first=first,
        second=second,
        first_root=tree.root(first).hex(),
        second_root=tree.root(second).hex(),
        proof=log.consistency_proof(first, second),
    )


@router.get("/v1/receipts/{receipt_id}", **roles("auditor"))
def receipt(receipt_id: str, request: Request) -> Receipt:
    """A signed receipt and the log entry that records it."""
    engine = app_state(request).runtime.vault.engine
    found = read_receipts(engine, receipt_id=receipt_id)
    if not found:
        raise Problem("not_found", f"no receipt {receipt_id!r}")
    return Receipt.model_validate(found[0].document())


@router.get("/v1/customers/{customer_id}/receipts", **roles("auditor"))
def customer_receipts(customer_id: str, request: Request) -> Receipts:
    """Every receipt of a customer (consent and destruction), for an auditor's search."""
    engine = app_state(request).runtime.vault.engine
    found = read_receipts(engine, customer_id=customer_id)
    return Receipts(receipts=[Receipt.model_validate(r.document()) for r in found])
