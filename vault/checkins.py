"""Check-ins handed off to each venue's own system: its webhook and the durable outbox.

A confirmed check-in match becomes an outbox row in the very transaction that writes the
match's audit event (:func:`enqueue`, called by the audit writer), so a crash either
keeps both or neither, and the row's check-in id never changes: a delivery repeated
after a crash carries the same id, which receivers use to ignore the repeat.

The outbox is worked by :class:`Outbox` (claim due rows under a lease, then mark each
delivered, retried later, given up or cancelled); sending is the API layer's business.
A venue's signing secret is sealed under a key-store data key of its own (owner
``webhook:VENUE:RANDOM``, never a valid customer id), so it follows KEK rotations and
lives in no file and no log.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, delete, func, select, update

from dbkit import insert_ignore, writing
from keys import KeyStore
from vault.audit.events import Actor, append_event
from vault.errors import InvalidRequest
from vault.models import checkin_outbox, checkin_webhooks

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
STATUSES = (PENDING, DELIVERED, FAILED, CANCELLED)
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
_SECRET_CONTEXT = "facekeep/webhook-secret/v1"  # noqa: S105 - associated data label

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CheckinMatch:
    """A confirmed check-in match, as the audit writer commits it."""

    audit_seq: int
    customer_id: str
    consent_id: str
    venue: str
    kiosk: str
    at: datetime


@dataclass(frozen=True)
class Checkin:
    """An outbox row to deliver."""

    checkin_id: str
    customer_id: str
    consent_id: str
    venue: str
    kiosk: str
    occurred_at: datetime
    attempts: int


@dataclass(frozen=True)
class Endpoint:
    """Where a venue's check-ins go and the secret they are signed with (never shown)."""

    venue: str
    url: str
    secret: bytes = field(repr=False)
    source: str  # "venue" (set through the API) or "default" (FACEKEEP_CHECKIN_WEBHOOK_URL)


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32
    random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_secret(text: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret (24 to 64 bytes once decoded)."""
    body = text.strip().removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not 24 <= len(raw) <= 64:
        raise InvalidRequest(
            "a webhook secret is 'whsec_' followed by base64 of 24 to 64 random bytes",
            code="invalid_webhook_secret",
        )
    return raw


def format_secret(raw: bytes) -> str:
    """The ``whsec_...`` text of secret bytes."""
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def check_url(url: str) -> str:
    """Refuse anything but an absolute http(s) URL without credentials in it."""
    parts = urlsplit(url)
    if (
        len(url) > 2000
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or any(c.isspace() for c in url)
    ):
        raise InvalidRequest(
            "the webhook URL must be an absolute http:// or https:// address without "
            "credentials (put none in the URL: requests are signed)",
            code="invalid_webhook_url",
        )
    return url


# -- written by the audit writer ---------------------------------------------------------


def enqueue(conn: Connection, matches: Sequence[CheckinMatch], *, every_venue: bool) -> int:
    """Add an outbox row for each match at a venue with a webhook (every venue when a
    default URL is configured), inside the caller's transaction; returns how many."""
    if not matches:
        return 0
    if every_venue:
        wanted = list(matches)
    else:
        venues = sorted({m.venue for m in matches})
        served = set(
            conn.execute(
                select(checkin_webhooks.c.venue_id).where(checkin_webhooks.c.venue_id.in_(venues))
            ).scalars()
        )
        wanted = [m for m in matches if m.venue in served]
    if wanted:
        conn.execute(
            checkin_outbox.insert(),
            [
                {
                    "checkin_id": "ci_" + secrets.token_hex(16),
                    "audit_seq": m.audit_seq,
                    "customer_id": m.customer_id,
                    "consent_id": m.consent_id,
                    "venue": m.venue,
                    "kiosk": m.kiosk,
                    "occurred_at": m.at,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": m.at,
                }
                for m in wanted
            ],
        )
    return len(wanted)


def enqueue_matched(
    conn: Connection, written: Sequence[tuple[dict[str, Any], int]], *, every_venue: bool
) -> int:
    """In the audit writer's transaction: an outbox row for each confirmed check-in match
    among the events just ``written`` (each with its seq), so the hand-off to the venue's
    system commits with the match's event; returns how many."""
    matches = [
        CheckinMatch(
            audit_seq=seq,
            customer_id=event["customer_id"],
            consent_id=event["details"]["consent"],
            venue=event["details"]["venue"],
            kiosk=event["actor"].id,
            at=event["ts"],
        )
        for event, seq in written
        if event["action"] == "match"
        and event.get("outcome") == "match"
        and event["details"].get("purpose") == "checkin"
    ]
    return enqueue(conn, matches, every_venue=every_venue) if matches else 0


# -- venues' endpoints -------------------------------------------------------------------


def _context(venue: str, owner: str) -> tuple[str, ...]:
    return (_SECRET_CONTEXT, venue, owner)


class Webhooks:
    """Venues' webhook endpoints, their secrets sealed in the key store."""

    def __init__(self, engine: Engine, *, keys: KeyStore, clock: Clock) -> None:
        self.engine = engine
        self.keys = keys
        self.clock = clock

    def set(self, venue: str, url: str, secret: bytes, *, actor: Actor) -> None:
        """Point a venue's check-ins at ``url``, signed with ``secret`` (audited, without
        the secret)."""
        check_url(url)
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkin_webhooks.c.secret_owner).where(checkin_webhooks.c.venue_id == venue)
            ).first()
        owner = row.secret_owner if row else f"webhook:{venue}:{secrets.token_hex(6)}"
        self.keys.ensure_key(owner)
        sealed = self.keys.seal(owner, secret, _context(venue, owner))
        values = {"url": url, "secret_owner": owner, "secret_sealed": sealed, "updated_at": now}
        with writing(self.engine) as conn:
            if not insert_ignore(
                conn, checkin_webhooks, {"venue_id": venue, **values}, ["venue_id"]
            ):
                conn.execute(
                    update(checkin_webhooks)
                    .where(checkin_webhooks.c.venue_id == venue)
                    .values(**values)
                )
            append_event(
                conn,
                ts=now,
                actor=actor,
                action="webhook.set",
                details={"venue": venue, "host": urlsplit(url).hostname},
            )

    def remove(self, venue: str, *, actor: Actor) -> bool:
        """Forget a venue's own endpoint and shred its secret's key; True if one was set."""
        now = self.clock()
        with writing(self.engine) as conn:
            row = conn.execute(
                select(checkin_webhooks.c.secret_owner).where(checkin_webhooks.c.venue_id == venue)
            ).first()
            if row is None:
                return False
            conn.execute(delete(checkin_webhooks).where(checkin_webhooks.c.venue_id == venue))
            append_event(
                conn, ts=now, actor=actor, action="webhook.remove", details={"venue": venue}
            )
        self.keys.destroy(row.secret_owner, "webhook removed")
        return True

    def get(self, venue: str) -> Endpoint | None:
        """The venue's own endpoint with its secret opened, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkin_webhooks).where(checkin_webhooks.c.venue_id == venue)
            ).first()
        if row is None:
            return None
        secret = self.keys.open(
            row.secret_owner, row.secret_sealed, _context(venue, row.secret_owner)
        )
        return Endpoint(venue=venue, url=row.url, secret=secret, source="venue")

    def listing(self) -> list[dict[str, Any]]:
        """Every venue's own endpoint (URL and when it was set; never the secret)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    checkin_webhooks.c.venue_id,
                    checkin_webhooks.c.url,
                    checkin_webhooks.c.updated_at,
                ).order_by(checkin_webhooks.c.venue_id)
            ).all()
        return [
            {"venue": r.venue_id, "url": r.url, "updated_at": r.updated_at.isoformat()}
            for r in rows
        ]


