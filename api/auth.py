"""Who is calling: API keys (admin, kiosk, auditor), staff sessions and customer access
codes.

Every route declares the roles it admits with :func:`roles`, which also records them in
the OpenAPI document as ``x-roles`` so a test can check every route against every role.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from api import accounts
from api.access import hash_access_code
from api.credentials import ApiKey
from api.problems import Problem
from api.ratelimit import retry_after
from api.state import app_state
from vault import Actor

ALL_ROLES = ("admin", "staff", "kiosk", "auditor", "customer")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    role: str
    id: str
    venue: str | None = None
    purposes: tuple[str, ...] = ()
    customer_id: str | None = None
    allow_embeddings: bool = False  # a kiosk of a trusted edge device
    venues: tuple[str, ...] = ()  # the venues a staff account works at
    session: str | None = None  # a staff session's token (to sign out)

    def actor(self) -> Actor:
        """The caller as recorded in audit events (ids only, never secrets)."""
        return Actor(role=self.role, id=self.id)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        raise Problem(
            "unauthorized",
            "send a key or an access code as 'Authorization: Bearer ...'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token


def client_address(request: Request) -> str:
    """The address the request came from (the peer, or what a trusted proxy forwarded)."""
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request) -> Principal:
    """Resolve the bearer token to a principal or answer 401 (429 when guessing codes).

    A key held fresh in memory is answered on the event loop; anything that needs the
    database is looked up in a worker thread.
    """
    stashed: Principal | None = getattr(request.state, "principal", None)
    if stashed is not None:  # the body gate authenticated this request already
        return stashed
    state = app_state(request)
    token = _bearer(request)
    key = state.keys.peek(token)
    if key is not None:
        return _key_principal(key)
    return await asyncio.to_thread(_authenticate_in_database, request, token)


def _key_principal(key: ApiKey) -> Principal:
    return Principal(
        role=key.role,
        id=key.key_id,
        venue=key.venue,
        purposes=key.purposes,
        allow_embeddings=key.allow_embeddings,
    )


def _authenticate_in_database(request: Request, token: str) -> Principal:
    state = app_state(request)
    key = state.keys.lookup(token)
    if key is not None:
        return _key_principal(key)
    if token.startswith(accounts.TOKEN_PREFIX):
        settings = state.settings
        account = accounts.session_account(
            state.runtime.vault.engine,
            token,
            now=state.runtime.vault.now(),
            idle=timedelta(minutes=settings.staff_idle_minutes),
            max_age=timedelta(hours=settings.staff_session_hours),
        )
        if account is not None:
            return Principal(
                role="staff", id=account.staff_id, venues=account.venues, session=token
            )
    # Only guessing is throttled, so guesses from a venue's shared address never lock out
    # that venue's valid kiosk and staff keys. An address that used up its own budget is
    # still heard while the global budget lasts: a guest's right code is not refused
    # because someone else guessed from the same address.
    client = client_address(request)
    limiter, bucket = state.code_limiter, client
    own_wait = limiter.blocked(client)
    if own_wait > 0:
        limiter, bucket = state.code_spill, "all"
        spill = state.settings.code_failures_global_per_minute > 0
        spill_wait = limiter.blocked(bucket) if spill else own_wait
        if spill_wait > 0:
            raise Problem(
                "rate_limited",
                "too many failed attempts",
                headers={"Retry-After": retry_after(min(own_wait, spill_wait))},
            )
    customer_id = state.runtime.vault.customer_by_code_hash(hash_access_code(token))
    if customer_id is not None:
        return Principal(role="customer", id=customer_id, customer_id=customer_id)
    wait = limiter.take(bucket)
    if wait > 0:
        raise Problem(
            "rate_limited", "too many failed attempts", headers={"Retry-After": retry_after(wait)}
        )
    raise Problem(
        "unauthorized", "unknown or disabled credential", headers={"WWW-Authenticate": "Bearer"}
    )


def require(*allowed: str) -> Any:
    """A dependency admitting only the given roles."""

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role not in allowed:
            raise Problem("forbidden", f"this route is not for the {principal.role} role")
        return principal

    return dependency


def roles(
    *allowed: str, body: dict[str, Any] | None = None, max_body: int | None = None
) -> dict[str, Any]:
    """Route keyword arguments: the role check and its ``x-roles`` OpenAPI record
    (plus a hand-written request body for routes that parse multipart themselves, and
    ``x-max-body`` for a JSON body allowed to be larger than the default few KB)."""
    unknown = set(allowed) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")
    extra: dict[str, Any] = {"x-roles": list(allowed)}
    if body is not None:
        extra["requestBody"] = body
    if max_body is not None:
        extra["x-max-body"] = max_body
    return {"dependencies": [Depends(require(*allowed))], "openapi_extra": extra}


def public(*, max_body: int | None = None) -> dict[str, Any]:
    """Route keyword arguments of a route that needs no credential."""
    extra: dict[str, Any] = {"x-roles": ["public"]}
    if max_body is not None:
        extra["x-max-body"] = max_body
    return {"openapi_extra": extra}
