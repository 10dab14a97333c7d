"""Structured JSON logs with a request id. Only ids, routes, statuses and timings are
logged: never bodies, images, embeddings, keys or access codes."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "role",
    "principal",
    "error_type",
)


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
        return json.dumps(out, ensure_ascii=False)


def configure(level: str = "INFO") -> None:
    """Send facekeep's and uvicorn's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("facekeep", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # The access log prints query strings; ours logs the path only.
    logging.getLogger("uvicorn.access").disabled = True
