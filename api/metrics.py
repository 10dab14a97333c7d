"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from api.galleries import Gallery


class Metrics:
    """Counters and histograms exported at ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # Every metric goes in this app's own registry.
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        histogram = partial(Histogram, registry=self.registry)
        self.matches = counter("facekeep_matches", "Match requests by outcome", ["outcome"])
        self.match_latency = histogram(
            "facekeep_match_latency_seconds",
            "Match latency by outcome",
            ["outcome"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.enrolments = counter("facekeep_enrolments", "Enrolments")
        self.revocations = counter("facekeep_revocations", "Revocations and objections")
        self.erasures = counter("facekeep_erasures", "Erasures")
        # Guests who said "I do not agree" at the consent counter: a count, nothing else.
        self.consent_refusals = counter(
            "facekeep_consent_refusals", "Consents refused at the counter"
        )
        self.index_templates = gauge("facekeep_index_templates", "Templates in the match index")
        self.index_customers = gauge("facekeep_index_customers", "Customers in the match index")
        # Stored templates that did not decrypt (altered or damaged), left out of matching.
        self.unreadable_templates = gauge(
            "facekeep_unreadable_templates",
            "Templates that do not decrypt, left out of matching",
        )
        # Signatures refused because the audit log no longer extends a signed head.
        self.audit_alarms = gauge(
            "facekeep_audit_alarms",
            "Tree heads refused because the audit log was altered",
        )
        self.gallery_customers = gauge(
            "facekeep_gallery_customers",
            "Customers in each (venue, purpose) gallery",
            ["venue", "purpose"],
        )
        self.gallery_risk = gauge(
            "facekeep_gallery_false_match_risk",
            "Chance that a stranger matches someone in the gallery",
            ["venue", "purpose"],
        )
        self.gallery_warnings = gauge(
            "facekeep_gallery_warnings",
            "Galleries whose false-match risk is over the limit",
        )
        # What can go wrong in operation.
        self.http_errors = counter(
            "facekeep_http_errors",
            "HTTP answers 4xx and 5xx by route template and status",
            ["route", "status"],
        )
        self.kek_latency = histogram(
            "facekeep_kek_call_seconds",
            "Latency of calls to the KEK provider (HSM or KMS) by operation",
            ["op"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10),
        )
        self.kek_errors = counter(
            "facekeep_kek_errors",
            "KEK provider failures: unavailable (the provider), refused (a wrapped key)",
            ["op", "kind"],
        )
        self.kek_up = gauge(
            "facekeep_kek_up",
            "1 if the KEK provider answered its last probe",
        )
        self.start_ready = gauge("facekeep_start_ready", "1 once the match index is built")
        self.start_progress = gauge(
            "facekeep_start_progress",
            "Share of the templates read by the cold start (0 to 1)",
        )
        self.start_templates = gauge(
            "facekeep_start_templates_read",
            "Templates read by the cold start so far",
        )
        self.follower_lag = gauge(
            "facekeep_follower_lag_seconds",
            "Seconds since other replicas' changes were last applied here",
        )
        self.follower_up = gauge(
            "facekeep_follower_up",
            "1 while the change follower follows (0: reconnecting or stopped)",
        )
        self.follower_reconnects = gauge(
            "facekeep_follower_reconnects",
            "Times the change follower reconnected to the database",
        )
        self.db_pool = gauge(
            "facekeep_db_pool_connections",
            "Database connections by store and state (checked_out, idle, size)",
            ["store", "state"],
        )
        self.audit_queue_depth = gauge(
            "facekeep_audit_queue_depth",
            "Match audit events queued and not yet written",
        )
        self.partition_templates = gauge(
            "facekeep_index_partition_templates",
            "Templates in each (venue, purpose) partition of the match index",
            ["venue", "purpose"],
        )

    def galleries(self, galleries: list[Gallery]) -> None:
        """Set the gallery gauges from :meth:`api.galleries.GalleryWatch.check`."""
        self.gallery_customers.clear()
        self.gallery_risk.clear()
        for g in galleries:
            self.gallery_customers.labels(g["venue"], g["purpose"]).set(g["customers"])
            self.gallery_risk.labels(g["venue"], g["purpose"]).set(g["false_match_risk"])
        self.gallery_warnings.set(sum(1 for g in galleries if g["warning"]))


class ErrorCounter:
    """Count every 4xx and 5xx answer by route template (never the raw path, which may
    hold ids) and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            status = status or 500
            raise
        finally:
            if status >= 400:
                self.metrics.http_errors.labels(_route_template(scope), str(status)).inc()


def _route_template(scope: Scope) -> str:
    """The template of the route a request was for (answered by the router, or found
    here when a layer before it answered), or ``(no route)``."""
    route = scope.get("route")
    if route is None and scope.get("app") is not None:
        from api.gate import api_routes

        for candidate in api_routes(scope["app"].router.routes):
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
    return str(getattr(route, "path", None) or "(no route)")
