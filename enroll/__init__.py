"""Image bytes -> 128-d face embedding.

``decode_image`` safely decodes JPEG/PNG/WebP uploads in memory. Two engines find faces
and compute embeddings, each loaded lazily on first use: SFace (YuNet + SFace on OpenCV's
DNN, the default; :mod:`enroll.sface`) and dlib through ``face_recognition``
(``FaceEmbedder``). ``make_embedder(name)`` builds either; ``ENGINES`` describes them.
This package never imports ``vault``, ``keys`` or ``api``.
"""

from enroll.embedder import (
    EMBEDDING_DIM,
    MODEL_NAME,
    MODEL_VERSION,
    Embedder,
    Embedding,
    FaceBox,
    FaceEmbedder,
)
from enroll.engines import DEFAULT_ENGINE, ENGINES, EngineSpec, engine, make_embedder
from enroll.errors import (
    EnrollError,
    FaceTooSmall,
    ImageTooLarge,
    MultipleFaces,
    NoFace,
    NotAnImage,
)
from enroll.image import DecodedImage, ImageLimits, decode_image

__all__ = [
    "DEFAULT_ENGINE",
    "EMBEDDING_DIM",
    "ENGINES",
    "MODEL_NAME",
    "MODEL_VERSION",
    "DecodedImage",
    "Embedder",
    "Embedding",
    "EngineSpec",
    "EnrollError",
    "FaceBox",
    "FaceEmbedder",
    "FaceTooSmall",
    "ImageLimits",
    "ImageTooLarge",
    "MultipleFaces",
    "NoFace",
    "NotAnImage",
    "decode_image",
    "engine",
    "make_embedder",
]
