"""Credentials: every API key (admin, kiosk, auditor) and staff account can be listed,
disabled and rotated by an operator; staff sign in with their PIN for a short session.

A disable or rotation made here stops the old secret at once on this replica and within
``FACEKEEP_KEY_CACHE_SECONDS`` on the others (staff sessions are checked against the
database on every request, so they end everywhere at once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from api import accounts, credentials
from api.accounts import AccountError
from api.answers import (
    AccessCode,
    Answer,
    ApiKey,
    Credentials,
    NewApiKey,
    NewStaff,
    SignedOut,
    Staff,
    StaffMe,
    StaffSession,
)
from api.auth import Principal, client_address, public, roles
from api.deps import Caller
from api.problems import Problem
from api.ratelimit import retry_after
from api.schemas import ID_PATTERN, Strict
from api.state import app_state
from api.vocabulary import PURPOSES, Purpose

router = APIRouter(tags=["credentials"])

T = TypeVar("T")
# The problem (code, noun) an unknown API key or staff account answers.
_NO_KEY = ("key_not_found", "API key")
_NO_STAFF = ("not_found", "staff account")

# Sign-ins wait for each other (one PIN check at a time, see api.accounts); beyond this
# many waiting, more are turned away at once rather than queued.
SIGNIN_QUEUE = 8


class ApiKeyIn(Strict):
    role: Literal["admin", "kiosk", "auditor"]
    label: str = Field(default="", max_length=128)
    venue: str | None = Field(default=None, pattern=ID_PATTERN)
    purposes: list[Purpose] = Field(default_factory=list, max_length=len(PURPOSES))
    allow_embeddings: bool = Field(default=False, strict=True)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class StaffIn(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(default="", max_length=200)
    venues: list[str] = Field(min_length=1, max_length=50)
    pin: str | None = Field(default=None, max_length=accounts.PIN_MAX)


class PinIn(Strict):
    pin: str | None = Field(default=None, max_length=accounts.PIN_MAX)


class SignInIn(Strict):
    staff: str = Field(pattern=ID_PATTERN)
    pin: str = Field(min_length=1, max_length=accounts.PIN_MAX)


def _no_store(answer: Answer, status: int = 200) -> JSONResponse:
    """An answer carrying a secret: never cached anywhere (the middleware also says so)."""
    return JSONResponse(
        answer.model_dump(mode="json"), status_code=status, headers={"Cache-Control": "no-store"}
    )


def _new_key(secret: str, key: credentials.ApiKey) -> NewApiKey:
    return NewApiKey.model_validate({"key": secret, **key.public()})


def _new_staff(account: accounts.StaffAccount, pin: str | None) -> NewStaff:
    return NewStaff.model_validate({**account.public(), "pin": pin})


@router.get("/v1/credentials", **roles("admin"))
def list_credentials(request: Request) -> Credentials:
    """Every API key of every role and every staff account (never a secret)."""
    engine = app_state(request).runtime.vault.engine
    return Credentials(
        keys=[ApiKey.model_validate(k.public()) for k in credentials.list_keys(engine)],
        staff=[Staff.model_validate(a.public()) for a in accounts.list_staff(engine)],
    )


@router.post("/v1/api-keys", status_code=201, response_model=NewApiKey, **roles("admin"))
def create_api_key(body: ApiKeyIn, request: Request, principal: Caller) -> JSONResponse:
    """Make an admin, auditor or kiosk key, optionally expiring (the key is shown once)."""
    st = app_state(request)
    engine = st.runtime.vault.engine
    if "\x00" in body.label:
        raise Problem("invalid_request", "label must not contain NUL characters")
    if body.role == "kiosk":
        if body.venue is None or not body.purposes:
            raise Problem("invalid_request", "a kiosk key needs a venue and purposes")
        if not credentials.venue_enabled(engine, body.venue):
            raise Problem("unknown_venue", f"no enabled venue {body.venue!r}")
    elif body.venue is not None or body.purposes or body.allow_embeddings:
        raise Problem("invalid_request", "only kiosk keys have a venue, purposes or embeddings")
    now = st.runtime.vault.now()
    secret, key = credentials.create_key(
        engine,
        role=body.role,
        now=now,
        actor=principal.actor(),
        venue=body.venue,
        purposes=tuple(body.purposes),
        label=body.label,
        allow_embeddings=body.allow_embeddings,
        expires_at=now + timedelta(days=body.expires_days) if body.expires_days else None,
    )
    return _no_store(_new_key(secret, key), 201)


@router.post("/v1/api-keys/{api_key_id}/disable", **roles("admin"))
def disable_api_key(api_key_id: str, request: Request, principal: Caller) -> ApiKey:
    """Disable any API key (admin, kiosk or auditor) at once."""
    key = _change(credentials.disable_key, api_key_id, _NO_KEY, request, principal)
    app_state(request).keys.forget(key.key_id)
    return ApiKey.model_validate(key.public())


@router.post("/v1/api-keys/{api_key_id}/rotate", response_model=NewApiKey, **roles("admin"))
def rotate_api_key(api_key_id: str, request: Request, principal: Caller) -> JSONResponse:
    """Give an API key a new secret (shown once); the old one stops working."""
    secret, key = _change(credentials.rotate_key, api_key_id, _NO_KEY, request, principal)
    app_state(request).keys.forget(key.key_id)
    return _no_store(_new_key(secret, key))


@router.post("/v1/staff", status_code=201, response_model=NewStaff, **roles("admin"))
def create_staff(body: StaffIn, request: Request, principal: Caller) -> JSONResponse:
    """Make a staff account for some venues, with a PIN given or made here (shown once)."""
    st = app_state(request)
    engine = st.runtime.vault.engine
    for venue in body.venues:
        if not credentials.venue_enabled(engine, venue):
            raise Problem("unknown_venue", f"no enabled venue {venue!r}")
    if "\x00" in body.name:
        raise Problem("invalid_request", "name must not contain NUL characters")
    pin = body.pin or accounts.new_pin()
    account = accounts.create_staff(
        engine,
        staff_id=body.id,
        name=body.name,
        venues=tuple(body.venues),
        pin=pin,
        now=st.runtime.vault.now(),
        actor=principal.actor(),
    )
    return _no_store(_new_staff(account, None if body.pin else pin), 201)


@router.post("/v1/staff/{staff_id}/disable", **roles("admin"))
def disable_staff(staff_id: str, request: Request, principal: Caller) -> Staff:
    """Disable a staff account; its sessions end at once, on every replica."""
    account = _change(accounts.disable_staff, staff_id, _NO_STAFF, request, principal)
    return Staff.model_validate(account.public())


@router.post("/v1/staff/{staff_id}/rotate", response_model=NewStaff, **roles("admin"))
def rotate_staff(
    staff_id: str, request: Request, principal: Caller, body: PinIn | None = None
) -> JSONResponse:
    """Give a staff account a new PIN (given, or made here and shown once); its sessions
    end at once and a lock from wrong PINs is lifted."""
    given = body.pin if body else None
    pin = given or accounts.new_pin()
    account = _change(accounts.rotate_staff, staff_id, _NO_STAFF, request, principal, pin=pin)
    return _no_store(_new_staff(account, None if given else pin))


def _change(
    change: Callable[..., T | None],
    ident: str,
    missing: tuple[str, str],
    request: Request,
    principal: Principal,
    **extra: Any,
) -> T:
    """Disable or rotate the API key or staff account ``ident`` as of the vault's clock,
    on behalf of the caller; an unknown one answers the ``missing`` problem (code, noun)."""
    vault = app_state(request).runtime.vault
    found = change(vault.engine, ident, now=vault.now(), actor=principal.actor(), **extra)
    if found is None:
        code, noun = missing
        raise Problem(code, f"no {noun} {ident!r}")
    return found


class SignInGate:
    """One PIN check at a time, and at most ``SIGNIN_QUEUE`` sign-ins waiting."""

    def __init__(self) -> None:
        self._turn = asyncio.Semaphore(1)
        self.waiting = 0

    async def __aenter__(self) -> None:
        if self.waiting >= SIGNIN_QUEUE:
            raise Problem("busy", "too many sign-ins at once", headers={"Retry-After": "1"})
        self.waiting += 1
        try:
            await self._turn.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *_: object) -> None:
        self._turn.release()


def _signin_gate(request: Request) -> SignInGate:
    gate: SignInGate | None = getattr(request.app.state, "facekeep_signins", None)
    if gate is None:
        gate = request.app.state.facekeep_signins = SignInGate()
    return gate


@router.post(
    "/v1/staff/sessions", status_code=201, response_model=StaffSession, **public(max_body=1024)
)
async def staff_sign_in(body: SignInIn, request: Request) -> JSONResponse:
    """Sign in with a staff account's PIN: a session token for ``Authorization: Bearer``
    that ends after ``idle_seconds`` without use, and at sign-out."""
    st = app_state(request)
    client = client_address(request)
    # Wrong PINs spend the same per-address budget as wrong access codes; the account
    # itself is locked after repeated failures (api.accounts).
    wait = st.code_limiter.blocked(client)
    if wait > 0:
        raise Problem(
            "rate_limited", "too many failed attempts", headers={"Retry-After": retry_after(wait)}
        )
    vault = st.runtime.vault
    async with _signin_gate(request):
        try:
            token, account = await asyncio.to_thread(
                accounts.sign_in, vault.engine, body.staff, body.pin, now=vault.now()
            )
        except AccountError as exc:
            if exc.code == "unauthorized":
                st.code_limiter.take(client)
            raise
    idle = timedelta(minutes=st.settings.staff_idle_minutes)
    session = StaffSession(
        token=token,
        staff=account.staff_id,
        name=account.name,
        venues=list(account.venues),
        idle_seconds=int(idle.total_seconds()),
    )
    return _no_store(session, 201)


@router.get("/v1/staff/me", **roles("staff"))
def staff_me(principal: Caller) -> StaffMe:
    """Who is signed in, and at which venues."""
    return StaffMe(staff=principal.id, venues=list(principal.venues))


@router.delete("/v1/staff/sessions/current", **roles("staff"))
def staff_sign_out(request: Request, principal: Caller) -> SignedOut:
    """Sign out: this session's token stops working at once, on every replica."""
    vault = app_state(request).runtime.vault
    assert principal.session is not None
    accounts.sign_out(vault.engine, principal.session, now=vault.now(), actor=principal.actor())
    return SignedOut(signed_out=True)


@router.delete("/v1/customers/{customer_id}/access-code", **roles("admin"))
def disable_access_code(customer_id: str, request: Request, principal: Caller) -> AccessCode:
    """Disable a customer's access code (lost, or seen by someone else); staff can issue a
    new one later with ``POST /v1/customers/{id}/access-code``."""
    vault = app_state(request).runtime.vault
    vault.replace_access_code(customer_id, None, actor=principal.actor())
    return AccessCode(customer=customer_id, access_code=None)
