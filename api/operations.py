"""Use cases shared by the command line and the HTTP service: images in, vault calls out.

Images are decoded in memory and dropped as soon as their embedding is computed; nothing
here writes an image anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from api.access import hash_access_code, new_access_code
from api.runtime import Runtime
from vault import Actor, ConsentRequest, Enrolment, Hit, InvalidRequest
from vault.index import wipe
from vault.likeness import MAX_FRAMES, combine, require_one_person
from vault.templates import check_embedding, check_embeddings


@dataclass(frozen=True)
class EnrolmentResult:
    """An enrolment and the access code shown to the customer this once."""

    enrolment: Enrolment
    access_code: str


def enroll_images(
    runtime: Runtime,
    images: Sequence[bytes],
    consent: ConsentRequest,
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> EnrolmentResult:
    """Embed 1-5 photos (exactly one face each), then enrol with the consent."""
    consent.validated()
    embeddings = [runtime.embedder.embed_enrolment(data).vector for data in images]
    return enroll_vectors(runtime, embeddings, consent, actor=actor, customer_id=customer_id)


def enroll_vectors(
    runtime: Runtime,
    embeddings: Sequence[object],
    consent: ConsentRequest,
    *,
    actor: Actor,
    customer_id: str | None = None,
) -> EnrolmentResult:
    """Enrol from embeddings already computed; issues the customer's access code.

    The photos must show one person (:class:`vault.FacesDiffer` otherwise, and nothing
    is written)."""
    vectors = check_embeddings(embeddings)
    try:
        require_one_person(vectors, runtime.vault.threshold)
        code = new_access_code()
        enrolment = runtime.vault.enroll(
            vectors,
            consent,
            actor=actor,
            customer_id=customer_id,
            access_code_hash=hash_access_code(code),
        )
    finally:
        for vector in vectors:  # the vault sealed and indexed its own copies
            wipe(vector)
    return EnrolmentResult(enrolment, code)


def replace_access_code(runtime: Runtime, customer_id: str, *, actor: Actor) -> str:
    """Issue a new access code to a customer (the old one stops working); returns it."""
    code = new_access_code()
    runtime.vault.replace_access_code(customer_id, hash_access_code(code), actor=actor)
    return code


def replace_images(
    runtime: Runtime, customer_id: str, images: Sequence[bytes], *, actor: Actor
) -> tuple[str, ...]:
    """Re-enrol: replace a customer's templates with ones from new photos."""
    embeddings = [runtime.embedder.embed_enrolment(data).vector for data in images]
    return runtime.vault.replace_templates(customer_id, embeddings, actor=actor)


def match_answer(hit: Hit | None) -> dict[str, Any]:
    """The kiosk's answer: a consenting customer, or only ``{"match": false}``. No distance
    or score ever reaches a kiosk (the audit event keeps the distance, for auditors)."""
    if hit is None:
        return {"match": False}
    return {"match": True, "customer": hit.customer_id, "consent": hit.consent_id}


def check_frame_count(count: int) -> None:
    """Refuse a probe of no frame (``invalid_request``) or of more than
    :data:`~vault.likeness.MAX_FRAMES` (``too_many_frames``)."""
    if count < 1:
        raise InvalidRequest(f"send 1 to {MAX_FRAMES} frames of one guest")
    if count > MAX_FRAMES:
        raise InvalidRequest(
            f"send at most {MAX_FRAMES} frames of one guest", code="too_many_frames"
        )


def frames_probe(runtime: Runtime, frames: Sequence[object]) -> npt.NDArray[np.float32]:
    """One probe from 1 to 5 frames of one guest: each a valid embedding, all within the
    match threshold of each other (:class:`vault.FacesDiffer` naming the frames that
    differ), combined by :func:`vault.likeness.combine`."""
    check_frame_count(len(frames))
    vectors = [check_embedding(frame) for frame in frames]
    require_one_person(vectors, runtime.vault.threshold, noun="frames")
    return combine(vectors)


def match_images(
    runtime: Runtime, images: Sequence[bytes], *, purpose: str, venue: str, actor: Actor
) -> Hit | None:
    """Match 1 to 5 camera frames of one guest (the largest face of each) as one probe;
    any frame without a usable face fails the whole probe, as a single frame would."""
    check_frame_count(len(images))
    vectors = [runtime.embedder.embed_probe(image).vector for image in images]
    probe = frames_probe(runtime, vectors)
    return runtime.vault.match(probe, purpose=purpose, venue=venue, actor=actor)
