"""What every command shares: the JSON output, the error it reports, the ``--data-dir``
option, and :func:`cli_runtime`, which opens a data directory's vault for the length of
a ``with`` block and always closes it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from api.runtime import Runtime, open_runtime
from api.settings import Settings
from vault import Actor

__all__ = [
    "CLI_ACTOR",
    "CliError",
    "cli_runtime",
    "data_dir_option",
    "emit",
    "load_settings",
    "plain_data_dir_option",
    "read_image",
    "to_jsonable",
]

F = TypeVar("F", bound=Callable[..., Any])
CLI_ACTOR = Actor(role="operator", id="cli")


class CliError(Exception):
    """An error reported as JSON with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def emit(value: Any) -> None:
    """Print one JSON object."""
    click.echo(json.dumps(to_jsonable(value), ensure_ascii=False))


def data_dir_option(func: F) -> F:
    """Add ``--data-dir`` to a command."""
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Data directory (default ./facekeep-data or FACEKEEP_DATA_DIR).",
    )(func)


def plain_data_dir_option(*, file_okay: bool = False) -> Callable[[F], F]:
    """``--data-dir`` without help text, as the later command groups declared it (kept
    as it was: their ``--help`` and their checks of the path do not change)."""
    return click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=file_okay), default=None
    )


def load_settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence."""
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


@contextmanager
def cli_runtime(
    data_dir: Path | None,
    *,
    settings: Settings | None = None,
    index: bool = False,
    start: bool = True,
    check: bool = True,
    restoring: bool = False,
) -> Iterator[Runtime]:
    """The vault of a data directory (or of ``settings``), closed when the block ends.

    Only matching needs the match index (building it decrypts every template), so it is
    left empty unless ``index``; ``start=False`` opens without recovering anything."""
    runtime = open_runtime(
        settings or load_settings(data_dir),
        index=index,
        start=start,
        check=check,
        restoring=restoring,
    )
    try:
        yield runtime
    finally:
        runtime.close()


def read_image(path: Path) -> bytes:
    """Read an image file given on the command line."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError("file_not_readable", f"cannot read {path}: {exc.strerror}") from None
