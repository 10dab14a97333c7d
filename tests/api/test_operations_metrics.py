"""What operations people see: /readyz with the KEK probe, the follower and the start's
progress, and metrics for errors by route template, KEK calls, the start, the follower,
the database pools, the audit queue and the index partitions."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TOKEN = "metrics-" + "0123456789abcdef" * 2


def metrics(service: Any) -> str:
    r = service.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return str(r.text)


def value(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, number = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and found == labels:
            return float(number)
    shown = [line for line in text.splitlines() if line.startswith(name)]
    raise AssertionError(f"no {name} {labels} in the metrics: {shown}")


def test_readiness_and_metrics_describe_the_running_service(
    make_service: Callable[..., Any], face_embedding: Callable[[str], Any]
) -> None:
    svc = make_service(metrics_token=TOKEN)
    svc.venue("hcm-1")
    svc.enrol_vectors([face_embedding("obama_1")], customer="cust-ops-1")

    ready = svc.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["kek"]["ok"] is True and body["kek"]["provider"] == "local"
    assert body["progress"]["phase"] == "ready"
    assert body["follower"]["state"] in ("starting", "following")

    # Errors are counted by route template and status, never by the raw path.
    missing = svc.client.get("/v1/customers/nobody-7f3a", headers=svc.admin.headers)
    assert missing.status_code == 404
    assert svc.client.post("/v1/match", json={}).status_code == 401

    text = metrics(svc)
    assert "nobody-7f3a" not in text
    assert (
        value(text, "facekeep_http_errors_total", route="/v1/customers/{customer_id}", status="404")
        == 1
    )
    assert value(text, "facekeep_http_errors_total", route="/v1/match", status="401") == 1
    assert value(text, "facekeep_kek_call_seconds_count", op="wrap") >= 1
    assert value(text, "facekeep_kek_up") == 1
    assert value(text, "facekeep_start_ready") == 1
    assert value(text, "facekeep_start_progress") == 1
    assert value(text, "facekeep_follower_lag_seconds") >= 0
    assert value(text, "facekeep_db_pool_connections", store="vault", state="checked_out") >= 0
    assert value(text, "facekeep_db_pool_connections", store="keystore", state="checked_out") >= 0
    assert value(text, "facekeep_audit_queue_depth") == 0
    assert value(text, "facekeep_index_partition_templates", venue="hcm-1", purpose="checkin") == 1
