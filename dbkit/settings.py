"""Reading and writing a store's named settings (a table of :func:`dbkit.schema.settings_table`
shape: one text value per name), the same way in every store: a value recorded once by
whichever process comes first, read back by all."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, Table, delete, insert, select

from dbkit.db import insert_ignore, writing

__all__ = ["read_setting", "record_setting_once", "replace_setting"]


def read_setting(engine: Engine, table: Table, name: str) -> str | None:
    """The value of setting ``name`` (None when it is not set)."""
    with engine.connect() as conn:
        value = conn.execute(select(table.c.value).where(table.c.name == name)).scalar_one_or_none()
    return None if value is None else str(value)


def record_setting_once(engine: Engine, table: Table, name: str, value: str) -> str:
    """Record ``value`` as setting ``name`` unless it is set already; returns the recorded
    value (another process's, when it came first)."""
    recorded = read_setting(engine, table, name)
    if recorded is not None:
        return recorded
    with writing(engine) as conn:
        insert_ignore(conn, table, {"name": name, "value": value}, ["name"])
    recorded = read_setting(engine, table, name)
    if recorded is None:  # pragma: no cover - the row was inserted or already there
        raise RuntimeError(f"setting {name!r} was not recorded")
    return recorded


def replace_setting(conn: Connection, table: Table, name: str, value: str) -> None:
    """Set ``name`` to ``value`` in ``conn``'s transaction, whatever it was."""
    conn.execute(delete(table).where(table.c.name == name))
    conn.execute(insert(table).values(name=name, value=value))
