"""The key store: one wrapped data key per customer, in its own database.

Kept apart from the template database so that a copy of the templates never carries keys.
Destroying a key deletes its wrapped bytes with SQLite ``secure_delete=ON`` and truncates
the WAL, so no byte of it can be read back from the files.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from keys import aead
from keys.datakey import DataKey, key_commitment
from keys.db import UTCDateTime, checkpoint_truncate, insert_ignore, make_engine, writing
from keys.errors import DecryptionFailed, KekError, KeyDestroyed, KeyNotFound, KeyWiped
from keys.kek import KekProvider

Clock = Callable[[], datetime]

metadata = MetaData()

data_keys = Table(
    "data_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("customer_id", String(128), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("kek_epoch", Integer, nullable=False),
    Column("commitment", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("destroyed_at", UTCDateTime(), nullable=True),
    Column("destroy_reason", Text, nullable=True),
)

# The secret part lives in its own table so destruction is a DELETE of the whole row.
wrapped_keys = Table(
    "wrapped_keys",
    metadata,
    Column("key_id", String(64), ForeignKey("data_keys.key_id"), primary_key=True),
    Column("kek_epoch", Integer, nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
)

# One value wrapped under each live KEK epoch: opening it at start proves the configured
# KEK is the one this store was written with (a wrong KEK fails at once, not later).
kek_canaries = Table(
    "kek_canaries",
    metadata,
    Column("kek_epoch", Integer, primary_key=True, autoincrement=False),
    Column("wrapped", LargeBinary, nullable=False),
)

ACTIVE = "active"
DESTROYED = "destroyed"


@dataclass(frozen=True)
class KeyRecord:
    """What may be known about a data key without its bytes."""

    key_id: str
    customer_id: str
    state: str
    kek_epoch: int
    commitment: str
    created_at: datetime
    destroyed_at: datetime | None
    destroy_reason: str | None


@dataclass(frozen=True)
class Destruction:
    """The outcome of destroying a customer's key."""

    record: KeyRecord
    already_destroyed: bool


@dataclass(frozen=True)
class Rotation:
    """The outcome of a KEK rotation."""

    new_epoch: int
    destroyed_epochs: list[int]
    rewrapped: int


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _canary(epoch: int) -> tuple[str, ...]:
    return ("facekeep/kek-canary/v1", str(epoch))


def _wrap_context(customer_id: str, key_id: str, epoch: int) -> tuple[str, ...]:
    return ("facekeep/dek/v1", customer_id, key_id, str(epoch))


