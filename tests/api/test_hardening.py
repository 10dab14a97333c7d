"""Nothing heavy before authentication, nothing unbounded after it, and answers that are
safe to carry: the body gate, per-route body caps, security headers on every answer, the
API docs off by default, /metrics behind a token, a 500 that carries its request id,
huge numbers refused as input, and the global spill-over budget of access codes.

The gate is driven here at the ASGI level with a ``receive`` that counts what the app
asks for, so "the body was never read" is observed, not inferred (the real server's
memory under a large anonymous body is measured in tests/reliability/test_slow_clients.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

VENUE = "hcm-1"


@pytest.fixture
def svc(make_service):
    service = make_service(match_rate=0)
    service.venue(VENUE)
    return service


def call(app: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """One request straight through the ASGI app; reports the answer and how many body
    bytes the app pulled from the client."""
    pulled = {"bytes": 0, "calls": 0}
    sent: list[dict[str, Any]] = []
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]

    async def receive() -> dict[str, Any]:
        if pulled["calls"] >= len(chunks):
            await asyncio.sleep(3600)  # a client that has nothing more to say
        chunk = chunks[pulled["calls"]]
        pulled["calls"] += 1
        pulled["bytes"] += len(chunk)
        return {
            "type": "http.request",
            "body": chunk,
            "more_body": pulled["calls"] < len(chunks),
        }

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("192.0.2.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 30))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body_out = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {
        "status": start["status"],
        "headers": {k.decode(): v.decode() for k, v in start["headers"]},
        "json": json.loads(body_out) if body_out else None,
        "pulled": pulled["bytes"],
    }


def big_json(size: int) -> bytes:
    return b'{"id": "v1", "name": "' + b"x" * size + b'"}'


def test_an_anonymous_body_is_never_read(svc) -> None:
    body = big_json(8 * 1024 * 1024)
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    for path in ("/v1/venues", "/v1/requests", "/v1/match", "/v1/enrolments", "/v1/breaches"):
        for auth in ({}, {"authorization": "Bearer fka_wrong-key-" + "x" * 40}):
            out = call(svc.app, "POST", path, {**headers, **auth}, body)
            assert out["status"] == 401, (path, out)
            assert out["json"]["code"] == "unauthorized"
            assert out["pulled"] == 0, (path, out["pulled"])
    # A known credential of a role the route does not admit is refused before the body too.
    out = call(svc.app, "POST", "/v1/venues", {**headers, **svc.auditor.headers}, body)
    assert (out["status"], out["json"]["code"], out["pulled"]) == (403, "forbidden", 0)


def test_bodies_are_capped_per_route(svc, face_embedding, problem) -> None:
    admin = {**svc.admin.headers, "content-type": "application/json"}
    # Most JSON routes: 16 KB. Refused from Content-Length, before reading.
    body = big_json(17 * 1024)
    out = call(svc.app, "POST", "/v1/venues", {**admin, "content-length": str(len(body))}, body)
    assert (out["status"], out["json"]["code"], out["pulled"]) == (413, "payload_too_large", 0)
    # A streamed body without a length is cut off at the cap.
    out = call(svc.app, "POST", "/v1/venues", {**admin, "transfer-encoding": "chunked"}, body)
    assert (out["status"], out["json"]["code"]) == (413, "payload_too_large")
    assert out["pulled"] <= 16 * 1024 + 65536
    # The match route takes up to 5 embeddings as JSON (64 KB), images as multipart.
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    vector = face_embedding("obama_1")
    assert svc.match(kiosk, embeddings=[vector] * 5).status_code == 200
    padded = json.dumps({"embedding": [float(x) for x in vector], "pad": "x" * 70_000})
    r = svc.client.post(
        "/v1/match", content=padded, headers={**kiosk.headers, "content-type": "application/json"}
    )
    problem(r, 413, "payload_too_large")
    # An upload route takes a large multipart body, but not a large JSON one.
    r = svc.client.post("/v1/enrolments", content=big_json(20_000), headers=admin)
    problem(r, 413, "payload_too_large")
    # The breach register takes up to 10,000 customer ids.
    many = [f"c_{i:016x}" for i in range(10_000)]
    r = svc.client.post(
        "/v1/breaches", json={"description": "x", "customers": many}, headers=svc.admin.headers
    )
    assert r.status_code == 201, r.text[:300]
    # Signing in (the only public route with a body) takes 1 KB.
    r = svc.client.post("/v1/staff/sessions", json={"staff": "a", "pin": "1" * 2000})
    problem(r, 413, "payload_too_large")
    r = svc.client.post(
        "/v1/staff/sessions",
        content=b"[" * 500 + b"]" * 500,
        headers={"content-type": "application/json"},
    )
    assert r.status_code in (400, 422) and r.json()["code"] in ("invalid_json", "invalid_request")


def test_every_answer_carries_a_policy_and_credentials_are_never_cached(svc, photos) -> None:
    kiosk = svc.kiosk(VENUE)
    answers = {
        "json": svc.client.get("/v1/venues", headers=svc.admin.headers),
        "problem": svc.client.get("/v1/venues"),
        "not found": svc.client.get("/nowhere"),
        "openapi": svc.client.get("/openapi.json"),
        "health": svc.client.get("/healthz"),
        "page": svc.client.get("/kiosk/enrol"),
        "static": svc.client.get("/static/common.js"),
        "kiosk key": svc.client.post(
            "/v1/kiosks", json={"venue": VENUE, "purposes": ["checkin"]}, headers=svc.admin.headers
        ),
        "enrolment": svc.enrol_request([photos("obama_1.jpg")], venues=(VENUE,)),
        "match": svc.match(kiosk, image=photos("obama_2.jpg")),
    }
    for name, r in answers.items():
        assert r.status_code < 500, name
        policy = r.headers.get("content-security-policy", "")
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, name
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-request-id"), name
        if name != "static":
            assert r.headers.get("cache-control") == "no-store", name
    assert answers["enrolment"].json()["access_code"]
    assert answers["kiosk key"].json()["key"]
    # A page's own policy admits its scripts; an API answer's admits nothing.
    assert "script-src 'self'" in answers["page"].headers["content-security-policy"]
    assert "script-src" not in answers["json"].headers["content-security-policy"]


def test_the_docs_are_off_unless_asked_for_and_then_pinned(svc, make_service) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert svc.client.get(path).status_code == 404
    assert svc.client.get("/openapi.json").status_code == 200  # the document stays
    docs = make_service(docs=True)
    for path, script in (
        ("/docs", "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"),
        ("/redoc", "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"),
    ):
        r = docs.client.get(path)
        assert r.status_code == 200
        policy = r.headers["content-security-policy"]
        sources = re.search(r"script-src ([^;]*);", policy)
        assert sources is not None
        allowed = sources.group(1).split()
        assert "'unsafe-inline'" not in allowed and "https:" not in allowed
        assert script in allowed and "connect-src 'self'" in policy
        # Exactly the page's own inline scripts, by hash.
        inline = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
        hashes = {
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in inline
        }
        assert hashes == {a for a in allowed if a.startswith("'sha256-")}


def test_metrics_are_only_for_the_scraper(svc, make_service, problem) -> None:
    problem(svc.client.get("/metrics"), 404, "not_found")
    token = "scrape-" + "k" * 40
    scraped = make_service(metrics_token=token)
    problem(scraped.client.get("/metrics"), 401, "unauthorized")
    problem(scraped.client.get("/metrics", headers=scraped.admin.headers), 401, "unauthorized")
    r = scraped.client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "facekeep_matches" in r.text


def test_an_unexpected_error_is_a_500_with_its_request_id(svc, caplog) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret detail 8c1f")

    svc.runtime.vault.show = broken  # type: ignore[method-assign]
    client = TestClient(svc.app, raise_server_exceptions=False)
    caplog.set_level(logging.INFO, logger="facekeep.access")
    r = client.get("/v1/customers/someone", headers=svc.admin.headers)
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    body = r.json()
    assert body["code"] == "internal_error" and body["request_id"] == rid
    assert "8c1f" not in r.text
    assert r.headers["content-security-policy"] and r.headers["cache-control"] == "no-store"
    logged = [rec for rec in caplog.records if getattr(rec, "request_id", None) == rid]
    assert [(rec.status, rec.levelname) for rec in logged] == [(500, "ERROR")]  # type: ignore[attr-defined]
    assert logged[0].error_type == "RuntimeError"  # type: ignore[attr-defined]
    # Where it was raised (file, line, function) reaches the log line; no value does.
    assert logged[0].error_site[-1].startswith("test_hardening.py:")  # type: ignore[attr-defined]
    assert logged[0].error_site[-1].endswith(" broken")  # type: ignore[attr-defined]
    assert all("8c1f" not in rec.getMessage() for rec in caplog.records)


@pytest.mark.parametrize(
    "number",
    [
        "1e400",
        "-1e400",
        "1" + "0" * 400,  # an integer beyond any float
        "-" + "9" * 300,
        "1e308",
        "123456789012345678901234567890",
    ],
)
def test_a_huge_number_in_an_embedding_is_refused_as_input(svc, number, problem) -> None:
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    body = '{"embedding": [' + ", ".join([number] * 128) + "]}"
    r = svc.client.post(
        "/v1/match", content=body, headers={**kiosk.headers, "content-type": "application/json"}
    )
    problem(r, 422, "invalid_embedding")
    frames = '{"embeddings": [[' + ", ".join(["0.01"] * 127 + [number]) + "]]}"
    r = svc.client.post(
        "/v1/match", content=frames, headers={**kiosk.headers, "content-type": "application/json"}
    )
    problem(r, 422, "invalid_embedding")


def test_a_right_code_from_a_throttled_address_is_still_heard(
    make_service, face_embedding, problem
) -> None:
    svc = make_service(
        code_failures_per_minute=6, code_failure_burst=3, code_failures_global_per_minute=3
    )
    guest = svc.enrol_vectors([face_embedding("obama_1")], venues=(VENUE,))
    wrong = "AAAA-BBBB-CCCC-DDDD-EEEE"

    def me(code: str) -> int:
        return svc.client.get("/v1/me", headers={"Authorization": f"Bearer {code}"}).status_code

    assert [me(wrong) for _ in range(3)] == [401] * 3  # the address's own budget
    # Someone else at that address (the venue's Wi-Fi) has the right code: heard.
    assert me(guest.code) == 200
    # Wrong codes from a throttled address spend the global budget, then everyone there
    # waits (even the right code: no oracle for a lucky guess once both are spent).
    assert [me(wrong) for _ in range(3)] == [401] * 3
    r = svc.client.get("/v1/me", headers=guest.headers)
    problem(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    # Another address has its own budget.
    other = svc.new_client(("192.0.2.44", 1000))
    assert other.get("/v1/me", headers=guest.headers).status_code == 200
