"""The FastAPI application factory. Nothing is built at import time."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from fastapi import FastAPI

from api import problems
from api.credentials import KeyCache
from api.docs import add_docs
from api.galleries import GalleryWatch
from api.gate import BodyGate
from api.imaging import ImageWork
from api.logs import RequestIdContext
from api.metrics import ErrorCounter, Metrics
from api.middleware import RequestContext
from api.ratelimit import RateLimiter
from api.readiness import WriteProbe
from api.routes import (
    auditor,
    checkin,
    compliance,
    credentials,
    health,
    kiosk,
    me,
    pages,
    staff,
)
from api.runtime import ENGINE_SETTINGS, Runtime, open_runtime, start_runtime
from api.settings import Settings
from api.startup import KekHealth, LoadingGate, MeasuredKek, Startup
from api.state import AppState
from api.webhooks import DeliveryWorker
from enroll import Embedder, engine
from vault.replication import ChangeFollower

log = logging.getLogger("facekeep.retention")


async def _retention_loop(state: AppState) -> None:
    """Erase customers past their retention deadline, now and then every interval."""
    grace = timedelta(days=state.settings.retention_grace_days)
    while state.startup is not None and not state.startup.ready:
        await asyncio.sleep(0.5)  # never sweep a half-built index
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
    background_start: bool = False,
) -> FastAPI:
    """Build the service: open the stores, recover, build the index, wire the routes.

    With ``background_start`` (``facekeep serve``) the index is built on a thread once the
    app starts: the port answers at once, /readyz says ``loading`` with the progress, and
    every other route answers 503 until the index is ready."""
    runtime = runtime or open_runtime(
        settings, embedder=embedder, clock=clock, start=not background_start
    )
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
        code_spill=RateLimiter(
            settings.code_failures_global_per_minute / 60.0,
            max(1.0, settings.code_failures_global_per_minute),
        ),
        keys=KeyCache(runtime.vault.engine, settings.key_cache_seconds, now=runtime.vault.now),
        galleries=GalleryWatch(engine(runtime.settings.face_engine or "sface").false_match_rate),
    )
    state.galleries.check(runtime.vault.index)
    runtime.keys.kek = MeasuredKek(runtime.keys.kek, state.metrics)
    state.kek_health = KekHealth(runtime.keys.kek, timeout=settings.kek_timeout_seconds)

    one_follower = threading.Lock()

    def follow() -> None:
        # One follower per app, however many times its lifespan is entered (a second
        # one would be left running, unstopped, when the first was replaced).
        with one_follower:
            if state.follower is None:
                interval = settings.follow_interval_seconds
                state.follower = ChangeFollower(runtime.vault, interval=interval).start()

    state.startup = (
        Startup(runtime, start=lambda: start_runtime(runtime), on_ready=follow)
        if background_start
        else Startup.already_started(runtime, on_ready=follow)
    )
    state.readiness = WriteProbe(runtime.vault.engine, runtime.vault.now)
    state.checkins = DeliveryWorker(runtime.vault, settings, registry=state.metrics.registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        assert state.startup is not None
        state.startup.begin()  # the follower starts once the index is built
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
            state.startup.stop()
            if state.follower is not None:
                state.follower.stop()
                state.follower = None
            state.images.close()
            runtime.close()

    app = FastAPI(
        title="facekeep",
        version="0.1.0",
        description="Consent-first face-data vault: kiosk matching, enrolment with consent, "
        "customer rights, audit.",
        lifespan=lifespan,
        # The interactive docs load scripts from a CDN: only when asked for, and then
        # under a policy naming exactly those scripts (api.docs).
        docs_url=None,
        redoc_url=None,
    )
    if settings.docs:
        add_docs(app)
    app.state.facekeep = state
    problems.install(app)
    for module in (kiosk, staff, credentials, me, auditor, health, pages, compliance, checkin):
        app.include_router(module.router)
    app.add_middleware(LoadingGate, ready=lambda: state.startup is None or state.startup.ready)
    app.add_middleware(RequestIdContext)
    app.add_middleware(BodyGate, settings=settings)
    app.add_middleware(RequestContext, db_lock_wait=settings.db_lock_timeout_seconds)
    # Outermost: errors answered by any layer (authentication before the body, the body
    # limit, the start gate) are counted too.
    app.add_middleware(ErrorCounter, metrics=state.metrics)
    return app
