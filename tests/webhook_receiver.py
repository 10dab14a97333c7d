"""A venue's system as the check-in tests see it: a local HTTP server that verifies each
webhook with the README's own receiver example (extracted from README.md and run as it
is written there) and with the Standard Webhooks reference library, records what came,
and answers as the test asks (fail a number of times, hold a request open).

Imported as ``tests.webhook_receiver`` (pytest puts the project root on ``sys.path``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- checkin-receiver-example -->"


def readme_example() -> dict[str, Any]:
    """The receiver example of the README (the Python block after its marker), executed
    without starting its server: its globals ``verify``, ``Receiver``, ``SECRET``, ``seen``
    (set ``SECRET`` in this dict: the example's code reads it from there)."""
    text = README.read_text(encoding="utf-8")
    after = text.split(MARKER, 1)[1]
    found = re.search(r"```python\n(.*?)```", after, re.S)
    assert found is not None, "the README's receiver example is missing"
    namespace: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(found.group(1), "README.md:receiver", "exec"), namespace)
    return namespace


@dataclass
class Delivery:
    """One request the receiver got, and whether both verifiers accepted it."""

    webhook_id: str
    timestamp: int
    body: dict[str, Any]
    readme_ok: bool
    library_ok: bool
    answered: int = 0


@dataclass
class Receiver:
    """The test's webhook endpoint. ``fail_next`` answers 503 that many times;
    ``hold`` (an Event) keeps each request open until it is set."""

    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    fail_next: int = 0
    hold: threading.Event | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/checkins"

    def start(self) -> Receiver:
        example = readme_example()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                try:
                    example["verify"](receiver.secret, self.headers, raw)
                    readme_ok = True
                except (KeyError, ValueError):
                    readme_ok = False
                try:
                    library = Webhook(receiver.secret)
                    library.verify(raw, {k.lower(): v for k, v in self.headers.items()})
                    library_ok = True
                except Exception:
                    library_ok = False
                delivery = Delivery(
                    webhook_id=self.headers.get("webhook-id", ""),
                    timestamp=int(self.headers.get("webhook-timestamp", "0") or 0),
                    body=json.loads(raw) if raw else {},
                    readme_ok=readme_ok,
                    library_ok=library_ok,
                )
                with receiver.arrived:
                    receiver.deliveries.append(delivery)
                    failing = receiver.fail_next > 0
                    if failing:
                        receiver.fail_next -= 1
                    receiver.arrived.notify_all()
                if receiver.hold is not None:
                    receiver.hold.wait(60)
                status = 503 if failing or not (readme_ok and library_ok) else 204
                with receiver.arrived:
                    delivery.answered = status
                    receiver.arrived.notify_all()
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender was killed meanwhile

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, test: Callable[[list[Delivery]], bool], timeout: float = 60.0) -> None:
        """Block until ``test(deliveries)`` holds (fails the test after ``timeout``)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: test(self.deliveries), timeout):
                raise AssertionError(
                    f"the receiver did not get what was expected: {self.deliveries}"
                )

    def accepted(self) -> dict[str, Delivery]:
        """Deliveries answered 2xx, by check-in id (the last one of each)."""
        with self.arrived:
            return {d.webhook_id: d for d in self.deliveries if 200 <= d.answered < 300}
