"""The breach register. Opening a breach records when it was discovered and starts the
clock for notifying the authority and the people affected (72 hours by default for
biometric data); it lists the affected pseudonymous customers for a scope and a time
window; each later step (contained, authority notified, guests notified, closed) is
recorded with its time. The file is kept for years (5 by default) after discovery.
Every change is an audit event written in the same transaction.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from dbkit import writing
from vault.audit import Actor, append_event, canonical_json
from vault.config import Clock, utcnow
from vault.errors import InvalidRequest, VaultError
from vault.models import breach_steps, breach_subjects, breaches, consents, customers

SCOPES = ("all", "venues", "customers")
STEPS = {
    "contained": "contained_at",
    "authority_notified": "authority_notified_at",
    "subjects_notified": "subjects_notified_at",
    "drafted": None,
    "note": None,
    "closed": "closed_at",
}
ACTIONS = frozenset({"breach.open", "breach.step"})
MAX_TEXT = 4000


class BreachNotFound(VaultError):
    """No breach with this id."""

    code = "breach_not_found"

    def __init__(self, breach_id: str) -> None:
        super().__init__(f"no breach {breach_id!r}")


class BreachClosed(VaultError):
    """The breach file is closed; it changes no more."""

    code = "breach_closed"

    def __init__(self, breach_id: str) -> None:
        super().__init__(f"breach {breach_id!r} is closed")


@dataclass(frozen=True)
class BreachRules:
    """Deadlines of the breach register."""

    notify_within: timedelta = timedelta(hours=72)
    retain_years: int = 5


@dataclass(frozen=True)
class Scope:
    """Which customers a breach may have touched: everyone, those whose consents name
    some venues, or a list of customers."""

    kind: str = "all"
    values: tuple[str, ...] = ()

    def checked(self) -> Scope:
        """This scope, or :class:`InvalidRequest`."""
        if self.kind not in SCOPES:
            raise InvalidRequest(f"scope must be one of {', '.join(SCOPES)}", code="invalid_scope")
        if (self.kind == "all") != (not self.values):
            raise InvalidRequest(
                "scope 'all' takes no values; 'venues' and 'customers' need some",
                code="invalid_scope",
            )
        if any(not v or len(v) > 64 or "\x00" in v for v in self.values):
            raise InvalidRequest("scope values are ids of 1-64 characters", code="invalid_scope")
        return Scope(self.kind, tuple(sorted(set(self.values))))

    def to_json(self) -> dict[str, Any]:
        """The scope as stored."""
        return {"kind": self.kind, "values": list(self.values)}


@dataclass(frozen=True)
class Step:
    """One recorded step of a breach file."""

    at: datetime
    step: str
    note: str
    recorded_by: str


@dataclass(frozen=True)
class Breach:
    """One breach file."""

    breach_id: str
    discovered_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    scope: Scope
    description: str
    notify_due: datetime
    retain_until: datetime
    status: str
    contained_at: datetime | None
    authority_notified_at: datetime | None
    subjects_notified_at: datetime | None
    closed_at: datetime | None
    recorded_by: str
    affected: int = 0
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def late(self, now: datetime) -> list[str]:
        """Notifications not made (or made) after the deadline."""
        out = []
        for name, done in (
            ("authority", self.authority_notified_at),
            ("subjects", self.subjects_notified_at if self.affected else self.notify_due),
        ):
            if (done or now) > self.notify_due:
                out.append(name)
        return out

    def to_json(self, now: datetime) -> dict[str, Any]:
        """The file as JSON, with the time left to notify."""
        waiting = self.authority_notified_at is None or (
            self.affected > 0 and self.subjects_notified_at is None
        )
        left = (self.notify_due - now).total_seconds() / 3600
        return {
            "breach": self.breach_id,
            "status": self.status,
            "discovered_at": self.discovered_at.isoformat(),
            "occurred_from": _iso(self.occurred_from),
            "occurred_to": _iso(self.occurred_to),
            "scope": self.scope.to_json(),
            "description": self.description,
            "notify_by": self.notify_due.isoformat(),
            "hours_left": round(left, 1) if waiting and self.status == "open" else None,
            "late": self.late(now),
            "keep_until": self.retain_until.isoformat(),
            "affected_customers": self.affected,
            "contained_at": _iso(self.contained_at),
            "authority_notified_at": _iso(self.authority_notified_at),
            "subjects_notified_at": _iso(self.subjects_notified_at),
            "closed_at": _iso(self.closed_at),
            "recorded_by": self.recorded_by,
            "steps": [
                {"at": s.at.isoformat(), "step": s.step, "note": s.note, "by": s.recorded_by}
                for s in self.steps
            ],
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _text(value: str, name: str, *, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequest(f"{name} is required", code=f"invalid_{name}")
    if len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidRequest(
            f"{name} must be at most {MAX_TEXT} characters, without NUL", code=f"invalid_{name}"
        )
    return value


def _aware(value: datetime | None, name: str) -> datetime | None:
    # Far-off years would overflow in the deadline arithmetic.
    if value is not None and (value.tzinfo is None or not 2000 <= value.year <= 2999):
        raise InvalidRequest(f"{name} needs a time zone and a year from 2000", code="invalid_time")
    return value


def _years_after(at: datetime, years: int) -> datetime:
    try:
        return at.replace(year=at.year + years)
    except ValueError:  # 29 February
        return at.replace(year=at.year + years, day=28)


class BreachRegister:
    """Breach files of one deployment."""

    def __init__(
        self,
        engine: Engine,
        *,
        rules: BreachRules | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.engine = engine
        self.rules = rules or BreachRules()
        self._clock = clock

    def now(self) -> datetime:
        """The register's clock."""
        return self._clock()

    def affected(
        self,
        conn: Connection,
        scope: Scope,
        occurred_from: datetime | None,
        occurred_to: datetime | None,
    ) -> list[str]:
        """Pseudonymous ids of the customers whose data the vault held during the window
        (enrolled before it ended, not erased before it began) within the scope."""
        query = select(customers.c.customer_id)
        if occurred_to is not None:
            query = query.where(customers.c.created_at <= occurred_to)
        if occurred_from is not None:
            query = query.where(
                customers.c.erased_at.is_(None) | (customers.c.erased_at >= occurred_from)
            )
        if scope.kind == "customers":
            query = query.where(customers.c.customer_id.in_(scope.values))
        found = set(conn.execute(query).scalars())
        if scope.kind == "venues":
            wanted = set(scope.values)
            at_venues = {
                row.customer_id
                for row in conn.execute(select(consents.c.customer_id, consents.c.venues))
                if wanted & set(json.loads(row.venues))
            }
            found &= at_venues
        return sorted(found)

    def open(
        self,
        *,
        description: str,
        actor: Actor,
        scope: Scope | None = None,
        discovered_at: datetime | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> Breach:
        """Open a breach file: the clock runs from discovery (default now)."""
        now = self._clock()
        discovered = _aware(discovered_at, "discovered_at") or now
        if discovered > now + timedelta(minutes=5):
            raise InvalidRequest("discovered_at is in the future", code="invalid_time")
        start = _aware(occurred_from, "occurred_from")
        end = _aware(occurred_to, "occurred_to")
        if start is not None and end is not None and start > end:
            raise InvalidRequest("the window ends before it starts", code="invalid_time")
        scope = (scope or Scope()).checked()
        description = _text(description, "description")
        breach_id = "br_" + secrets.token_hex(8)
        with writing(self.engine) as conn:
            ids = self.affected(conn, scope, start, end or discovered)
            conn.execute(
                breaches.insert().values(
                    breach_id=breach_id,
                    discovered_at=discovered,
                    occurred_from=start,
                    occurred_to=end,
                    scope=canonical_json(scope.to_json()),
                    description=description,
                    notify_due=discovered + self.rules.notify_within,
                    retain_until=_years_after(discovered, self.rules.retain_years),
                    status="open",
                    recorded_by=f"{actor.role}:{actor.id}"[:80],
                )
            )
            if ids:
                conn.execute(
                    breach_subjects.insert(),
                    [{"breach_id": breach_id, "customer_id": c} for c in ids],
                )
            self._step(conn, breach_id, "opened", description, actor, now)
            append_event(
                conn,
                ts=now,
                actor=actor,
                action="breach.open",
                details={
                    "breach": breach_id,
                    "discovered_at": discovered.isoformat(),
                    "notify_by": (discovered + self.rules.notify_within).isoformat(),
                    "scope": scope.to_json(),
                    "affected_customers": len(ids),
                },
            )
        return self.get(breach_id)

    def step(
        self,
        breach_id: str,
        step: str,
        *,
        actor: Actor,
        note: str = "",
        at: datetime | None = None,
    ) -> Breach:
        """Record a step: ``contained``, ``authority_notified``, ``subjects_notified``,
        ``note`` or ``closed`` (at ``at``, default now)."""
        if step not in STEPS:
            raise InvalidRequest(f"step must be one of {', '.join(STEPS)}", code="invalid_step")
        now = self._clock()
        when = _aware(at, "at") or now
        if when > now + timedelta(minutes=5):
            raise InvalidRequest("the step's time is in the future", code="invalid_time")
        note = _text(note, "note", required=step == "note")
        with writing(self.engine) as conn:
            row = conn.execute(
                select(breaches).where(breaches.c.breach_id == breach_id).with_for_update()
            ).first()
            if row is None:
                raise BreachNotFound(breach_id)
            if row.status == "closed":
                raise BreachClosed(breach_id)
            column = STEPS[step]
            values: dict[str, Any] = {}
            if column is not None and getattr(row, column) is None:
                values[column] = when
            if step == "closed":
                values["status"] = "closed"
            if values:
                conn.execute(
                    update(breaches).where(breaches.c.breach_id == breach_id).values(**values)
                )
            self._step(conn, breach_id, step, note, actor, when)
            append_event(
                conn,
                ts=now,
                actor=actor,
                action="breach.step",
                details={"breach": breach_id, "step": step, "at": when.isoformat()},
            )
        return self.get(breach_id)

    def _step(
        self, conn: Connection, breach_id: str, step: str, note: str, actor: Actor, at: datetime
    ) -> None:
        last = conn.execute(
            select(func.coalesce(func.max(breach_steps.c.step_no), 0)).where(
                breach_steps.c.breach_id == breach_id
            )
        ).scalar_one()
        conn.execute(
            breach_steps.insert().values(
                breach_id=breach_id,
                step_no=int(last) + 1,
                at=at,
                step=step,
                note=note,
                recorded_by=f"{actor.role}:{actor.id}"[:80],
            )
        )

    def get(self, breach_id: str) -> Breach:
        """One breach file with its steps."""
        found = self._load([breach_id])
        if not found:
            raise BreachNotFound(breach_id)
        return found[0]

    def find(self, *, open_only: bool = False, limit: int = 200) -> list[Breach]:
        """Breach files, the latest discovered first."""
        query = select(breaches.c.breach_id).order_by(breaches.c.discovered_at.desc())
        if open_only:
            query = query.where(breaches.c.status == "open")
        with self.engine.connect() as conn:
            ids = list(conn.execute(query.limit(limit)).scalars())
        return self._load(ids)

    def subjects(self, breach_id: str) -> list[str]:
        """The affected customers' pseudonymous ids."""
        self.get(breach_id)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(breach_subjects.c.customer_id)
                    .where(breach_subjects.c.breach_id == breach_id)
                    .order_by(breach_subjects.c.customer_id)
                ).scalars()
            )

    def _load(self, ids: Sequence[str]) -> list[Breach]:
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = {
                r.breach_id: r
                for r in conn.execute(select(breaches).where(breaches.c.breach_id.in_(ids)))
            }
            counts: dict[str, int] = dict(
                conn.execute(
                    select(breach_subjects.c.breach_id, func.count())
                    .where(breach_subjects.c.breach_id.in_(ids))
                    .group_by(breach_subjects.c.breach_id)
                ).all()
            )
            steps: dict[str, list[Step]] = {}
            for s in conn.execute(
                select(breach_steps)
                .where(breach_steps.c.breach_id.in_(ids))
                .order_by(breach_steps.c.breach_id, breach_steps.c.step_no)
            ):
                steps.setdefault(s.breach_id, []).append(
                    Step(at=s.at, step=s.step, note=s.note, recorded_by=s.recorded_by)
                )
        out = []
        for breach_id in ids:
            row = rows.get(breach_id)
            if row is None:
                continue
            scope = json.loads(row.scope)
            out.append(
                Breach(
                    breach_id=row.breach_id,
                    discovered_at=row.discovered_at,
                    occurred_from=row.occurred_from,
                    occurred_to=row.occurred_to,
                    scope=Scope(scope["kind"], tuple(scope["values"])),
                    description=row.description,
                    notify_due=row.notify_due,
                    retain_until=row.retain_until,
                    status=row.status,
                    contained_at=row.contained_at,
                    authority_notified_at=row.authority_notified_at,
                    subjects_notified_at=row.subjects_notified_at,
                    closed_at=row.closed_at,
                    recorded_by=row.recorded_by,
                    affected=int(counts.get(breach_id, 0)),
                    steps=tuple(steps.get(breach_id, [])),
                )
            )
        return out
