"""Prometheus metrics of one app instance (its own registry, so tests do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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
        self.index_templates = Gauge(
            "facekeep_index_templates", "Templates in the match index", registry=self.registry
        )
        self.index_customers = Gauge(
            "facekeep_index_customers", "Customers in the match index", registry=self.registry
        )
