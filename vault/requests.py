"""The register of data-subject requests: access, correction, withdrawal, objection,
erasure and restriction, each with the date received and the deadlines the configured
rules give it (by default: acknowledge within 2 working days, complete within 15 days).

Requests made on the guest's own page are recorded already completed, by the vault action
that carries them out and in its transaction (:class:`SelfService`), so the register
never misses an action done nor lists one undone; requests made at the counter, by
telephone or by letter are entered by staff and completed later. Every change is an audit
event written in the same transaction.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from dbkit import writing
from vault.audit import Actor, append_event
from vault.config import Clock, utcnow
from vault.consent import PURPOSES, check_id
from vault.errors import InvalidRequest, VaultError
from vault.models import subject_requests

KINDS = ("access", "correction", "withdrawal", "objection", "erasure", "restriction")
CHANNELS = ("self-service", "counter", "phone", "letter", "email", "authority")
OPEN, ACKNOWLEDGED, COMPLETED, REFUSED = "open", "acknowledged", "completed", "refused"
PENDING = (OPEN, ACKNOWLEDGED)
# Audit actions of the register; they change nothing a match index depends on.
ACTIONS = frozenset({"request.open", "request.acknowledge", "request.complete", "request.refuse"})
MAX_TEXT = 2000


class RequestNotFound(VaultError):
    """No request with this id."""

    code = "request_not_found"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"no request {request_id!r}")


class RequestClosed(VaultError):
    """The request was already completed or refused."""

    code = "request_closed"

    def __init__(self, request_id: str, status: str) -> None:
        super().__init__(f"request {request_id!r} is already {status}")


@dataclass(frozen=True)
class RequestRules:
    """How deadlines are counted. Working days skip Saturdays, Sundays and ``holidays``,
    counted in the venues' local time (``utc_offset``); a deadline is the end of its day."""

    ack_working_days: int = 2
    complete_days: int = 15
    utc_offset: timedelta = timedelta(hours=7)
    holidays: frozenset[date] = field(default_factory=frozenset)

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(timezone(self.utc_offset)).date()

    def _end_of(self, day: date) -> datetime:
        local = datetime.combine(day, time.max, tzinfo=timezone(self.utc_offset))
        return local.replace(microsecond=0).astimezone(UTC)

    def working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        return day.weekday() < 5 and day not in self.holidays

    def ack_due(self, received: datetime) -> datetime:
        """End of the last working day on which the request may be acknowledged."""
        day = self._local_day(received)
        left = self.ack_working_days
        while left > 0:
            day += timedelta(days=1)
            if self.working_day(day):
                left -= 1
        return self._end_of(day)

    def complete_due(self, received: datetime) -> datetime:
        """End of the last day on which the request may be completed."""
        return self._end_of(self._local_day(received) + timedelta(days=self.complete_days))


