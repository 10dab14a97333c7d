"""What a data-subject request is: its kinds, channels and states, its deadlines
(:class:`RequestRules`) and its row in the register (:class:`SubjectRequest`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def clean_text(value: str | None, name: str) -> str | None:
    """A free text field, stripped (None when empty); at most MAX_TEXT characters."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidRequest(f"{name} must be at most {MAX_TEXT} characters, without NUL")
    return value or None


def from_row(row: Any) -> SubjectRequest:
    """The request of a register row."""
    return SubjectRequest(**{c: getattr(row, c) for c in subject_requests.c.keys()})  # noqa: SIM118


def checked_fields(
    kind: str, channel: str, customer_id: str | None, purpose: str | None
) -> dict[str, Any]:
    """The checked kind, channel, customer and purpose of a new request."""
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
