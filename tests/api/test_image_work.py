"""Image workers: kept apart from the server's secrets, kiosks with capacity of their own,
a bounded amount of work in flight, and hostile JPEGs refused over HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from api.imaging import ImageWork, WorkerSetup
from api.problems import Problem
from api.sandbox import KEPT
from api.settings import Settings
from tests.enroll.imaging import jpeg_with_scans

pytestmark = pytest.mark.faces

VENUE = "hcm-1"
KEK = base64.b64encode(b"k" * 32).decode()
PIN = "pkcs11-pin-5f1e9a"
TOKEN = "transit-token-0c6d"
METRICS = "metrics-token-" + "q" * 30


def test_image_workers_get_no_secret(make_service, monkeypatch, photos) -> None:
    # Everything a careless spawn would pass on: the environment and the settings.
    monkeypatch.setenv("FACEKEEP_KEK", KEK)
    monkeypatch.setenv("FACEKEEP_PKCS11_PIN", PIN)
    monkeypatch.setenv("FACEKEEP_TRANSIT_TOKEN", TOKEN)
    monkeypatch.setenv("FACEKEEP_METRICS_TOKEN", METRICS)
    svc = make_service(image_workers=1, upload_workers=1, match_rate=0)
    svc.venue(VENUE)
    kiosk = svc.kiosk(VENUE)
    assert svc.match(kiosk, image=photos("obama_1.jpg")).status_code == 200  # kiosks' pool
    r = svc.enrol_request([photos("obama_2.jpg")], venues=(VENUE,))  # the uploads' pool
    assert r.status_code == 201, r.text
    work = svc.app.state.facekeep.images
    pools = {
        "kiosks": set(work._kiosks.executor._processes),
        "uploads": set(work._uploads.executor._processes),
    }
    assert pools["kiosks"] and pools["uploads"] and not pools["kiosks"] & pools["uploads"]
    secrets = [KEK, PIN, TOKEN, METRICS, svc.admin.secret, svc.auditor.secret, kiosk.secret]
    for pid in pools["kiosks"] | pools["uploads"]:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        names = {item.split(b"=", 1)[0].decode() for item in environ.split(b"\0") if item}
        assert names <= KEPT, names - KEPT
        seen = environ + Path(f"/proc/{pid}/cmdline").read_bytes()
        for secret in secrets:
            assert secret.encode() not in seen
    # Their initialiser got the engine and the image limits, nothing else.
    for executor in (work._kiosks.executor, work._uploads.executor):
        (setup,) = executor._initargs
        assert isinstance(setup, WorkerSetup)
        assert set(vars(setup)) == {"engine", "limits", "min_face_size"}
        assert not any(s in repr(setup) for s in secrets)
    assert os.environ["FACEKEEP_KEK"] == KEK  # the server itself still has what it needs


class HeldEmbedder:
    """An embedder whose enrolment photos wait until released (a slow customer upload)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def embed_enrolment(self, data: bytes) -> Any:
        assert self.release.wait(30)
        return SimpleNamespace(vector=np.zeros(128))

    def embed_probe(self, data: bytes) -> Any:
        return SimpleNamespace(vector=np.full(128, 0.01))

    def count_faces(self, data: bytes) -> int:
        assert self.release.wait(30)
        return 1


def test_a_kiosk_match_does_not_wait_behind_uploads() -> None:
    embedder = HeldEmbedder()
    work = ImageWork(Settings(), embedder)  # type: ignore[arg-type]

    async def scenario() -> None:
        uploads = [asyncio.create_task(work.enrolment_vector(b"photo")) for _ in range(4)]
        counts = [asyncio.create_task(work.count_faces(b"photo")) for _ in range(4)]
        await asyncio.sleep(0.05)  # every upload thread is now held
        probe = await asyncio.wait_for(work.probe_vector(b"frame"), timeout=20)
        assert probe.shape == (128,)
        # Uploads beyond the bound are turned away at once, not queued without end.
        with pytest.raises(Problem) as refused:
            await asyncio.gather(*(work.enrolment_vector(b"photo") for _ in range(8)))
        assert refused.value.code == "busy" and refused.value.status == 503
        embedder.release.set()
        await asyncio.gather(*uploads, *counts, return_exceptions=True)

    try:
        asyncio.run(scenario())
    finally:
        embedder.release.set()
        work.close()


def test_a_jpeg_with_thousands_of_scans_is_422_over_http(make_service, problem) -> None:
    svc = make_service(match_rate=0)
    svc.venue(VENUE)
    kiosk = svc.kiosk(VENUE)
    r = svc.match(kiosk, image=("scans.jpg", jpeg_with_scans(2000)))
    body = problem(r, 422, "image_too_complex")
    assert "scans" in body["detail"]
    r = svc.enrol_request([("scans.jpg", jpeg_with_scans(2000))], venues=(VENUE,))
    problem(r, 422, "image_too_complex")
