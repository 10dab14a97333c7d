"""Staff accounts and their sessions.

A staff account belongs to a person at the counter: it is scoped to one or more venues
and signs in with a short personal PIN or password, stored only as an argon2id hash
(memory-hard; the encoded form carries its parameters, so they can be raised later).
Signing in gives a session token (``fks_...``, 256 random bits, stored as its SHA-256)
that ends after ``FACEKEEP_STAFF_IDLE_MINUTES`` without use, at a maximum age, at
sign-out, and when the account is disabled or its PIN rotated. Sessions live in the
database, so every replica sees a sign-out or a disable at once.

Guessing is bounded per account: every ``LOCK_AFTER`` consecutive wrong PINs lock the
account (15 minutes, doubling up to a day), recorded in the database so every replica
applies it; the HTTP layer adds per-address and global budgets in front.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update

from dbkit import writing
from vault import Actor
from vault.audit import append_event
from vault.models import staff_accounts, staff_sessions

PIN_MIN, PIN_MAX = 6, 128
LOCK_AFTER = 5
FIRST_LOCK = timedelta(minutes=15)
LONGEST_LOCK = timedelta(days=1)
TOKEN_PREFIX = "fks_"  # noqa: S105 - a prefix, not a secret

# OWASP's argon2id setting for 7 MiB (m=7168 KiB, t=5, p=1): about 65 ms a check on one
# core. Memory stays at a few MB per check, and one check runs at a time (below), so a
# flood of sign-ins cannot grow the server's memory.
_HASHER = PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1)
_ONE_AT_A_TIME = threading.BoundedSemaphore(1)
# Checked when the account does not exist, so the answer takes as long either way.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))


class AccountError(Exception):
    """A staff-account operation was refused; ``code`` is stable."""

    def __init__(self, code: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


@dataclass(frozen=True)
class StaffAccount:
    """A staff account, without its PIN hash."""

    staff_id: str
    name: str
    venues: tuple[str, ...]
    created_at: datetime
    rotated_at: datetime | None
    disabled_at: datetime | None
    locked_until: datetime | None

    def public(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "id": self.staff_id,
            "role": "staff",
            "name": self.name,
            "venues": list(self.venues),
            "created_at": self.created_at.isoformat(),
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
            "disabled": self.disabled_at is not None,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
        }


def _account(row: Any) -> StaffAccount:
    return StaffAccount(
        staff_id=row.staff_id,
        name=row.name,
        venues=tuple(json.loads(row.venues)),
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        disabled_at=row.disabled_at,
        locked_until=row.locked_until,
    )


def _row(conn: Any, staff_id: str) -> Any:
    """The account's row (None if there is none)."""
    return conn.execute(select(staff_accounts).where(staff_accounts.c.staff_id == staff_id)).first()


def _update(conn: Any, staff_id: str, **values: Any) -> int:
    """Set ``values`` on the account's row; how many rows changed (0: no such account)."""
    return int(
        conn.execute(
            update(staff_accounts).where(staff_accounts.c.staff_id == staff_id).values(**values)
        ).rowcount
    )


def check_pin(pin: str) -> str:
    """Refuse a PIN or password too short, too long or with control characters."""
    if not PIN_MIN <= len(pin) <= PIN_MAX or not pin.isprintable():
        raise AccountError(
            "invalid_pin",
            f"a PIN or password is {PIN_MIN} to {PIN_MAX} printable characters",
        )
    return pin


def new_pin() -> str:
    """A fresh 8-digit PIN (given to the person once)."""
    return "".join(secrets.choice("0123456789") for _ in range(8))


def _hash(pin: str) -> str:
    with _ONE_AT_A_TIME:
        return _HASHER.hash(check_pin(pin))


def _verify(encoded: str, pin: str) -> bool:
    with _ONE_AT_A_TIME:
        try:
            return _HASHER.verify(encoded, pin)
        except (VerificationError, InvalidHashError):
            return False


def token_hash(token: str) -> str:
    """SHA-256 of a session token (256 random bits: no stretching needed)."""
    return hashlib.sha256(b"facekeep/staff-session/v1:" + token.encode()).hexdigest()


def create_staff(
    engine: Engine,
    *,
    staff_id: str,
    name: str,
    venues: tuple[str, ...],
    pin: str,
    now: datetime,
    actor: Actor,
) -> StaffAccount:
    """Make a staff account for some venues (raises ``staff_exists``)."""
    if not venues:
        raise AccountError("invalid_venue", "a staff account needs at least one venue")
    encoded = _hash(pin)
    with writing(engine) as conn:
        taken = conn.execute(
            select(staff_accounts.c.staff_id).where(staff_accounts.c.staff_id == staff_id)
        ).first()
        if taken is not None:
            raise AccountError("staff_exists", f"staff account {staff_id!r} exists")
        conn.execute(
            staff_accounts.insert().values(
                staff_id=staff_id,
                name=name,
                venues=json.dumps(sorted(set(venues))),
                secret_hash=encoded,
                created_at=now,
                failed_attempts=0,
            )
        )
        append_event(
            conn,
            ts=now,
            actor=actor,
            action="staff.create",
            details={"staff_id": staff_id, "venues": sorted(set(venues))},
        )
        row = _row(conn, staff_id)
    return _account(row)


def list_staff(engine: Engine) -> list[StaffAccount]:
    """Every staff account."""
    with engine.connect() as conn:
        rows = conn.execute(select(staff_accounts).order_by(staff_accounts.c.created_at)).all()
    return [_account(r) for r in rows]


def _end_session(conn: Any, digest: str, now: datetime) -> int:
    """End the live session whose token hashes to ``digest``; 1 if there was one."""
    return int(
        conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.token_hash == digest)
            .where(staff_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        ).rowcount
    )


