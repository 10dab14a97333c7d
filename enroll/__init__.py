"""Image bytes -> 128-d face embedding.

``decode_image`` safely decodes JPEG/PNG/WebP uploads in memory; ``FaceEmbedder`` finds
faces and computes embeddings with face_recognition (dlib), imported lazily on first use.
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
    "EMBEDDING_DIM",
    "MODEL_NAME",
    "MODEL_VERSION",
    "DecodedImage",
    "Embedder",
    "Embedding",
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
]
