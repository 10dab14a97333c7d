"""Each photo of the set embedded once by one engine, kept in memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from enroll.embedder import Embedder
from enroll.errors import EnrollError, MultipleFaces
from enroll.evaluation.arrays import F64, Ints
from enroll.evaluation.dataset import Dataset


@dataclass(frozen=True)
class EmbeddedSet:
    """The photos one engine could embed: ``vectors[i]`` is photo ``photo_index[i]`` of
    the dataset, in which ``faces[i]`` faces were found (1 = usable for enrolment)."""

    engine: str
    vectors: F64
    photo_index: Ints
    faces: Ints
    failures: dict[str, str] = field(default_factory=dict)  # file -> error code
    seconds: float = 0.0

    @property
    def multiple_faces(self) -> int:
        """How many photos showed several faces (embedded with their largest)."""
        return int((self.faces > 1).sum())


def embed_dataset(
    dataset: Dataset,
    embedder: Embedder,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> EmbeddedSet:
    """Embed every photo once (largest face; exactly-one-face photos are marked so).

    A photo that cannot be read or shows no usable face is recorded in ``failures`` with
    its error code and left out; nothing here is fatal.
    """
    vectors: list[F64] = []
    index: list[int] = []
    faces: list[int] = []
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for i, photo in enumerate(dataset.photos):
        if progress is not None:
            progress(i, len(dataset.photos))
        try:
            data = (dataset.root / photo.file).read_bytes()
        except OSError:
            failures[photo.file] = "unreadable"
            continue
        try:
            try:
                found = 1
                embedding = embedder.embed_enrolment(data)
            except MultipleFaces as exc:
                # Usable as a kiosk probe (largest face), never as an enrolment photo.
                found = exc.count
                embedding = embedder.embed_probe(data)
        except EnrollError as exc:
            failures[photo.file] = exc.code
            continue
        vectors.append(np.asarray(embedding.vector, dtype=np.float64))
        index.append(i)
        faces.append(found)
    if progress is not None:
        progress(len(dataset.photos), len(dataset.photos))
    return EmbeddedSet(
        engine=embedder.engine.name,
        vectors=np.array(vectors, dtype=np.float64).reshape(len(vectors), -1),
        photo_index=np.array(index, dtype=np.int64),
        faces=np.array(faces, dtype=np.int64),
        failures=failures,
        seconds=time.perf_counter() - started,
    )
