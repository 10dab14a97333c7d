"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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

    def galleries(self, galleries: list[Gallery]) -> None:
        """Set the gallery gauges from :meth:`api.galleries.GalleryWatch.check`."""
        self.gallery_customers.clear()
        self.gallery_risk.clear()
        for g in galleries:
            self.gallery_customers.labels(g["venue"], g["purpose"]).set(g["customers"])
            self.gallery_risk.labels(g["venue"], g["purpose"]).set(g["false_match_risk"])
        self.gallery_warnings.set(sum(1 for g in galleries if g["warning"]))
