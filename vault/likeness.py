"""Whether several embeddings show one person, and one probe made of several frames.

The vault never learns about faces: these rules compare opaque vectors with the vault's
match threshold, by the same Euclidean distance the match index uses. A guest enrols or
retakes with 1 to 5 photos of themselves and a kiosk may send up to 5 frames of one
guest; photos of two people under one customer would let either of them be greeted as
that customer, so they are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vault.errors import FacesDiffer, InvalidEmbedding

__all__ = [
    "MAX_FRAMES",
    "combine",
    "differing_pairs",
    "require_one_person",
    "require_same_person",
]

#: Most frames a kiosk may send for one probe.
MAX_FRAMES = 5
# Engines that scale embeddings to unit length do so in float32: allow for its rounding.
_UNIT_TOLERANCE = 1e-3


def _matrix(vectors: Sequence[object]) -> npt.NDArray[np.float64]:
    """The vectors as rows of one float64 matrix (at least one row, equal lengths)."""
    try:
        matrix = np.asarray([np.asarray(v, dtype=np.float64) for v in vectors])
    except (TypeError, ValueError):
        raise InvalidEmbedding("embeddings must be lists of numbers of one length") from None
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise InvalidEmbedding("embeddings must be lists of numbers of one length")
    return matrix


def _distances(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Euclidean distance between every row of ``a`` and every row of ``b``."""
    return np.asarray(np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2), dtype=np.float64)


def differing_pairs(vectors: Sequence[object], threshold: float) -> tuple[tuple[int, int], ...]:
    """Positions ``(i, j)``, ``i < j``, of the vectors farther apart than ``threshold``."""
    matrix = _matrix(vectors)
    far = _distances(matrix, matrix) > threshold
    return tuple((int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(far, k=1)), strict=True))


def require_one_person(
    vectors: Sequence[object], threshold: float, *, noun: str = "photos"
) -> None:
    """Raise :class:`FacesDiffer` naming the pairs when any two vectors lie farther apart
    than ``threshold`` (``noun`` names them in the message: photos, frames)."""
    pairs = differing_pairs(vectors, threshold)
    if pairs:
        raise FacesDiffer(pairs, noun=noun)


def require_same_person(
    vectors: Sequence[object], enrolled: Sequence[object], threshold: float
) -> None:
    """Raise :class:`FacesDiffer` unless the nearest pair of a new vector and an enrolled
    one lies within ``threshold`` (new photos of the person already enrolled)."""
    best = float(_distances(_matrix(vectors), _matrix(enrolled)).min())
    if not best <= threshold:
        raise FacesDiffer(message="the new photos do not show the person enrolled")


def combine(vectors: Sequence[object]) -> npt.NDArray[np.float32]:
    """One probe from several frames of one person: the mean of the vectors, brought back
    to unit length when every input has unit length (as the index's templates do), so
    the combined probe is compared on the same scale as a single frame."""
    matrix = _matrix(vectors)
    mean = matrix.mean(axis=0)
    norms = np.linalg.norm(matrix, axis=1)
    length = float(np.linalg.norm(mean))
    if np.all(np.abs(norms - 1.0) <= _UNIT_TOLERANCE) and length > 0.0:
        mean = mean / length
    return np.asarray(mean, dtype=np.float32)
