"""Audit events: one canonical-JSON leaf per event, written in the same transaction as
the state change it records, and hashed as an RFC 6962 Merkle leaf.

:func:`leaf` is the one place the leaf format (``{"v": 1, ...}``) is written: every
writer (:func:`append_event`, the group-committing queue through :func:`append_events`)
goes through it, so the leaves cannot drift apart and break the Merkle proofs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from dbkit import serialise_writers
from vault.audit.merkle import leaf_hash
from vault.models import audit_events

__all__ = [
    "AUDIT_LOCK",
    "LEAF_VERSION",
    "SYSTEM",
    "Actor",
    "AuditEvent",
    "append_event",
    "append_events",
    "canonical_json",
    "leaf",
    "read_events",
]


@dataclass(frozen=True)
class Actor:
    """Who caused an event: a role and the id of the credential used (never the secret)."""

    role: str
    id: str


SYSTEM = Actor(role="system", id="facekeep")
AUDIT_LOCK = 0x66616B  # advisory lock id that orders audit appends on PostgreSQL
LEAF_VERSION = 1

# Built once: SQLAlchemy then reuses their cache keys and compiled forms (a write batch of
# the match queue is a few statements, and their overhead is most of its cost).
_LAST_SEQ = select(func.coalesce(func.max(audit_events.c.seq), -1))
_INSERT = audit_events.insert()


def canonical_json(value: Any) -> str:
    """Serialise deterministically: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def leaf(seq: int, event: Mapping[str, Any]) -> str:
    """The canonical JSON leaf of event ``seq``: the stored, hashed and exported form.

    ``event`` holds the keyword arguments of :func:`append_event` (``ts``, ``actor``,
    ``action``, and optionally ``outcome``, ``customer_id``, ``details``).
    """
    actor: Actor = event["actor"]
    return canonical_json(
        {
            "v": LEAF_VERSION,
            "seq": seq,
            "ts": event["ts"].isoformat(),
            "actor": {"role": actor.role, "id": actor.id},
            "action": event["action"],
            "outcome": event.get("outcome", "ok"),
            "customer": event.get("customer_id"),
            "details": event.get("details") or {},
        }
    )


@dataclass(frozen=True)
class AuditEvent:
    """One stored event."""

    seq: int
    ts: datetime
    action: str
    customer_id: str | None
    body: dict[str, Any]
    leaf_hash: bytes


def append_events(conn: Connection, events: Sequence[Mapping[str, Any]]) -> list[int]:
    """Append events (each the keyword arguments of :func:`append_event` as a dict) inside
    the caller's transaction, with consecutive sequence numbers; returns them."""
    if not events:
        return []
    serialise_writers(conn, AUDIT_LOCK)
    last = int(conn.execute(_LAST_SEQ).scalar_one())
    rows = []
    for seq, event in enumerate(events, start=last + 1):
        text = leaf(seq, event)
        rows.append(
            {
                "seq": seq,
                "leaf": text,
                "leaf_hash": leaf_hash(text.encode("utf-8")),
                "ts": event["ts"],
                "action": event["action"],
                "customer_id": event.get("customer_id"),
            }
        )
    conn.execute(_INSERT, rows)
    return [row["seq"] for row in rows]


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
    event = {
        "ts": ts,
        "actor": actor,
        "action": action,
        "outcome": outcome,
        "customer_id": customer_id,
        "details": details,
    }
    return append_events(conn, [event])[0]


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
