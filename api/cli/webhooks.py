"""``facekeep webhooks``: where check-ins are handed off, and a signed test delivery."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.common import CLI_ACTOR, CliError, cli_runtime, emit, load_settings
from api.cli.common import plain_data_dir_option as data_dir_option
from api.webhooks import Endpoints, WebhookConfigError, sample_checkin, send_test, webhooks_of
from vault import InvalidRequest
from vault.checkins import Outbox, format_secret, new_secret, parse_secret

__all__ = ["webhooks_group"]


@click.group(name="webhooks")
def webhooks_group() -> None:
    """Check-ins handed off to each venue's own system (signed webhooks)."""


@webhooks_group.command("test")
@data_dir_option(file_okay=True)
@click.option("--venue", required=True, help="Send to this venue's endpoint.")
def webhooks_test(data_dir: Path | None, venue: str) -> None:
    """Send a signed sample check-in (ids starting ``ci_test_``/``test-``) to the venue's
    endpoint now, and say whether it was accepted."""
    settings = load_settings(data_dir)
    with cli_runtime(data_dir, settings=settings, start=False) as runtime:
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
    emit(result)
    if not result["delivered"]:
        raise CliError("webhook_failed", f"the endpoint did not accept it: {result['error']}")


@webhooks_group.command("set")
@data_dir_option(file_okay=True)
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
    text = secret_file.read_text(encoding="ascii") if secret_file else new_secret()
    with cli_runtime(data_dir, start=False) as runtime:
        try:
            raw = parse_secret(text)
            webhooks_of(runtime.vault).set(venue, url, raw, actor=CLI_ACTOR)
        except InvalidRequest as exc:
            raise CliError(exc.code, exc.message) from None
    answer = {"venue": venue, "url": url, "source": "venue"}
    if secret_file is None:
        answer["secret"] = format_secret(raw)
    emit(answer)


@webhooks_group.command("show")
@data_dir_option(file_okay=True)
def webhooks_show(data_dir: Path | None) -> None:
    """The default endpoint, the venues' own, and the outbox by status (no secret)."""
    settings = load_settings(data_dir)
    with cli_runtime(data_dir, settings=settings, start=False) as runtime:
        outbox = Outbox(runtime.vault.engine, clock=runtime.vault.now)
        emit(
            {
                "default_url": settings.checkin_webhook_url,
                "venues": webhooks_of(runtime.vault).listing(),
                "outbox": outbox.counts(),
                "recent": outbox.rows(limit=20),
            }
        )
