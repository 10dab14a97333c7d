"""``facekeep engine``: which face engine a vault serves, and changing it."""

from __future__ import annotations

from pathlib import Path

import click

from api.runtime import open_runtime
from enroll import ENGINES, engine
from vault import Actor
from vault.model_record import customers_without_model, switch_model, template_models

__all__ = ["engine_group"]

CLI_ACTOR = Actor(role="operator", id="cli")


def _status(data_dir: Path | None) -> dict[str, object]:
    from api.cli import load_settings

    runtime = open_runtime(load_settings(data_dir), start=False)
    try:
        spec = engine(runtime.settings.face_engine or "")
        return {
            "engine": spec.name,
            "model_version": spec.model_version,
            "threshold": runtime.settings.match_threshold,
            "margin": runtime.settings.match_margin,
            "templates": template_models(runtime.vault.engine),
            "customers_without_current_templates": customers_without_model(
                runtime.vault.engine, spec.model_version
            ),
        }
    finally:
        runtime.close()


@click.group(name="engine")
def engine_group() -> None:
    """The face engine this vault serves."""


@engine_group.command("status")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
def engine_status(data_dir: Path | None) -> None:
    """Show the vault's engine, its thresholds and its templates per model."""
    from api.cli import emit

    emit(_status(data_dir))


@engine_group.command("switch")
@click.argument("name", type=click.Choice(sorted(ENGINES)))
@click.option("--data-dir", type=click.Path(path_type=Path), default=None)
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
    from api.cli import CliError, emit, load_settings

    if not yes:
        raise CliError(
            "confirmation_required",
            "switching engine stops every customer matching until they enrol again; "
            "repeat with --yes",
        )
    settings = load_settings(data_dir).model_copy(update={"face_engine": None})
    runtime = open_runtime(settings, start=False)
    try:
        spec = engine(name)
        before = switch_model(
            runtime.vault.engine, spec.model_version, actor=CLI_ACTOR, now=runtime.vault.now
        )
        waiting = customers_without_model(runtime.vault.engine, spec.model_version)
    finally:
        runtime.close()
    previous = next((s.name for s in ENGINES.values() if s.model_version == before), before)
    emit(
        {
            "engine": spec.name,
            "previous": previous,
            "customers_to_reenrol": waiting,
        }
    )
