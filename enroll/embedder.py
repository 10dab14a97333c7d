"""Faces and embeddings: the types every engine shares, and the dlib engine.

:class:`FaceFinder` is the pipeline both engines follow (decode, shrink, detect, pick,
check size, encode); :class:`FaceEmbedder` is the dlib engine, and the only code of the
project that imports ``face_recognition``, lazily on first use so ``import enroll`` stays
cheap. The SFace engine is in :mod:`enroll.sface`.
"""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import ImageFile

from enroll.engines import DLIB, EngineSpec
from enroll.errors import FaceTooSmall, MultipleFaces, NoFace
from enroll.image import DecodedImage, ImageLimits, decode_image

__all__ = [
    "DEFAULT_MIN_FACE_SIZE",
    "DEFAULT_UPSAMPLE",
    "EMBEDDING_DIM",
    "MODEL_NAME",
    "MODEL_VERSION",
    "Embedder",
    "Embedding",
    "FaceBox",
    "FaceEmbedder",
    "FaceFinder",
]

EMBEDDING_DIM = 128
#: The dlib engine's network and version (kept for callers of the first release).
MODEL_NAME = DLIB.model_name
MODEL_VERSION = DLIB.model_version

#: Smallest accepted face, in original-image pixels (min of box width and height).
DEFAULT_MIN_FACE_SIZE = 48
#: dlib upsampling passes at working size; 1 finds faces down to ~40 working px.
DEFAULT_UPSAMPLE = 1

_LANDMARK_MODEL = "small"  # 5-point landmarks, part of MODEL_VERSION
_NUM_JITTERS = 1  # part of MODEL_VERSION

_fr_module: ModuleType | None = None
_fr_import_lock = threading.Lock()


def _face_recognition() -> ModuleType:
    """Import ``face_recognition`` once, hiding its pkg_resources deprecation warning.

    face_recognition's api module sets Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES``
    to True on import, which would make :func:`decode_image` accept truncated uploads; the
    previous value is restored right after the import.
    """
    global _fr_module
    if _fr_module is None:
        with _fr_import_lock:
            if _fr_module is None:
                load_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        warnings.simplefilter("ignore", DeprecationWarning)
                        import face_recognition
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = load_truncated
                _fr_module = face_recognition
    return _fr_module


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in original-image pixels (after EXIF orientation)."""

    top: int
    right: int
    bottom: int
    left: int

    @property
    def width(self) -> int:
        """Box width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """Box height in pixels."""
        return self.bottom - self.top

    @property
    def size(self) -> int:
        """The smaller of width and height."""
        return min(self.width, self.height)

    @property
    def area(self) -> int:
        """Width times height."""
        return max(0, self.width) * max(0, self.height)


@dataclass(frozen=True, eq=False, repr=False)
class Embedding:
    """A 128-d face embedding (read-only float64 vector) and the face box it came from.

    ``repr``/``str`` never show the vector: it is biometric data and must not reach logs.
    """

    vector: npt.NDArray[np.float64]
    box: FaceBox

    def __post_init__(self) -> None:
        vector = np.array(self.vector, dtype=np.float64, copy=True)
        if vector.shape != (EMBEDDING_DIM,):
            raise ValueError(f"embedding must have shape ({EMBEDDING_DIM},)")
        vector.flags.writeable = False
        object.__setattr__(self, "vector", vector)

    def __repr__(self) -> str:
        return f"Embedding(dim={EMBEDDING_DIM}, box={self.box!r})"

    __str__ = __repr__


@runtime_checkable
class Embedder(Protocol):
    """What the rest of the application needs from an embedder (lets tests inject a fake)."""

    engine: ClassVar[EngineSpec]

    def embed_enrolment(self, data: bytes) -> Embedding:
        """Embed the single face of an enrolment photo."""
        ...

    def embed_probe(self, data: bytes) -> Embedding:
        """Embed the largest face of a probe photo."""
        ...

    def count_faces(self, data: bytes) -> int:
        """Count the faces in a photo."""
        ...

    def warm_up(self) -> None:
        """Load the models now instead of on the first request."""
        ...


_Css = tuple[int, int, int, int]  # (top, right, bottom, left) in working pixels
_Native = TypeVar("_Native")


