"""Cold-start plumbing: a progress record readers can poll, and a one-thread prefetcher.

A cold start reads pages of customers, unwraps their data keys through the KEK provider
(an HSM or a KMS: mostly waiting) and decrypts their templates. :func:`prefetched` runs
the first two for the next pages on another thread while the caller works on the page
before, so provider calls overlap with decryption and indexing.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["LoadProgress", "prefetched"]


@dataclass
class LoadProgress:
    """How far a start got: ``phase`` is ``idle``, ``recovering``, ``loading``, ``ready``
    or ``failed``; ``done`` of ``total`` templates read so far."""

    phase: str = "idle"
    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None

    def begin(self, phase: str, total: int = 0) -> None:
        """Enter a phase (``total``: how many templates it will read)."""
        self.phase, self.total, self.done, self.error = phase, total, 0, None
        self.started, self.finished = time.monotonic(), None

    def advance(self, rows: int) -> None:
        """``rows`` more templates were read."""
        self.done += rows

    def finish(self) -> None:
        """The index is built."""
        self.phase, self.done, self.finished = "ready", max(self.done, self.total), time.monotonic()

    def fail(self, error: str) -> None:
        """The start failed (``error`` names the exception type, never its message)."""
        self.phase, self.error = "failed", error

    def fraction(self) -> float:
        """Share of the templates read, 0 to 1 (1 when there are none)."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def as_dict(self) -> dict[str, Any]:
        """For /readyz and the logs."""
        end = self.finished if self.finished is not None else time.monotonic()
        out: dict[str, Any] = {
            "phase": self.phase,
            "templates_read": self.done,
            "templates_total": self.total,
            "fraction": round(self.fraction(), 4),
            "elapsed_s": round(end - self.started, 2),
        }
        if self.error:
            out["error"] = self.error
        return out


_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield what ``items`` yields, producing up to ``depth`` items ahead on a thread.

    Items left unconsumed when the caller stops early are closed if they have ``close``
    (an ExitStack holding data keys wipes them); an error of the producer is raised here.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                else:
                    _close(item)
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            failure.append(exc)
        finally:
            ready.put(_END)

    worker = threading.Thread(target=produce, name="facekeep-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        # Drain (closing what was produced ahead) until the producer has ended.
        while worker.is_alive() or not ready.empty():
            try:
                item = ready.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is not _END:
                _close(item)
        worker.join()


def _close(item: Any) -> None:
    close = getattr(item, "close", None)
    if callable(close):
        close()
