"""ASGI middleware: request ids with JSON access logs, security headers on every answer,
a short database lock wait for request paths, and a proper 500 for unexpected errors."""

from __future__ import annotations

import logging
import secrets
import time
import traceback
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem
from dbkit import lock_wait

log = logging.getLogger("facekeep.access")

#: The policy of every answer that sets none itself (JSON, problems): it may load nothing
#: and be framed by nobody. Pages and the docs set their own.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_DEFAULT_HEADERS = (
    (b"content-security-policy", API_CSP.encode()),
    # Answers carry credentials (a new key, an access code, a session) or personal data:
    # no cache along the way may keep them. Static files set their own policy.
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def error_site(exc: BaseException, depth: int = 4) -> list[str]:
    """Where ``exc`` was raised: the innermost ``depth`` frames as ``file:line function``
    (file name only). Never the message or any value, which could carry data."""
    frames = traceback.extract_tb(exc.__traceback__)[-depth:]
    return [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames]


def _with_defaults(headers: list[tuple[bytes, bytes]], rid: str) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    extra = [(name, value) for name, value in _DEFAULT_HEADERS if name not in present]
    return [*headers, *extra, (b"x-request-id", rid.encode())]


class RequestContext:
    """Give each request an id (``X-Request-ID``), log one JSON line with its real status,
    add the security headers, and let request paths wait only briefly for database locks.

    An unexpected error becomes a 500 problem here, inside the middleware, so it carries
    the request id and is logged with status 500 (Starlette's own error middleware sits
    outside every other one)."""

    def __init__(self, app: ASGIApp, *, db_lock_wait: float | None = None) -> None:
        self.app = app
        self.db_lock_wait = db_lock_wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = ""
        for name, value in scope["headers"]:
            if name.lower() == b"x-request-id":
                incoming = value.decode("latin-1")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        status_holder = {"status": 0}
        error: str | None = None
        site: list[str] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = _with_defaults(list(message.get("headers", [])), rid)
            await send(message)

        try:
            with lock_wait(self.db_lock_wait):
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Log the type only: messages of unexpected errors could carry data.
            error = type(exc).__name__
            site = error_site(exc)
            if status_holder["status"] != 0:
                raise  # the answer has begun: nothing sensible can be sent any more
            await send_problem(
                send_wrapper, 500, "internal_error", "an internal error occurred", request_id=rid
            )
        finally:
            status = status_holder["status"]
            extra: dict[str, Any] = {
                "request_id": rid,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            if error is not None:
                extra["error_type"] = error
                extra["error_site"] = site
            if status >= 500 or error is not None:
                log.error("request failed", extra=extra)
            else:
                log.info("request", extra=extra)
