"""Customer self-service with the access code: see, revoke, object, correct, erase."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.answers import Erased, MyData, Objected, Revoked, TemplatesReplaced
from api.auth import Principal, roles
from api.compliance import request_register
from api.deps import Caller
from api.forms import files, read_multipart
from api.schemas import TEMPLATES_BODY, ObjectionIn, RevokeIn
from api.state import app_state
from api.views import customer_json, erasure_json, match_history, revocations, revoke_json
from vault.audit.receipts import read_receipts
from vault.requests import SelfService

router = APIRouter(tags=["customer"])


def _me(principal: Principal) -> str:
    assert principal.customer_id is not None
    return principal.customer_id


def _asked(request: Request, kind: str, outcome: str, purpose: str | None = None) -> SelfService:
    """The request the guest makes on their page, for the vault action that carries it out
    to record in the register of data-subject requests, completed, in its own transaction
    (so the register has it exactly when the action happened)."""
    register = request_register(app_state(request).runtime)
    return register.self_service(kind=kind, outcome=outcome, purpose=purpose)


@router.get("/v1/me", **roles("customer"))
def get_me(request: Request, principal: Caller) -> MyData:
    """Everything held about me, and where and when my face was matched."""
    vault = app_state(request).runtime.vault
    customer_id = _me(principal)
    out = customer_json(vault.show(customer_id), vault.now())
    out["matches"] = match_history(vault, customer_id)
    # When the templates will be erased if nothing changes (None while a consent runs on).
    grace = app_state(request).settings.retention_grace_days
    deadline = vault.retention_deadline(customer_id, timedelta(days=grace))
    out["erase_after"] = deadline.isoformat() if deadline else None
    out["receipts"] = [r.document() for r in read_receipts(vault.engine, customer_id=customer_id)]
    return MyData.model_validate(out)


@router.post("/v1/me/revoke", **roles("customer"))
def revoke_me(request: Request, principal: Caller, body: RevokeIn | None = None) -> Revoked:
    """Withdraw my consent for one purpose, or for all."""
    st = app_state(request)
    purpose = body.purpose if body else None
    result = st.runtime.vault.revoke(
        _me(principal),
        purpose=purpose,
        reason="withdrawn",
        actor=principal.actor(),
        register_entry=_asked(request, "withdrawal", f"withdrawn: {purpose or 'all'}", purpose),
    )
    st.metrics.revocations.inc()
    return Revoked.model_validate(revoke_json(result, purpose))


@router.post("/v1/me/objections", **roles("customer"))
def object_me(request: Request, body: ObjectionIn, principal: Caller) -> Objected:
    """Object to marketing: the marketing purpose stops at once."""
    st = app_state(request)
    result = st.runtime.vault.revoke(
        _me(principal),
        purpose=body.purpose,
        reason="objection",
        actor=principal.actor(),
        register_entry=_asked(request, "objection", f"objection: {body.purpose}", body.purpose),
    )
    st.metrics.revocations.inc()
    return Objected.model_validate(
        {"customer": _me(principal), "objection": body.purpose, "revoked": revocations(result)}
    )


@router.put("/v1/me/templates", **roles("customer", body=TEMPLATES_BODY))
async def replace_my_templates(request: Request, principal: Caller) -> TemplatesReplaced:
    """Retake my photos: 1 to 5 new photos of me replace my templates, if they show one
    person and the person enrolled (422 ``faces_differ`` otherwise, nothing changes); 409
    ``reenrol_at_counter`` when my enrolled face is of an earlier face engine."""
    st = app_state(request)
    form = await read_multipart(request, max_files=5)
    vectors = await st.images.enrolment_vectors(await files(form, "image"))
    ids = await run_in_threadpool(
        st.runtime.vault.replace_templates,
        _me(principal),
        vectors,
        actor=principal.actor(),
        register_entry=_asked(request, "correction", f"photos retaken: {len(vectors)} templates"),
    )
    return TemplatesReplaced(customer=_me(principal), templates=len(ids))


@router.delete("/v1/me", **roles("customer"))
def erase_me(request: Request, principal: Caller) -> Erased:
    """Erase everything: my key is destroyed, my templates can never be read again."""
    st = app_state(request)
    result = st.runtime.vault.erase(
        _me(principal),
        reason="customer request",
        actor=principal.actor(),
        # Recorded only when this call erases (not when the guest was erased already).
        register_entry=_asked(request, "erasure", "erased: data key destroyed (crypto-shred)"),
    )
    st.metrics.erasures.inc()
    return Erased.model_validate(erasure_json(result, with_receipt=True))
