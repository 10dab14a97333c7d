"""Revocation and erasure take effect at once under load, on a real server process.

Eight threads post JSON embedding matches of one customer in a loop against
``facekeep serve``; meanwhile the customer revokes (or erases) with their access code.
No request that *started* after the revoke call returned may match that customer, and no
request may fail with a 5xx.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from api import credentials
from api.notices import notice_text
from api.operations import enroll_images
from api.runtime import init_data_dir, open_runtime
from api.settings import Settings
from vault import SYSTEM, ConsentRequest

pytestmark = pytest.mark.faces

THREADS = 8
VENUE = "hcm-1"


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    status: int
    customer: str | None


def hammer(
    url: str, kiosk: str, vector: list[float], stop: threading.Event, out: list[Outcome]
) -> None:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {kiosk}"}, timeout=30
    ) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                r = client.post("/v1/match", json={"embedding": vector})
            except httpx.HTTPError as exc:  # a dropped connection is a failure too
                out.append(Outcome(started, time.monotonic(), 599, repr(exc)))
                continue
            finished = time.monotonic()
            customer = r.json().get("customer") if r.status_code == 200 else None
            out.append(Outcome(started, finished, r.status_code, customer))


def under_load(
    url: str, kiosk: str, vector: list[float], action: Any
) -> tuple[list[Outcome], float, float]:
    """Run THREADS matching loops, call ``action`` once they are busy, stop at least 1 s
    after it returns; each answer with the monotonic times it was sent and received."""
    stop = threading.Event()
    results: list[list[Outcome]] = [[] for _ in range(THREADS)]
    threads = [
        threading.Thread(target=hammer, args=(url, kiosk, vector, stop, results[i]), daemon=True)
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    # Let the load build up: at least 40 answers (or 10 s) before the change.
    deadline = time.monotonic() + 10
    while sum(len(r) for r in results) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = time.monotonic()
    action()
    returned = time.monotonic()
    # Keep going for a second, and until at least 40 requests were sent after the change.
    time.sleep(1.0)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(1 for r in results for o in list(r) if o.started > returned) >= 40:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    return [o for r in results for o in r], sent, returned


def check(outcomes: list[Outcome], customer: str, sent: float, returned: float) -> None:
    errors = [o for o in outcomes if o.status != 200]
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[:3]}"
    before = [o for o in outcomes if o.finished < sent]
    after = [o for o in outcomes if o.started > returned]
    # The load was real, and the customer was matched until the change was asked for.
    assert len(before) >= 20, len(before)
    assert all(o.customer == customer for o in before), "matches failed before the change"
    assert len(after) >= 40, len(after)
    late = [o for o in after if o.customer is not None]
    assert not late, (
        f"{len(late)} of {len(after)} requests started after the change returned still "
        f"matched, e.g. started {late[0].started - returned:.4f}s after"
    )


def test_revocation_and_erasure_take_effect_at_once_under_load(
    tmp_path, serve, embedder, face_bytes, face_embedding, new_db_urls
) -> None:
    # Set up offline (as an operator would with the command line), then start the server.
    data = tmp_path / "data"
    urls = new_db_urls(data)
    settings = Settings(data_dir=data, database_url=urls.vault, keystore_url=urls.keys)
    init_data_dir(settings)
    runtime = open_runtime(settings, embedder=embedder)
    try:
        engine = runtime.vault.engine
        now = runtime.vault.now()
        credentials.ensure_venue(engine, VENUE, VENUE, now, SYSTEM)
        kiosk, _ = credentials.create_key(
            engine,
            role="kiosk",
            now=now,
            actor=SYSTEM,
            venue=VENUE,
            purposes=("checkin",),
            allow_embeddings=True,  # a trusted edge device, so the load is cheap to send
        )
        consent = ConsentRequest(
            purposes=("checkin",),
            venues=(VENUE,),
            notice_text=notice_text("v1", "vi"),
            notice_version="v1",
            lang="vi",
        )
        obama, biden = (
            enroll_images(runtime, [face_bytes(name)], consent, actor=SYSTEM)
            for name in ("obama_1.jpg", "biden_1.jpg")
        )
    finally:
        runtime.close()

    server = serve(
        data,
        FACEKEEP_DATABASE_URL=urls.vault,
        FACEKEEP_KEYSTORE_URL=urls.keys,
        FACEKEEP_MATCH_RATE="0",
        FACEKEEP_LOG_LEVEL="WARNING",
    )
    with httpx.Client(base_url=server.url, timeout=60) as client:

        def revoke() -> None:
            r = client.post("/v1/me/revoke", headers=bearer(obama.access_code))
            assert r.status_code == 200, r.text

        def erase() -> None:
            r = client.delete("/v1/me", headers=bearer(biden.access_code))
            assert r.status_code == 200, r.text

        vector = [float(x) for x in face_embedding("obama_2")]
        outcomes, sent, returned = under_load(server.url, kiosk, vector, revoke)
        check(outcomes, obama.enrolment.customer_id, sent, returned)

        vector = [float(x) for x in face_embedding("biden_2")]
        outcomes, sent, returned = under_load(server.url, kiosk, vector, erase)
        check(outcomes, biden.enrolment.customer_id, sent, returned)

        # The server is still healthy after all of it.
        assert client.get("/readyz").status_code == 200
    server.stop()
    log = server.log()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
