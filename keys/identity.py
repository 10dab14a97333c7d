"""The key store's own id, which every KEK epoch it creates carries (see
:meth:`keys.store.KeyStore.new_identity`)."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine, delete, insert, select

from dbkit import insert_ignore, writing
from keys.tables import keystore_settings

STORE_ID = "store_id"


def _new_id() -> str:
    return "ks_" + secrets.token_hex(8)


def store_identity(engine: Engine, *, create: bool = True) -> str | None:
    """The id of the key store in ``engine`` (made on first use when ``create``)."""
    with engine.connect() as conn:
        value = conn.execute(
            select(keystore_settings.c.value).where(keystore_settings.c.name == STORE_ID)
        ).scalar_one_or_none()
    if value is None and create:
        with writing(engine) as conn:
            insert_ignore(conn, keystore_settings, {"name": STORE_ID, "value": _new_id()}, ["name"])
        return store_identity(engine, create=False)
    return None if value is None else str(value)


def new_store_identity(engine: Engine) -> str:
    """Give the key store in ``engine`` a new id (see :meth:`KeyStore.new_identity`)."""
    value = _new_id()
    with writing(engine) as conn:
        conn.execute(delete(keystore_settings).where(keystore_settings.c.name == STORE_ID))
        conn.execute(insert(keystore_settings).values(name=STORE_ID, value=value))
    return value
