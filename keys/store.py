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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
    bindparam,
    delete,
    insert,
    select,
    update,
)

from dbkit import UTCDateTime, checkpoint_truncate, insert_ignore, make_engine, writing
from keys import aead
from keys.datakey import DataKey, key_commitment
from keys.errors import (
    DecryptionFailed,
    EpochNotOwned,
    KekError,
    KeyDestroyed,
    KeyNotFound,
    KeyWiped,
)
from keys.kek import KekProvider, UnwrapItem

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

# The key store's own settings; ``store_id`` names it, and every KEK epoch it creates
# carries that id, so a restored copy given a new id can never destroy the original's.
keystore_settings = Table(
    "keystore_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

ACTIVE = "active"
DESTROYED = "destroyed"
STORE_ID = "store_id"
#: Keys re-wrapped per transaction by a rotation.
ROTATE_BATCH = 1_000
#: Rows read per query by a batch unwrap.
READ_CHUNK = 4_000

Progress = Callable[[int, int], None]


def store_identity(engine: Engine, *, create: bool = True) -> str | None:
    """The id of the key store in ``engine`` (made on first use when ``create``)."""
    with engine.connect() as conn:
        value = conn.execute(
            select(keystore_settings.c.value).where(keystore_settings.c.name == STORE_ID)
        ).scalar_one_or_none()
    if value is None and create:
        with writing(engine) as conn:
            insert_ignore(
                conn,
                keystore_settings,
                {"name": STORE_ID, "value": "ks_" + secrets.token_hex(8)},
                ["name"],
            )
        return store_identity(engine, create=False)
    return None if value is None else str(value)


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


def new_store_identity(engine: Engine) -> str:
    """Give the key store in ``engine`` a new id (see :meth:`KeyStore.new_identity`)."""
    value = "ks_" + secrets.token_hex(8)
    with writing(engine) as conn:
        conn.execute(delete(keystore_settings).where(keystore_settings.c.name == STORE_ID))
        conn.execute(insert(keystore_settings).values(name=STORE_ID, value=value))
    return value


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
        self._store_id: str | None = None
        self.rotate_batch = ROTATE_BATCH

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

    @property
    def store_id(self) -> str:
        """This key store's id (made on first use)."""
        if self._store_id is None:
            self._store_id = store_identity(self.engine)
        assert self._store_id is not None
        return self._store_id

    def new_identity(self) -> str:
        """Give this key store a new id: a restored copy becomes a store of its own, which
        can read the keys it holds but never rotate or destroy the epochs it was copied
        with (they stay the original's)."""
        self._store_id = new_store_identity(self.engine)
        return self._store_id

    def epoch_owner(self, epoch: int) -> str | None:
        """The key store that created ``epoch`` (None: created before epochs were bound)."""
        return self.kek.epoch_owner(epoch)

    def owns_epoch(self, epoch: int) -> bool:
        """True unless the epoch is bound to another key store."""
        owner = self.epoch_owner(epoch)
        return owner is None or owner == self.store_id

    def _require_own(self, epoch: int) -> None:
        owner = self.epoch_owner(epoch)
        if owner is not None and owner != self.store_id:
            raise EpochNotOwned(epoch, owner, self.store_id)

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
            for start in range(0, len(wanted), READ_CHUNK):
                chunk = wanted[start : start + READ_CHUNK]
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
                rows = [r for r in rows if r[0] in members]
                items: list[UnwrapItem] = [
                    (bytes(wrapped), epoch, _wrap_context(customer_id, key_id, epoch))
                    for customer_id, key_id, epoch, wrapped in rows
                ]
                for (customer_id, key_id, _, _), raw in zip(
                    rows, self.unwrap_many(items), strict=True
                ):
                    if raw is not None:
                        found[customer_id] = DataKey(raw, key_id=key_id, customer_id=customer_id)
            yield found
        finally:
            for key in found.values():
                key.wipe()

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        """Unwrap through the KEK provider in its batch size; a provider reached over the
        network (transit) gets a few batches in flight at once, since each call mostly
        waits. An item that does not open is None."""
        size = max(1, int(getattr(self.kek, "batch_size", 1)))
        batches = [items[i : i + size] for i in range(0, len(items), size)]
        if len(batches) <= 1 or self.kek.name != "transit":
            return [raw for batch in batches for raw in self.kek.unwrap_many(batch)]
        with ThreadPoolExecutor(min(4, len(batches)), thread_name_prefix="facekeep-kek") as pool:
            return [raw for done in pool.map(self.kek.unwrap_many, batches) for raw in done]

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

    def rotate(self, *, progress: Progress | None = None) -> Rotation:
        """Create a new KEK epoch, re-wrap every live key under it, destroy older epochs.

        Refused (:class:`EpochNotOwned`) when the current epoch belongs to another key
        store: a restored copy never rotates the original's KEK."""
        self._require_own(self.kek.current_epoch())
        self.kek.new_epoch(owner=self.store_id)
        self.fault("rotate.after_new_epoch")
        return self.finish_rotation(progress=progress)

    def finish_rotation(self, *, progress: Progress | None = None) -> Rotation:
        """Re-wrap keys still under older epochs and destroy those epochs (resumable).

        Keys are re-wrapped a thousand per transaction, with the provider's batch calls;
        ``progress(done, total)`` is called after each batch."""
        new = self.kek.current_epoch()
        self._require_own(new)
        old = [e for e in self.kek.epochs() if e != new]
        for epoch in old:
            self._require_own(epoch)
        with self.engine.connect() as conn:
            stale = conn.execute(
                select(data_keys.c.key_id, data_keys.c.customer_id)
                .join(wrapped_keys)
                .where(wrapped_keys.c.kek_epoch != new)
                .order_by(data_keys.c.key_id)
            ).all()
        rewrapped = 0
        step = self.rotate_batch
        for start in range(0, len(stale), step):
            rewrapped += self._rewrap_batch(stale[start : start + step], new)
            self.fault("rotate.after_rewrap")
            if progress is not None:
                progress(min(start + step, len(stale)), len(stale))
        checkpoint_truncate(self.engine)
        self.check_kek()
        with writing(self.engine) as conn:
            conn.execute(delete(kek_canaries).where(kek_canaries.c.kek_epoch != new))
        checkpoint_truncate(self.engine)
        self.fault("rotate.before_destroy_epochs")
        for epoch in old:
            self.kek.destroy_epoch(epoch)
        return Rotation(new_epoch=new, destroyed_epochs=old, rewrapped=rewrapped)

    def _rewrap_batch(self, batch: Sequence[Any], new: int) -> int:
        """Re-wrap one batch of keys under epoch ``new``; a key destroyed or re-wrapped by
        someone else meanwhile is left as it is. Returns how many were re-wrapped."""
        ids = [key_id for key_id, _ in batch]
        owners = dict(batch)
        with self.engine.connect() as conn:
            rows = conn.execute(select(wrapped_keys).where(wrapped_keys.c.key_id.in_(ids))).all()
        rows = [r for r in rows if r.kek_epoch != new]
        items: list[UnwrapItem] = [
            (bytes(r.wrapped), r.kek_epoch, _wrap_context(owners[r.key_id], r.key_id, r.kek_epoch))
            for r in rows
        ]
        deks = self.unwrap_many(items)
        try:
            if any(dek is None for dek in deks):
                raise DecryptionFailed()
            wrapped = self.kek.wrap_many(
                [
                    (dek, new, _wrap_context(owners[r.key_id], r.key_id, new))
                    for r, dek in zip(rows, deks, strict=True)
                    if dek is not None
                ]
            )
        finally:
            for dek in deks:
                if dek is not None:
                    aead.wipe(dek)
        before = {r.key_id: (r.kek_epoch, bytes(r.wrapped)) for r in rows}
        with writing(self.engine) as conn:
            # Locked and compared again: only keys unchanged since they were read move.
            current = conn.execute(
                select(wrapped_keys)
                .where(wrapped_keys.c.key_id.in_(list(before)))
                .with_for_update()
            ).all()
            unchanged = {
                r.key_id for r in current if before.get(r.key_id) == (r.kek_epoch, bytes(r.wrapped))
            }
            values = [
                {"k": r.key_id, "e": new, "w": w}
                for r, w in zip(rows, wrapped, strict=True)
                if r.key_id in unchanged
            ]
            if values:
                conn.execute(
                    update(wrapped_keys)
                    .where(wrapped_keys.c.key_id == bindparam("k"))
                    .values(kek_epoch=bindparam("e"), wrapped=bindparam("w")),
                    values,
                )
                conn.execute(
                    update(data_keys)
                    .where(data_keys.c.key_id == bindparam("k"))
                    .values(kek_epoch=bindparam("e")),
                    [{"k": v["k"], "e": new} for v in values],
                )
        return len(values)
