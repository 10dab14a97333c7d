"""The key store's own id, which every KEK epoch it creates carries (see
:meth:`keys.store.KeyStore.new_identity`)."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from dbkit import writing
from dbkit.settings import read_setting, record_setting_once, replace_setting
from keys.tables import keystore_settings

STORE_ID = "store_id"


def _new_id() -> str:
    return "ks_" + secrets.token_hex(8)


def store_identity(engine: Engine, *, create: bool = True) -> str | None:
    """The id of the key store in ``engine`` (made on first use when ``create``)."""
    if create:
        return record_setting_once(engine, keystore_settings, STORE_ID, _new_id())
    return read_setting(engine, keystore_settings, STORE_ID)


def new_store_identity(engine: Engine) -> str:
    """Give the key store in ``engine`` a new id (see :meth:`KeyStore.new_identity`)."""
    value = _new_id()
    with writing(engine) as conn:
        replace_setting(conn, keystore_settings, STORE_ID, value)
    return value
