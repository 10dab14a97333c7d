"""Liveness and readiness (no credential needed, no data exposed) and Prometheus metrics
(behind their own token)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.answers import GalleryRisk, Health, Readiness
from api.auth import public
from api.problems import Problem
from api.startup import RETRY_AFTER_S, follower_healthy, refresh_gauges
from api.state import app_state

router = APIRouter(tags=["health"])


@router.get("/healthz", **public())
def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, **public())
def readyz(request: Request) -> Readiness | JSONResponse:
    """The index is built, both databases answer, the KEK provider answers and the
    change follower follows. While the index loads: 503 ``{"status": "loading",
    "progress": ...}`` with ``Retry-After``."""
    st = app_state(request)
    progress = st.runtime.vault.progress.as_dict()
    if st.startup is not None and not st.startup.ready:
        return JSONResponse(
            {"status": "loading", "progress": progress},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    try:
        with st.runtime.vault.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with st.runtime.keys.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise Problem("not_ready", "a database does not answer") from None
    if st.readiness is not None and not st.readiness.ready():
        raise Problem("not_ready", "the vault database does not commit writes")
    kek = st.kek_health.check() if st.kek_health is not None else None
    if kek is not None and not kek["ok"]:
        raise Problem(
            "kek_unavailable",
            "the key-encryption-key provider (HSM or KMS) does not answer",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            kek=kek,
        )
    follower = st.follower.status() if st.follower is not None else None
    if follower is not None and not follower_healthy(follower, st.settings):
        raise Problem(
            "not_ready",
            "the change follower does not follow other replicas' changes",
            headers={"Retry-After": str(RETRY_AFTER_S)},
            follower=follower.as_dict(),
        )
    galleries = st.galleries.check(st.runtime.vault.index)
    warnings = [
        f"gallery {g['venue']}/{g['purpose']}: {g['customers']} customers, a stranger matches "
        f"someone with probability {100 * g['false_match_risk']:.1f} %"
        for g in galleries
        if g["warning"]
    ]
    return Readiness(
        status="ready",
        index_templates=len(st.runtime.vault.index),
        progress=progress,
        kek=kek,
        follower=follower.as_dict() if follower is not None else None,
        engine=st.settings.face_engine,
        galleries=[GalleryRisk.model_validate(g) for g in galleries],
        warnings=warnings,
    )


def metrics_token(request: Request) -> None:
    """Only the scraper holding ``FACEKEEP_METRICS_TOKEN`` reads metrics (they show match
    outcomes as they happen); without a token set, /metrics does not exist."""
    expected = app_state(request).settings.metrics_token
    if not expected:
        raise Problem("not_found", "metrics are off: set FACEKEEP_METRICS_TOKEN")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise Problem(
            "unauthorized", "send the metrics token", headers={"WWW-Authenticate": "Bearer"}
        )


@router.get(
    "/metrics",
    dependencies=[Depends(metrics_token)],
    # The Prometheus text format, not JSON.
    response_class=PlainTextResponse,
    openapi_extra={"x-roles": ["metrics"]},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics (``Authorization: Bearer`` the metrics token)."""
    st = app_state(request)
    refresh_gauges(st)
    st.metrics.index_templates.set(len(st.runtime.vault.index))
    st.metrics.index_customers.set(st.runtime.vault.index.customers())
    vault = st.runtime.vault
    st.metrics.unreadable_templates.set(sum(len(t) for t in vault.unreadable.values()))
    st.metrics.audit_alarms.set(vault.audit.alarms if vault.audit is not None else 0)
    st.metrics.galleries(st.galleries.check(st.runtime.vault.index))
    return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)
