"""``facekeep retention``: erase customers whose consents all ended a grace period ago."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from api.cli.common import CLI_ACTOR, cli_runtime, data_dir_option, emit
from api.views import erasure_json

__all__ = ["retention_group"]


@click.group(name="retention")
def retention_group() -> None:
    """Retention: erase customers whose consents all ended more than a grace period ago."""


@retention_group.command("status")
@data_dir_option
def retention_status(data_dir: Path | None) -> None:
    """List each customer's erasure deadline (none while a consent is open-ended)."""
    with cli_runtime(data_dir) as runtime:
        grace = timedelta(days=runtime.settings.retention_grace_days)
        rows = runtime.vault.retention_deadlines(grace)
        now = runtime.vault.now()
    emit(
        {
            "grace_days": runtime.settings.retention_grace_days,
            "pending": [
                {"customer": c, "deadline": d, "due": d <= now} for c, d in rows if d is not None
            ],
            "open_ended": sum(1 for _, d in rows if d is None),
        }
    )


@retention_group.command("run")
@data_dir_option
def retention_run(data_dir: Path | None) -> None:
    """Erase, with reason 'retention', every customer past their deadline."""
    with cli_runtime(data_dir) as runtime:
        grace = timedelta(days=runtime.settings.retention_grace_days)
        erased = runtime.vault.retention_sweep(grace, actor=CLI_ACTOR)
    emit({"erased": [erasure_json(e) for e in erased]})