def _end_sessions(conn: Any, staff_id: str, now: datetime) -> None:
    conn.execute(
        update(staff_sessions)
        .where(staff_sessions.c.staff_id == staff_id)
        .where(staff_sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def disable_staff(
    engine: Engine, staff_id: str, *, now: datetime, actor: Actor
) -> StaffAccount | None:
    """Disable an account and end its sessions at once; None if there is none."""
    with writing(engine) as conn:
        row = _row(conn, staff_id)
        if row is None:
            return None
        if row.disabled_at is None:
            _update(conn, staff_id, disabled_at=now)
            _end_sessions(conn, staff_id, now)
            append_event(
                conn, ts=now, actor=actor, action="staff.disable", details={"staff_id": staff_id}
            )
        row = _row(conn, staff_id)
    return _account(row)


def rotate_staff(
    engine: Engine, staff_id: str, *, pin: str, now: datetime, actor: Actor
) -> StaffAccount | None:
    """Give an account a new PIN: its sessions end, a lock is lifted. None if unknown."""
    encoded = _hash(pin)
    with writing(engine) as conn:
        found = _update(
            conn,
            staff_id,
            secret_hash=encoded,
            rotated_at=now,
            failed_attempts=0,
            locked_until=None,
        )
        if found != 1:
            return None
        _end_sessions(conn, staff_id, now)
        append_event(
            conn, ts=now, actor=actor, action="staff.rotate", details={"staff_id": staff_id}
        )
        row = _row(conn, staff_id)
    return _account(row)


def _lock_for(failures: int) -> timedelta | None:
    """How long ``failures`` consecutive wrong PINs lock an account (None: not locked)."""
    if failures == 0 or failures % LOCK_AFTER:
        return None
    lock: timedelta = FIRST_LOCK * 2 ** (failures // LOCK_AFTER - 1)
    return min(lock, LONGEST_LOCK)


def sign_in(engine: Engine, staff_id: str, pin: str, *, now: datetime) -> tuple[str, StaffAccount]:
    """Check a PIN; returns a new session token (shown once) and the account.

    Raises ``unauthorized`` for an unknown account, a disabled one or a wrong PIN (the
    same answer, after the same work), and ``staff_locked`` while locked."""
    with engine.connect() as conn:
        row = _row(conn, staff_id)
    if row is not None and row.locked_until is not None and now < row.locked_until:
        raise AccountError(
            "staff_locked",
            "too many wrong PINs: this account is locked for a while",
            retry_after=(row.locked_until - now).total_seconds(),
        )
    encoded = row.secret_hash if row is not None and row.disabled_at is None else None
    right = _verify(encoded or _DUMMY, pin[:PIN_MAX])
    if encoded is None or not right:
        if row is not None:
            _count_failure(engine, staff_id, now)
        raise AccountError("unauthorized", "unknown staff account or wrong PIN")
    assert row is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with writing(engine) as conn:
        _update(conn, staff_id, failed_attempts=0, locked_until=None)
        conn.execute(
            staff_sessions.insert().values(
                token_hash=token_hash(token), staff_id=staff_id, created_at=now, last_used_at=now
            )
        )
        append_event(
            conn,
            ts=now,
            actor=Actor(role="staff", id=staff_id),
            action="staff.signin",
            details={"staff_id": staff_id},
        )
    return token, _account(row)


def _count_failure(engine: Engine, staff_id: str, now: datetime) -> None:
    with writing(engine) as conn:
        _update(conn, staff_id, failed_attempts=staff_accounts.c.failed_attempts + 1)
        failures = conn.execute(
            select(staff_accounts.c.failed_attempts).where(staff_accounts.c.staff_id == staff_id)
        ).scalar_one()
        lock = _lock_for(int(failures))
        if lock is not None:
            _update(conn, staff_id, locked_until=now + lock)
        append_event(
            conn,
            ts=now,
            actor=Actor(role="anonymous", id="-"),
            action="staff.signin_failed",
            outcome="refused",
            details={"staff_id": staff_id, "locked": lock is not None},
        )


def session_account(
    engine: Engine, token: str, *, now: datetime, idle: timedelta, max_age: timedelta
) -> StaffAccount | None:
    """The account of a live session token, or None. Using a session keeps it alive
    (its last use is written at most once a minute, or a tenth of the idle time)."""
    digest = token_hash(token)
    with engine.connect() as conn:
        session = conn.execute(
            select(staff_sessions).where(staff_sessions.c.token_hash == digest)
        ).first()
        row = (
            None
            if session is None
            else conn.execute(
                select(staff_accounts).where(staff_accounts.c.staff_id == session.staff_id)
            ).first()
        )
    if session is None or row is None or session.ended_at is not None:
        return None
    if row.disabled_at is not None:
        return None
    if now - session.last_used_at >= idle or now - session.created_at >= max_age:
        with writing(engine) as conn:
            _end_session(conn, digest, now)
        return None
    if now - session.last_used_at >= min(timedelta(minutes=1), idle / 10):
        with writing(engine) as conn:
            conn.execute(
                update(staff_sessions)
                .where(staff_sessions.c.token_hash == digest)
                .values(last_used_at=now)
            )
    return _account(row)


def sign_out(engine: Engine, token: str, *, now: datetime, actor: Actor) -> bool:
    """End a session at once; True if it was live."""
    with writing(engine) as conn:
        ended = _end_session(conn, token_hash(token), now)
        if ended:
            append_event(
                conn,
                ts=now,
                actor=actor,
                action="staff.signout",
                details={"staff_id": actor.id},
            )
    return bool(ended)
