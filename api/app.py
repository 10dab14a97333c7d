"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from api import credentials, problems
from api.imaging import ImageWork
from api.metrics import Metrics
from api.middleware import RequestContext
from api.ratelimit import RateLimiter
from api.routes import auditor, health, kiosk, me, staff
from api.runtime import Runtime, open_runtime
from api.settings import Settings
from api.state import AppState
from enroll import Embedder


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    embedder: Embedder | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the service: open the stores, recover, build the index, wire the routes."""
    runtime = runtime or open_runtime(settings, embedder=embedder, clock=clock)
    credentials.create_schema(runtime.vault.engine)
    state = AppState(
        settings=settings,
        runtime=runtime,
        images=ImageWork(settings, runtime.embedder),
        metrics=Metrics(),
        match_limiter=RateLimiter(settings.match_rate, settings.match_burst),
        code_limiter=RateLimiter(
            settings.code_failures_per_minute / 60.0, settings.code_failure_burst
        ),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.images.close()
        runtime.close()

    app = FastAPI(
        title="facekeep",
        version="0.1.0",
        description="Consent-first face-data vault: kiosk matching, enrolment with consent, "
        "customer rights, audit.",
        lifespan=lifespan,
    )
    app.state.facekeep = state
    problems.install(app)
    for module in (kiosk, staff, me, auditor, health):
        app.include_router(module.router)
    app.add_middleware(RequestContext, max_body=settings.max_body_bytes)
    return app
