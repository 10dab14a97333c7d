"""Revocation under load: 16 kiosk clients match continuously against a real
``facekeep serve`` while customers revoke and erase.

Six customers are enrolled over HTTP with a photo each; 16 kiosk keys (one per client,
made over HTTP) post JSON embeddings of the customers' other photos and of a stranger in
a loop. Meanwhile, one after another, customers withdraw consent with their access code,
erase themselves, or are erased by the staff; one customer keeps their consent as the
control. Checked:

- zero matches of a customer in requests *started* after that customer's revocation or
  erasure call returned;
- zero 5xx and zero dropped connections;
- every answer is in the audit log: per kiosk key, the log has exactly as many ``match``
  events, with the same outcome and customer, as the kiosk got answers; each revocation
  and erasure has its events; and the log verifies offline.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.faces

KIOSKS = 16
VENUE = "hcm-1"
# customer id -> (enrolment photo, probe photo)
PEOPLE = {
    "obama": ("obama_1.jpg", "obama_2"),
    "biden": ("biden_1.jpg", "biden_2"),
    "kit": ("kit_harington_1.jpg", "kit_harington_2"),
    "rose": ("rose_leslie_1.jpg", "rose_leslie_2"),
    "alex": ("alex_lacamoire_1.jpg", "alex_lacamoire_2"),
    "lin": ("lin_manuel_miranda_1.png", "lin_manuel_miranda_1"),
}
# Who changes what, in order; "lin" stays consenting (the control).
CHANGES = (
    ("obama", "revoke"),
    ("biden", "erase-self"),
    ("kit", "staff-revoke"),
    ("rose", "staff-erase"),
    ("alex", "revoke"),
)


@dataclass(frozen=True)
class Answer:
    kiosk: int
    started: float
    finished: float
    status: int
    customer: str | None


def kiosk_loop(
    url: str,
    index: int,
    key: str,
    probes: list[list[float]],
    stop: threading.Event,
    out: list[Answer],
    deadline: float,
) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        n = index
        while not stop.is_set() and time.monotonic() < deadline:
            vector = probes[n % len(probes)]
            n += 1
            started = time.monotonic()
            try:
                r = c.post("/v1/match", json={"embedding": vector})
            except httpx.HTTPError as exc:
                out.append(Answer(index, started, time.monotonic(), 599, repr(exc)))
                continue
            finished = time.monotonic()
            customer = r.json().get("customer") if r.status_code == 200 else None
            out.append(Answer(index, started, finished, r.status_code, customer))


def test_revocation_and_erasure_hold_under_load(
    make_deployment: Callable[..., Any],
    face_bytes: Callable[[str], bytes],
    served_embedding: Callable[[str], Any],
    enrol_form: Callable[..., dict[str, Any]],
    figures: Any,
) -> None:
    deployment = make_deployment("load")
    keys = deployment.keys()
    server = deployment.serve("load", FACEKEEP_MATCH_RATE="0", FACEKEEP_LOG_LEVEL="WARNING")
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client = httpx.Client(base_url=server.url, timeout=120)
    codes: dict[str, str] = {}
    for customer, (photo, _) in PEOPLE.items():
        kind = "image/png" if photo.endswith(".png") else "image/jpeg"
        r = client.post(
            "/v1/enrolments",
            data=enrol_form(customer=customer),
            files=[("image", (photo, face_bytes(photo), kind))],
            headers=admin,
        )
        assert r.status_code == 201, r.text
        codes[customer] = r.json()["access_code"]
    kiosks: list[tuple[str, str]] = []
    for i in range(KIOSKS):
        r = client.post(
            "/v1/kiosks",
            json={
                "venue": VENUE,
                "purposes": ["checkin"],
                "label": f"load {i}",
                "allow_embeddings": True,
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        kiosks.append((r.json()["key"], r.json()["id"]))
    probes = {c: [float(x) for x in served_embedding(p)] for c, (_, p) in PEOPLE.items()}
    # A stranger: a unit vector in a random direction (faces are ~1 apart at random).
    rng = np.random.default_rng(3)
    direction = rng.normal(size=128)
    stranger = [float(x) for x in direction / np.linalg.norm(direction)]
    vectors = [*probes.values(), stranger]
    # Each probe matches its own customer before the load starts (and nobody else's).
    for customer, vector in probes.items():
        r = client.post(
            "/v1/match",
            json={"embedding": vector},
            headers={"Authorization": f"Bearer {keys.kiosk}"},
        )
        assert r.json().get("customer") == customer, (customer, r.text)
    r = client.post(
        "/v1/match",
        json={"embedding": stranger},
        headers={"Authorization": f"Bearer {keys.kiosk}"},
    )
    assert r.json() == {"match": False}, r.text

    stop = threading.Event()
    results: list[list[Answer]] = [[] for _ in range(KIOSKS)]
    hard_deadline = time.monotonic() + 120  # the loops stop by themselves
    threads = [
        threading.Thread(
            target=kiosk_loop,
            args=(server.url, i, kiosks[i][0], vectors, stop, results[i], hard_deadline),
            daemon=True,
        )
        for i in range(KIOSKS)
    ]
    load_started = time.monotonic()
    for t in threads:
        t.start()
    while sum(len(r) for r in results) < 200 and time.monotonic() < load_started + 20:
        time.sleep(0.05)
    returned_at: dict[str, float] = {}
    sent_at: dict[str, float] = {}
    for customer, change in CHANGES:
        time.sleep(0.4)
        sent_at[customer] = time.monotonic()
        if change == "revoke":
            r = client.post("/v1/me/revoke", headers={"Authorization": f"Bearer {codes[customer]}"})
        elif change == "erase-self":
            r = client.delete("/v1/me", headers={"Authorization": f"Bearer {codes[customer]}"})
        elif change == "staff-revoke":
            r = client.post(f"/v1/customers/{customer}/revoke", json={}, headers=admin)
        else:
            r = client.post(
                f"/v1/customers/{customer}/erase", json={"reason": "load test"}, headers=admin
            )
        returned_at[customer] = time.monotonic()
        assert r.status_code == 200, (customer, change, r.status_code, r.text)
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    load_seconds = time.monotonic() - load_started
    answers = [a for r in results for a in r]

    errors = [a for a in answers if a.status != 200]
    late = [a for a in answers if a.customer in returned_at and a.started > returned_at[a.customer]]
    in_flight = [
        a
        for a in answers
        if a.customer in returned_at
        and a.started <= returned_at[a.customer]
        and a.finished > sent_at[a.customer]
    ]
    after = {c: [a for a in answers if a.started > t] for c, t in returned_at.items()}
    control = [a for a in answers if a.customer == "lin" and a.started > max(returned_at.values())]

    # The audit log holds every answer and every change.
    r = client.get("/v1/audit/export", headers={"Authorization": f"Bearer {keys.auditor}"})
    assert r.status_code == 200
    folder = deployment.root / "export"
    zipfile.ZipFile(io.BytesIO(r.content)).extractall(folder)
    events = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    verify = deployment.cli("audit", "verify", str(folder))
    kiosk_index = {kid: i for i, (_, kid) in enumerate(kiosks)}
    logged = Counter(
        (kiosk_index[e["actor"]["id"]], e["outcome"], e["customer"])
        for e in events
        if e["action"] == "match" and e["actor"]["id"] in kiosk_index
    )
    answered = Counter(
        (a.kiosk, "match" if a.customer else "no_match", a.customer)
        for a in answers
        if a.status == 200
    )
    actions = Counter((e["customer"], e["action"]) for e in events if e.get("customer"))
    figures(
        "revocation_load",
        {
            "kiosk_clients": KIOSKS,
            "customers": len(PEOPLE),
            "changes": len(CHANGES),
            "load_seconds": round(load_seconds, 1),
            "match_requests": len(answers),
            "requests_per_second": round(len(answers) / load_seconds, 1),
            "matches": sum(1 for a in answers if a.customer),
            "non_200": len(errors),
            "matches_started_after_change_returned": len(late),
            "requests_started_after_changes": sum(len(v) for v in after.values()),
            "matches_in_flight_during_a_change": len(in_flight),
            "change_latency_ms": {
                c: round((returned_at[c] - sent_at[c]) * 1000, 1) for c in returned_at
            },
            "match_events_logged": sum(logged.values()),
            "audit_verify": verify.json().get("verdict"),
        },
    )
    client.close()
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[:3]}"
    assert not late, f"{len(late)} matches started after the change returned, e.g. {late[:3]}"
    for customer, later in after.items():
        assert len(later) >= 50, (customer, len(later))  # the load went on after each change
    assert control, "the consenting control customer was not matched after the changes"
    assert answered == logged, (
        f"answers and match events differ: only answered {answered - logged}, "
        f"only logged {logged - answered}"
    )
    for customer, change in CHANGES:
        expected = "consent.revoke" if "revoke" in change else "erase.complete"
        assert actions[(customer, expected)] == 1, (customer, change, actions)
    assert verify.returncode == 0 and verify.json()["verdict"] == "PASS", verify.stdout
    server.stop()
    log = server.log_text()
    assert "Traceback" not in log and "unexpected error" not in log, log[-3000:]
