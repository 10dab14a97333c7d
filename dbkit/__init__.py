"""Database plumbing shared by every store (key store, vault) and the service: engines
with sane SQLite and PostgreSQL settings, write transactions, lock waits, UTC timestamps,
the Alembic helpers and each store's named settings (:mod:`dbkit.settings`). It imports no
other facekeep package: it is the bottom layer."""

from dbkit.db import (
    DEFAULT_LOCK_WAIT,
    LOCK_WAIT,
    UTCDateTime,
    checkpoint_truncate,
    insert_ignore,
    lock_wait,
    make_engine,
    normalise_url,
    serialise_writers,
    writing,
)
from dbkit.schema import current_revision, head_revision, require_current, upgrade, version_table

__all__ = [
    "DEFAULT_LOCK_WAIT",
    "LOCK_WAIT",
    "UTCDateTime",
    "checkpoint_truncate",
    "current_revision",
    "head_revision",
    "insert_ignore",
    "lock_wait",
    "make_engine",
    "normalise_url",
    "require_current",
    "serialise_writers",
    "upgrade",
    "version_table",
    "writing",
]
