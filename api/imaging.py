"""Image work off the event loop: process pools (both cores) or threads in-process.

Workers return plain values or an error's code, message and details (numbers and short
keywords), so nothing else crosses the process boundary; image bytes are never written
anywhere.

Kiosks have capacity of their own: their probes (and framing hints) run on one pool,
enrolment photos, retakes and the counter's face counts on another, so a kiosk's match
never waits behind a customer's upload. Each pool takes a bounded number of tasks at a
time; beyond it a request is answered ``503 busy`` at once instead of queueing without
end. Worker processes start with an environment cleaned of every secret
(:mod:`api.sandbox`) and are handed only the engine's name and the image limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from api.problems import Problem, coded_problem
from api.runtime import image_limits
from api.sandbox import CleanSpawnContext
from api.settings import Settings
from enroll import DEFAULT_ENGINE, Embedder, EnrollError, ImageLimits
from enroll import make_embedder as make_engine_embedder

_worker_embedder: Embedder | None = None

#: Kinds of work on the kiosks' own pool; everything else goes to the uploads' pool.
KIOSK_WORK = frozenset({"probe", "boxes"})


@dataclass(frozen=True)
class WorkerSetup:
    """All a worker process is given: which engine, and the image limits."""

    engine: str
    limits: ImageLimits
    min_face_size: int


def worker_setup(settings: Settings) -> WorkerSetup:
    """What workers of this deployment are handed (never a key, PIN or token)."""
    return WorkerSetup(
        settings.face_engine or DEFAULT_ENGINE.name, image_limits(settings), settings.min_face_size
    )


def _init_worker(setup: WorkerSetup) -> None:
    global _worker_embedder
    embedder = make_engine_embedder(setup.engine, setup.limits, min_face_size=setup.min_face_size)
    embedder.warm_up()
    _worker_embedder = embedder


def _run(embedder: Embedder, kind: str, data: bytes) -> tuple[str, Any]:
    try:
        if kind == "count":
            return "ok", embedder.count_faces(data)
        if kind == "boxes":
            return "ok", _boxes(embedder, data)
        result = embedder.embed_enrolment(data) if kind == "enrol" else embedder.embed_probe(data)
        return "ok", result.vector.astype(np.float64).tolist()
    except EnrollError as exc:
        return "error", (exc.code, str(exc), exc.details())


def _boxes(embedder: Embedder, data: bytes) -> dict[str, Any]:
    """The frame's size and every face box (left, top, width, height; original pixels,
    largest first): detection only, no embedding is computed."""
    detect = getattr(embedder, "detect", None)
    if detect is None:  # pragma: no cover - every real engine is a FaceFinder
        raise TypeError(f"{type(embedder).__name__} cannot locate faces")
    image, boxes = detect(data)
    width, height = image.original_size
    return {
        "width": width,
        "height": height,
        "boxes": [[b.left, b.top, b.width, b.height] for b in boxes],
    }


def _in_worker(kind: str, data: bytes) -> tuple[str, Any]:
    assert _worker_embedder is not None
    return _run(_worker_embedder, kind, data)


class _Pool:
    """One executor and how many tasks it may hold at once (running or waiting)."""

    def __init__(self, executor: Executor, workers: int) -> None:
        self.executor = executor
        self.limit = 4 * workers + 4
        self.busy = 0


class ImageWork:
    """Runs detection and encoding without blocking the event loop."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self._embedder = embedder
        self._processes = settings.image_workers > 0
        if self._processes:
            setup = worker_setup(settings)
            self._kiosks = self._process_pool(settings.image_workers, setup)
            self._uploads = self._process_pool(settings.upload_workers, setup)
        else:
            self._kiosks = _Pool(ThreadPoolExecutor(2, thread_name_prefix="image-kiosk"), 2)
            self._uploads = _Pool(ThreadPoolExecutor(2, thread_name_prefix="image-upload"), 2)

    @staticmethod
    def _process_pool(workers: int, setup: WorkerSetup) -> _Pool:
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=CleanSpawnContext(),
            initializer=_init_worker,
            initargs=(setup,),
        )
        return _Pool(executor, workers)

    async def _call(self, kind: str, data: bytes) -> Any:
        pool = self._kiosks if kind in KIOSK_WORK else self._uploads
        if pool.busy >= pool.limit:
            raise Problem(
                "busy", "too many images in progress; try again", headers={"Retry-After": "1"}
            )
        pool.busy += 1
        loop = asyncio.get_running_loop()
        try:
            if self._processes:
                status, value = await loop.run_in_executor(pool.executor, _in_worker, kind, data)
            else:
                status, value = await loop.run_in_executor(
                    pool.executor, _run, self._embedder, kind, data
                )
        finally:
            pool.busy -= 1
        if status == "error":
            code, message, details = value
            raise coded_problem(code, message, details)
        return value

    async def enrolment_vector(self, data: bytes) -> npt.NDArray[np.float64]:
        """Embedding of the one face of an enrolment photo."""
        return np.asarray(await self._call("enrol", data), dtype=np.float64)

    async def enrolment_vectors(self, images: Sequence[bytes]) -> list[npt.NDArray[np.float64]]:
        """Embeddings of 1 to 5 enrolment photos of one guest, computed side by side."""
        if not 1 <= len(images) <= 5:
            raise Problem("invalid_request", "send 1 to 5 'image' files")
        return list(await asyncio.gather(*(self.enrolment_vector(b) for b in images)))

    async def probe_vector(self, data: bytes) -> npt.NDArray[np.float64]:
        """Embedding of the largest face of a camera frame."""
        return np.asarray(await self._call("probe", data), dtype=np.float64)

    async def face_boxes(self, data: bytes) -> dict[str, Any]:
        """Where the faces of a camera frame are (``width``, ``height``, ``boxes``), for
        the check-in kiosk's framing hints (nothing is kept)."""
        found: dict[str, Any] = await self._call("boxes", data)
        return found

    async def count_faces(self, data: bytes) -> int:
        """Number of faces seen (for a live hint)."""
        return int(await self._call("count", data))

    def close(self) -> None:
        """Stop the workers."""
        for pool in (self._kiosks, self._uploads):
            pool.executor.shutdown(wait=False, cancel_futures=True)
