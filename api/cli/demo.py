"""``facekeep demo``: the whole story on the sample faces (told by :mod:`api.demo`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.cli.common import emit

__all__ = ["demo"]


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to keep the demo's vault (default: a temporary directory, removed after).",
)
@click.option("--faces", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary.")
def demo(data_dir: Path | None, faces: Path | None, as_json: bool) -> None:
    """Run the whole story end to end on the sample faces that ship with facekeep."""
    from api.demo import run_demo

    summary = run_demo(data_dir=data_dir, faces=faces, say=None if as_json else click.echo)
    if as_json:
        emit(summary)
    if not summary["ok"]:
        sys.exit(1)
