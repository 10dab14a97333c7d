"""RFC 9457 problem details: the only place that maps domain errors to HTTP statuses."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from api.accounts import AccountError
from api.notices import UnknownNotice
from api.ratelimit import retry_after
from enroll import EnrollError
from keys import KekError, KeysError
from vault import VaultError

log = logging.getLogger("facekeep.api")

STATUS_OF_CODE = {
    "not_an_image": 415,
    "image_too_large": 413,
    "payload_too_large": 413,
    "no_face": 422,
    "multiple_faces": 422,
    "face_too_small": 422,
    "invalid_embedding": 422,
    "faces_differ": 422,
    "too_many_frames": 422,
    "invalid_request": 422,
    "unknown_notice": 422,
    "unknown_venue": 422,
    "unsupported_media_type": 415,
    "invalid_json": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "embeddings_not_allowed": 403,
    "not_found": 404,
    "customer_not_found": 404,
    "consent_not_found": 404,
    "key_not_found": 404,
    "customer_exists": 409,
    "notice_changed": 409,
    "gallery_full": 409,
    "reenrol_at_counter": 409,
    "enrolment_interrupted": 409,
    "customer_erased": 410,
    "key_destroyed": 410,
    "method_not_allowed": 405,
    "rate_limited": 429,
    "not_ready": 503,
    "kek_unavailable": 503,
    "kek_file_insecure": 503,
    "restore_incomplete": 503,
    "epoch_not_owned": 409,
    "signing_key_mismatch": 409,
    "request_not_found": 404,
    "request_closed": 409,
    "breach_not_found": 404,
    "breach_closed": 409,
    "request_timeout": 408,
    "image_too_complex": 422,
    "venue_not_allowed": 403,
    "staff_exists": 409,
    "staff_locked": 429,
    "invalid_pin": 422,
    "database_unavailable": 503,
    "busy": 503,
    "audit_inconsistent": 500,
}

#: Seconds a client should wait before retrying when the database is unavailable.
DATABASE_RETRY_AFTER = 2
#: Seconds a client should wait when the HSM or KMS is away (or too slow).
KEK_RETRY_AFTER = 5

#: The error trees of the domain packages: each error has a stable ``code`` and its data
#: attributes in ``details()``.
DomainError = EnrollError | VaultError | KeysError
DOMAIN_ERRORS = (EnrollError, VaultError, KeysError)
#: Members of a problem document that an error's details never replace.
_RESERVED = frozenset({"type", "title", "status", "detail", "code", "instance", "request_id"})


class Problem(Exception):
    """An error answered as ``application/problem+json`` with a stable ``code``."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status or STATUS_OF_CODE.get(code, 400)
        self.headers = headers or {}
        self.extra = extra


def problem_body(code: str, detail: str, status: int) -> dict[str, Any]:
    """The members every problem document starts with (RFC 9457 plus the stable code)."""
    return {
        "type": f"https://facekeep.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail,
        "code": code,
    }


async def send_problem(
    send: Send,
    status: int,
    code: str,
    detail: str,
    *,
    headers: Sequence[tuple[bytes, bytes]] = (),
    **members: Any,
) -> None:
    """Answer a problem straight over ASGI, for middleware that sits outside FastAPI's
    exception handlers; ``members`` follow the standard ones."""
    body = json.dumps(problem_body(code, detail, status) | members).encode()
    start_headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    """Render a problem."""
    body = problem_body(problem.code, problem.detail, problem.status)
    if request is not None:
        body["instance"] = request.url.path
        rid = getattr(request.state, "request_id", None)
        if rid:
            body["request_id"] = rid
    body.update(problem.extra)
    return JSONResponse(
        body,
        status_code=problem.status,
        headers=problem.headers,
        media_type="application/problem+json",
    )


def _domain_status(code: str) -> int:
    if code.startswith("invalid_"):
        return 422
    return STATUS_OF_CODE.get(code, 400)


def coded_problem(
    code: str,
    detail: str,
    details: Mapping[str, object],
    *,
    headers: dict[str, str] | None = None,
) -> Problem:
    """The problem for a domain error's ``code``, message and ``details()`` (also for
    errors that crossed a process boundary as those three values)."""
    problem = Problem(code, detail, status=_domain_status(code), headers=headers)
    problem.extra.update((k, v) for k, v in details.items() if k not in _RESERVED)
    return problem


def domain_problem(error: DomainError) -> Problem:
    """How a domain error is answered: its code, its message and its details."""
    # The HSM or KMS is away (or too slow): the request may succeed when it is back.
    retry = {"Retry-After": str(KEK_RETRY_AFTER)} if isinstance(error, KekError) else None
    return coded_problem(error.code, str(error), error.details(), headers=retry)


def install(app: FastAPI) -> None:
    """Register the exception handlers."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    async def _domain(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DOMAIN_ERRORS)
        return problem_response(domain_problem(exc), request)

    for tree in DOMAIN_ERRORS:
        app.add_exception_handler(tree, _domain)

    @app.exception_handler(UnknownNotice)
    async def _notice(request: Request, exc: UnknownNotice) -> JSONResponse:
        return problem_response(Problem("unknown_notice", str(exc)), request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        json_error = any(e.get("type") == "json_invalid" for e in exc.errors())
        code = "invalid_json" if json_error else "invalid_request"
        return problem_response(Problem(code, "the request is not valid", errors=errors), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return problem_response(
            Problem(code, str(exc.detail), status=exc.status_code, headers=dict(exc.headers or {})),
            request,
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value of the request (PostgreSQL: a NUL character, a
        # string longer than its column, an integer out of range). Nothing was written:
        # the transaction rolled back. The message may quote the value: log the type only.
        log.warning("database refused a value", extra={"error_type": type(exc.orig).__name__})
        return problem_response(
            Problem(
                "invalid_request",
                "a value of the request cannot be stored (a NUL character, too long, "
                "or out of range)",
            ),
            request,
        )

    @app.exception_handler(AccountError)
    async def _account(request: Request, exc: AccountError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == "unauthorized" else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = retry_after(exc.retry_after)
        return problem_response(Problem(exc.code, str(exc), headers=headers), request)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        # Locked (a lock wait ran out), unreachable, full or read-only: nothing was
        # written, and a retry in a moment may succeed. The message may quote values.
        log.warning("database unavailable", extra={"error_type": type(exc).__name__})
        return problem_response(
            Problem(
                "database_unavailable",
                "the database is busy or unavailable; try again shortly",
                headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
            ),
            request,
        )

    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(error, _database)
    # Unexpected errors become a 500 in api.middleware.RequestContext, with the request id.
