"""Use cases shared by the command line and the HTTP service: images in, vault calls out.

Images are decoded in memory and dropped as soon as their embedding is computed; nothing
here writes an image anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from api.access import hash_access_code, new_access_code
from api.runtime import Runtime
from vault import Actor, ConsentRequest, Enrolment, Hit


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
    """Enrol from embeddings already computed; issues the customer's access code."""
    code = new_access_code()
    enrolment = runtime.vault.enroll(
        embeddings,
        consent,
        actor=actor,
        customer_id=customer_id,
        access_code_hash=hash_access_code(code),
    )
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
    """The kiosk's answer: a consenting customer, or only ``{"match": false}``."""
    if hit is None:
        return {"match": False}
    return {
        "match": True,
        "customer": hit.customer_id,
        "distance": round(hit.distance, 4),
        "consent": hit.consent_id,
    }


def match_image(
    runtime: Runtime, image: bytes, *, purpose: str, venue: str, actor: Actor
) -> Hit | None:
    """Match the largest face of a camera frame."""
    probe = runtime.embedder.embed_probe(image).vector
    return runtime.vault.match(probe, purpose=purpose, venue=venue, actor=actor)