class KeyStore:
    """Creates, opens, destroys and re-wraps customers' data keys."""

    def __init__(
        self,
        engine: Engine,
        *,
        kek: KekProvider,
        clock: Clock = _utcnow,
        cache_size: int = 10_000,
        fault: Callable[[str], None] = lambda _point: None,
    ) -> None:
        self.engine = engine
        self.fault = fault  # testing hook: crash the process at named points
        self.kek = kek
        self._clock = clock
        self._cache: OrderedDict[str, DataKey] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.RLock()

    @classmethod
    def open_url(
        cls, url: str, *, kek: KekProvider, clock: Clock = _utcnow, create_schema: bool = True
    ) -> KeyStore:
        """Open the key store at a database URL; ``create_schema`` makes missing tables
        directly (library use and tests; deployments migrate with Alembic instead)."""
        store = cls(make_engine(url, secure_delete=True), kek=kek, clock=clock)
        if create_schema:
            store.create_schema()
        return store

    def create_schema(self) -> None:
        """Create the tables if they do not exist."""
        metadata.create_all(self.engine)

    def close(self) -> None:
        """Drop cached keys and release the database."""
        with self._lock:
            for key in self._cache.values():
                key.wipe()
            self._cache.clear()
        self.engine.dispose()

    # -- the KEK canary --------------------------------------------------------------------

    def check_kek(self) -> None:
        """Prove the configured KEK opens this store, then make sure its current epoch has a
        canary. Raises KekError with a clear message when the KEK is not the store's."""
        current = self.kek.current_epoch()
        with self.engine.connect() as conn:
            canaries: dict[int, bytes] = {
                int(r.kek_epoch): bytes(r.wrapped) for r in conn.execute(select(kek_canaries))
            }
        if canaries and max(canaries) > current:
            raise KekError(
                f"the key store was last used with KEK epoch {max(canaries)}, but the "
                f"configured KEK is at epoch {current}: wrong or outdated KEK"
            )
        checkable = [e for e in canaries if e in self.kek.epochs()]
        if canaries and not checkable:
            raise KekError("none of this key store's KEK epochs is available: wrong KEK")
        for epoch in checkable:
            try:
                aead.wipe(self.kek.unwrap(canaries[epoch], epoch=epoch, context=_canary(epoch)))
            except DecryptionFailed:
                raise KekError(
                    f"the configured key-encryption key (epoch {epoch}) is not the one this "
                    "key store was written with; check the KEK file or provider settings"
                ) from None
        if current not in canaries:
            value = aead.new_key()
            try:
                wrapped = self.kek.wrap(value, epoch=current, context=_canary(current))
            finally:
                aead.wipe(value)
            with writing(self.engine) as conn:
                insert_ignore(
                    conn, kek_canaries, {"kek_epoch": current, "wrapped": wrapped}, ["kek_epoch"]
                )

    # -- reading -------------------------------------------------------------------------

    def record(self, customer_id: str) -> KeyRecord | None:
        """Return the key record of a customer, or None if none was made."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(data_keys).where(data_keys.c.customer_id == customer_id)
            ).first()
        return None if row is None else KeyRecord(**row._asdict())

    def record_by_key_id(self, key_id: str) -> KeyRecord | None:
        """Return the key record with this key id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(data_keys).where(data_keys.c.key_id == key_id)).first()
        return None if row is None else KeyRecord(**row._asdict())

    def records(self) -> Iterator[KeyRecord]:
        """Every key record, active and destroyed, in key id order."""
        with self.engine.connect() as conn:
            for row in conn.execute(select(data_keys).order_by(data_keys.c.key_id)):
                yield KeyRecord(**row._asdict())

    # -- creating and using --------------------------------------------------------------

    def ensure_key(self, customer_id: str) -> KeyRecord:
        """Create the customer's data key unless one exists; concurrent calls keep one."""
        existing = self.record(customer_id)
        if existing is not None:
            if existing.state == DESTROYED:
                raise KeyDestroyed(customer_id, existing.key_id)
            return existing
        key_id = "k_" + secrets.token_hex(16)
        epoch = self.kek.current_epoch()
        dek = aead.new_key()
        try:
            wrapped = self.kek.wrap(
                dek, epoch=epoch, context=_wrap_context(customer_id, key_id, epoch)
            )
            row = {
                "key_id": key_id,
                "customer_id": customer_id,
                "state": ACTIVE,
                "kek_epoch": epoch,
                "commitment": key_commitment(dek, key_id),
                "created_at": self._clock(),
            }
            with writing(self.engine) as conn:
                if insert_ignore(conn, data_keys, row, ["customer_id"]):
                    conn.execute(
                        insert(wrapped_keys).values(key_id=key_id, kek_epoch=epoch, wrapped=wrapped)
                    )
        finally:
            aead.wipe(dek)
        record = self.record(customer_id)
        assert record is not None
        if record.state == DESTROYED:
            raise KeyDestroyed(customer_id, record.key_id)
        return record

    def data_key(self, customer_id: str) -> DataKey:
        """Return the customer's unwrapped data key (cached in this process only)."""
        with self._lock:
            cached = self._cache.get(customer_id)
            if cached is not None:
                self._cache.move_to_end(customer_id)
                return cached
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    data_keys.c.key_id,
                    data_keys.c.state,
                    wrapped_keys.c.kek_epoch,
                    wrapped_keys.c.wrapped,
                )
                .select_from(data_keys.outerjoin(wrapped_keys))
                .where(data_keys.c.customer_id == customer_id)
            ).first()
        if row is None:
            raise KeyNotFound(customer_id)
        if row.state != ACTIVE or row.wrapped is None:
            raise KeyDestroyed(customer_id, row.key_id)
        raw = self.kek.unwrap(
            row.wrapped,
            epoch=row.kek_epoch,
            context=_wrap_context(customer_id, row.key_id, row.kek_epoch),
        )
        key = DataKey(raw, key_id=row.key_id, customer_id=customer_id)
        with self._lock:
            self._cache[customer_id] = key
            while len(self._cache) > self._cache_size:
                _, old = self._cache.popitem(last=False)
                old.wipe()
        return key

    @contextmanager
    def data_keys_for(self, customer_ids: Sequence[str]) -> Iterator[dict[str, DataKey]]:
        """Unwrap the data keys of many customers at once (a cold start), one query per
        few thousand customers: ``with store.data_keys_for(ids) as keys: keys[id]...``.

        Customers without a live key, or whose wrapped key does not open, are left out.
        The keys bypass the cache and are wiped when the block ends.
        """
        found: dict[str, DataKey] = {}
        wanted = sorted(set(customer_ids))
        try:
            for start in range(0, len(wanted), 4_000):
                chunk = wanted[start : start + 4_000]
                members = set(chunk)
                # A range of ids, not IN (...): thousands of bound parameters cost more than
                # the few rows in the range that are not asked for.
                with self.engine.connect() as conn:
                    rows = conn.execute(
                        select(
                            data_keys.c.customer_id,
                            data_keys.c.key_id,
                            wrapped_keys.c.kek_epoch,
                            wrapped_keys.c.wrapped,
                        )
                        .select_from(data_keys.join(wrapped_keys))
                        .where(data_keys.c.state == ACTIVE)
                        .where(data_keys.c.customer_id.between(chunk[0], chunk[-1]))
                    ).all()
                for customer_id, key_id, epoch, wrapped in rows:
                    if customer_id not in members:
                        continue
                    try:
                        raw = self.kek.unwrap(
                            wrapped, epoch=epoch, context=_wrap_context(customer_id, key_id, epoch)
                        )
                    except DecryptionFailed:
                        continue
                    found[customer_id] = DataKey(raw, key_id=key_id, customer_id=customer_id)
            yield found
        finally:
            for key in found.values():
                key.wipe()

    def seal(self, customer_id: str, plaintext: bytes, context: Sequence[str]) -> bytes:
        """Encrypt under the customer's data key, bound to ``context``."""
        for _ in range(3):
            try:
                return self.data_key(customer_id).seal(plaintext, context)
            except KeyWiped:
                continue  # evicted from the cache meanwhile: unwrap it again
        raise KeyWiped(customer_id)

    def open(self, customer_id: str, sealed: bytes, context: Sequence[str]) -> bytes:
        """Decrypt with the customer's data key; raises KeyDestroyed once it is gone."""
        for _ in range(3):
            try:
                return self.data_key(customer_id).open(sealed, context)
            except KeyWiped:
                continue
        raise KeyWiped(customer_id)

    def forget(self, customer_id: str) -> None:
        """Drop a cached key from this process's memory."""
        with self._lock:
            key = self._cache.pop(customer_id, None)
        if key is not None:
            key.wipe()

    # -- destroying ----------------------------------------------------------------------

    def destroy(self, customer_id: str, reason: str) -> Destruction:
        """Crypto-shred the customer's key: delete its wrapped bytes for good. Idempotent."""
        self.forget(customer_id)
        now = self._clock()
        with writing(self.engine) as conn:
            # FOR UPDATE: two replicas destroying one key take turns (SQLite: BEGIN
            # IMMEDIATE already does), so exactly one records the destruction.
            row = conn.execute(
                select(data_keys).where(data_keys.c.customer_id == customer_id).with_for_update()
            ).first()
            if row is None:
                raise KeyNotFound(customer_id)
            already = row.state == DESTROYED
            conn.execute(delete(wrapped_keys).where(wrapped_keys.c.key_id == row.key_id))
            if not already:
                conn.execute(
                    update(data_keys)
                    .where(data_keys.c.key_id == row.key_id)
                    .values(state=DESTROYED, destroyed_at=now, destroy_reason=reason)
                )
        checkpoint_truncate(self.engine)
        self.forget(customer_id)
        record = self.record(customer_id)
        assert record is not None
        return Destruction(record=record, already_destroyed=already)

    def discard_unused(self, customer_id: str) -> str | None:
        """Remove an active key that never sealed anything (an enrolment that crashed before
        its customer existed), so the id can enrol afresh. Returns the key id removed."""
        self.forget(customer_id)
        with writing(self.engine) as conn:
            row = conn.execute(
                select(data_keys)
                .where(data_keys.c.customer_id == customer_id)
                .where(data_keys.c.state == ACTIVE)
                .with_for_update()
            ).first()
            if row is None:
                return None
            conn.execute(delete(wrapped_keys).where(wrapped_keys.c.key_id == row.key_id))
            conn.execute(delete(data_keys).where(data_keys.c.key_id == row.key_id))
        checkpoint_truncate(self.engine)
        return str(row.key_id)

    # -- rotating ------------------------------------------------------------------------

    def rotate(self) -> Rotation:
        """Create a new KEK epoch, re-wrap every live key under it, destroy older epochs."""
        self.kek.new_epoch()
        self.fault("rotate.after_new_epoch")
        return self.finish_rotation()

    def finish_rotation(self) -> Rotation:
        """Re-wrap keys still under older epochs and destroy those epochs (resumable)."""
        new = self.kek.current_epoch()
        rewrapped = 0
        with self.engine.connect() as conn:
            stale = conn.execute(
                select(data_keys.c.key_id, data_keys.c.customer_id)
                .join(wrapped_keys)
                .where(wrapped_keys.c.kek_epoch != new)
            ).all()
        for key_id, customer_id in stale:
            with writing(self.engine) as conn:
                row = conn.execute(
                    select(wrapped_keys).where(wrapped_keys.c.key_id == key_id)
                ).first()
                if row is None or row.kek_epoch == new:
                    continue
                dek = self.kek.unwrap(
                    row.wrapped,
                    epoch=row.kek_epoch,
                    context=_wrap_context(customer_id, key_id, row.kek_epoch),
                )
                try:
                    wrapped = self.kek.wrap(
                        dek, epoch=new, context=_wrap_context(customer_id, key_id, new)
                    )
                finally:
                    aead.wipe(dek)
                conn.execute(
                    update(wrapped_keys)
                    .where(wrapped_keys.c.key_id == key_id)
                    .values(kek_epoch=new, wrapped=wrapped)
                )
                conn.execute(
                    update(data_keys).where(data_keys.c.key_id == key_id).values(kek_epoch=new)
                )
            rewrapped += 1
            self.fault("rotate.after_rewrap")
        checkpoint_truncate(self.engine)
        old = [e for e in self.kek.epochs() if e != new]
        self.check_kek()
        with writing(self.engine) as conn:
            conn.execute(delete(kek_canaries).where(kek_canaries.c.kek_epoch != new))
        checkpoint_truncate(self.engine)
        self.fault("rotate.before_destroy_epochs")
        for epoch in old:
            self.kek.destroy_epoch(epoch)
        return Rotation(new_epoch=new, destroyed_epochs=old, rewrapped=rewrapped)
