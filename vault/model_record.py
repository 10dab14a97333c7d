"""Which face model a vault serves, recorded once at ``facekeep init``.

Templates of different models never compare, so every process of a deployment must embed
probes with the model its templates were made with. The vault records that model's
version in ``vault_settings``; opening it with another model is refused, and changing
model is an explicit, audited step (:func:`switch_model`) after which customers must be
enrolled again (no image is kept to recompute their templates from).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, exists, func, select, update

from dbkit import insert_ignore, writing
from dbkit.settings import read_setting, record_setting_once
from vault.audit import Actor, append_event
from vault.errors import ModelMismatch
from vault.models import customers, templates, vault_settings

__all__ = [
    "MODEL_VERSION_SETTING",
    "recorded_model",
    "require_model",
    "switch_model",
    "template_models",
]

MODEL_VERSION_SETTING = "model_version"


def recorded_model(engine: Engine) -> str | None:
    """The model version this vault serves, or None if none is recorded yet."""
    return read_setting(engine, vault_settings, MODEL_VERSION_SETTING)


def require_model(engine: Engine, model_version: str, *, record: bool) -> str:
    """Check that the vault serves ``model_version``; with ``record``, a vault that has no
    model yet is recorded as serving it. Returns the recorded version.

    Raises :class:`ModelMismatch` when the vault serves another model.
    """
    recorded = (
        record_setting_once(engine, vault_settings, MODEL_VERSION_SETTING, model_version)
        if record
        else recorded_model(engine)
    )
    if recorded is None:
        recorded = model_version
    if recorded != model_version:
        raise ModelMismatch(recorded, model_version)
    return recorded


def template_models(engine: Engine) -> dict[str, int]:
    """How many stored templates each model version has."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(templates.c.model_version, func.count()).group_by(templates.c.model_version)
        ).all()
    return {str(version): int(count) for version, count in rows}


def customers_without_model(engine: Engine, model_version: str) -> int:
    """How many active customers have no template of ``model_version`` (they match again
    only once enrolled anew with that model)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(customers)
                .where(customers.c.status == "active")
                .where(
                    ~exists()
                    .where(templates.c.customer_id == customers.c.customer_id)
                    .where(templates.c.model_version == model_version)
                )
            ).scalar_one()
        )


def switch_model(
    engine: Engine, model_version: str, *, actor: Actor, now: Callable[[], datetime]
) -> str | None:
    """Make the vault serve ``model_version`` from now on, with an audit event; returns the
    version it served before. Templates of the old model stay sealed and are no longer
    matched: their customers match again once enrolled anew with the new model."""
    with writing(engine) as conn:
        before: str | None = conn.execute(
            select(vault_settings.c.value)
            .where(vault_settings.c.name == MODEL_VERSION_SETTING)
            .with_for_update()
        ).scalar_one_or_none()
        if before == model_version:
            return before
        if before is None:
            insert_ignore(
                conn,
                vault_settings,
                {"name": MODEL_VERSION_SETTING, "value": model_version},
                ["name"],
            )
        else:
            conn.execute(
                update(vault_settings)
                .where(vault_settings.c.name == MODEL_VERSION_SETTING)
                .values(value=model_version)
            )
        append_event(
            conn,
            ts=now(),
            actor=actor,
            action="engine.switch",
            details={"from": before, "to": model_version},
        )
    return before
