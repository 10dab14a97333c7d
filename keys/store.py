"""The key store: one wrapped data key per customer, in its own database.

Kept apart from the template database so that a copy of the templates never carries keys.
Its tables are in :mod:`keys.tables`, its id in :mod:`keys.identity`; destruction
(:mod:`keys.destruction`) and KEK rotation (:mod:`keys.rotation`) work on a ``KeyStore``.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, insert, select

from dbkit import insert_ignore, make_engine, writing
from keys import aead, destruction, rotation
from keys.datakey import DataKey, key_commitment
from keys.errors import DecryptionFailed, KekError, KeyDestroyed, KeyNotFound, KeyWiped
from keys.identity import STORE_ID, new_store_identity, store_identity
from keys.kek import KekProvider, UnwrapItem
from keys.records import Destruction, KeyRecord, Rotation
from keys.rotation import ROTATE_BATCH, Progress
from keys.tables import (
    ACTIVE,
    DESTROYED,
    canary_context,
    data_keys,
    kek_canaries,
    keystore_settings,
    metadata,
    wrap_context,
    wrapped_keys,
)

# Names others import from here (the key store's module before it was split by job).
_wrap_context = wrap_context
__all__ = [
    "ACTIVE",
    "DESTROYED",
    "READ_CHUNK",
    "ROTATE_BATCH",
    "STORE_ID",
    "Clock",
    "Destruction",
    "KeyRecord",
    "KeyStore",
    "Progress",
    "Rotation",
    "_wrap_context",
    "data_keys",
    "kek_canaries",
    "keystore_settings",
    "metadata",
    "new_store_identity",
    "store_identity",
    "wrapped_keys",
]

Clock = Callable[[], datetime]

#: Rows read per query by a batch unwrap.
READ_CHUNK = 4_000

# What opening a data key needs: the wrap context (customer, key id, epoch) and the bytes.
_WRAPPED = select(
    data_keys.c.customer_id,
    data_keys.c.key_id,
    data_keys.c.state,
    wrapped_keys.c.kek_epoch,
    wrapped_keys.c.wrapped,
)


def _unwrap_item(row: Any) -> UnwrapItem:
    return (
        bytes(row.wrapped),
        row.kek_epoch,
        wrap_context(row.customer_id, row.key_id, row.kek_epoch),
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
                aead.wipe(
                    self.kek.unwrap(canaries[epoch], epoch=epoch, context=canary_context(epoch))
                )
            except DecryptionFailed:
                raise KekError(
                    f"the configured key-encryption key (epoch {epoch}) is not the one this "
                    "key store was written with; check the KEK file or provider settings"
                ) from None
        if current not in canaries:
            value = aead.new_key()
            try:
                wrapped = self.kek.wrap(value, epoch=current, context=canary_context(current))
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
                dek, epoch=epoch, context=wrap_context(customer_id, key_id, epoch)
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
                _WRAPPED.select_from(data_keys.outerjoin(wrapped_keys)).where(
                    data_keys.c.customer_id == customer_id
                )
            ).first()
        if row is None:
            raise KeyNotFound(customer_id)
        if row.state != ACTIVE or row.wrapped is None:
            raise KeyDestroyed(customer_id, row.key_id)
        wrapped, epoch, context = _unwrap_item(row)
        raw = self.kek.unwrap(wrapped, epoch=epoch, context=context)
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
                        _WRAPPED.select_from(data_keys.join(wrapped_keys))
                        .where(data_keys.c.state == ACTIVE)
                        .where(data_keys.c.customer_id.between(chunk[0], chunk[-1]))
                    ).all()
                rows = [r for r in rows if r.customer_id in members]
                opened = self.unwrap_many([_unwrap_item(r) for r in rows])
                for row, raw in zip(rows, opened, strict=True):
                    if raw is not None:
                        found[row.customer_id] = DataKey(
                            raw, key_id=row.key_id, customer_id=row.customer_id
                        )
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

    # -- destroying (keys.destruction) ---------------------------------------------------

    def destroy(self, customer_id: str, reason: str) -> Destruction:
        """Crypto-shred the customer's key: delete its wrapped bytes for good. Idempotent."""
        return destruction.destroy(self, customer_id, reason, now=self._clock())

    def discard_unused(self, customer_id: str) -> str | None:
        """Remove an active key that never sealed anything (an enrolment that crashed before
        its customer existed), so the id can enrol afresh. Returns the key id removed."""
        return destruction.discard_unused(self, customer_id)

    # -- rotating (keys.rotation) --------------------------------------------------------

    def rotate(self, *, progress: Progress | None = None) -> Rotation:
        """Create a new KEK epoch, re-wrap every live key under it, destroy older epochs.

        Refused (:class:`EpochNotOwned`) when the current epoch belongs to another key
        store: a restored copy never rotates the original's KEK."""
        return rotation.rotate(self, progress=progress)

    def finish_rotation(self, *, progress: Progress | None = None) -> Rotation:
        """Re-wrap keys still under older epochs and destroy those epochs (resumable).

        Keys are re-wrapped a thousand per transaction, with the provider's batch calls;
        ``progress(done, total)`` is called after each batch."""
        return rotation.finish_rotation(self, progress=progress)
