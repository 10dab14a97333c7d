"""``facekeep kiosk``: try a venue setup against a running service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from api.cli.common import emit

__all__ = ["kiosk_group"]


@click.group(name="kiosk")
def kiosk_group() -> None:
    """A small kiosk client for trying a venue setup."""


@kiosk_group.command("match")
@click.option("--url", required=True, help="Base URL of the service, e.g. http://127.0.0.1:8000")
@click.option("--key", required=True, envvar="FACEKEEP_KIOSK_KEY", help="The kiosk key.")
@click.option("--purpose", default=None)
@click.option(
    "--frames",
    is_flag=True,
    help="The images (1 to 5) are frames of one guest: send them as one probe.",
)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
def kiosk_match(
    url: str, key: str, purpose: str | None, frames: bool, images: tuple[Path, ...]
) -> None:
    """Post each image to /v1/match and print each decision (one JSON line per image), or
    with --frames all images as one probe of one guest (one JSON line)."""
    # httpx is imported only by the commands that speak HTTP.
    from api.cli.kiosk_client import KioskClient

    probes = [images] if frames else [(path,) for path in images]
    failed = False
    with KioskClient(url, key) as kiosk:
        for probe in probes:
            status, body = kiosk.match(probe, purpose)
            failed |= status >= 400
            shown: dict[str, Any] = (
                {"images": [str(p) for p in probe]} if frames else {"image": str(probe[0])}
            )
            emit({**shown, "status": status, **body})
    if failed:
        sys.exit(1)
