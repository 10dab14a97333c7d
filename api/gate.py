"""Nothing heavy before authentication: the body gate in front of every route.

A request that carries a body is matched to its route *before* a byte of the body is
read. Unless the route is public, the caller is authenticated and their role checked
first, so an anonymous client can make the server read nothing but headers. Then the
body is capped by the route's own limit: a few KB for JSON routes, ``x-max-body`` where
a route declares more, and ``FACEKEEP_MAX_BODY_BYTES`` only for multipart photo uploads.
The body must also arrive in time: a pause longer than ``FACEKEEP_BODY_IDLE_TIMEOUT_SECONDS``
or a whole body slower than ``FACEKEEP_BODY_TIMEOUT_SECONDS`` is answered ``408``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Principal, authenticate
from api.problems import Problem, problem_response
from api.settings import Settings

MULTIPART = "multipart/form-data"


class _Stop(Exception):
    """The gate answered; the route's work is abandoned."""


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route of an app, also inside included routers (which FastAPI keeps as
    wrappers around the router; facekeep includes its routers without a prefix)."""
    found: list[APIRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += api_routes(inner.routes)
        elif isinstance(route, APIRoute):
            found.append(route)
    return found


def _route(scope: Scope, routes: list[APIRoute]) -> APIRoute | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


def body_limit(route: APIRoute | None, content_type: str, settings: Settings) -> int:
    """How many bytes of body ``route`` accepts with this content type."""
    extra = (route.openapi_extra or {}) if route is not None else {}
    declared = extra.get("requestBody", {}).get("content", {})
    if content_type.startswith(MULTIPART) and MULTIPART in declared:
        return settings.max_body_bytes
    limit = extra.get("x-max-body")
    return int(limit) if limit else settings.max_json_body_bytes


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length")
    return "transfer-encoding" in headers or (length is not None and length != "0")


class BodyGate:
    """Authenticate, authorise and cap a request before its body is read."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._routes: list[APIRoute] | None = None
        self._static: dict[tuple[str, str], APIRoute] = {}

    def _find(self, scope: Scope) -> APIRoute | None:
        if self._routes is None:
            self._routes = api_routes(scope["app"].router.routes)
            # Routes without path parameters, found by a dict lookup (the kiosk's match).
            self._static = {
                (method, r.path): r
                for r in self._routes
                if not r.param_convertors
                for method in r.methods or ()
            }
        found = self._static.get((scope["method"], scope["path"]))
        return found if found is not None else _route(scope, self._routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        answered = False

        async def answer(problem: Problem) -> None:
            nonlocal answered
            if answered:
                return
            answered = True
            response = problem_response(problem, Request(scope))
            response.headers["connection"] = "close"
            await response(scope, receive, send)

        async def guarded_send(message: Message) -> None:
            if not answered:  # after the gate answered, the route's answer is dropped
                await send(message)

        route = self._find(scope)
        try:
            roles = (route.openapi_extra or {}).get("x-roles", []) if route else ["public"]
            if "public" not in roles:
                principal = await self._authorise(scope, roles)
                scope.setdefault("state", {})["principal"] = principal
            limit = body_limit(route, headers.get("content-type", ""), self.settings)
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                raise _too_large(limit)
            gated = self._receiver(receive, limit, answer)
            await self.app(scope, gated, guarded_send)
        except Problem as problem:
            await answer(problem)
        except _Stop:
            pass

    async def _authorise(self, scope: Scope, roles: list[str]) -> Principal:
        principal = await authenticate(Request(scope))
        if principal.role not in roles:
            raise Problem("forbidden", f"this route is not for the {principal.role} role")
        return principal

    def _receiver(self, receive: Receive, limit: int, answer: Any) -> Receive:
        """``receive`` with the byte limit and the read timeouts of the body."""
        received = 0
        complete = False
        deadline = time.monotonic() + self.settings.body_timeout_seconds
        idle = self.settings.body_idle_timeout_seconds

        async def gated() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: later calls only wait for a disconnect
                return await receive()
            wait = min(idle, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(wait, 0.001))
            except TimeoutError:
                await answer(Problem("request_timeout", "the body arrived too slowly"))
                raise _Stop() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    await answer(_too_large(limit))
                    raise _Stop()
                complete = not message.get("more_body", False)
            return message

        return gated


def _too_large(limit: int) -> Problem:
    return Problem("payload_too_large", f"the body is over {limit} bytes")
