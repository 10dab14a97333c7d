"""A server that answers at once and says when it is ready.

- :class:`Startup` builds the match index on a background thread, so the port opens at
  once and an orchestrator's liveness probe (``/healthz``) never kills a slow start;
  ``/readyz`` answers 503 ``{"status": "loading", "progress": ...}`` meanwhile. A start
  that fails (a database or the KEK provider away) is retried with backoff.
- :class:`LoadingGate` answers every other route 503 with ``Retry-After`` until then: a
  match against half an index would turn enrolled guests away as strangers.
- :class:`KekHealth` is the cheap, cached provider call behind ``/readyz``; a hung
  provider counts as unavailable after a few seconds instead of hanging the probe.
- :class:`MeasuredKek` times every KEK call for the metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import send_problem
from keys import DecryptionFailed, KekError
from keys.kek import UnwrapItem, WrapItem

if TYPE_CHECKING:
    from api.metrics import Metrics
    from api.runtime import Runtime
    from api.settings import Settings
    from api.state import AppState
    from keys import KekProvider
    from vault.replication import FollowerStatus

log = logging.getLogger("facekeep.startup")

#: Paths answered while the index loads (probes and metrics).
ALWAYS_OPEN = frozenset({"/healthz", "/readyz", "/metrics"})
RETRY_AFTER_S = 5


class Startup:
    """Recover and build the index on a thread; ``ready`` once done."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        start: Callable[[], None],
        on_ready: Callable[[], None] = lambda: None,
        max_backoff: float = 30.0,
    ) -> None:
        self.runtime = runtime
        self._start = start
        self._on_ready = on_ready
        self._max_backoff = max_backoff
        self._ready = threading.Event()
        self._stop = threading.Event()
        # stop() and the hand-over to on_ready take turns: once stop() returns, on_ready
        # has run or never will (a follower is never started on a closed runtime).
        self._handover = threading.Lock()
        self._thread: threading.Thread | None = None
        self.attempts = 0

    @classmethod
    def already_started(
        cls, runtime: Runtime, *, on_ready: Callable[[], None] = lambda: None
    ) -> Startup:
        """For a runtime whose index is built: ready at once (``on_ready`` runs when the
        app starts)."""
        startup = cls(runtime, start=lambda: None, on_ready=on_ready)
        startup._ready.set()
        return startup

    @property
    def ready(self) -> bool:
        """True once the index is built."""
        return self._ready.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until ready (tests and the CLI); True if ready."""
        return self._ready.wait(timeout)

    def begin(self) -> None:
        """Start building in the background (or just run ``on_ready`` if ready)."""
        if self.ready:
            self._hand_over()
            return
        self._thread = threading.Thread(target=self._run, name="facekeep-start", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Give up a start still running (the process is shutting down): once this
        returns, ``on_ready`` has run or never will."""
        with self._handover:
            self._stop.set()

    def _run(self) -> None:
        progress = self.runtime.vault.progress
        backoff = 1.0
        while not self._stop.is_set():
            self.attempts += 1
            try:
                self._start()
            except Exception as exc:  # a database or the KEK provider is away: retry
                if self._stop.is_set():
                    return  # shutting down: the runtime is being closed under it
                progress.fail(type(exc).__name__)
                log.error(
                    "start failed; retrying",
                    extra={"error_type": type(exc).__name__, "attempt": self.attempts},
                    exc_info=True,
                )
                self._stop.wait(backoff)
                backoff = min(self._max_backoff, backoff * 2)
                continue
            self._ready.set()
            log.info(
                "index loaded",
                extra={
                    "phase": "ready",
                    "done": progress.done,
                    "total": progress.total,
                    "elapsed_s": progress.as_dict()["elapsed_s"],
                },
            )
            self._hand_over()
            return

    def _hand_over(self) -> None:
        """Run ``on_ready`` unless stopped (in turn with :meth:`stop`)."""
        with self._handover:
            if not self._stop.is_set():
                self._on_ready()


class LoadingGate:
    """Answer 503 (``Retry-After``) on every route but the probes until ``ready()``."""

    def __init__(self, app: ASGIApp, *, ready: Callable[[], bool]) -> None:
        self.app = app
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.ready() or scope.get("path") in ALWAYS_OPEN:
            await self.app(scope, receive, send)
            return
        await send_problem(
            send,
            503,
            "not_ready",
            "the service is starting: the match index is being built",
            headers=[(b"retry-after", str(RETRY_AFTER_S).encode())],
        )


