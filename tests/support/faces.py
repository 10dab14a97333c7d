"""A fake of the ``Embedder`` protocol, for API tests where the face is not the subject.

Each known image (by its exact bytes) maps to a fixed embedding: usually a sample photo
mapped to the real engine's vector of that photo, so that what a test enrols through the
fake and what it matches with real embeddings agree. No model runs for an upload. Images
it does not know hold no face. Where the face, decoding or image limits are the subject
(tests/enroll, tests/eval, the face-flow stories, hostile images), the real engine stays.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from enroll import DEFAULT_ENGINE, Embedding, EngineSpec, FaceBox, NoFace

_BOX = FaceBox(top=100, right=300, bottom=300, left=100)


class FakeEmbedder:
    """``Embedder`` for known images only: each maps to one fixed embedding."""

    engine: ClassVar[EngineSpec] = DEFAULT_ENGINE

    def __init__(self) -> None:
        self._fixed: dict[str, Callable[[], npt.NDArray[np.float64]]] = {}
        self.calls = 0  # uploads embedded, so a test can tell the fake was used

    def add(self, image: bytes, vector: Callable[[], npt.NDArray[np.float64]]) -> None:
        """Answer ``vector()`` (asked on first use) for the image ``image``."""
        self._fixed[hashlib.sha256(image).hexdigest()] = vector

    @classmethod
    def of_samples(
        cls,
        names: Iterable[str],
        image: Callable[[str], bytes],
        vector: Callable[[str], npt.NDArray[np.float64]],
    ) -> FakeEmbedder:
        """A fake that knows the sample photos ``names``: ``image(name)`` gives the bytes,
        ``vector(name)`` the embedding to answer (asked once a test uploads the photo)."""
        fake = cls()
        for name in names:
            fake.add(image(name), functools.partial(vector, name))
        return fake

    def _embed(self, data: bytes) -> Embedding:
        self.calls += 1
        vector = self._fixed.get(hashlib.sha256(data).hexdigest())
        if vector is None:
            raise NoFace()
        return Embedding(vector(), _BOX)

    def embed_enrolment(self, data: bytes) -> Embedding:
        """The fixed embedding of a known image (NoFace for any other)."""
        return self._embed(data)

    def embed_probe(self, data: bytes) -> Embedding:
        """The fixed embedding of a known image (NoFace for any other)."""
        return self._embed(data)

    def detect(self, data: bytes) -> tuple[SimpleNamespace, list[FaceBox]]:
        """The image's size (read from its header) and one box for a known image, none
        for any other (what the kiosk's frame check asks of an engine)."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
        except (OSError, ValueError):
            size = (1, 1)
        known = hashlib.sha256(data).hexdigest() in self._fixed
        return SimpleNamespace(original_size=size), [_BOX] if known else []

    def count_faces(self, data: bytes) -> int:
        """1 for a known image, 0 for any other."""
        return int(hashlib.sha256(data).hexdigest() in self._fixed)

    def warm_up(self) -> None:
        """Nothing to load."""
