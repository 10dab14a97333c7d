"""Ready means ready, with a real OpenBao transit KEK behind a proxy that can hold calls.

- While the index loads (its batch unwraps held), the port answers at once: /healthz 200,
  /readyz 503 {"status": "loading", "progress": ...}, other routes 503 with Retry-After.
- Once loaded: /readyz 200 with the KEK probe and the follower.
- A KEK outage (every call held, as a hung server would): /readyz and a request that needs
  the KEK answer 503 with Retry-After within a few seconds, never 400, never hanging.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy.typing as npt
import pytest

from api import credentials
from api.operations import enroll_vectors
from api.runtime import Runtime, init_data_dir, open_runtime
from tests.keys.providers import BaoServer
from tests.support import wait_until
from tests.support.consents import consent_request
from vault import SYSTEM, ConsentRequest

VENUE = "hcm-1"
TIMEOUT_S = 2


class HoldingProxy:
    """A TCP relay to OpenBao that holds client bytes while told to: ``hold = "batch"``
    (only transit batch calls) or ``"all"``; ``None`` lets everything through."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.hold: str | None = None
        self.held = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._relay, args=(client, upstream, True), daemon=True).start()
            threading.Thread(
                target=self._relay, args=(upstream, client, False), daemon=True
            ).start()

    def _holds(self, chunk: bytes) -> bool:
        return self.hold == "all" or (self.hold == "batch" and b"batch_input" in chunk)

    def _relay(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if from_client and self._holds(chunk):
                    self.held += 1
                    while self._holds(chunk) and not self._stop.is_set():
                        time.sleep(0.05)
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stop.set()
        self.hold = None
        self._server.close()


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BaoServer]:
    server = BaoServer.start(tmp_path_factory.mktemp("bao-ready"))
    yield server
    server.stop()


@pytest.fixture
def proxy(bao: BaoServer) -> Iterator[HoldingProxy]:
    relay = HoldingProxy(bao.url)
    yield relay
    relay.close()


def consent() -> ConsentRequest:
    return consent_request(VENUE)


@pytest.mark.faces
def test_readiness_during_load_and_on_kek_outage(
    make_deployment: Callable[..., Any],
    bao: BaoServer,
    proxy: HoldingProxy,
    served_embedding: Callable[[str], npt.NDArray[Any]],
    face_bytes: Callable[[str], bytes],
    enrol_form: Callable[..., dict[str, Any]],
) -> None:
    deployment = make_deployment("ready", init=False)
    transit = {
        "kek_provider": "transit",
        "transit_url": bao.url,
        "transit_token": bao.token,
        "transit_key": "ready-kek",
        "transit_mount": "transit-ready",
    }
    init_data_dir(deployment.settings(**transit))
    with opened(deployment, transit) as rt:
        for customer, photo in (("ana", "obama_1"), ("ben", "biden_1"), ("cao", "kit_harington_1")):
            enroll_vectors(
                rt, [served_embedding(photo)], consent(), actor=SYSTEM, customer_id=customer
            )
        now = datetime.now(UTC)
        credentials.ensure_venue(rt.vault.engine, VENUE, VENUE, now, SYSTEM)
        admin_key, _ = credentials.create_key(rt.vault.engine, role="admin", now=now, actor=SYSTEM)
        kiosk_key, _ = credentials.create_key(
            rt.vault.engine,
            role="kiosk",
            now=now,
            actor=SYSTEM,
            venue=VENUE,
            purposes=("checkin",),
            allow_embeddings=True,
        )
    env = {
        "FACEKEEP_KEK_PROVIDER": "transit",
        "FACEKEEP_TRANSIT_URL": proxy.url,
        "FACEKEEP_TRANSIT_TOKEN": bao.token,
        "FACEKEEP_TRANSIT_KEY": "ready-kek",
        "FACEKEEP_TRANSIT_MOUNT": "transit-ready",
        "FACEKEEP_KEK_TIMEOUT_SECONDS": str(TIMEOUT_S),
        "FACEKEEP_MATCH_RATE": "0",
    }

    # The load's batch unwraps are held: the port answers, readiness says loading.
    proxy.hold = "batch"
    server = deployment.serve("ready", wait=False, **env)
    wait_until(lambda: _status(server.url + "/healthz") == 200, "the port opens")
    wait_until(lambda: proxy.held > 0, "the load reaches the KEK")
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["status"] == "loading" and ready.headers["retry-after"]
    assert body["progress"]["phase"] in ("loading", "failed")
    probe = [float(x) for x in served_embedding("obama_2")]
    kiosk = {"Authorization": f"Bearer {kiosk_key}"}
    early = httpx.post(server.url + "/v1/match", json={"embedding": probe}, headers=kiosk)
    assert early.status_code == 503 and early.json()["code"] == "not_ready"
    assert early.headers["retry-after"]

    # Released: the start is retried and finishes; matches are served.
    proxy.hold = None
    wait_until(lambda: _status(server.url + "/readyz") == 200, "ready after the KEK answers")
    body = httpx.get(server.url + "/readyz", timeout=10).json()
    assert body["status"] == "ready" and body["index_templates"] == 3
    assert body["kek"]["ok"] is True and body["kek"]["provider"] == "transit"
    assert body["progress"]["phase"] == "ready" and body["progress"]["fraction"] == 1.0
    hit = httpx.post(server.url + "/v1/match", json={"embedding": probe}, headers=kiosk)
    assert hit.status_code == 200 and hit.json()["customer"] == "ana", hit.text

    # The KEK provider hangs: readiness and a request that needs it say 503, Retry-After.
    proxy.hold = "all"
    time.sleep(5.5)  # the last good probe is kept 5 s
    down = httpx.get(server.url + "/readyz", timeout=30)
    assert down.status_code == 503, down.text
    assert down.json()["code"] == "kek_unavailable" and down.headers["retry-after"]
    admin = {"Authorization": f"Bearer {admin_key}"}
    enrol = httpx.post(
        server.url + "/v1/enrolments",
        data=enrol_form(customer="dao"),
        files=[("image", ("rose.jpg", face_bytes("rose_leslie_1"), "image/jpeg"))],
        headers=admin,
        timeout=60,
    )
    assert enrol.status_code == 503, enrol.text
    assert enrol.json()["code"] == "kek_unavailable" and enrol.headers["retry-after"]

    proxy.hold = None
    wait_until(lambda: _status(server.url + "/readyz") == 200, "ready again", timeout=30)
    server.stop()
    for line in server.log_text().splitlines():  # every log line is JSON
        assert line.startswith("{") and line.endswith("}"), line


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=10).status_code
    except httpx.HTTPError:
        return 0


@contextlib.contextmanager
def opened(deployment: Any, transit: dict[str, str]) -> Iterator[Runtime]:
    """The deployment opened in this process on the transit KEK (index not built)."""
    runtime = open_runtime(deployment.settings(**transit), index=False)
    try:
        yield runtime
    finally:
        runtime.close()
