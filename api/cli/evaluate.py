"""``facekeep evaluate``: the face engines measured on an operator's own photos."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import CliError, emit

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=click.Choice(["sface", "dlib"]),
    help="Engines to measure side by side (default: both).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write report.json, report.md, report.html and the PNG figures here.",
)
@click.option(
    "--gallery-size",
    "gallery_sizes",
    multiple=True,
    type=click.IntRange(1),
    help="Gallery sizes to report (default 10, 20, ... up to the people in the set); "
    "larger than the set: modelled.",
)
@click.option(
    "--deployment-size",
    type=click.IntRange(2),
    default=1000,
    show_default=True,
    help="Customers per (venue, purpose) gallery the margin is chosen for.",
)
@click.option(
    "--target-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-4,
    show_default=True,
    help="Different-person pairs accepted at the recommended threshold.",
)
def evaluate_command(
    directory: Path,
    engines: tuple[str, ...],
    out: Path | None,
    gallery_sizes: tuple[int, ...],
    deployment_size: int,
    target_fmr: float,
) -> None:
    """Measure the face engines on your own consented photos (one folder per person, or
    a manifest.csv); the table goes to stderr, the JSON summary to stdout."""
    from enroll.evaluation import DatasetError
    from enroll.evaluation.report import run

    try:
        result = run(
            directory,
            engines or ("sface", "dlib"),
            out=out,
            gallery_sizes=gallery_sizes,
            deployment_size=deployment_size,
            target_fmr=target_fmr,
            say=lambda text: click.echo(text, err=True),
        )
    except DatasetError as exc:
        raise CliError(exc.code, exc.message) from None
    emit(result)
