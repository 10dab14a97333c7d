"""The register of data-subject requests: access, correction, withdrawal, objection,
erasure and restriction, each with the date received and the deadlines the configured
rules give it (by default: acknowledge within 2 working days, complete within 15 days).

Requests made on the guest's own page are recorded already completed, by the vault action
that carries them out and in its transaction (:class:`SelfService`); requests made at the
counter, by telephone or by letter are entered by staff and completed later, by the vault
action that carries them out where there is one, again in its transaction
(:class:`Completion`). So the register never misses an action done nor lists one undone.
Every change is an audit event written in the same transaction.

What a request is lives in :mod:`vault.request_model`, the entries written in another
action's transaction in :mod:`vault.request_entries`; both are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from dbkit import writing
from vault.audit import Actor
from vault.config import Clock, utcnow
from vault.errors import InvalidRequest
from vault.models import subject_requests
from vault.request_entries import (
    Completion,
    RegisterEntry,
    SelfService,
    close_request,
    insert_request,
    new_request,
)
from vault.request_model import (
    ACKNOWLEDGED,
    ACTIONS,
    CHANNELS,
    COMPLETED,
    KINDS,
    MAX_TEXT,
    OPEN,
    PENDING,
    REFUSED,
    RequestClosed,
    RequestNotFound,
    RequestRules,
    SubjectRequest,
    from_row,
)

__all__ = [
    "ACKNOWLEDGED",
    "ACTIONS",
    "CHANNELS",
    "COMPLETED",
    "KINDS",
    "MAX_TEXT",
    "OPEN",
    "PENDING",
    "REFUSED",
    "Completion",
    "RegisterEntry",
    "RequestClosed",
    "RequestNotFound",
    "RequestRegister",
    "RequestRules",
    "SelfService",
    "SubjectRequest",
    "summary",
]


class RequestRegister:
    """Data-subject requests of one deployment."""

    def __init__(
        self,
        engine: Engine,
        *,
        rules: RequestRules | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.engine = engine
        self.rules = rules or RequestRules()
        self._clock = clock

    def now(self) -> datetime:
        """The register's clock."""
        return self._clock()

    def open(
        self,
        *,
        kind: str,
        channel: str,
        actor: Actor,
        customer_id: str | None = None,
        purpose: str | None = None,
        received_at: datetime | None = None,
        note: str | None = None,
    ) -> SubjectRequest:
        """Record a request received (now, or at ``received_at`` for a letter that came
        earlier) with its deadlines."""
        now = self._clock()
        received = received_at or now
        if received.tzinfo is None or not 2000 <= received.year <= 2999:
            # Far-off years would overflow when moved to local time.
            raise InvalidRequest(
                "received_at needs a time zone and a year from 2000", code="invalid_time"
            )
        if received > now + timedelta(minutes=5):
            raise InvalidRequest("received_at is in the future", code="invalid_time")
        values = new_request(
            self.rules,
            kind=kind,
            channel=channel,
            customer_id=customer_id,
            purpose=purpose,
            received=received,
            actor=actor,
            note=note,
        )
        with writing(self.engine) as conn:
            insert_request(conn, values, actor=actor, now=now)
        return self.get(values["request_id"])

    def record_completed(
        self,
        *,
        kind: str,
        customer_id: str,
        actor: Actor,
        outcome: str,
        purpose: str | None = None,
        channel: str = "self-service",
    ) -> SubjectRequest:
        """Record a request that facekeep completed at once (on the guest's own page), in a
        transaction of its own; a vault action records it in its own instead, given
        :meth:`self_service`."""
        entry = self.self_service(kind=kind, outcome=outcome, purpose=purpose, channel=channel)
        with writing(self.engine) as conn:
            request_id = entry.record(conn, customer_id=customer_id, actor=actor, now=self._clock())
        return self.get(request_id)

    def self_service(
        self,
        *,
        kind: str,
        outcome: str,
        purpose: str | None = None,
        channel: str = "self-service",
    ) -> SelfService:
        """A request completed at once, on this register's deadlines, for the vault action
        that carries it out to record in its transaction."""
        return SelfService(kind, outcome, purpose, rules=self.rules, channel=channel)

    def acknowledge(self, request_id: str, *, actor: Actor) -> SubjectRequest:
        """Record that the requester was told their request is being handled."""
        return self._close(request_id, actor=actor, action="request.acknowledge")

    def complete(
        self,
        request_id: str,
        *,
        outcome: str,
        actor: Actor,
        customer_id: str | None = None,
    ) -> SubjectRequest:
        """Mark a request completed, with what was done."""
        return self._close(
            request_id,
            actor=actor,
            action="request.complete",
            outcome=outcome,
            customer_id=customer_id,
        )

    def refuse(self, request_id: str, *, reason: str, actor: Actor) -> SubjectRequest:
        """Refuse a request (say why: the requester could not be identified, ...)."""
        return self._close(request_id, actor=actor, action="request.refuse", outcome=reason)

    def _close(
        self,
        request_id: str,
        *,
        actor: Actor,
        action: str,
        outcome: str | None = None,
        customer_id: str | None = None,
    ) -> SubjectRequest:
        with writing(self.engine) as conn:
            close_request(
                conn,
                request_id,
                actor=actor,
                action=action,
                now=self._clock(),
                outcome=outcome,
                customer_id=customer_id,
            )
        return self.get(request_id)

    def completion(self, request_id: str, *, outcome: str) -> Completion:
        """The completion of a pending request, for the vault action that carries it out
        to record in its transaction (checked now: an unknown or closed request refuses
        the action before anything is done)."""
        request = self.get(request_id)
        if request.status not in PENDING:
            raise RequestClosed(request_id, request.status)
        return Completion(request_id, outcome)

    def get(self, request_id: str) -> SubjectRequest:
        """One request."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subject_requests).where(subject_requests.c.request_id == request_id)
            ).first()
        if row is None:
            raise RequestNotFound(request_id)
        return from_row(row)

    def find(
        self,
        *,
        pending_only: bool = False,
        customer_id: str | None = None,
        limit: int = 500,
    ) -> list[SubjectRequest]:
        """Requests, open ones first by their next deadline, then the latest closed."""
        query = select(subject_requests)
        if pending_only:
            query = query.where(subject_requests.c.status.in_(PENDING))
        if customer_id is not None:
            query = query.where(subject_requests.c.customer_id == customer_id)
        query = query.order_by(subject_requests.c.received_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            found = [from_row(r) for r in conn.execute(query)]
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(found, key=lambda r: (r.next_deadline() or far, r.request_id))


def summary(requests: Iterable[SubjectRequest], now: datetime) -> dict[str, int]:
    """Counts for a dashboard or the impact assessment."""
    out = {"open": 0, "late": 0, "completed": 0, "refused": 0}
    for r in requests:
        if r.status in PENDING:
            out["open"] += 1
            out["late"] += bool(r.late(now))
        else:
            out[r.status] += 1
    return out
