"""API keys (admin, kiosk, auditor) and venues, stored hashed beside the vault's tables.

Keys are looked up by the SHA-256 of the secret, so a key made offline with
``facekeep keys create-*`` works on a running server at once. :class:`KeyCache` keeps
keys that were found for about a second, so a busy kiosk does not cost a database query
per request; disabling a key through this process forgets it at once, and every other
process sharing the database stops accepting it within that second.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update

from dbkit import insert_ignore, writing
from vault import Actor
from vault.audit import append_event
from vault.models import api_keys, venues

ROLES = ("admin", "kiosk", "auditor")


def hash_secret(secret: str) -> str:
    """SHA-256 of an API key secret (secrets are 256-bit random, so no stretching)."""
    return hashlib.sha256(b"facekeep/api-key/v1:" + secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored API key, without its secret."""

    key_id: str
    role: str
    venue: str | None
    purposes: tuple[str, ...]
    label: str
    created_at: datetime
    disabled_at: datetime | None
    # A kiosk of a trusted edge device, which computes embeddings itself and may send them.
    allow_embeddings: bool = False
    expires_at: datetime | None = None
    rotated_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Neither disabled nor expired at ``now``."""
        return self.disabled_at is None and (self.expires_at is None or now < self.expires_at)

    def public(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "id": self.key_id,
            "role": self.role,
            "venue": self.venue,
            "purposes": list(self.purposes),
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "disabled": self.disabled_at is not None,
            "allow_embeddings": self.allow_embeddings,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "rotated_at": self.rotated_at.isoformat() if self.rotated_at else None,
        }


def _key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        role=row.role,
        venue=row.venue,
        purposes=tuple(json.loads(row.purposes)),
        label=row.label,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        allow_embeddings=bool(row.allow_embeddings),
        expires_at=row.expires_at,
        rotated_at=row.rotated_at,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_venue(engine: Engine, venue_id: str, name: str, now: datetime, actor: Actor) -> bool:
    """Register a venue unless it exists; returns True if it was created."""
    with writing(engine) as conn:
        created = insert_ignore(
            conn, venues, {"venue_id": venue_id, "name": name, "created_at": now}, ["venue_id"]
        )
        if created:
            append_event(
                conn, ts=now, actor=actor, action="venue.create", details={"venue": venue_id}
            )
    return created


def list_venues(engine: Engine) -> list[dict[str, Any]]:
    """Every venue."""
    with engine.connect() as conn:
        rows = conn.execute(select(venues).order_by(venues.c.venue_id)).all()
    return [
        {
            "id": r.venue_id,
            "name": r.name,
            "created_at": r.created_at.isoformat(),
            "disabled": r.disabled_at is not None,
        }
        for r in rows
    ]


def venue_enabled(engine: Engine, venue_id: str) -> bool:
    """True if the venue exists and is not disabled."""
    with engine.connect() as conn:
        row = conn.execute(
            select(venues.c.disabled_at).where(venues.c.venue_id == venue_id)
        ).first()
    return row is not None and row.disabled_at is None


def create_key(
    engine: Engine,
    *,
    role: str,
    now: datetime,
    actor: Actor,
    venue: str | None = None,
    purposes: tuple[str, ...] = (),
    label: str = "",
    allow_embeddings: bool = False,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKey]:
    """Make a key; returns the secret (shown once) and the stored record.

    ``allow_embeddings`` (kiosk keys only) lets the kiosk send embeddings instead of
    images: only for trusted edge devices, since an embedding sent by a client cannot be
    told from one lifted from somewhere else. A key with ``expires_at`` stops working
    then."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    if allow_embeddings and role != "kiosk":
        raise ValueError("only kiosk keys may send embeddings")
    if expires_at is not None and expires_at <= now:
        raise ValueError("a key cannot expire before it is made")
    secret = _new_secret(role)
    key_id = f"{role}_{secrets.token_hex(6)}"
    with writing(engine) as conn:
        conn.execute(
            api_keys.insert().values(
                key_id=key_id,
                secret_hash=hash_secret(secret),
                role=role,
                venue=venue,
                purposes=json.dumps(sorted(set(purposes))),
                label=label,
                created_at=now,
                allow_embeddings=allow_embeddings,
                expires_at=expires_at,
            )
        )
        append_event(
            conn,
            ts=now,
            actor=actor,
            action="apikey.create",
            details={
                "key_id": key_id,
                "role": role,
                "venue": venue,
                "purposes": sorted(purposes),
                "allow_embeddings": allow_embeddings,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()
    return secret, _key(row)


def _new_secret(role: str) -> str:
    prefix = {"admin": "fka", "kiosk": "fkk", "auditor": "fku"}[role]
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def lookup(engine: Engine, secret: str, now: datetime | None = None) -> ApiKey | None:
    """The usable (enabled, unexpired) key whose secret this is, compared in constant time."""
    digest = hash_secret(secret)
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.secret_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.secret_hash, digest):
        return None
    key = _key(row)
    return key if key.usable(now or _utcnow()) else None


class KeyCache:
    """Enabled keys found recently, by the digest of their secret, for ``ttl`` seconds.

    Only keys that were found are kept (a new key works at once; an unknown secret always
    asks the database). ``ttl`` 0 turns the cache off.
    """

    def __init__(
        self,
        engine: Engine,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._now = now  # wall time, for expiry
        self._found: dict[str, tuple[ApiKey, float]] = {}
        self._lock = threading.Lock()

    def peek(self, secret: str) -> ApiKey | None:
        """The key if memory holds a fresh entry for it (never asks the database)."""
        if self._ttl <= 0:
            return None
        digest = hash_secret(secret)
        with self._lock:
            entry = self._found.get(digest)
        if entry is not None and entry[1] > self._clock():
            key = entry[0]
            return key if key.expires_at is None or self._now() < key.expires_at else None
        return None

    def lookup(self, secret: str) -> ApiKey | None:
        """Like :func:`lookup`, answered from memory while a key's entry is fresh."""
        if self._ttl <= 0:
            return lookup(self._engine, secret, self._now())
        found = self.peek(secret)
        if found is not None:
            return found
        digest = hash_secret(secret)
        now = self._clock()
        key = lookup(self._engine, secret, self._now())
        with self._lock:
            if key is None:
                self._found.pop(digest, None)
            else:
                if len(self._found) >= self._max:
                    self._found.clear()
                self._found[digest] = (key, now + self._ttl)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a key (it was just disabled) so its next use asks the database."""
        with self._lock:
            for digest in [d for d, (k, _) in self._found.items() if k.key_id == key_id]:
                del self._found[digest]


def list_keys(engine: Engine, role: str | None = None) -> list[ApiKey]:
    """Keys, optionally of one role."""
    query = select(api_keys).order_by(api_keys.c.created_at)
    if role is not None:
        query = query.where(api_keys.c.role == role)
    with engine.connect() as conn:
        return [_key(r) for r in conn.execute(query)]


def disable_key(
    engine: Engine, key_id: str, *, now: datetime, actor: Actor, role: str | None = None
) -> ApiKey | None:
    """Disable a key (of ``role``, if given) at once; returns it, or None if unknown."""
    with writing(engine) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None or (role is not None and row.role != role):
            return None
        if row.disabled_at is None:
            conn.execute(
                update(api_keys).where(api_keys.c.key_id == key_id).values(disabled_at=now)
            )
            append_event(
                conn, ts=now, actor=actor, action="apikey.disable", details={"key_id": key_id}
            )
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()
    return _key(row)


def rotate_key(
    engine: Engine, key_id: str, *, now: datetime, actor: Actor
) -> tuple[str, ApiKey] | None:
    """Give a key a new secret (returned, shown once); the old secret stops at once here
    and within the key cache's time on other replicas. None if there is no such key."""
    with writing(engine) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            return None
        secret = _new_secret(row.role)
        conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id)
            .values(secret_hash=hash_secret(secret), rotated_at=now)
        )
        append_event(conn, ts=now, actor=actor, action="apikey.rotate", details={"key_id": key_id})
        row = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()
    return secret, _key(row)
