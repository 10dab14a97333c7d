"""``facekeep engine``: which face engine a vault serves, and changing it."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import CLI_ACTOR, CliError, cli_runtime, emit, load_settings
from api.cli.common import plain_data_dir_option as data_dir_option
from enroll import ENGINES, engine
from vault.model_record import customers_without_model, switch_model, template_models

__all__ = ["engine_group"]


@click.group(name="engine")
def engine_group() -> None:
    """The face engine this vault serves."""


@engine_group.command("status")
@data_dir_option(file_okay=True)
def engine_status(data_dir: Path | None) -> None:
    """Show the vault's engine, its thresholds and its templates per model."""
    with cli_runtime(data_dir, start=False) as runtime:
        spec = engine(runtime.settings.face_engine or "")
        status = {
            "engine": spec.name,
            "model_version": spec.model_version,
            "threshold": runtime.settings.match_threshold,
            "margin": runtime.settings.match_margin,
            "templates": template_models(runtime.vault.engine),
            "customers_without_current_templates": customers_without_model(
                runtime.vault.engine, spec.model_version
            ),
        }
    emit(status)


@engine_group.command("switch")
@click.argument("name", type=click.Choice(sorted(ENGINES)))
@data_dir_option(file_okay=True)
@click.option(
    "--yes",
    is_flag=True,
    help="Confirm: customers without a template of the new engine stop matching until "
    "they enrol again.",
)
def engine_switch(name: str, data_dir: Path | None, yes: bool) -> None:
    """Make the vault serve another engine (stop every server first).

    No photo is kept, so no template can be recomputed: customers match again once they
    have enrolled anew (staff re-enrolment at the counter). Templates of the old engine
    stay sealed and unused until erasure or retention removes them.
    """
    if not yes:
        raise CliError(
            "confirmation_required",
            "switching engine stops every customer matching until they enrol again; "
            "repeat with --yes",
        )
    settings = load_settings(data_dir).model_copy(update={"face_engine": None})
    with cli_runtime(data_dir, settings=settings, start=False) as runtime:
        spec = engine(name)
        before = switch_model(
            runtime.vault.engine, spec.model_version, actor=CLI_ACTOR, now=runtime.vault.now
        )
        waiting = customers_without_model(runtime.vault.engine, spec.model_version)
    previous = next((s.name for s in ENGINES.values() if s.model_version == before), before)
    emit(
        {
            "engine": spec.name,
            "previous": previous,
            "customers_to_reenrol": waiting,
        }
    )
