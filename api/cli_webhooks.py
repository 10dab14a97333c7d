"""``facekeep webhooks``: where check-ins are handed off, and a signed test delivery."""

from __future__ import annotations

from pathlib import Path

import click

from api.runtime import open_runtime
from api.webhooks import Endpoints, WebhookConfigError, sample_checkin, send_test, webhooks_of
from vault import Actor, InvalidRequest
from vault.checkins import Outbox, format_secret, new_secret, parse_secret

__all__ = ["webhooks_group"]

CLI_ACTOR = Actor(role="operator", id="cli")
_DATA_DIR = click.option("--data-dir", type=click.Path(path_type=Path), default=None)


@click.group(name="webhooks")
def webhooks_group() -> None:
    """Check-ins handed off to each venue's own system (signed webhooks)."""


@webhooks_group.command("test")
@_DATA_DIR
@click.option("--venue", required=True, help="Send to this venue's endpoint.")
def webhooks_test(data_dir: Path | None, venue: str) -> None:
    """Send a signed sample check-in (ids starting ``ci_test_``/``test-``) to the venue's
    endpoint now, and say whether it was accepted."""
    from api.cli import CliError, emit, load_settings

    settings = load_settings(data_dir)
    runtime = open_runtime(settings, start=False)
    try:
        try:
            endpoint = Endpoints(webhooks_of(runtime.vault), settings).for_venue(venue)
        except WebhookConfigError as exc:
            raise CliError(exc.code, str(exc)) from None
        if endpoint is None:
            raise CliError(
                "no_webhook",
                f"venue {venue!r} has no webhook: set FACEKEEP_CHECKIN_WEBHOOK_URL or "
                "PUT /v1/venues/{venue}/webhook",
            )
        result = send_test(
            endpoint, sample_checkin(venue, runtime.vault.now()), settings.webhook_timeout_seconds
        )
    finally:
        runtime.close()
    emit(result)
    if not result["delivered"]:
        raise CliError("webhook_failed", f"the endpoint did not accept it: {result['error']}")


@webhooks_group.command("set")
@_DATA_DIR
@click.option("--venue", required=True)
@click.option("--url", required=True, help="The venue's endpoint (http:// or https://).")
@click.option(
    "--secret-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A file holding the receiver's existing 'whsec_...' secret; default: make one "
    "and print it this once.",
)
def webhooks_set(data_dir: Path | None, venue: str, url: str, secret_file: Path | None) -> None:
    """Send a venue's check-ins to its own system (like PUT /v1/venues/{venue}/webhook)."""
    from api.cli import CliError, emit, load_settings

    text = secret_file.read_text(encoding="ascii") if secret_file else new_secret()
    runtime = open_runtime(load_settings(data_dir), start=False)
    try:
        raw = parse_secret(text)
        webhooks_of(runtime.vault).set(venue, url, raw, actor=CLI_ACTOR)
    except InvalidRequest as exc:
        raise CliError(exc.code, exc.message) from None
    finally:
        runtime.close()
    answer = {"venue": venue, "url": url, "source": "venue"}
    if secret_file is None:
        answer["secret"] = format_secret(raw)
    emit(answer)


@webhooks_group.command("show")
@_DATA_DIR
def webhooks_show(data_dir: Path | None) -> None:
    """The default endpoint, the venues' own, and the outbox by status (no secret)."""
    from api.cli import emit, load_settings

    settings = load_settings(data_dir)
    runtime = open_runtime(settings, start=False)
    try:
        outbox = Outbox(runtime.vault.engine, clock=runtime.vault.now)
        emit(
            {
                "default_url": settings.checkin_webhook_url,
                "venues": webhooks_of(runtime.vault).listing(),
                "outbox": outbox.counts(),
                "recent": outbox.rows(limit=20),
            }
        )
    finally:
        runtime.close()
