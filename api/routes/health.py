"""Liveness, readiness and Prometheus metrics (no credential needed, no data exposed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.auth import public
from api.problems import Problem
from api.state import app_state

router = APIRouter(tags=["health"])


@router.get("/healthz", **public())
def healthz() -> Any:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", **public())
def readyz(request: Request) -> Any:
    """Both databases answer and the index is built."""
    st = app_state(request)
    try:
        with st.runtime.vault.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        with st.runtime.keys.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        raise Problem("not_ready", "a database does not answer") from None
    galleries = st.galleries.check(st.runtime.vault.index)
    warnings = [
        f"gallery {g['venue']}/{g['purpose']}: {g['customers']} customers, a stranger matches "
        f"someone with probability {100 * g['false_match_risk']:.1f} %"
        for g in galleries
        if g["warning"]
    ]
    return {
        "status": "ready",
        "index_templates": len(st.runtime.vault.index),
        "engine": st.settings.face_engine,
        "galleries": galleries,
        "warnings": warnings,
    }


@router.get("/metrics", **public())
def metrics(request: Request) -> Response:
    """Prometheus metrics."""
    st = app_state(request)
    st.metrics.index_templates.set(len(st.runtime.vault.index))
    st.metrics.index_customers.set(st.runtime.vault.index.customers())
    st.metrics.galleries(st.galleries.check(st.runtime.vault.index))
    return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)
