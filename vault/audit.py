"""The audit log: one canonical-JSON leaf per event, written in the same transaction as
the state change it records. Leaves are hashed as RFC 6962 Merkle leaves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from dbkit import serialise_writers
from vault.merkle import leaf_hash
from vault.models import audit_events


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a role and the id of the credential used (never the secret)."""

    role: str
    id: str


SYSTEM = Actor(role="system", id="facekeep")
AUDIT_LOCK = 0x66616B  # advisory lock id that orders audit appends on PostgreSQL


def canonical_json(value: Any) -> str:
    """Serialise deterministically: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class AuditEvent:
    """One stored event."""

    seq: int
    ts: datetime
    action: str
    customer_id: str | None
    body: dict[str, Any]
    leaf_hash: bytes


def append_event(
    conn: Connection,
    *,
    ts: datetime,
    actor: Actor,
    action: str,
    outcome: str = "ok",
    customer_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append an event inside the caller's transaction and return its sequence number.

    Details must never hold an image, an embedding or a secret.
    """
    serialise_writers(conn, AUDIT_LOCK)
    seq = int(conn.execute(select(func.coalesce(func.max(audit_events.c.seq), -1))).scalar_one())
    seq += 1
    body = {
        "v": 1,
        "seq": seq,
        "ts": ts.isoformat(),
        "actor": {"role": actor.role, "id": actor.id},
        "action": action,
        "outcome": outcome,
        "customer": customer_id,
        "details": details or {},
    }
    leaf = canonical_json(body)
    conn.execute(
        audit_events.insert().values(
            seq=seq,
            leaf=leaf,
            leaf_hash=leaf_hash(leaf.encode("utf-8")),
            ts=ts,
            action=action,
            customer_id=customer_id,
        )
    )
    return seq


def read_events(
    engine: Engine,
    *,
    after: int = -1,
    limit: int | None = None,
    customer_id: str | None = None,
    action: str | None = None,
) -> Iterator[AuditEvent]:
    """Events in sequence order, optionally for one customer or one action."""
    query = select(audit_events).where(audit_events.c.seq > after).order_by(audit_events.c.seq)
    if customer_id is not None:
        query = query.where(audit_events.c.customer_id == customer_id)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        for row in conn.execute(query):
            yield AuditEvent(
                seq=row.seq,
                ts=row.ts,
                action=row.action,
                customer_id=row.customer_id,
                body=json.loads(row.leaf),
                leaf_hash=row.leaf_hash,
            )
