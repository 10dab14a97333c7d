"""Staff routes of the compliance pack: the register of data-subject requests (record what
arrived at the counter, by phone or by letter; see what is due and late; acknowledge;
carry out) and the breach register (open a file, record steps, read the drafts).
Auditors may read both registers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field
from starlette.concurrency import run_in_threadpool

from api.answers import (
    Breach,
    BreachDrafts,
    Breaches,
    BreachFile,
    CompletedRequest,
    SubjectRequest,
    SubjectRequests,
)
from api.auth import roles
from api.compliance import breach_register, request_register
from api.compliance.breach import authority_notice, guest_notice
from api.compliance.requests import carry_out
from api.deps import Caller
from api.forms import OffLoopJsonRoute
from api.problems import Problem
from api.schemas import Strict
from api.state import app_state
from api.vocabulary import DEFAULT_LANG, Lang, Purpose
from vault.breaches import Scope
from vault.requests import CHANNELS, KINDS, summary

# The breach route takes up to 1 MB of JSON: parsed off the event loop.
router = APIRouter(tags=["compliance"], route_class=OffLoopJsonRoute)
Id = r"^[A-Za-z0-9_-]{1,64}$"
Text = Field(default=None, max_length=2000)


class RequestIn(Strict):
    kind: Literal[KINDS]  # type: ignore[valid-type]
    channel: Literal[CHANNELS]  # type: ignore[valid-type]
    customer: str | None = Field(default=None, pattern=Id)
    purpose: Purpose | None = None
    received_at: AwareDatetime | None = None
    note: str | None = Text


class CompleteIn(Strict):
    customer: str | None = Field(default=None, pattern=Id)
    outcome: str | None = Text


class RefuseIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class BreachIn(Strict):
    description: str = Field(min_length=1, max_length=4000)
    discovered_at: AwareDatetime | None = None
    occurred_from: AwareDatetime | None = None
    occurred_to: AwareDatetime | None = None
    venues: list[str] = Field(default_factory=list, max_length=500)
    customers: list[str] = Field(default_factory=list, max_length=10_000)


class StepIn(Strict):
    step: Literal["contained", "authority_notified", "subjects_notified", "note", "closed"]
    note: str = Field(default="", max_length=4000)
    at: AwareDatetime | None = None


def _now(request: Request) -> datetime:
    return app_state(request).runtime.vault.now()


@router.get("/v1/requests", **roles("admin", "auditor"))
def list_requests(
    request: Request,
    due: bool = Query(default=False, description="Only requests still open."),
    customer: str | None = Query(default=None, pattern=Id),
) -> SubjectRequests:
    """Data-subject requests with their deadlines, what is late and the hours left."""
    register = request_register(app_state(request).runtime)
    now = register.now()
    found = register.find(pending_only=due, customer_id=customer)
    return SubjectRequests.model_validate(
        {
            "now": now.isoformat(),
            "summary": summary(register.find(limit=100_000), now),
            "requests": [r.to_json(now) for r in found],
        }
    )


@router.post("/v1/requests", status_code=201, response_model=SubjectRequest, **roles("admin"))
def open_request(body: RequestIn, request: Request, principal: Caller) -> JSONResponse:
    """Record a request received at the counter, by telephone, letter or e-mail."""
    register = request_register(app_state(request).runtime)
    opened = register.open(
        kind=body.kind,
        channel=body.channel,
        actor=principal.actor(),
        customer_id=body.customer,
        purpose=body.purpose,
        received_at=body.received_at,
        note=body.note,
    )
    return JSONResponse(opened.to_json(register.now()), status_code=201)


@router.post("/v1/requests/{request_id}/acknowledge", **roles("admin"))
def acknowledge_request(request_id: str, request: Request, principal: Caller) -> SubjectRequest:
    """Record that the requester was told their request is being handled."""
    register = request_register(app_state(request).runtime)
    acknowledged = register.acknowledge(request_id, actor=principal.actor())
    return SubjectRequest.model_validate(acknowledged.to_json(register.now()))


@router.post(
    "/v1/requests/{request_id}/complete", response_model=CompletedRequest, **roles("admin")
)
async def complete_request(
    request_id: str, body: CompleteIn, request: Request, principal: Caller
) -> JSONResponse:
    """Do what the request asks (withdraw, object, restrict, erase, give access) and mark
    it completed. An access request answers with everything held (``result``)."""
    st = app_state(request)
    register = request_register(st.runtime)
    closed, result = await run_in_threadpool(
        carry_out,
        st.runtime,
        register,
        request_id,
        actor=principal.actor(),
        customer_id=body.customer,
        outcome=body.outcome,
    )
    if closed.kind == "erasure":
        st.metrics.erasures.inc()
    elif closed.kind in ("withdrawal", "objection", "restriction"):
        st.metrics.revocations.inc()
    return JSONResponse(
        {**closed.to_json(register.now()), "result": result},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/v1/requests/{request_id}/refuse", **roles("admin"))
def refuse_request(
    request_id: str, body: RefuseIn, request: Request, principal: Caller
) -> SubjectRequest:
    """Refuse a request, saying why (for example: the requester could not be identified)."""
    register = request_register(app_state(request).runtime)
    refused = register.refuse(request_id, reason=body.reason, actor=principal.actor())
    return SubjectRequest.model_validate(refused.to_json(register.now()))


@router.get("/v1/breaches", **roles("admin", "auditor"))
def list_breaches(
    request: Request, open_only: bool = Query(default=False, alias="open")
) -> Breaches:
    """Breach files, the latest first, with the time left to notify."""
    register = breach_register(app_state(request).runtime)
    now = register.now()
    return Breaches(
        now=now.isoformat(),
        breaches=[
            Breach.model_validate(b.to_json(now)) for b in register.find(open_only=open_only)
        ],
    )


# Up to 10,000 customer ids: the one JSON body larger than the default few KB.
@router.post(
    "/v1/breaches",
    status_code=201,
    response_model=BreachFile,
    **roles("admin", max_body=1024 * 1024),
)
def open_breach(body: BreachIn, request: Request, principal: Caller) -> JSONResponse:
    """Open a breach file: the clock to notify starts at discovery (default now)."""
    if body.venues and body.customers:
        raise Problem("invalid_scope", "give venues or customers, not both", status=422)
    scope = (
        Scope("venues", tuple(body.venues))
        if body.venues
        else Scope("customers", tuple(body.customers))
        if body.customers
        else Scope()
    )
    register = breach_register(app_state(request).runtime)
    breach = register.open(
        description=body.description,
        actor=principal.actor(),
        scope=scope,
        discovered_at=body.discovered_at,
        occurred_from=body.occurred_from,
        occurred_to=body.occurred_to,
    )
    return JSONResponse(
        {**breach.to_json(register.now()), "affected": register.subjects(breach.breach_id)},
        status_code=201,
    )


@router.get("/v1/breaches/{breach_id}", **roles("admin", "auditor"))
def get_breach(breach_id: str, request: Request) -> BreachFile:
    """A breach file, its steps, the time left and the affected pseudonymous customers."""
    register = breach_register(app_state(request).runtime)
    breach = register.get(breach_id)
    affected = register.subjects(breach_id)
    return BreachFile.model_validate({**breach.to_json(register.now()), "affected": affected})


@router.post("/v1/breaches/{breach_id}/steps", **roles("admin"))
def breach_step(breach_id: str, body: StepIn, request: Request, principal: Caller) -> Breach:
    """Record a step: contained, authority notified, guests notified, a note, closed."""
    register = breach_register(app_state(request).runtime)
    breach = register.step(
        breach_id, body.step, actor=principal.actor(), note=body.note, at=body.at
    )
    return Breach.model_validate(breach.to_json(register.now()))


@router.get("/v1/breaches/{breach_id}/drafts", **roles("admin", "auditor"))
def breach_drafts(
    breach_id: str,
    request: Request,
    lang: Annotated[Lang, Query()] = DEFAULT_LANG,
) -> BreachDrafts:
    """Drafts (Markdown) of the notification to the authority and of the notice to each
    affected guest, in ``lang``."""
    st = app_state(request)
    register = breach_register(st.runtime)
    breach = register.get(breach_id)
    subjects_file = f"{breach_id}-subjects.txt"
    return BreachDrafts(
        breach=breach_id,
        lang=lang,
        authority=authority_notice(breach, st.settings, lang, register.now()),
        guests=guest_notice(breach, st.settings, lang, subjects_file),
        affected=register.subjects(breach_id),
    )
