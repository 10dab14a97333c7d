"""The face engines facekeep supports, and what a vault needs to know of each.

An engine is a detector plus an embedding network. Embeddings of different engines are
never comparable, so every template records its engine's ``model_version`` and a vault
serves exactly one engine at a time.

Distances are Euclidean between embeddings as the engine returns them. SFace embeddings
are scaled to unit length, so for SFace a Euclidean distance ``d`` is a cosine distance of
``d**2 / 2`` (1.0 here is cosine distance 0.5).

The defaults were measured on ``../shared/faces-asia`` (76 East and Southeast Asian
people, 271 photos, every pair) with ``facekeep evaluate`` (rules in
:mod:`enroll.evaluation`; ``python -m bench --only eval`` re-derives them and flags a
drift). Threshold: the largest distance, in steps of 0.05 for SFace and 0.01 for dlib
(whose same- and different-person distances overlap so much that one 0.05 step moves
FNMR by about 10 points), at which at most 1 in 10,000 different-person pairs is
accepted: SFace 1.00 (2 of 34,621 pairs, FNMR 7.2 %), dlib 0.37 (2 pairs, FNMR 48.7 %).
Margin, by which the best customer must beat the second best: among 0.00-0.15 (step
0.01), the smallest with the fewest false answers (wrong-person answers plus strangers
matched) that costs at most 1 point of genuine acceptance, at that threshold in a gallery
of 1,000 customers (modelled from the same distances): SFace 0.04, dlib 0.01. See README,
"Face engines and accuracy".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enroll.embedder import Embedder
    from enroll.image import ImageLimits

__all__ = ["DEFAULT_ENGINE", "DLIB", "ENGINES", "SFACE", "EngineSpec", "engine", "make_embedder"]


@dataclass(frozen=True)
class EngineSpec:
    """What identifies an engine and how its distances are judged."""

    #: Short name used in settings (``FACEKEEP_FACE_ENGINE``) and in the vault's record.
    name: str
    #: The embedding network, as recorded with every template.
    model_name: str
    #: Changes whenever embeddings stop being comparable with earlier ones.
    model_version: str
    #: Largest Euclidean distance that counts as the same person.
    threshold: float
    #: How much nearer than the second-best customer the best one must be.
    margin: float
    #: Share of different-person comparisons accepted at ``threshold``: at most this by
    #: how the threshold is chosen. Drives the warning for galleries grown so large that
    #: strangers become likely to match someone.
    false_match_rate: float = 1e-4


DLIB = EngineSpec(
    name="dlib",
    model_name="dlib_face_recognition_resnet_model_v1",
    model_version="face_recognition-1.3.0/dlib-resnet-v1/5-point/jitters-1",
    threshold=0.37,
    margin=0.01,
)
SFACE = EngineSpec(
    name="sface",
    model_name="sface_2021dec_int8bq",
    model_version="opencv-zoo/yunet-2023mar-int8bq/sface-2021dec-int8bq/unit-l2",
    threshold=1.0,
    margin=0.04,
)
ENGINES: dict[str, EngineSpec] = {spec.name: spec for spec in (SFACE, DLIB)}
#: What a new vault gets.
DEFAULT_ENGINE = SFACE


def engine(name: str) -> EngineSpec:
    """The engine called ``name``; ``ValueError`` names the choices otherwise."""
    try:
        return ENGINES[name]
    except KeyError:
        raise ValueError(
            f"unknown face engine {name!r}; choose one of {', '.join(ENGINES)}"
        ) from None


def engine_of_model_version(model_version: str) -> EngineSpec | None:
    """The engine whose templates carry ``model_version``, if it is one of ours."""
    for spec in ENGINES.values():
        if spec.model_version == model_version:
            return spec
    return None


def make_embedder(
    name: str, limits: ImageLimits | None = None, *, min_face_size: int | None = None
) -> Embedder:
    """A real embedder of the named engine (its model is loaded on first use)."""
    from enroll.embedder import DEFAULT_MIN_FACE_SIZE, FaceEmbedder

    spec = engine(name)
    size = DEFAULT_MIN_FACE_SIZE if min_face_size is None else min_face_size
    if spec is SFACE:
        from enroll.sface import SFaceEmbedder

        return SFaceEmbedder(limits, min_face_size=size)
    return FaceEmbedder(limits, min_face_size=size)