@dataclass(frozen=True)
class SubjectRequest:
    """One request in the register."""

    request_id: str
    kind: str
    channel: str
    customer_id: str | None
    purpose: str | None
    received_at: datetime
    ack_due: datetime
    due_at: datetime
    acknowledged_at: datetime | None
    completed_at: datetime | None
    status: str
    outcome: str | None
    note: str | None
    recorded_by: str

    def late(self, now: datetime) -> list[str]:
        """The deadlines this request has missed (``acknowledge``, ``complete``)."""
        missed = []
        acked = self.acknowledged_at or self.completed_at
        if (acked or now) > self.ack_due:
            missed.append("acknowledge")
        if (self.completed_at or now) > self.due_at:
            missed.append("complete")
        return missed

    def next_deadline(self) -> datetime | None:
        """The next deadline of an open request (None once it is closed)."""
        if self.status not in PENDING:
            return None
        return self.ack_due if self.status == OPEN else self.due_at

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The request as JSON, with what is late and the time left."""
        deadline = self.next_deadline()
        return {
            "request": self.request_id,
            "kind": self.kind,
            "channel": self.channel,
            "customer": self.customer_id,
            "purpose": self.purpose,
            "status": self.status,
            "received_at": self.received_at.isoformat(),
            "acknowledge_by": self.ack_due.isoformat(),
            "complete_by": self.due_at.isoformat(),
            "acknowledged_at": _iso(self.acknowledged_at),
            "completed_at": _iso(self.completed_at),
            "outcome": self.outcome,
            "note": self.note,
            "recorded_by": self.recorded_by,
            "late": self.late(now),
            "next_deadline": _iso(deadline),
            "hours_left": None if deadline is None else _hours(deadline - now),
        }


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
        _checked(self.kind, self.channel, None, self.purpose)
        if not _text(self.outcome, "outcome"):
            raise InvalidRequest("say what was done (outcome or reason)", code="invalid_outcome")

    def record(self, conn: Connection, *, customer_id: str, actor: Actor, now: datetime) -> str:
        """Record the request, received and completed at ``now``, in ``conn``'s transaction,
        with the register's audit events (``request.open``, ``request.complete``); returns
        its id."""
        values = _new_request(
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
            outcome=_text(self.outcome, "outcome"),
        )
        _insert(conn, values, actor=actor, now=now)
        _log_close(conn, SubjectRequest(**values), actor=actor, action="request.complete", now=now)
        return str(values["request_id"])


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _text(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidRequest(f"{name} must be at most {MAX_TEXT} characters, without NUL")
    return value or None


def _row(row: Any) -> SubjectRequest:
    return SubjectRequest(**{c: getattr(row, c) for c in subject_requests.c.keys()})  # noqa: SIM118


def _checked(
    kind: str, channel: str, customer_id: str | None, purpose: str | None
) -> dict[str, Any]:
    if kind not in KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}", code="invalid_kind")
    if channel not in CHANNELS:
        raise InvalidRequest(
            f"channel must be one of {', '.join(CHANNELS)}", code="invalid_channel"
        )
    if purpose is not None and purpose not in PURPOSES:
        raise InvalidRequest(f"unknown purpose {purpose!r}", code="invalid_purpose")
    if customer_id is not None:
        check_id(customer_id, "customer")
    return {"kind": kind, "channel": channel, "customer_id": customer_id, "purpose": purpose}


def _new_request(
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
    values = _checked(kind, channel, customer_id, purpose)
    values.update(
        request_id="dsr_" + secrets.token_hex(8),
        received_at=received,
        ack_due=rules.ack_due(received),
        due_at=rules.complete_due(received),
        acknowledged_at=None,
        completed_at=None,
        status=OPEN,
        outcome=None,
        note=_text(note, "note"),
        recorded_by=f"{actor.role}:{actor.id}"[:80],
    )
    return values


def _insert(conn: Connection, values: dict[str, Any], *, actor: Actor, now: datetime) -> None:
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


def _log_close(
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
        values = _new_request(
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
            _insert(conn, values, actor=actor, now=now)
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
        now = self._clock()
        outcome = _text(outcome, "outcome")
        if action != "request.acknowledge" and not outcome:
            raise InvalidRequest("say what was done (outcome or reason)", code="invalid_outcome")
        with writing(self.engine) as conn:
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
                    return _row(row)
                values.update(status=ACKNOWLEDGED, acknowledged_at=now)
            else:
                values.update(
                    status=COMPLETED if action == "request.complete" else REFUSED,
                    completed_at=now,
                    acknowledged_at=row.acknowledged_at or now,
                    outcome=outcome,
                )
            conn.execute(
                update(subject_requests)
                .where(subject_requests.c.request_id == request_id)
                .values(**values)
            )
            closed = replace(_row(row), **values)
            _log_close(conn, closed, actor=actor, action=action, now=now)
        return self.get(request_id)

    def get(self, request_id: str) -> SubjectRequest:
        """One request."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subject_requests).where(subject_requests.c.request_id == request_id)
            ).first()
        if row is None:
            raise RequestNotFound(request_id)
        return _row(row)

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
            found = [_row(r) for r in conn.execute(query)]
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
