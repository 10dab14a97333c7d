"""``facekeep keys``: KEK rotation and the API keys of operators, auditors and kiosks."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from api.cli.common import CLI_ACTOR, cli_runtime, data_dir_option, emit
from api.vocabulary import PURPOSES

__all__ = ["keys_group"]


@click.group(name="keys")
def keys_group() -> None:
    """Key management."""


@keys_group.command("rotate")
@data_dir_option
def rotate(data_dir: Path | None) -> None:
    """Create a new KEK epoch, re-wrap every live data key, destroy the old epochs."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        # One JSON line on stderr every few seconds (and the last), for an operator
        # watching a rotation of a million keys.
        now = time.monotonic()
        if done == total or now - last[0] >= 2:
            last[0] = now
            line = {"progress": "kek.rotate", "rewrapped": done, "total": total}
            click.echo(json.dumps(line), err=True)

    with cli_runtime(data_dir) as runtime:
        result = runtime.vault.rotate_kek(actor=CLI_ACTOR, progress=progress)
    emit(result)


def _create_key(
    data_dir: Path | None, role: str, expires_days: int | None = None, **kwargs: Any
) -> None:
    from api import credentials

    with cli_runtime(data_dir) as runtime:
        engine = runtime.vault.engine
        now = runtime.vault.now()
        if kwargs.get("venue"):
            credentials.ensure_venue(engine, kwargs["venue"], kwargs["venue"], now, CLI_ACTOR)
        expires = now + timedelta(days=expires_days) if expires_days else None
        secret, key = credentials.create_key(
            engine, role=role, now=now, actor=CLI_ACTOR, expires_at=expires, **kwargs
        )
    emit({"key": secret, **key.public()})


EXPIRES_DAYS = click.option(
    "--expires-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="The key stops working after this many days (default: never).",
)


@keys_group.command("create-admin")
@data_dir_option
@click.option("--label", default="")
@EXPIRES_DAYS
def create_admin(data_dir: Path | None, label: str, expires_days: int | None) -> None:
    """Make an operator key (printed once): for operators' machines only; staff at the
    counter sign in with their own PIN (`facekeep staff create`)."""
    _create_key(data_dir, "admin", expires_days, label=label)


@keys_group.command("create-auditor")
@data_dir_option
@click.option("--label", default="")
@EXPIRES_DAYS
def create_auditor(data_dir: Path | None, label: str, expires_days: int | None) -> None:
    """Make an auditor key (printed once)."""
    _create_key(data_dir, "auditor", expires_days, label=label)


@keys_group.command("create-kiosk")
@data_dir_option
@click.option("--venue", required=True)
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    required=True,
    type=click.Choice(PURPOSES),
)
@click.option("--label", default="")
@click.option(
    "--allow-embeddings",
    is_flag=True,
    help="A trusted edge device: the kiosk may send embeddings instead of images.",
)
@EXPIRES_DAYS
def create_kiosk(
    data_dir: Path | None,
    venue: str,
    purposes: tuple[str, ...],
    label: str,
    allow_embeddings: bool,
    expires_days: int | None,
) -> None:
    """Make a kiosk key bound to a venue and purposes (printed once)."""
    from vault.consent import check_id

    check_id(venue, "venue")
    _create_key(
        data_dir,
        "kiosk",
        expires_days,
        venue=venue,
        purposes=purposes,
        label=label,
        allow_embeddings=allow_embeddings,
    )
