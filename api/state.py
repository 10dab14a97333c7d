"""What the HTTP app keeps for its lifetime, reachable from any request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.credentials import KeyCache
from api.galleries import GalleryWatch
from api.imaging import ImageWork
from api.metrics import Metrics
from api.problems import Problem
from api.ratelimit import RateLimiter, retry_after
from api.readiness import WriteProbe
from api.runtime import Runtime
from api.settings import Settings
from api.startup import KekHealth, Startup
from api.webhooks import DeliveryWorker
from vault.replication import ChangeFollower


@dataclass
class AppState:
    """The runtime plus the app's own helpers."""

    settings: Settings
    runtime: Runtime
    images: ImageWork
    metrics: Metrics
    match_limiter: RateLimiter
    code_limiter: RateLimiter
    # Failed access codes from throttled addresses, all together (see api.auth).
    code_spill: RateLimiter
    keys: KeyCache
    galleries: GalleryWatch
    # Hands check-ins off to the venues' systems (None only in apps built without one).
    checkins: DeliveryWorker | None = None
    # Whether the vault database still commits writes (/readyz).
    readiness: WriteProbe | None = None
    # The index build (in the background under `facekeep serve`), the cached KEK probe
    # and the thread applying other replicas' changes (from when the index is built).
    startup: Startup | None = None
    kek_health: KekHealth | None = None
    follower: ChangeFollower | None = None

    def take_match(self, caller_id: str) -> None:
        """Count one probe (frames or embeddings) against the caller's match rate;
        over it, answer 429 ``rate_limited`` with a Retry-After."""
        wait = self.match_limiter.take(caller_id)
        if wait > 0:
            raise Problem("rate_limited", "slow down", headers={"Retry-After": retry_after(wait)})


def app_state(request: Request) -> AppState:
    """The state of the app serving this request."""
    state: AppState = request.app.state.facekeep
    return state
