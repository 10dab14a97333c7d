"""Register entries written in a caller's transaction: a request's row and its audit
events (what the register and the vault actions that carry out requests share), and the
two entries a vault action writes with itself: :class:`SelfService` (a request the guest
makes on their own page, recorded completed) and :class:`Completion` (a pending request
that staff carry out, completed)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, select, update

from dbkit import serialise_writers
from vault.audit import AUDIT_LOCK, Actor, append_event
from vault.errors import InvalidRequest
from vault.models import subject_requests
from vault.request_model import (
    ACKNOWLEDGED,
    COMPLETED,
    OPEN,
    PENDING,
    REFUSED,
    RequestClosed,
    RequestNotFound,
    RequestRules,
    SubjectRequest,
    checked_fields,
    clean_text,
    from_row,
)


def new_request(
    rules: RequestRules,
    *,
    kind: str,
    channel: str,
    customer_id: str | None,
    purpose: str | None,
    received: datetime,
    actor: Actor,
    note: str | None = None,
) -> dict[str, Any]:
    """The row of a request just received, open, with its deadlines."""
    values = checked_fields(kind, channel, customer_id, purpose)
    values.update(
        request_id="dsr_" + secrets.token_hex(8),
        received_at=received,
        ack_due=rules.ack_due(received),
        due_at=rules.complete_due(received),
        acknowledged_at=None,
        completed_at=None,
        status=OPEN,
        outcome=None,
        note=clean_text(note, "note"),
        recorded_by=f"{actor.role}:{actor.id}"[:80],
    )
    return values


def insert_request(
    conn: Connection, values: dict[str, Any], *, actor: Actor, now: datetime
) -> None:
    """Insert a request's row and its ``request.open`` event."""
    conn.execute(subject_requests.insert().values(**values))
    append_event(
        conn,
        ts=now,
        actor=actor,
        action="request.open",
        customer_id=values["customer_id"],
        details={
            "request": values["request_id"],
            "kind": values["kind"],
            "channel": values["channel"],
            "purpose": values["purpose"],
            "received_at": values["received_at"].isoformat(),
            "acknowledge_by": values["ack_due"].isoformat(),
            "complete_by": values["due_at"].isoformat(),
        },
    )


def log_close(
    conn: Connection, closed: SubjectRequest, *, actor: Actor, action: str, now: datetime
) -> None:
    """The audit event of a request acknowledged, completed or refused."""
    append_event(
        conn,
        ts=now,
        actor=actor,
        action=action,
        customer_id=closed.customer_id,
        details={
            "request": closed.request_id,
            "kind": closed.kind,
            "outcome": closed.outcome,
            "late": closed.late(now),
        },
    )


def close_request(
    conn: Connection,
    request_id: str,
    *,
    actor: Actor,
    action: str,
    now: datetime,
    outcome: str | None = None,
    customer_id: str | None = None,
) -> SubjectRequest:
    """Acknowledge, complete or refuse (``action``) a pending request in ``conn``'s
    transaction, with its audit event; returns it as it now is."""
    outcome = clean_text(outcome, "outcome")
    if action != "request.acknowledge" and not outcome:
        raise InvalidRequest("say what was done (outcome or reason)", code="invalid_outcome")
    # The audit log's lock before the request's row, as in a vault action that completes
    # a request after appending its own event: one order, so no deadlock on PostgreSQL.
    serialise_writers(conn, AUDIT_LOCK)
    row = conn.execute(
        select(subject_requests)
        .where(subject_requests.c.request_id == request_id)
        .with_for_update()
    ).first()
    if row is None:
        raise RequestNotFound(request_id)
    if row.status not in PENDING:
        raise RequestClosed(request_id, row.status)
    if customer_id is not None and row.customer_id not in (None, customer_id):
        raise InvalidRequest("the request names another customer", code="invalid_customer")
    values: dict[str, Any] = {}
    if customer_id is not None:
        values["customer_id"] = customer_id
    if action == "request.acknowledge":
        if row.status == ACKNOWLEDGED:
            return from_row(row)
        values.update(status=ACKNOWLEDGED, acknowledged_at=now)
    else:
        values.update(
            status=COMPLETED if action == "request.complete" else REFUSED,
            completed_at=now,
            acknowledged_at=row.acknowledged_at or now,
            outcome=outcome,
        )
    conn.execute(
        update(subject_requests).where(subject_requests.c.request_id == request_id).values(**values)
    )
    closed = replace(from_row(row), **values)
    log_close(conn, closed, actor=actor, action=action, now=now)
    return closed


class RegisterEntry(Protocol):
    """A register entry that a vault action writes in its own transaction, so that the
    action and the entry commit together or not at all."""

    def record(self, conn: Connection, *, customer_id: str, actor: Actor, now: datetime) -> str:
        """Write the entry in ``conn``'s transaction; returns the request's id."""
        ...


@dataclass(frozen=True)
class SelfService:
    """A request the guest makes on their own page, which facekeep carries out at once.

    The vault action that carries it out (a withdrawal, a retake, an erasure) is given
    this and calls :meth:`record` in its own transaction: the action and its register
    entry commit together or not at all. Checked when made, so a bad one refuses the
    action before anything is written."""

    kind: str
    outcome: str
    purpose: str | None = None
    rules: RequestRules = field(default_factory=RequestRules)
    channel: str = "self-service"

    def __post_init__(self) -> None:
        checked_fields(self.kind, self.channel, None, self.purpose)
        if not clean_text(self.outcome, "outcome"):
            raise InvalidRequest("say what was done (outcome or reason)", code="invalid_outcome")

    def record(self, conn: Connection, *, customer_id: str, actor: Actor, now: datetime) -> str:
        """Record the request, received and completed at ``now``, in ``conn``'s transaction,
        with the register's audit events (``request.open``, ``request.complete``); returns
        its id."""
        values = new_request(
            self.rules,
            kind=self.kind,
            channel=self.channel,
            customer_id=customer_id,
            purpose=self.purpose,
            received=now,
            actor=actor,
        )
        values.update(
            status=COMPLETED,
            acknowledged_at=now,
            completed_at=now,
            outcome=clean_text(self.outcome, "outcome"),
        )
        insert_request(conn, values, actor=actor, now=now)
        log_close(conn, SubjectRequest(**values), actor=actor, action="request.complete", now=now)
        return str(values["request_id"])


@dataclass(frozen=True)
class Completion:
    """A pending request in the register that a vault action carries out (a withdrawal,
    an objection, a restriction, an erasure, done by staff): the action completes it in
    its own transaction (an erasure: the one from which it is sure to finish). A request
    closed meanwhile (:class:`RequestClosed`) refuses the action: nothing is done."""

    request_id: str
    outcome: str

    def __post_init__(self) -> None:
        if not clean_text(self.outcome, "outcome"):
            raise InvalidRequest("say what was done (outcome or reason)", code="invalid_outcome")

    def record(self, conn: Connection, *, customer_id: str, actor: Actor, now: datetime) -> str:
        """Complete the request in ``conn``'s transaction, for ``customer_id``, with its
        audit event (``request.complete``); returns its id."""
        close_request(
            conn,
            self.request_id,
            actor=actor,
            action="request.complete",
            now=now,
            outcome=self.outcome,
            customer_id=customer_id,
        )
        return self.request_id
