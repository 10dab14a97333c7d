"""Crypto-shredding in the key store: a key's wrapped bytes deleted for good.

The database is opened with SQLite ``secure_delete=ON`` and the WAL is truncated after
each deletion, so no byte of a destroyed key can be read back from the files.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from dbkit import checkpoint_truncate, writing
from keys.errors import KeyNotFound
from keys.records import Destruction
from keys.tables import ACTIVE, DESTROYED, data_keys, wrapped_keys

if TYPE_CHECKING:
    from keys.store import KeyStore


def destroy(store: KeyStore, customer_id: str, reason: str, *, now: datetime) -> Destruction:
    """See :meth:`KeyStore.destroy`."""
    store.forget(customer_id)
    with writing(store.engine) as conn:
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
    checkpoint_truncate(store.engine)
    store.forget(customer_id)
    record = store.record(customer_id)
    assert record is not None
    return Destruction(record=record, already_destroyed=already)


def discard_unused(store: KeyStore, customer_id: str) -> str | None:
    """See :meth:`KeyStore.discard_unused`."""
    store.forget(customer_id)
    with writing(store.engine) as conn:
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
    checkpoint_truncate(store.engine)
    return str(row.key_id)
