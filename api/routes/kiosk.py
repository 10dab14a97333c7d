"""``POST /v1/match``: the kiosk's only route."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request

from api.answers import MatchAnswer
from api.auth import Principal, roles
from api.deps import Caller
from api.forms import files, read_json_object, read_multipart, text
from api.operations import check_frame_count, frames_probe, match_answer
from api.problems import Problem
from api.schemas import MATCH_BODY
from api.state import AppState, app_state
from vault.likeness import MAX_FRAMES

router = APIRouter(tags=["kiosk"])


def _purpose(principal: Principal, asked: object) -> str:
    if asked is None or asked == "":
        return "checkin" if "checkin" in principal.purposes else principal.purposes[0]
    if not isinstance(asked, str) or asked not in principal.purposes:
        raise Problem("forbidden", "this kiosk may not match for that purpose")
    return asked


def _embeddings(body: dict[str, Any]) -> list[object]:
    """The frames of a JSON probe: ``embedding`` (one) or ``embeddings`` (1 to 5)."""
    if ("embedding" in body) == ("embeddings" in body):
        raise Problem(
            "invalid_embedding",
            f"send 'embedding': 128 numbers, or 'embeddings': 1 to {MAX_FRAMES} such lists",
        )
    if "embedding" in body:
        return [body["embedding"]]
    frames = body["embeddings"]
    if not isinstance(frames, list) or not frames or not all(isinstance(f, list) for f in frames):
        raise Problem(
            "invalid_embedding", f"'embeddings' must be 1 to {MAX_FRAMES} lists of 128 numbers"
        )
    check_frame_count(len(frames))
    return frames


async def _frame_vectors(st: AppState, images: list[bytes]) -> list[object]:
    """The largest face of each frame. A frame without a usable face fails the probe as
    one image would (its problem names the frame when there are several)."""
    check_frame_count(len(images))
    found = await asyncio.gather(
        *(st.images.probe_vector(image) for image in images), return_exceptions=True
    )
    for position, result in enumerate(found):
        if isinstance(result, Problem) and len(images) > 1:
            result.extra.setdefault("frame", position)
        if isinstance(result, BaseException):
            raise result
    return list(found)


@router.post(
    "/v1/match",
    response_model=MatchAnswer,
    response_model_exclude_none=True,
    # JSON: 1 to 5 lists of 128 numbers (images come as multipart, up to the upload cap).
    **roles("kiosk", body=MATCH_BODY, max_body=64 * 1024),
)
async def match(request: Request, principal: Caller) -> MatchAnswer:
    """Match one guest at this kiosk's venue from 1 to 5 frames (images, or embeddings
    from a trusted edge device), combined into one probe."""
    st = app_state(request)
    # Every probe, image or embedding, counts against the key's rate.
    st.take_match(principal.id)
    if principal.venue is None or not principal.purposes:
        raise Problem("forbidden", "this kiosk key has no venue or purpose")
    started = time.perf_counter()
    content_type = request.headers.get("content-type", "")
    frames: list[object]
    if content_type.startswith("application/json"):
        # An embedding skips face detection on our side: only trusted edge devices may
        # send one, and the body is not even read for any other key.
        if not principal.allow_embeddings:
            raise Problem(
                "embeddings_not_allowed",
                "this kiosk key may send images only; embeddings are accepted from trusted "
                "edge devices (kiosk keys made with allow_embeddings)",
            )
        body = await read_json_object(request)
        purpose = _purpose(principal, body.get("purpose"))
        frames = _embeddings(body)
    elif content_type.startswith("multipart/form-data"):
        too_many = Problem("too_many_frames", f"send at most {MAX_FRAMES} 'image' files")
        form = await read_multipart(request, max_files=MAX_FRAMES, too_many_files=too_many)
        purpose = _purpose(principal, text(form, "purpose"))
        frames = await _frame_vectors(st, await files(form, "image"))
    else:
        raise Problem("unsupported_media_type", "send multipart/form-data with an image, or JSON")
    probe = frames_probe(st.runtime, frames)
    hit = await st.runtime.vault.match_async(
        probe, purpose=purpose, venue=principal.venue, actor=principal.actor()
    )
    if hit is not None and purpose == "checkin" and st.checkins is not None:
        st.checkins.nudge()  # its outbox row, if any, committed with the match
    outcome = "match" if hit else "no_match"
    st.metrics.matches.labels(outcome).inc()
    st.metrics.match_latency.labels(outcome).observe(time.perf_counter() - started)
    return MatchAnswer.model_validate(match_answer(hit))