class FaceFinder(ABC, Generic[_Native]):
    """Decode -> shrink to working size -> detect -> encode, shared by every engine.

    A subclass finds faces (:meth:`_locate`, each with its engine's own description of
    the face) and encodes one (:meth:`_encode`). ``min_face_size`` is in original-image
    pixels. Model calls are serialised by a lock, so one instance may be shared between
    threads.
    """

    engine: ClassVar[EngineSpec]

    def __init__(self, limits: ImageLimits | None, min_face_size: int) -> None:
        if min_face_size < 1:
            raise ValueError("min_face_size must be >= 1")
        self.limits = limits if limits is not None else ImageLimits()
        self.min_face_size = min_face_size
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the models now instead of on the first request."""

    def detect(self, data: bytes) -> tuple[DecodedImage, list[FaceBox]]:
        """Decode ``data`` and return it with all face boxes (original px, largest first)."""
        image, found = self._detect(data)
        return image, [box for box, _ in found]

    def count_faces(self, data: bytes) -> int:
        """Return how many faces are found in ``data``."""
        return len(self._detect(data)[1])

    def embed_enrolment(self, data: bytes) -> Embedding:
        """Embed the one face of an enrolment photo.

        Raises :class:`NoFace`, :class:`MultipleFaces` (with ``count``) or
        :class:`FaceTooSmall`, besides the decoding errors.
        """
        image, found = self._detect(data)
        if not found:
            raise NoFace()
        if len(found) > 1:
            raise MultipleFaces(len(found))
        return self._embed(image, found[0])

    def embed_probe(self, data: bytes) -> Embedding:
        """Embed the largest face of a probe photo.

        Raises :class:`NoFace` or :class:`FaceTooSmall` (if the largest face is too small).
        """
        image, found = self._detect(data)
        if not found:
            raise NoFace()
        return self._embed(image, found[0])

    def _embed(self, image: DecodedImage, face: tuple[FaceBox, _Native]) -> Embedding:
        box, native = face
        if box.size < self.min_face_size:
            raise FaceTooSmall(box.size, self.min_face_size)
        vector = self._encode(image, native)
        if vector.shape != (EMBEDDING_DIM,) or not np.all(np.isfinite(vector)):
            raise NoFace()  # pragma: no cover - both networks give 128 finite values
        return Embedding(vector=vector, box=box)

    def _detect(self, data: bytes) -> tuple[DecodedImage, list[tuple[FaceBox, _Native]]]:
        image = decode_image(data, self.limits)
        found = self._locate(image)
        # Largest first; ties broken by position so the order is deterministic.
        found.sort(key=lambda item: (-item[0].area, item[0].top, item[0].left))
        return image, found

    @abstractmethod
    def _locate(self, image: DecodedImage) -> list[tuple[FaceBox, _Native]]:
        """Every face in the working-size pixels, with its box in original pixels."""

    @abstractmethod
    def _encode(self, image: DecodedImage, face: _Native) -> npt.NDArray[np.float64]:
        """The embedding of one face found by :meth:`_locate`."""


class FaceEmbedder(FaceFinder[_Css]):
    """The dlib engine: HOG (or CNN) detection and dlib's 128-d ResNet encoding through
    ``face_recognition``.

    ``detector`` is dlib's "hog" (CPU, fast) or "cnn" (slow without CUDA). ``upsample``
    is how many times dlib upsamples the working image while detecting.
    """

    engine: ClassVar[EngineSpec] = DLIB

    def __init__(
        self,
        limits: ImageLimits | None = None,
        min_face_size: int = DEFAULT_MIN_FACE_SIZE,
        detector: Literal["hog", "cnn"] = "hog",
        upsample: int = DEFAULT_UPSAMPLE,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError("detector must be 'hog' or 'cnn'")
        if not 0 <= upsample <= 3:
            raise ValueError("upsample must be between 0 and 3")
        super().__init__(limits, min_face_size)
        self.detector: Literal["hog", "cnn"] = detector
        self.upsample = upsample

    def __repr__(self) -> str:
        return (
            f"FaceEmbedder(limits={self.limits!r}, min_face_size={self.min_face_size}, "
            f"detector={self.detector!r}, upsample={self.upsample})"
        )

    def warm_up(self) -> None:
        """Import and load the dlib models now instead of on the first request."""
        _face_recognition()

    def _locate(self, image: DecodedImage) -> list[tuple[FaceBox, _Css]]:
        fr = _face_recognition()
        with self._lock:
            locations = fr.face_locations(
                image.pixels,
                number_of_times_to_upsample=self.upsample,
                model=self.detector,
            )
        found: list[tuple[FaceBox, _Css]] = []
        for loc in locations:
            css: _Css = (int(loc[0]), int(loc[1]), int(loc[2]), int(loc[3]))
            found.append((to_original(css, image), css))
        return found

    def _encode(self, image: DecodedImage, css: _Css) -> npt.NDArray[np.float64]:
        fr = _face_recognition()
        pixels = np.ascontiguousarray(image.pixels, dtype=np.uint8)
        with self._lock:
            encodings = fr.face_encodings(
                pixels,
                known_face_locations=[css],
                num_jitters=_NUM_JITTERS,
                model=_LANDMARK_MODEL,
            )
        if len(encodings) != 1:  # pragma: no cover - one location in, one encoding out
            raise NoFace()
        return np.asarray(encodings[0], dtype=np.float64)


def to_original(css: _Css, image: DecodedImage) -> FaceBox:
    """Map a (top, right, bottom, left) box from working to original pixels, clamped."""
    top, right, bottom, left = css
    scale = image.scale
    width, height = image.original_size

    def clamp(value: float, upper: int) -> int:
        return min(max(round(value), 0), upper)

    return FaceBox(
        top=clamp(top * scale, height),
        right=clamp(right * scale, width),
        bottom=clamp(bottom * scale, height),
        left=clamp(left * scale, width),
    )
