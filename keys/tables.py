"""The key store's tables, its key states and the contexts its wrapped values are bound to.

Kept apart from the template database so that a copy of the templates never carries keys.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text

from dbkit import UTCDateTime
from dbkit.schema import settings_table

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
keystore_settings = settings_table("keystore_settings", metadata)

ACTIVE = "active"
DESTROYED = "destroyed"


def canary_context(epoch: int) -> tuple[str, ...]:
    """The associated data of the KEK canary of ``epoch``."""
    return ("facekeep/kek-canary/v1", str(epoch))


def wrap_context(customer_id: str, key_id: str, epoch: int) -> tuple[str, ...]:
    """The associated data binding a wrapped data key to its customer, id and epoch."""
    return ("facekeep/dek/v1", customer_id, key_id, str(epoch))
