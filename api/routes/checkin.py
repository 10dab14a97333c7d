"""The check-in kiosk page and what it needs, and the venues' check-in webhooks.

``/kiosk/checkin`` is a full-screen camera page signed in once with a kiosk key of the
``checkin`` purpose. It asks :func:`kiosk_session` what the key is for, sends frames to
:func:`frame_check` (where the faces are; nothing is kept and no embedding is made) to
judge when one face is near and steady, then sends a burst to ``POST /v1/match``.

Admins point a venue's check-ins at the venue's own system
(``PUT /v1/venues/{venue}/webhook``); the outbox that delivers them is read at
``GET /v1/checkins/outbox``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api import credentials
from api.answers import (
    FaceBox,
    FrameCheck,
    KioskSession,
    OutboxPage,
    OutboxRow,
    Webhook,
    WebhookRemoved,
)
from api.auth import Principal, roles
from api.deps import Caller
from api.forms import one_image
from api.problems import Problem
from api.routes.pages import _COUNT_BODY, _PAGE_HEADERS, PAGE, _env
from api.schemas import Strict
from api.state import app_state
from api.web.i18n import LANGS, pick_lang
from api.web.i18n_checkin import CHECKIN_STRINGS
from api.webhooks import webhooks_of
from vault import InvalidRequest
from vault.checkins import Outbox, format_secret, new_secret, parse_secret

router = APIRouter()

#: What the page needs to call a face near enough: its box's height as a share of the
#: frame's (a guest about an arm's length from a tablet's camera).
MIN_FACE_SHARE = 0.2
#: Frames of one burst sent to ``/v1/match`` (the API takes up to 5).
BURST_FRAMES = 3


@router.get("/kiosk/checkin", tags=["pages"], **PAGE)
def checkin_page(
    request: Request,
    lang: str | None = Query(default=None, max_length=8, description="vi (default) or en."),
    venue: str | None = Query(
        default=None,
        max_length=64,
        description="If given, only a kiosk key of this venue may sign the device in.",
    ),
) -> HTMLResponse:
    """The check-in kiosk: camera, framing hints, a neutral welcome or "check in at the
    counter". Signed in once with a kiosk key of the ``checkin`` purpose."""
    chosen = pick_lang(lang)
    body = (
        _env()
        .get_template("checkin.html")
        .render(
            lang=chosen,
            t=CHECKIN_STRINGS[chosen],
            all_strings=CHECKIN_STRINGS,
            langs=list(LANGS),
            venue=venue or "",
            min_face_share=MIN_FACE_SHARE,
            burst_frames=BURST_FRAMES,
        )
    )
    return HTMLResponse(body, headers=_PAGE_HEADERS)


def _checkin_kiosk(principal: Principal) -> str:
    if principal.venue is None or "checkin" not in principal.purposes:
        raise Problem("forbidden", "this kiosk key is not for check-in")
    return principal.venue


@router.get("/v1/kiosk/session", tags=["kiosk"], **roles("kiosk"))
def kiosk_session(request: Request, principal: Caller) -> KioskSession:
    """What this kiosk key is for: its venue (id and name) and purposes; nothing else.
    The check-in page signs in only with a key whose purposes include ``checkin``."""
    name = None
    if principal.venue is not None:
        found = [
            v
            for v in credentials.list_venues(app_state(request).runtime.vault.engine)
            if v["id"] == principal.venue
        ]
        name = found[0]["name"] if found else None
    return KioskSession(
        venue=principal.venue,
        venue_name=name,
        purposes=list(principal.purposes),
        checkin=principal.venue is not None and "checkin" in principal.purposes,
    )


# One 'image' file, like the consent counter's face count.
_FRAME_BODY = _COUNT_BODY


