"""KEK rotation for a key store: a new epoch, every live key re-wrapped under it, the
older epochs destroyed. Resumable: a rotation cut short is finished by running again."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select, update

from dbkit import checkpoint_truncate, writing
from keys import aead
from keys.errors import DecryptionFailed, EpochNotOwned
from keys.kek import UnwrapItem
from keys.records import Rotation
from keys.tables import data_keys, kek_canaries, wrap_context, wrapped_keys

if TYPE_CHECKING:
    from keys.store import KeyStore

#: Keys re-wrapped per transaction by a rotation.
ROTATE_BATCH = 1_000

Progress = Callable[[int, int], None]


def _require_own(store: KeyStore, epoch: int) -> None:
    owner = store.epoch_owner(epoch)
    if owner is not None and owner != store.store_id:
        raise EpochNotOwned(epoch, owner, store.store_id)


def rotate(store: KeyStore, *, progress: Progress | None = None) -> Rotation:
    """See :meth:`KeyStore.rotate`."""
    _require_own(store, store.kek.current_epoch())
    store.kek.new_epoch(owner=store.store_id)
    store.fault("rotate.after_new_epoch")
    return finish_rotation(store, progress=progress)


def finish_rotation(store: KeyStore, *, progress: Progress | None = None) -> Rotation:
    """See :meth:`KeyStore.finish_rotation`."""
    new = store.kek.current_epoch()
    _require_own(store, new)
    old = [e for e in store.kek.epochs() if e != new]
    for epoch in old:
        _require_own(store, epoch)
    with store.engine.connect() as conn:
        stale = conn.execute(
            select(data_keys.c.key_id, data_keys.c.customer_id)
            .join(wrapped_keys)
            .where(wrapped_keys.c.kek_epoch != new)
            .order_by(data_keys.c.key_id)
        ).all()
    rewrapped = 0
    step = store.rotate_batch
    for start in range(0, len(stale), step):
        rewrapped += _rewrap_batch(store, stale[start : start + step], new)
        store.fault("rotate.after_rewrap")
        if progress is not None:
            progress(min(start + step, len(stale)), len(stale))
    checkpoint_truncate(store.engine)
    store.check_kek()
    with writing(store.engine) as conn:
        conn.execute(delete(kek_canaries).where(kek_canaries.c.kek_epoch != new))
    checkpoint_truncate(store.engine)
    store.fault("rotate.before_destroy_epochs")
    for epoch in old:
        store.kek.destroy_epoch(epoch)
    return Rotation(new_epoch=new, destroyed_epochs=old, rewrapped=rewrapped)


def _rewrap_batch(store: KeyStore, batch: Sequence[Any], new: int) -> int:
    """Re-wrap one batch of keys under epoch ``new``; a key destroyed or re-wrapped by
    someone else meanwhile is left as it is. Returns how many were re-wrapped."""
    ids = [key_id for key_id, _ in batch]
    owners = dict(batch)
    with store.engine.connect() as conn:
        rows = conn.execute(select(wrapped_keys).where(wrapped_keys.c.key_id.in_(ids))).all()
    rows = [r for r in rows if r.kek_epoch != new]
    items: list[UnwrapItem] = [
        (bytes(r.wrapped), r.kek_epoch, wrap_context(owners[r.key_id], r.key_id, r.kek_epoch))
        for r in rows
    ]
    deks = store.unwrap_many(items)
    try:
        if any(dek is None for dek in deks):
            raise DecryptionFailed()
        wrapped = store.kek.wrap_many(
            [
                (dek, new, wrap_context(owners[r.key_id], r.key_id, new))
                for r, dek in zip(rows, deks, strict=True)
                if dek is not None
            ]
        )
    finally:
        for dek in deks:
            if dek is not None:
                aead.wipe(dek)
    before = {r.key_id: (r.kek_epoch, bytes(r.wrapped)) for r in rows}
    with writing(store.engine) as conn:
        # Locked and compared again: only keys unchanged since they were read move.
        current = conn.execute(
            select(wrapped_keys).where(wrapped_keys.c.key_id.in_(list(before))).with_for_update()
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
