"""Check-ins handed off to each venue's own system as signed webhooks.

The vault writes an outbox row with every confirmed check-in (in the match's audit
transaction); :class:`DeliveryWorker` sends each one to the venue's endpoint, signed the
Standard Webhooks way (https://www.standardwebhooks.com):

- ``webhook-id``: the check-in id, the same on every attempt (receivers drop repeats);
- ``webhook-timestamp``: Unix seconds of this attempt (receivers refuse stale ones);
- ``webhook-signature``: ``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body``
  under the venue's secret (``whsec_`` + base64 of the key bytes).

A failed attempt (no 2xx answer in time) is retried with exponential backoff until it is
delivered or :attr:`~api.settings.Settings.webhook_max_attempts` is spent. Before each
attempt the guest's consent is checked again: a check-in whose consent was withdrawn (or
whose guest was erased) meanwhile is dropped, never sent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.settings import Settings
from vault import InvalidRequest, Vault, VaultError
from vault.checkins import (
    Checkin,
    Endpoint,
    Outbox,
    Webhooks,
    check_url,
    new_secret,
    parse_secret,
)

log = logging.getLogger("facekeep.webhooks")

USER_AGENT = "facekeep-webhooks/1"


class WebhookConfigError(VaultError):
    """The default webhook is misconfigured (its URL, or its secret file); ``serve``
    refuses to start rather than queue check-ins it cannot deliver."""

    code = "webhook_config"


# -- signing -----------------------------------------------------------------------------


def signature(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64(HMAC-SHA256(id.timestamp.body))."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    mac = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signed_headers(secret: bytes, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of one delivery attempt."""
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }


