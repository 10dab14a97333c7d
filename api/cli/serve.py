"""``facekeep serve``: the HTTP service."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.cli.common import CliError, data_dir_option, load_settings
from api.runtime import init_data_dir

__all__ = ["serve"]


@click.command("serve")
@data_dir_option
@click.option("--host", default=None, help="Default 127.0.0.1 (FACEKEEP_HOST).")
@click.option("--port", type=int, default=None, help="Default 8000 (FACEKEEP_PORT).")
def serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Run the HTTP service (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.logs import configure
    from api.server import local_kek_problem, server_options

    settings = load_settings(data_dir)
    if host:
        settings = settings.model_copy(update={"host": host})
    if port:
        settings = settings.model_copy(update={"port": port})
    missing = settings.placeholders()
    if missing and not settings.loopback_only():
        # Guests reached from another machine read the notice and /privacy: they must name
        # the real controller and where to send privacy requests, never a placeholder.
        raise CliError(
            "controller_not_configured",
            f"refusing to serve on {settings.host}: set {' and '.join(missing)} (the data "
            "controller's legal name and the contact for privacy requests, shown on the "
            "notice, the receipts and /privacy); placeholders are allowed on 127.0.0.1 only",
        )
    kek_problem = local_kek_problem(settings)
    if kek_problem is not None:
        raise CliError("local_kek_refused", kek_problem)
    configure(settings.log_level)
    if not settings.data_dir.exists() and settings.database_url is None:
        init_data_dir(settings)
    # The port opens at once; the index is built in the background (/readyz: loading).
    app = create_app(settings, background_start=True)
    # Matches hand work between the event loop, a worker thread and the audit writer;
    # each hand-over waits up to one switch interval while another thread computes.
    sys.setswitchinterval(settings.switch_interval_ms / 1000.0)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        **server_options(settings),
    )
