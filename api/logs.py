"""Structured JSON logs with a request id. Only ids, routes, statuses and timings are
logged: never bodies, images, embeddings, keys or access codes.

Every line is one JSON object, tracebacks included: an exception is logged as its type
and its stack (file, line and function of each frame), never its message, which could
quote data. A line logged while a request is served carries that request's id.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

#: The id of the request being served in this context (set by :class:`RequestIdContext`).
REQUEST_ID: ContextVar[str | None] = ContextVar("facekeep_request_id", default=None)

_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "role",
    "principal",
    "error_type",
    "error_site",
    "phase",
    "done",
    "total",
    "elapsed_s",
    "attempt",
    "retry_in_s",
    "lag_s",
    "state",
    "provider",
)


def _stack(tb: TracebackType | None) -> list[str]:
    return [
        f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(tb)
    ]


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if "request_id" not in out:
            current = REQUEST_ID.get()
            if current is not None:
                out["request_id"] = current
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            out.setdefault("error_type", exc_type.__name__)
            out["traceback"] = _stack(tb)
            cause = exc.__cause__ or exc.__context__ if exc is not None else None
            if cause is not None:
                out["cause"] = {
                    "error_type": type(cause).__name__,
                    "traceback": _stack(cause.__traceback__),
                }
        return json.dumps(out, ensure_ascii=False, default=str)


def log_unexpected(logger: str, exc: BaseException) -> None:
    """Log an exception nobody handled as one JSON line (type and stack, no message)."""
    logging.getLogger(logger).error(
        "unexpected error", exc_info=(type(exc), exc, exc.__traceback__)
    )


class RequestIdContext:
    """Put the request id that :class:`api.middleware.RequestContext` gave the request
    into :data:`REQUEST_ID`, so every log line of the request carries it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = scope.get("state", {}).get("request_id") if scope["type"] == "http" else None
        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)


def configure(level: str = "INFO") -> None:
    """Send facekeep's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("facekeep", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Libraries' own warnings, too, as JSON (nothing prints plain text to stderr).
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    logging.captureWarnings(True)
    # The access log prints query strings; ours logs the path only.
    logging.getLogger("uvicorn.access").disabled = True

    def thread_died(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            log_unexpected("facekeep.thread", args.exc_value)

    def process_died(
        kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        logging.getLogger("facekeep").critical("fatal error", exc_info=(kind, exc, tb))

    threading.excepthook = thread_died
    sys.excepthook = process_died
