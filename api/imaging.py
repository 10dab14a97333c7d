"""Image work off the event loop: a process pool (both cores) or threads in-process.

Workers return plain values or an error code, so nothing but numbers and codes crosses
the process boundary; image bytes are never written anywhere.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from api.problems import Problem
from api.runtime import make_embedder
from api.settings import Settings
from enroll import Embedder, EnrollError

_worker_embedder: Embedder | None = None


def _init_worker(settings_json: str) -> None:
    global _worker_embedder
    embedder = make_embedder(Settings.model_validate_json(settings_json))
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
        return "error", (exc.code, str(exc), getattr(exc, "count", None))


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


class ImageWork:
    """Runs detection and encoding without blocking the event loop."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self._embedder = embedder
        self._processes = settings.image_workers > 0
        self._executor: Executor
        if self._processes:
            self._executor = ProcessPoolExecutor(
                max_workers=settings.image_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(settings.model_dump_json(),),
            )
        else:
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image")

    async def _call(self, kind: str, data: bytes) -> Any:
        loop = asyncio.get_running_loop()
        if self._processes:
            status, value = await loop.run_in_executor(self._executor, _in_worker, kind, data)
        else:
            status, value = await loop.run_in_executor(
                self._executor, _run, self._embedder, kind, data
            )
        if status == "error":
            code, message, count = value
            extra = {"count": count} if count is not None else {}
            raise Problem(code, message, **extra)
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
        self._executor.shutdown(wait=False, cancel_futures=True)
