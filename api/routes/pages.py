"""Web pages: the consent counter (kiosk), the customer's own page, the auditor's page,
the staff page of requests and breaches, and the public privacy page.

The pages are public HTML shells rendered with Jinja2; their JavaScript keeps the bearer
secret (the counter's staff session token, never an API key there; an access code; an
auditor's or operator's key) in ``sessionStorage`` and calls the JSON API.
Everything they need (scripts, styles, QR codes) is served by facekeep itself, so they
work offline in a venue. A few small JSON routes exist only for the pages: a face count
for the kiosk's live hint, the QR code of a customer's link, the venues' names, the
anonymous count of refusals, and the auditor's export.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import Field

from api import credentials
from api.answers import Answer
from api.auth import public, roles
from api.deps import Caller
from api.forms import one_image
from api.notices import available, latest_version, notice_for, version_key
from api.problems import Problem
from api.schemas import Strict
from api.settings import Settings
from api.state import app_state
from api.vocabulary import DEFAULT_LANG
from api.vocabulary import Lang as Language
from api.web.i18n import LANG_NAMES, LANGS, STRINGS, pick_lang, strings
from vault.audit.export import export_audit
from vault.consent import notice_sha256

router = APIRouter(tags=["pages"])

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
STATIC_DIR = WEB_DIR / "static"
# Every file in api/web/static, each served by its own route (a test holds the list).
STATIC_FILES = (
    "common.js",
    "kiosk.js",
    "me.js",
    "audit.js",
    "staff.js",
    "style.css",
    "checkin.js",
    "checkin.css",
)
_MEDIA_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}

# The camera is the only powerful feature a page may use, and only on this origin.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}
# Pages are public HTML shells (their data comes from the JSON API with the secret the
# user types in), listed in the API document like every route.
PAGE = {"response_class": HTMLResponse, **public()}
Lang = Query(default=None, max_length=8, description="Page language: vi (default) or en.")


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(WEB_DIR / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(
    request: Request, template: str, page: str, asked_lang: str | None, **context: Any
) -> HTMLResponse:
    lang = pick_lang(asked_lang)
    t = strings(lang)
    body = (
        _env()
        .get_template(template)
        .render(
            lang=lang,
            langs=[(code, LANG_NAMES[code]) for code in LANGS],
            page=page,
            path=request.url.path,
            t=t,
            **context,
        )
    )
    return HTMLResponse(body, headers=_PAGE_HEADERS)


@router.get("/", **PAGE)
def home(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """Links to the pages."""
    return _render(request, "home.html", "home", lang)


def _shown(settings: Settings, version: str, lang: str) -> dict[str, Any]:
    """A notice as a page shows it, with the SHA-256 of the full text shown (the hash its
    consent stores): the counter sends it back, so a notice file changed since the page
    loaded is refused rather than recorded as read."""
    text = notice_for(settings, version, lang)
    return {
        "version": version,
        "lang": lang,
        "sha256": notice_sha256(text),
        "paragraphs": [p for p in text.split("\n\n") if p.strip()],
    }


def _notice(settings: Settings, lang: str) -> dict[str, Any]:
    return _shown(settings, latest_version(lang, settings.notices_dir), lang)


@router.get("/kiosk/enrol", **PAGE)
def kiosk_enrol(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """The consent counter: notice, purposes, agree or refuse, then the photos. The page
    carries both languages, so the guest switches language without losing their place
    (or the access code on the screen)."""
    lang = pick_lang(lang)
    settings = app_state(request).settings
    notices = {code: _notice(settings, code) for code in LANGS}
    validity = sorted(set(settings.consent_validity_days))
    default = settings.default_validity_days
    return _render(
        request,
        "kiosk.html",
        "kiosk",
        lang,
        notice_version=notices[lang]["version"],
        notice_paragraphs=notices[lang]["paragraphs"],
        notices=notices,
        all_strings=STRINGS,
        validity_days=validity,
        default_validity=default if default in validity else validity[-1],
        grace_days=f"{settings.retention_grace_days:g}",
        code_seconds=settings.kiosk_code_seconds,
        public_url_set=bool(settings.public_url),
    )


@router.get("/privacy", **PAGE)
def privacy_page(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """The public privacy page: who the controller is and how to reach them, the
    retention schedule, the notice versions in force and how to use each right."""
    lang = pick_lang(lang)
    settings = app_state(request).settings
    notices: list[dict[str, Any]] = []
    for version, notice_lang in available(settings.notices_dir):
        notices.append(_shown(settings, version, notice_lang))
    notices.sort(key=lambda n: (version_key(n["version"]), n["lang"] != lang), reverse=True)
    return _render(
        request,
        "privacy.html",
        "privacy",
        lang,
        s=settings,
        validity_days=sorted(set(settings.consent_validity_days)),
        max_days=max(settings.consent_validity_days) + int(settings.retention_grace_days),
        grace_days=f"{settings.retention_grace_days:g}",
        notices=notices,
        note=settings.privacy_note_vi if lang == "vi" else settings.privacy_note_en,
        placeholders=settings.placeholders(),
    )


@router.get("/staff", **PAGE)
def staff_page(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """The staff page: data-subject requests (what is open and what is late) and the
    breach register."""
    return _render(request, "staff.html", "staff", lang)


@router.get("/me", **PAGE)
def me_page(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """The customer's own page (access code typed in, or in the link's fragment)."""
    return _render(request, "me.html", "me", lang)


@router.get("/audit", **PAGE)
def audit_page(request: Request, lang: str | None = Lang) -> HTMLResponse:
    """The auditor's page."""
    return _render(request, "audit.html", "audit", lang)