@router.post("/v1/kiosk/frame", tags=["kiosk"], **roles("kiosk", body=_FRAME_BODY))
async def frame_check(request: Request, principal: Caller) -> FrameCheck:
    """Where the faces of one camera frame are, for the check-in page's hints: ``faces``
    (how many), ``face`` (the largest: x, y, w, h as shares of the frame) and
    ``big_enough`` (at least the server's smallest matchable face). Detection only: no
    embedding is computed and nothing is kept or logged."""
    st = app_state(request)
    _checkin_kiosk(principal)
    st.take_match(principal.id)
    found = await st.images.face_boxes(await one_image(request))
    width, height, boxes = found["width"], found["height"], found["boxes"]
    if not boxes:
        return FrameCheck(faces=0, face=None, big_enough=False)
    left, top, w, h = boxes[0]
    face = FaceBox(
        x=round(left / width, 4),
        y=round(top / height, 4),
        w=round(w / width, 4),
        h=round(h / height, 4),
    )
    return FrameCheck(
        faces=len(boxes), face=face, big_enough=min(w, h) >= st.settings.min_face_size
    )


# ------------------------------------------------------------------- venues' webhooks


class WebhookIn(Strict):
    url: str = Field(min_length=8, max_length=2000)
    # A receiver that already has a secret keeps it; otherwise one is made and shown once.
    secret: str | None = Field(default=None, max_length=200)


def _venue(request: Request, venue: str) -> str:
    engine = app_state(request).runtime.vault.engine
    if not credentials.venue_enabled(engine, venue):
        raise Problem("unknown_venue", f"no enabled venue {venue!r}")
    return venue


def _invalid(exc: InvalidRequest) -> Problem:
    return Problem(exc.code, exc.message, status=422)


@router.put("/v1/venues/{venue}/webhook", tags=["staff"], **roles("admin"))
def set_webhook(venue: str, body: WebhookIn, request: Request, principal: Caller) -> Webhook:
    """Send this venue's check-ins to its own system. The signing secret is sealed in the
    key store and shown only here, only when facekeep made it (``secret`` absent)."""
    st = app_state(request)
    _venue(request, venue)
    made = body.secret is None
    try:
        raw = parse_secret(new_secret() if body.secret is None else body.secret)
        webhooks_of(st.runtime.vault).set(venue, body.url, raw, actor=principal.actor())
    except InvalidRequest as exc:
        raise _invalid(exc) from None
    return Webhook(
        venue=venue, url=body.url, source="venue", secret=format_secret(raw) if made else None
    )


@router.get("/v1/venues/{venue}/webhook", tags=["staff"], **roles("admin"))
def get_webhook(venue: str, request: Request) -> Webhook:
    """Where this venue's check-ins go (its own endpoint, the default one, or nowhere);
    never the secret."""
    st = app_state(request)
    _venue(request, venue)
    own = [w for w in webhooks_of(st.runtime.vault).listing() if w["venue"] == venue]
    if own:
        return Webhook.model_validate({**own[0], "source": "venue"})
    if st.settings.checkin_webhook_url:
        return Webhook(venue=venue, url=st.settings.checkin_webhook_url, source="default")
    return Webhook(venue=venue, url=None, source=None)


@router.delete("/v1/venues/{venue}/webhook", tags=["staff"], **roles("admin"))
def delete_webhook(venue: str, request: Request, principal: Caller) -> WebhookRemoved:
    """Forget this venue's own endpoint (its secret's key is destroyed); its check-ins go
    to the default endpoint, if one is configured, or nowhere."""
    st = app_state(request)
    _venue(request, venue)
    removed = webhooks_of(st.runtime.vault).remove(venue, actor=principal.actor())
    if not removed:
        raise Problem("not_found", f"venue {venue!r} has no webhook of its own")
    return WebhookRemoved(venue=venue, removed=True)


@router.get("/v1/checkins/outbox", tags=["staff"], **roles("admin"))
async def checkin_outbox(
    request: Request,
    status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    limit: int = Query(default=50, ge=1, le=500),
) -> OutboxPage:
    """The hand-off queue: rows by status and the latest rows (check-in id, venue,
    kiosk, time, status, attempts, last error; no customer id)."""
    st = app_state(request)
    outbox = Outbox(st.runtime.vault.engine, clock=st.runtime.vault.now)
    counts = await run_in_threadpool(outbox.counts)
    rows = await run_in_threadpool(outbox.rows, status=status, limit=limit)
    return OutboxPage(counts=counts, rows=[OutboxRow.model_validate(row) for row in rows])
