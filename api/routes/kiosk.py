"""``POST /v1/match``: the kiosk's only route."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request

from api.auth import Principal, authenticate, roles
from api.forms import files, read_json_object, read_multipart, text
from api.operations import match_answer
from api.problems import Problem
from api.ratelimit import retry_after
from api.schemas import MATCH_BODY, MatchAnswer
from api.state import app_state

router = APIRouter(tags=["kiosk"])


def _purpose(principal: Principal, asked: object) -> str:
    if asked is None or asked == "":
        return "checkin" if "checkin" in principal.purposes else principal.purposes[0]
    if not isinstance(asked, str) or asked not in principal.purposes:
        raise Problem("forbidden", "this kiosk may not match for that purpose")
    return asked


@router.post(
    "/v1/match",
    response_model=MatchAnswer,
    response_model_exclude_none=True,
    **roles("kiosk", body=MATCH_BODY),
)
async def match(request: Request, principal: Principal = Depends(authenticate)) -> Any:  # noqa: B008
    """Match a face (an image or an embedding) at this kiosk's venue."""
    st = app_state(request)
    wait = st.match_limiter.take(principal.id)
    if wait > 0:
        raise Problem("rate_limited", "slow down", headers={"Retry-After": retry_after(wait)})
    if principal.venue is None or not principal.purposes:
        raise Problem("forbidden", "this kiosk key has no venue or purpose")
    started = time.perf_counter()
    content_type = request.headers.get("content-type", "")
    probe: object
    if content_type.startswith("application/json"):
        body = await read_json_object(request)
        purpose = _purpose(principal, body.get("purpose"))
        if "embedding" not in body:
            raise Problem("invalid_embedding", "send 'embedding': 128 numbers")
        probe = body["embedding"]
    elif content_type.startswith("multipart/form-data"):
        form = await read_multipart(request, max_files=1)
        purpose = _purpose(principal, text(form, "purpose"))
        images = await files(form, "image")
        if len(images) != 1:
            raise Problem("invalid_request", "send exactly one 'image' file")
        probe = await st.images.probe_vector(images[0])
    else:
        raise Problem("unsupported_media_type", "send multipart/form-data with an image, or JSON")
    hit = await st.runtime.vault.match_async(
        probe, purpose=purpose, venue=principal.venue, actor=principal.actor()
    )
    outcome = "match" if hit else "no_match"
    st.metrics.matches.labels(outcome).inc()
    st.metrics.match_latency.labels(outcome).observe(time.perf_counter() - started)
    return match_answer(hit)