def checkin_body(checkin: Checkin) -> bytes:
    """The JSON a venue's system receives: the check-in id, the pseudonymous customer id,
    the venue, the kiosk (its key id) and the time (UTC)."""
    return json.dumps(
        {
            "type": "checkin",
            "checkin_id": checkin.checkin_id,
            "customer_id": checkin.customer_id,
            "venue": checkin.venue,
            "kiosk": checkin.kiosk,
            "time": checkin.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")


# -- endpoints ---------------------------------------------------------------------------


def default_secret(settings: Settings, *, create: bool = False) -> bytes:
    """The default webhook's secret, from its 0600 file (made with a fresh secret when
    ``create`` and missing). A file others may read is refused."""
    path = settings.checkin_secret_path()
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(new_secret() + "\n")
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        raise WebhookConfigError(
            f"the check-in webhook secret file {path} cannot be read"
        ) from None
    if mode & 0o077:
        raise WebhookConfigError(f"{path} must be readable by its owner only (chmod 600)")
    try:
        return parse_secret(text)
    except InvalidRequest as exc:
        raise WebhookConfigError(f"{path}: {exc.message}") from None


class Endpoints:
    """Where each venue's check-ins go: its own endpoint, else the default one."""

    def __init__(self, webhooks: Webhooks, settings: Settings, *, create: bool = False) -> None:
        self.webhooks = webhooks
        self.default_url = settings.checkin_webhook_url
        if self.default_url is not None:
            try:
                check_url(self.default_url)
            except InvalidRequest as exc:
                raise WebhookConfigError(f"FACEKEEP_CHECKIN_WEBHOOK_URL: {exc.message}") from None
        self._default_secret = (
            default_secret(settings, create=create) if self.default_url is not None else None
        )

    def for_venue(self, venue: str) -> Endpoint | None:
        """The venue's endpoint with its secret, or None if its check-ins go nowhere."""
        own = self.webhooks.get(venue)
        if own is not None:
            return own
        if self.default_url is None or self._default_secret is None:
            return None
        return Endpoint(
            venue=venue, url=self.default_url, secret=self._default_secret, source="default"
        )


def webhooks_of(vault: Vault) -> Webhooks:
    """The venues' webhook settings of a vault."""
    return Webhooks(vault.engine, keys=vault.keys, clock=vault.now)


# -- delivery ----------------------------------------------------------------------------


def _reason(error: str) -> str:
    """A failure's metric label: ``http_4xx``, ``http_5xx``, ``timeout``, ..."""
    if error.startswith("http_") and len(error) == 8:
        return f"http_{error[5]}xx"
    return error


async def post(
    client: httpx.AsyncClient, endpoint: Endpoint, msg_id: str, body: bytes, timeout: float
) -> str | None:
    """Send one signed attempt; None when the receiver answered 2xx, else an error code
    (``http_503``, ``timeout``, ``connection``). Redirects are not followed."""
    headers = signed_headers(endpoint.secret, msg_id, body, int(time.time()))
    try:
        # httpx's timeout is per read or write; the whole attempt must end within the
        # lease, or another worker could send the same check-in meanwhile.
        response = await asyncio.wait_for(
            client.post(endpoint.url, content=body, headers=headers, timeout=timeout), timeout
        )
    except (httpx.TimeoutException, TimeoutError):
        return "timeout"
    except httpx.HTTPError:
        return "connection"
    if 200 <= response.status_code < 300:
        return None
    return f"http_{response.status_code}"


class _OutboxGauges(Collector):
    """Outbox rows by status, read from the database at each scrape (shared by every
    replica, so each reports the same figures)."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            counts = self.outbox.counts()
        except Exception:  # a database that does not answer must not break /metrics
            return
        depth = GaugeMetricFamily(
            "facekeep_webhook_queue_depth", "Check-ins waiting to be handed off"
        )
        depth.add_metric([], counts["pending"])
        yield depth
        rows = GaugeMetricFamily(
            "facekeep_webhook_outbox", "Check-in outbox rows by status", labels=["status"]
        )
        for status, n in counts.items():
            rows.add_metric([status], n)
        yield rows


class DeliveryWorker:
    """Delivers the outbox in the background of ``facekeep serve``: claims due check-ins
    under a lease, checks each guest's consent again, sends, and records the outcome."""

    def __init__(
        self,
        vault: Vault,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        batch: int = 16,
    ) -> None:
        self.vault = vault
        self.settings = settings
        self.outbox = Outbox(vault.engine, clock=vault.now)
        self.endpoints = Endpoints(webhooks_of(vault), settings, create=True)
        self.batch = batch
        # Longer than one attempt can take, so no other worker sends the row meanwhile.
        self.lease = timedelta(seconds=settings.webhook_timeout_seconds + 5)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.deliveries = Counter(
            "facekeep_webhook_deliveries",
            "Check-ins handed off, by outcome (delivered, gave_up, cancelled)",
            ["outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "facekeep_webhook_failed_attempts",
            "Delivery attempts that failed, by reason (http_4xx, http_5xx, timeout, connection)",
            ["reason"],
            registry=registry,
        )
        if registry is not None:
            registry.register(_OutboxGauges(self.outbox))

    def start(self) -> None:
        """Run on the current event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="facekeep-webhooks")

    async def stop(self) -> None:
        """Stop; a row being sent stays pending and is sent again later."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def nudge(self) -> None:
        """A check-in was just written here: look for work now."""
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        keep = timedelta(days=self.settings.webhook_keep_days)
        prune_at = 0.0
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            while True:
                try:
                    if time.monotonic() >= prune_at:  # hourly: forget old finished rows
                        prune_at = time.monotonic() + 3600
                        await asyncio.to_thread(self.outbox.prune, self.vault.now() - keep)
                    claimed = await asyncio.to_thread(self.outbox.claim, self.batch, self.lease)
                    if claimed:
                        await asyncio.gather(*(self._deliver(client, c) for c in claimed))
                        continue
                except Exception as exc:  # keep delivering; the rows stay pending
                    log.error(
                        "check-in delivery round failed", extra={"error_type": type(exc).__name__}
                    )
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_seconds)

    def delay(self, attempts: int) -> timedelta:
        """Backoff after the ``attempts``-th failure: base x 2^(attempts-1), capped, with
        jitter (half to all of it) so many failed rows do not all return at once."""
        s = self.settings
        full = min(s.webhook_retry_max_seconds, s.webhook_retry_base_seconds * 2 ** (attempts - 1))
        return timedelta(seconds=full * random.uniform(0.5, 1.0))

    async def _deliver(self, client: httpx.AsyncClient, checkin: Checkin) -> None:
        allowed = await asyncio.to_thread(
            self.vault.consent_allows,
            checkin.customer_id,
            checkin.consent_id,
            "checkin",
            checkin.occurred_at,
        )
        if not allowed:
            await asyncio.to_thread(self.outbox.cancel, checkin, "consent_withdrawn")
            self.deliveries.labels("cancelled").inc()
            return
        endpoint = await asyncio.to_thread(self.endpoints.for_venue, checkin.venue)
        if endpoint is None:
            await asyncio.to_thread(self.outbox.cancel, checkin, "no_endpoint")
            self.deliveries.labels("cancelled").inc()
            return
        error = await post(
            client,
            endpoint,
            checkin.checkin_id,
            checkin_body(checkin),
            self.settings.webhook_timeout_seconds,
        )
        if error is None:
            await asyncio.to_thread(self.outbox.delivered, checkin)
            self.deliveries.labels("delivered").inc()
            return
        self.failures.labels(_reason(error)).inc()
        attempts = checkin.attempts + 1
        give_up = attempts >= self.settings.webhook_max_attempts
        await asyncio.to_thread(
            self.outbox.retry, checkin, error, self.delay(attempts), give_up=give_up
        )
        if give_up:
            self.deliveries.labels("gave_up").inc()
        log.warning(
            "check-in delivery failed" + (", given up" if give_up else ", will retry"),
            extra={"error_type": error, "status": attempts},
        )


def sample_checkin(venue: str, now: datetime) -> Checkin:
    """The check-in ``facekeep webhooks test`` sends (its ids say it is a test)."""
    return Checkin(
        checkin_id="ci_test_" + secrets.token_hex(12),
        customer_id="test-customer",
        consent_id="test-consent",
        venue=venue,
        kiosk="test-kiosk",
        occurred_at=now,
        attempts=0,
    )


def send_test(endpoint: Endpoint, checkin: Checkin, timeout: float) -> dict[str, Any]:
    """Send one signed sample check-in now; what happened, without the secret."""

    async def once() -> str | None:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
            return await post(client, endpoint, checkin.checkin_id, checkin_body(checkin), timeout)

    error = asyncio.run(once())
    return {
        "venue": endpoint.venue,
        "url": endpoint.url,
        "source": endpoint.source,
        "webhook_id": checkin.checkin_id,
        "delivered": error is None,
        "error": error,
    }


__all__ = [
    "DeliveryWorker",
    "Endpoints",
    "WebhookConfigError",
    "checkin_body",
    "default_secret",
    "sample_checkin",
    "send_test",
    "signature",
    "signed_headers",
    "webhooks_of",
]
