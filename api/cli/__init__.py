"""The ``facekeep`` command line: one module per command group.

- :mod:`~api.cli.entry`: the root group, every group added to it, and ``main`` (the
  console script), which turns any failure into one JSON line and an exit code.
- :mod:`~api.cli.common`: JSON output, ``CliError``, ``--data-dir`` and
  :func:`~api.cli.common.cli_runtime`, the one place a command opens and closes a vault.
- One module per group: ``database`` (init, db), ``customers`` (enroll, match, revoke,
  erase, show), ``keys``, ``audit`` (with the witness), ``retention``, ``backup``
  (backup, restore, restore-check), ``engine``, ``webhooks``, ``credentials`` (with
  staff), ``compliance`` (compliance, requests, breach), ``serve``, ``demo``,
  ``evaluate``, ``kiosk`` and ``kiosk_client`` (the kiosk's HTTP client).

Importing this package loads no command: the groups are built on first use of
:func:`main` or :data:`cli`. A spawned image worker that imports the console script's
module as ``__mp_main__`` therefore pays for none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.cli.entry import cli as cli

__all__ = ["cli", "main"]


def main() -> None:
    """Entry point of the ``facekeep`` console script and of ``python -m api.cli``."""
    from api.cli.entry import main as run

    run()


def __getattr__(name: str) -> object:
    # ``from api.cli import cli`` (the click group, for tests and tools) builds it then.
    if name == "cli":
        from api.cli.entry import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
