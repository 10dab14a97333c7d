"""Every log line is one JSON object: exceptions as their type and stack (never their
message, which may quote data), with the id of the request being served."""

from __future__ import annotations

import io
import json
import logging

from api.logs import REQUEST_ID, JsonFormatter


def _logged(run: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("facekeep.test-logs")
    logger.handlers, logger.propagate = [handler], False
    try:
        run(logger)  # type: ignore[operator]
    finally:
        logger.handlers = []
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, lines
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def test_an_exception_is_its_type_and_stack_with_the_request_id() -> None:
    secret = "access-code-7F3K-9QX2"

    def fail(logger: logging.Logger) -> None:
        token = REQUEST_ID.set("req42")
        try:
            try:
                raise KeyError(secret)
            except KeyError as inner:
                raise RuntimeError(f"while handling {secret}") from inner
        except RuntimeError:
            logger.exception("request failed")
        finally:
            REQUEST_ID.reset(token)

    line = _logged(fail)
    assert line["request_id"] == "req42" and line["error_type"] == "RuntimeError"
    assert line["level"] == "error" and line["msg"] == "request failed"
    stack = line["traceback"]
    assert isinstance(stack, list) and any("test_logs.py" in frame for frame in stack)
    assert line["cause"]["error_type"] == "KeyError"  # type: ignore[index]
    assert secret not in json.dumps(line)


def test_lines_outside_a_request_carry_no_request_id() -> None:
    line = _logged(lambda logger: logger.warning("index loaded", extra={"phase": "ready"}))
    assert "request_id" not in line and line["phase"] == "ready"
