"""Staff and operator routes: venues, kiosks, enrolment with consent, customers.

Operators (admin key) may do everything here. Staff (a PIN session) may only enrol with
consent at their venues, look up customers who consented at one of their venues, revoke
for them and issue them a new access code; a customer of other venues does not exist for
them (404), so a staff session cannot be used to learn who is enrolled elsewhere.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import credentials
from api.answers import (
    AccessCode,
    ApiKey,
    CustomerData,
    Enrolled,
    Erased,
    Kiosks,
    NewApiKey,
    Receipt,
    Revoked,
    TemplatesReplaced,
    VenueCreated,
    Venues,
)
from api.auth import Principal, roles
from api.deps import Caller
from api.forms import files, read_multipart, text, text_list
from api.notices import notice_for
from api.operations import enroll_vectors, replace_access_code
from api.problems import Problem
from api.schemas import ENROL_BODY, TEMPLATES_BODY, EraseIn, KioskIn, StaffRevokeIn, VenueIn
from api.state import app_state
from api.views import customer_json, erasure_json, revoke_json
from api.vocabulary import LANGUAGES, one_of
from vault import ConsentRequest, CustomerNotFound
from vault.consent import check_id, notice_sha256

router = APIRouter(tags=["staff"])


def _at_my_venues(request: Request, principal: Principal, customer_id: str) -> None:
    """Refuse (as unknown) a customer who never consented at one of a staff account's
    venues; operators see every customer."""
    if principal.role != "staff":
        return
    view = app_state(request).runtime.vault.show(customer_id)
    venues = {venue for consent in view.consents for venue in consent.venues}
    if not venues & set(principal.venues):
        raise CustomerNotFound(customer_id)


def _storable(value: str, name: str) -> str:
    """Refuse what a database column cannot hold (NUL), the same way on every engine;
    lengths are checked by the request schemas."""
    if "\x00" in value:
        raise Problem("invalid_request", f"{name} must not contain NUL characters")
    return value


@router.post("/v1/venues", status_code=201, **roles("admin"))
def create_venue(body: VenueIn, request: Request, principal: Caller) -> VenueCreated:
    """Register a venue."""
    st = app_state(request)
    engine = st.runtime.vault.engine
    _storable(body.name, "name")
    created = credentials.ensure_venue(
        engine, body.id, body.name, st.runtime.vault.now(), principal.actor()
    )
    if not created:
        raise Problem("venue_exists", f"venue {body.id!r} exists", status=409)
    return VenueCreated(id=body.id, name=body.name)


@router.get("/v1/venues", **roles("admin", "staff"))
def list_venues(request: Request, principal: Caller) -> Venues:
    """Every venue (for staff: the venues they work at, for the counter's choice)."""
    found = credentials.list_venues(app_state(request).runtime.vault.engine)
    if principal.role == "staff":
        found = [v for v in found if v["id"] in principal.venues]
    return Venues.model_validate({"venues": found})


@router.post("/v1/kiosks", status_code=201, **roles("admin"))
def create_kiosk(body: KioskIn, request: Request, principal: Caller) -> NewApiKey:
    """Make a kiosk key bound to one venue and its purposes (the key is shown once)."""
    st = app_state(request)
    engine = st.runtime.vault.engine
    _storable(body.label, "label")
    if not credentials.venue_enabled(engine, body.venue):
        raise Problem("unknown_venue", f"no enabled venue {body.venue!r}")
    secret, key = credentials.create_key(
        engine,
        role="kiosk",
        now=st.runtime.vault.now(),
        actor=principal.actor(),
        venue=body.venue,
        purposes=tuple(body.purposes),
        label=body.label,
        allow_embeddings=body.allow_embeddings,
    )
    return NewApiKey.model_validate({"key": secret, **key.public()})


@router.get("/v1/kiosks", **roles("admin"))
def list_kiosks(request: Request) -> Kiosks:
    """Every kiosk key (never a secret)."""
    engine = app_state(request).runtime.vault.engine
    kiosks = credentials.list_keys(engine, "kiosk")
    return Kiosks(kiosks=[ApiKey.model_validate(k.public()) for k in kiosks])


@router.post("/v1/kiosks/{kiosk_id}/disable", **roles("admin"))
def disable_kiosk(kiosk_id: str, request: Request, principal: Caller) -> ApiKey:
    """Disable a kiosk key at once."""
    st = app_state(request)
    key = credentials.disable_key(
        st.runtime.vault.engine,
        kiosk_id,
        now=st.runtime.vault.now(),
        actor=principal.actor(),
        role="kiosk",
    )
    if key is None:
        raise Problem("not_found", f"no kiosk {kiosk_id!r}")
    st.keys.forget(key.key_id)
    return ApiKey.model_validate(key.public())


@router.post("/v1/enrolments", status_code=201, **roles("admin", "staff", body=ENROL_BODY))
async def enrol(request: Request, principal: Caller) -> Enrolled:
    """Enrol a customer with their explicit consent and 1-5 photos."""
    st = app_state(request)
    form = await read_multipart(request, max_files=5)
    customer = text(form, "customer") or None
    if customer is not None:
        check_id(customer, "customer")
    version = text(form, "notice_version")
    lang = text(form, "lang")
    if not version or not lang:
        raise Problem("invalid_request", "notice_version and lang are required")
    if lang not in LANGUAGES:
        raise Problem("invalid_lang", f"lang must be {one_of(LANGUAGES)}", status=422)
    expires_days = _int(text(form, "expires_days"), "expires_days", 1, 3650)
    venues = text_list(form, "venues") + text_list(form, "venue")
    notice = notice_for(st.settings, version, lang)
    seen_notice(notice, text(form, "notice_sha256"), version, lang)
    consent = ConsentRequest(
        purposes=tuple(text_list(form, "purposes") + text_list(form, "purpose")),
        venues=tuple(venues),
        notice_text=notice,
        notice_version=version,
        lang=lang,
        method=text(form, "method") or "staff-api",
        device=text(form, "device") or principal.id,
        expires_at=st.runtime.vault.now() + timedelta(days=expires_days) if expires_days else None,
    ).validated()
    if principal.role == "staff" and not set(consent.venues) <= set(principal.venues):
        raise Problem("venue_not_allowed", "staff enrol only for the venues they work at")
    for venue in consent.venues:
        if not credentials.venue_enabled(st.runtime.vault.engine, venue):
            raise Problem("unknown_venue", f"no enabled venue {venue!r}")
    vectors = await st.images.enrolment_vectors(await files(form, "image"))
    result = await run_in_threadpool(
        enroll_vectors, st.runtime, vectors, consent, actor=principal.actor(), customer_id=customer
    )
    st.metrics.enrolments.inc()
    e = result.enrolment
    return Enrolled(
        customer=e.customer_id,
        consent=e.consent_id,
        templates=len(e.template_ids),
        access_code=result.access_code,
        key_id=e.key_id,
        purposes=sorted(set(consent.purposes)),
        venues=sorted(set(consent.venues)),
        notice_version=consent.notice_version,
        lang=consent.lang,
        expires_at=consent.expires_at.isoformat() if consent.expires_at else None,
        receipt=Receipt.model_validate(e.receipt.document()) if e.receipt else None,
    )


def seen_notice(notice: str, seen_sha256: str | None, version: str, lang: str) -> None:
    """Refuse (409 ``notice_changed``) a consent whose page showed another text than the
    one it would store: the notice file changed since the page loaded, so the guest must
    read the current notice and agree again. Without a hash (API clients, the CLI) the
    current text is stored, as before."""
    if seen_sha256 and seen_sha256.strip().lower() != notice_sha256(notice):
        raise Problem(
            "notice_changed",
            f"the notice {version!r} in {lang!r} changed since the page was loaded: reload"
            " the page so the guest reads the current notice and agrees again",
            version=version,
            lang=lang,
        )


def _int(value: str | None, name: str, low: int, high: int) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise Problem("invalid_request", f"{name} must be an integer") from None
    if not low <= number <= high:
        raise Problem("invalid_request", f"{name} must be between {low} and {high}")
    return number


@router.get("/v1/customers/{customer_id}", **roles("admin", "staff"))
def get_customer(customer_id: str, request: Request, principal: Caller) -> CustomerData:
    """A customer's consents and template metadata (no biometric data)."""
    _at_my_venues(request, principal, customer_id)
    vault = app_state(request).runtime.vault
    checked = principal.role == "admin"  # operators see templates that no longer decrypt
    view = vault.show(customer_id, check_templates=checked)
    return CustomerData.model_validate(customer_json(view, vault.now()))


@router.put("/v1/customers/{customer_id}/templates", **roles("admin", body=TEMPLATES_BODY))
async def staff_replace_templates(
    customer_id: str, request: Request, principal: Caller
) -> TemplatesReplaced:
    """Re-enrol at the counter: 1 to 5 new photos replace the customer's templates if they
    show one person and the person enrolled (422 ``faces_differ`` otherwise). A customer
    enrolled under an earlier face engine cannot be compared: staff, who see the person,
    re-enrol them anyway, recorded as not verified."""
    st = app_state(request)
    form = await read_multipart(request, max_files=5)
    vectors = await st.images.enrolment_vectors(await files(form, "image"))
    ids = await run_in_threadpool(
        st.runtime.vault.replace_templates,
        customer_id,
        vectors,
        actor=principal.actor(),
        unverified_ok=True,
    )
    return TemplatesReplaced(customer=customer_id, templates=len(ids))


@router.post("/v1/customers/{customer_id}/revoke", **roles("admin", "staff"))
def staff_revoke(
    customer_id: str, body: StaffRevokeIn, request: Request, principal: Caller
) -> Revoked:
    """Revoke on the customer's behalf (one purpose or all)."""
    _at_my_venues(request, principal, customer_id)
    st = app_state(request)
    _storable(body.reason, "reason")
    result = st.runtime.vault.revoke(
        customer_id, purpose=body.purpose, reason=body.reason, actor=principal.actor()
    )
    st.metrics.revocations.inc()
    return Revoked.model_validate(revoke_json(result, body.purpose))


@router.post(
    "/v1/customers/{customer_id}/access-code", response_model=AccessCode, **roles("admin", "staff")
)
def staff_new_access_code(customer_id: str, request: Request, principal: Caller) -> JSONResponse:
    """Issue a new access code (shown this once) to a customer who lost theirs, after
    checking who they are at the desk; the old code stops working at once."""
    _at_my_venues(request, principal, customer_id)
    st = app_state(request)
    code = replace_access_code(st.runtime, customer_id, actor=principal.actor())
    answer = AccessCode(customer=customer_id, access_code=code)
    return JSONResponse(answer.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post("/v1/customers/{customer_id}/erase", **roles("admin"))
def staff_erase(customer_id: str, body: EraseIn, request: Request, principal: Caller) -> Erased:
    """Erase a customer (on their request or an authority's), with a reason."""
    st = app_state(request)
    _storable(body.reason, "reason")
    result = st.runtime.vault.erase(customer_id, reason=body.reason, actor=principal.actor())
    st.metrics.erasures.inc()
    return Erased.model_validate(erasure_json(result, with_receipt=True))