def _static_route(name: str) -> None:
    media_type = _MEDIA_TYPES[name.rsplit(".", 1)[1]]

    def serve() -> Response:
        return Response(
            (STATIC_DIR / name).read_bytes(),
            media_type=media_type,
            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
        )

    serve.__doc__ = f"The pages' {name} (served by facekeep itself, so the pages work offline)."
    router.add_api_route(
        f"/static/{name}",
        serve,
        methods=["GET"],
        name=f"static_{name.replace('.', '_')}",
        response_class=Response,
        responses={200: {"content": {media_type.split(";")[0]: {}}}},
        **public(),
    )


for _name in STATIC_FILES:
    _static_route(_name)


# --------------------------------------------------------------------- JSON for the pages

_COUNT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"image": {"type": "string", "format": "binary"}},
                "required": ["image"],
            }
        }
    },
}


class FaceCount(Answer):
    faces: int


class CustomerLink(Answer):
    url: str
    qr_svg: str
    public_url_set: bool


class VenueNames(Answer):
    venues: dict[str, str]


class RefusalCounted(Answer):
    recorded: str


@router.post("/v1/faces/count", tags=["staff"], **roles("admin", "staff", body=_COUNT_BODY))
async def count_faces(request: Request, principal: Caller) -> FaceCount:
    """How many faces a camera frame shows, for the kiosk's live hint (nothing is kept)."""
    st = app_state(request)
    st.take_match(principal.id)
    return FaceCount(faces=await st.images.count_faces(await one_image(request)))


class CustomerLinkIn(Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9]{4}(-?[A-Za-z0-9]{4}){1,9}$")
    lang: Language = DEFAULT_LANG


@router.post("/v1/pages/customer-link", tags=["staff"], **roles("admin", "staff"))
def customer_link(body: CustomerLinkIn, request: Request) -> CustomerLink:
    """The link to a customer's page in their language, with their code in the fragment
    (never sent to a server), and its QR code as an SVG data URI, for the kiosk to show
    after enrolment. ``public_url_set`` false means the link uses the address the kiosk
    itself used, which a guest's phone may not reach (set ``FACEKEEP_PUBLIC_URL``)."""
    public = app_state(request).settings.public_url
    base = public or str(request.base_url)
    url = f"{base.rstrip('/')}/me?lang={body.lang}#code={body.code.upper()}"
    qr = segno.make(url, error="m")
    return CustomerLink(
        url=url, qr_svg=qr.svg_data_uri(scale=6, border=4), public_url_set=bool(public)
    )


@router.get("/v1/pages/venues", tags=["pages"], **roles("admin", "staff", "customer", "auditor"))
def venue_names(request: Request) -> VenueNames:
    """Venue names by id, so receipts and pages name venues, not ids."""
    engine = app_state(request).runtime.vault.engine
    return VenueNames(venues={v["id"]: v["name"] for v in credentials.list_venues(engine)})


@router.post("/v1/pages/refusals", tags=["staff"], **roles("admin", "staff"))
def consent_refused(request: Request) -> RefusalCounted:
    """A guest said "I do not agree" at the counter. Nothing about them is recorded: this
    only adds one to an anonymous count (``facekeep_consent_refusals_total``)."""
    app_state(request).metrics.consent_refusals.inc()
    return RefusalCounted(recorded="an anonymous count only")


@router.get(
    "/v1/audit/export",
    tags=["auditor"],
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}},
    **roles("auditor"),
)
def audit_export_zip(request: Request) -> Response:
    """The auditor's export (log, tree heads, receipts, key states, public key) as a zip,
    for ``facekeep audit verify`` offline. It holds no biometric data."""
    runtime = app_state(request).runtime
    audit = runtime.vault.audit
    if audit is None:
        raise Problem("not_ready", "the audit log is not configured")
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="facekeep-export-") as tmp:
        folder = Path(tmp) / "export"
        manifest = export_audit(audit, runtime.keys, folder)
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
    name = f"facekeep-audit-export-{manifest['tree_size']}.zip"
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
