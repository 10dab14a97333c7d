"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI

from api import problems
from api.credentials import KeyCache
from api.galleries import GalleryWatch
from api.imaging import ImageWork
from api.metrics import Metrics
from api.middleware import RequestContext
from api.ratelimit import RateLimiter
from api.routes import auditor, checkin, compliance, health, kiosk, me, pages, staff
from api.runtime import ENGINE_SETTINGS, Runtime, open_runtime
from api.settings import Settings
from api.state import AppState
from api.webhooks import DeliveryWorker
from enroll import Embedder, engine
from vault.changes import ChangeFollower

log = logging.getLogger("facekeep.retention")


async def _retention_loop(state: AppState) -> None:
    """Erase customers past their retention deadline, now and then every interval."""
    grace = timedelta(days=state.settings.retention_grace_days)
    while True:
        try:
            erased = await asyncio.to_thread(state.runtime.vault.retention_sweep, grace)
            if erased:
                state.metrics.erasures.inc(len(erased))
                log.info("retention sweep", extra={"status": len(erased)})
        except Exception as exc:  # keep sweeping; the next round retries
            log.error("retention sweep failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(state.settings.retention_interval_seconds)


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    embedder: Embedder | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the service: open the stores, recover, build the index, wire the routes."""
    runtime = runtime or open_runtime(settings, embedder=embedder, clock=clock)
    # The engine and its thresholds as the runtime resolved them for this vault (image
    # worker processes build their embedder from these settings).
    settings = settings.model_copy(
        update={name: getattr(runtime.settings, name) for name in ENGINE_SETTINGS}
    )
    state = AppState(
        settings=settings,
        runtime=runtime,
        images=ImageWork(settings, runtime.embedder),
        metrics=Metrics(),
        match_limiter=RateLimiter(settings.match_rate, settings.match_burst),
        code_limiter=RateLimiter(
            settings.code_failures_per_minute / 60.0, settings.code_failure_burst
        ),
        keys=KeyCache(runtime.vault.engine, settings.key_cache_seconds),
        galleries=GalleryWatch(engine(runtime.settings.face_engine or "sface").false_match_rate),
    )
    state.galleries.check(runtime.vault.index)
    state.checkins = DeliveryWorker(runtime.vault, settings, registry=state.metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        follower = ChangeFollower(runtime.vault, interval=settings.follow_interval_seconds).start()
        if state.checkins is not None:
            state.checkins.start()
        sweeper = (
            asyncio.create_task(_retention_loop(state))
            if settings.retention_interval_seconds > 0
            else None
        )
        try:
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
            if state.checkins is not None:
                await state.checkins.stop()
            follower.stop()
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
    for module in (kiosk, staff, me, auditor, health, pages, compliance, checkin):
        app.include_router(module.router)
    app.add_middleware(RequestContext, max_body=settings.max_body_bytes)
    return app
