"""ASGI middleware: request ids with JSON access logs, and the request body limit."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("facekeep.access")


class BodyTooLarge(Exception):
    """The client sent more than the limit."""


def _problem(status: int, code: str, detail: str) -> bytes:
    return json.dumps(
        {
            "type": f"https://facekeep.dev/problems/{code}",
            "title": code.replace("_", " "),
            "status": status,
            "detail": detail,
            "code": code,
        }
    ).encode()


class RequestContext:
    """Give each request an id (``X-Request-ID``), cap its body, and log one JSON line.

    The body limit is enforced from ``Content-Length`` before anything is read, and again
    while streaming, so an oversized upload is refused before any image is decoded.
    """

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        rid = incoming if incoming.isalnum() and len(incoming) <= 64 else secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = rid
        status_holder = {"status": 0}
        rejected = False

        async def send_wrapper(message: Message) -> None:
            if rejected:
                return  # we already answered 413; drop what the app sends after
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        async def reject(status: int, code: str, detail: str) -> None:
            nonlocal rejected
            body = _problem(status, code, detail)
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})
            rejected = True

        try:
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await reject(413, "payload_too_large", f"the body is over {self.max_body} bytes")
                return
            received = 0

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        # Answer now: the app may catch the error below and try to answer
                        # something else, which send_wrapper then drops.
                        if status_holder["status"] == 0 and not rejected:
                            await reject(
                                413, "payload_too_large", f"the body is over {self.max_body} bytes"
                            )
                        raise BodyTooLarge()
                return message

            with contextlib.suppress(BodyTooLarge):
                await self.app(scope, limited_receive, send_wrapper)
        finally:
            extra: dict[str, Any] = {
                "request_id": rid,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status_holder["status"],
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            log.info("request", extra=extra)
