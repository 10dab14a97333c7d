"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

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
        self.matches = Counter(
            "facekeep_matches", "Match requests by outcome", ["outcome"], registry=self.registry
        )
        self.match_latency = Histogram(
            "facekeep_match_latency_seconds",
            "Match latency by outcome",
            ["outcome"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.enrolments = Counter("facekeep_enrolments", "Enrolments", registry=self.registry)
        self.revocations = Counter(
            "facekeep_revocations", "Revocations and objections", registry=self.registry
        )
        self.erasures = Counter("facekeep_erasures", "Erasures", registry=self.registry)
        # Guests who said "I do not agree" at the consent counter: a count, nothing else.
        self.consent_refusals = Counter(
            "facekeep_consent_refusals", "Consents refused at the counter", registry=self.registry
        )
        self.index_templates = Gauge(
            "facekeep_index_templates", "Templates in the match index", registry=self.registry
        )
        self.index_customers = Gauge(
            "facekeep_index_customers", "Customers in the match index", registry=self.registry
        )
        # Stored templates that did not decrypt (altered or damaged), left out of matching.
        self.unreadable_templates = Gauge(
            "facekeep_unreadable_templates",
            "Templates that do not decrypt, left out of matching",
            registry=self.registry,
        )
        # Signatures refused because the audit log no longer extends a signed head.
        self.audit_alarms = Gauge(
            "facekeep_audit_alarms",
            "Tree heads refused because the audit log was altered",
            registry=self.registry,
        )
        self.gallery_customers = Gauge(
            "facekeep_gallery_customers",
            "Customers in each (venue, purpose) gallery",
            ["venue", "purpose"],
            registry=self.registry,
        )
        self.gallery_risk = Gauge(
            "facekeep_gallery_false_match_risk",
            "Chance that a stranger matches someone in the gallery",
            ["venue", "purpose"],
            registry=self.registry,
        )
        self.gallery_warnings = Gauge(
            "facekeep_gallery_warnings",
            "Galleries whose false-match risk is over the limit",
            registry=self.registry,
        )
        # What can go wrong in operation.
        self.http_errors = Counter(
            "facekeep_http_errors",
            "HTTP answers 4xx and 5xx by route template and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.kek_latency = Histogram(
            "facekeep_kek_call_seconds",
            "Latency of calls to the KEK provider (HSM or KMS) by operation",
            ["op"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5, 5, 10),
        )
        self.kek_errors = Counter(
            "facekeep_kek_errors",
            "KEK provider failures: unavailable (the provider), refused (a wrapped key)",
            ["op", "kind"],
            registry=self.registry,
        )
        self.kek_up = Gauge(
            "facekeep_kek_up",
            "1 if the KEK provider answered its last probe",
            registry=self.registry,
        )
        self.start_ready = Gauge(
            "facekeep_start_ready", "1 once the match index is built", registry=self.registry
        )
        self.start_progress = Gauge(
            "facekeep_start_progress",
            "Share of the templates read by the cold start (0 to 1)",
            registry=self.registry,
        )
        self.start_templates = Gauge(
            "facekeep_start_templates_read",
            "Templates read by the cold start so far",
            registry=self.registry,
        )
        self.follower_lag = Gauge(
            "facekeep_follower_lag_seconds",
            "Seconds since other replicas' changes were last applied here",
            registry=self.registry,
        )
        self.follower_up = Gauge(
            "facekeep_follower_up",
            "1 while the change follower follows (0: reconnecting or stopped)",
            registry=self.registry,
        )
        self.follower_reconnects = Gauge(
            "facekeep_follower_reconnects",
            "Times the change follower reconnected to the database",
            registry=self.registry,
        )
        self.db_pool = Gauge(
            "facekeep_db_pool_connections",
            "Database connections by store and state (checked_out, idle, size)",
            ["store", "state"],
            registry=self.registry,
        )
        self.audit_queue_depth = Gauge(
            "facekeep_audit_queue_depth",
            "Match audit events queued and not yet written",
            registry=self.registry,
        )
        self.partition_templates = Gauge(
            "facekeep_index_partition_templates",
            "Templates in each (venue, purpose) partition of the match index",
            ["venue", "purpose"],
            registry=self.registry,
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