class KekHealth:
    """Is the KEK provider answering? One cheap call, at most every ``ttl`` seconds, and
    never waiting longer than ``timeout`` for it (a hung call is left to finish alone)."""

    def __init__(self, kek: KekProvider, *, timeout: float, ttl: float = 5.0) -> None:
        self.kek = kek
        self.timeout = timeout
        self.ttl = ttl
        self._lock = threading.Lock()
        self._result: dict[str, Any] | None = None
        self._checked = 0.0
        self._running: threading.Thread | None = None
        self._running_since = 0.0
        self._holder: dict[str, Any] = {}

    def check(self) -> dict[str, Any]:
        """``{"ok", "provider", "latency_ms" | "error"}``, cached for ``ttl`` seconds."""
        with self._lock:
            now = time.monotonic()
            if self._result is not None and now - self._checked < self.ttl:
                return self._result
            if self._running is None or not self._running.is_alive():
                holder: dict[str, Any] = {}
                self._running = threading.Thread(
                    target=self._probe, args=(holder,), name="facekeep-kek-probe", daemon=True
                )
                self._running_since = now
                self._holder = holder
                self._running.start()
            thread, holder, since = self._running, self._holder, self._running_since
        thread.join(max(0.0, self.timeout - (time.monotonic() - since)))
        if thread.is_alive():
            result: dict[str, Any] = {
                "ok": False,
                "provider": self.kek.name,
                "error": f"no answer within {self.timeout:g} s",
            }
        else:
            result = dict(holder)
        with self._lock:
            self._result, self._checked = result, time.monotonic()
        return result

    def _probe(self, holder: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            self.kek.probe()
        except Exception as exc:  # reported, never raised: this is a health probe
            holder.update(ok=False, provider=self.kek.name, error=type(exc).__name__)
            return
        latency = round((time.perf_counter() - started) * 1000, 2)
        holder.update(ok=True, provider=self.kek.name, latency_ms=latency)


class MeasuredKek:
    """A KEK provider that records each call's latency and failures in the metrics;
    everything else passes through to the provider it wraps."""

    def __init__(self, inner: KekProvider, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self.name = inner.name
        self.batch_size = inner.batch_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"MeasuredKek({self._inner!r})"

    def _timed(self, op: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        except KekError:
            self._metrics.kek_errors.labels(op, "unavailable").inc()
            raise
        except DecryptionFailed:
            self._metrics.kek_errors.labels(op, "refused").inc()
            raise
        finally:
            self._metrics.kek_latency.labels(op).observe(time.perf_counter() - started)

    def current_epoch(self) -> int:
        return int(self._timed("current_epoch", self._inner.current_epoch))

    def epochs(self) -> list[int]:
        return list(self._timed("epochs", self._inner.epochs))

    def wrap(self, dek: bytes | bytearray, *, epoch: int, context: tuple[str, ...]) -> bytes:
        return bytes(
            self._timed("wrap", lambda: self._inner.wrap(dek, epoch=epoch, context=context))
        )

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        result: bytearray = self._timed(
            "unwrap", lambda: self._inner.unwrap(wrapped, epoch=epoch, context=context)
        )
        return result

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        result: list[bytearray | None] = self._timed(
            "unwrap_many", lambda: self._inner.unwrap_many(items)
        )
        refused = sum(1 for raw in result if raw is None)
        if refused:
            self._metrics.kek_errors.labels("unwrap_many", "refused").inc(refused)
        return result

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        result: list[bytes] = self._timed("wrap_many", lambda: self._inner.wrap_many(items))
        return result

    def new_epoch(self, *, owner: str | None = None) -> int:
        return int(self._timed("new_epoch", lambda: self._inner.new_epoch(owner=owner)))

    def epoch_owner(self, epoch: int) -> str | None:
        owner: str | None = self._timed("epoch_owner", lambda: self._inner.epoch_owner(epoch))
        return owner

    def destroy_epoch(self, epoch: int) -> None:
        self._timed("destroy_epoch", lambda: self._inner.destroy_epoch(epoch))

    def probe(self) -> None:
        self._timed("probe", self._inner.probe)


def follower_healthy(status: FollowerStatus, settings: Settings) -> bool:
    """Whether the change follower keeps this replica in step: following, and applied
    other replicas' changes within a few of its intervals."""
    if status.state in ("reconnecting", "stopped"):
        return False
    return status.lag_s <= 3 * settings.follow_interval_seconds + 5


def refresh_gauges(state: AppState) -> None:
    """Set the gauges that describe the process now (called when metrics are read)."""
    metrics, vault = state.metrics, state.runtime.vault
    progress = vault.progress
    ready = state.startup is None or state.startup.ready
    metrics.start_ready.set(1 if ready else 0)
    metrics.start_progress.set(1.0 if ready else progress.fraction())
    metrics.start_templates.set(progress.done)
    if state.kek_health is not None:
        metrics.kek_up.set(1 if state.kek_health.check()["ok"] else 0)
    if state.follower is not None:
        status = state.follower.status()
        metrics.follower_lag.set(status.lag_s)
        metrics.follower_up.set(1 if status.state == "following" else 0)
        metrics.follower_reconnects.set(status.reconnects)
    for store, engine in (("vault", vault.engine), ("keystore", state.runtime.keys.engine)):
        pool = engine.pool
        for name in ("checkedout", "checkedin", "size"):
            counter = getattr(pool, name, None)
            if callable(counter):
                label = {"checkedout": "checked_out", "checkedin": "idle"}.get(name, name)
                metrics.db_pool.labels(store, label).set(counter())
    metrics.audit_queue_depth.set(vault.match_queue.depth())
    metrics.partition_templates.clear()
    for part in vault.index.stats()["partitions"]:
        metrics.partition_templates.labels(part["venue"], part["purpose"]).set(part["templates"])