# -- the outbox --------------------------------------------------------------------------


class Outbox:
    """Claims due check-ins under a lease and records what became of each delivery.

    A lease keeps other workers (other replicas) off a row while it is being sent; a
    worker killed mid-delivery leaves the row pending, and it is sent again, with the
    same check-in id, once the lease ends.
    """

    def __init__(self, engine: Engine, *, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def claim(self, limit: int, lease: timedelta) -> list[Checkin]:
        """Up to ``limit`` due pending rows, leased to the caller for ``lease``."""
        now = self.clock()
        query = (
            select(checkin_outbox)
            .where(checkin_outbox.c.status == PENDING)
            .where(checkin_outbox.c.next_attempt_at <= now)
            .where(checkin_outbox.c.lease_until.is_(None) | (checkin_outbox.c.lease_until <= now))
            .order_by(checkin_outbox.c.next_attempt_at, checkin_outbox.c.audit_seq)
            .limit(limit)
        )
        # Look first without the write lock: an idle outbox, polled every second by every
        # replica, must not queue with the audit writer for SQLite's lock.
        with self.engine.connect() as conn:
            if conn.execute(query.with_only_columns(checkin_outbox.c.checkin_id)).first() is None:
                return []
        with writing(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    update(checkin_outbox)
                    .where(checkin_outbox.c.checkin_id.in_([r.checkin_id for r in rows]))
                    .values(lease_until=now + lease)
                )
        return [
            Checkin(
                checkin_id=r.checkin_id,
                customer_id=r.customer_id,
                consent_id=r.consent_id,
                venue=r.venue,
                kiosk=r.kiosk,
                occurred_at=r.occurred_at,
                attempts=r.attempts,
            )
            for r in rows
        ]

    def _finish(self, checkin_id: str, **values: Any) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                update(checkin_outbox)
                .where(checkin_outbox.c.checkin_id == checkin_id)
                .where(checkin_outbox.c.status == PENDING)
                .values(lease_until=None, **values)
            )

    def delivered(self, checkin: Checkin) -> None:
        """The receiver accepted it."""
        self._finish(
            checkin.checkin_id,
            status=DELIVERED,
            attempts=checkin.attempts + 1,
            last_error=None,
            finished_at=self.clock(),
        )

    def retry(self, checkin: Checkin, error: str, delay: timedelta, *, give_up: bool) -> None:
        """An attempt failed: try again after ``delay``, or give up (``failed``)."""
        now = self.clock()
        if give_up:
            self._finish(
                checkin.checkin_id,
                status=FAILED,
                attempts=checkin.attempts + 1,
                last_error=error[:64],
                finished_at=now,
            )
        else:
            self._finish(
                checkin.checkin_id,
                attempts=checkin.attempts + 1,
                last_error=error[:64],
                next_attempt_at=now + delay,
            )

    def cancel(self, checkin: Checkin, reason: str) -> None:
        """Never deliver it (the guest withdrew meanwhile, or the venue has no endpoint)."""
        self._finish(
            checkin.checkin_id, status=CANCELLED, last_error=reason[:64], finished_at=self.clock()
        )

    def prune(self, before: datetime) -> int:
        """Forget finished rows (delivered, failed, cancelled) finished before ``before``:
        the venue's system has the check-in, and the audit log keeps the match."""
        with writing(self.engine) as conn:
            result = conn.execute(
                delete(checkin_outbox)
                .where(checkin_outbox.c.status != PENDING)
                .where(checkin_outbox.c.finished_at < before)
            )
        return int(result.rowcount or 0)

    def counts(self) -> dict[str, int]:
        """Rows by status (``pending`` is the queue's depth)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(checkin_outbox.c.status, func.count()).group_by(checkin_outbox.c.status)
            ).all()
        found = {str(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in STATUSES}

    def next_due(self) -> datetime | None:
        """When the earliest pending row is next due (None when nothing is pending)."""
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(func.min(checkin_outbox.c.next_attempt_at)).where(
                    checkin_outbox.c.status == PENDING
                )
            ).scalar()
        return value

    def rows(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent rows, newest first (for operators and tests)."""
        query = select(checkin_outbox).order_by(checkin_outbox.c.audit_seq.desc()).limit(limit)
        if status is not None:
            query = query.where(checkin_outbox.c.status == status)
        with self.engine.connect() as conn:
            return [
                {
                    "checkin_id": r.checkin_id,
                    "audit_seq": r.audit_seq,
                    "venue": r.venue,
                    "kiosk": r.kiosk,
                    "occurred_at": r.occurred_at.isoformat(),
                    "status": r.status,
                    "attempts": r.attempts,
                    "last_error": r.last_error,
                }
                for r in conn.execute(query)
            ]
