"""Auditor routes: read the audit log and key states; change nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from api.auth import roles
from api.problems import Problem
from api.state import app_state
from vault import read_events

router = APIRouter(tags=["auditor"])


@router.get("/v1/audit/events", **roles("auditor"))
def audit_events(
    request: Request,
    after: int = Query(default=-1, ge=-1),
    limit: int = Query(default=100, ge=1, le=1000),
    customer: str | None = Query(default=None, max_length=64),
) -> Any:
    """Audit events in order, paged by sequence number."""
    engine = app_state(request).runtime.vault.engine
    events = list(read_events(engine, after=after, limit=limit, customer_id=customer))
    return {
        "events": [{**e.body, "leaf_hash": e.leaf_hash.hex()} for e in events],
        "next_after": events[-1].seq if events else after,
    }


def _key_json(record: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "customer": record.customer_id,
        "state": record.state,
        "kek_epoch": record.kek_epoch,
        "commitment": record.commitment,
        "created_at": record.created_at.isoformat(),
        "destroyed_at": record.destroyed_at.isoformat() if record.destroyed_at else None,
        "destroy_reason": record.destroy_reason,
    }


@router.get("/v1/keys", **roles("auditor"))
def key_states(
    request: Request,
    state: str | None = Query(default=None, pattern="^(active|destroyed)$"),
) -> Any:
    """Every data key's state (never key bytes)."""
    keys = app_state(request).runtime.keys
    return {"keys": [_key_json(r) for r in keys.records() if state is None or r.state == state]}


@router.get("/v1/keys/{key_id}", **roles("auditor"))
def key_state(key_id: str, request: Request) -> Any:
    """One data key's state."""
    record = app_state(request).runtime.keys.record_by_key_id(key_id)
    if record is None:
        raise Problem("key_not_found", f"no key {key_id!r}")
    return _key_json(record)
