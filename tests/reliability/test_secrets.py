"""Authorisation and secrets on a real ``facekeep serve`` whose logs are kept.

One deployment lives through a whole story: ``facekeep init`` and keys made with the
command line, venues and a kiosk made over HTTP, customers enrolled with photos, matches
by photo and by embedding, the customer's own page (see, object, re-enrol, revoke, erase),
staff revocation and erasure, the auditor's reads and export, failed logins, bad
requests; then the authorisation matrix over every route of the live document and a
brute force of access codes. The server logs at DEBUG level; its stdout and stderr, and
the command line's stderr, are then scanned for every secret of the run (API keys,
access codes, the KEK, the audit signing key, customers' data keys) and every embedding
(as text in several decimal formats, and as float32/float64 bytes, raw, hex and base64).
The data directory and the server's TMPDIR are scanned for embedding bytes and for any
64-byte run of an uploaded image (SQLite only: the data then lives in those files).
"""

from __future__ import annotations

import base64
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select

from api.access import new_access_code

pytestmark = pytest.mark.faces

VENUE = "hcm-1"
PAGES = ("/", "/kiosk/enrol", "/me", "/audit", "/static/common.js")
NUMBER = re.compile(rb"-?\d+\.\d+(?:[eE][-+]?\d+)?")
HEX_RUN = re.compile(rb"[0-9a-fA-F]{64,}")
B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{64,}={0,2}")
METRICS_TOKEN = "metrics-token-of-the-secrets-story"


@dataclass
class Story:
    deployment: Any
    server: Any
    admin: str
    auditor: str
    kiosk: str
    secrets: dict[str, str] = field(default_factory=dict)  # name -> secret text
    vectors: dict[str, Any] = field(default_factory=dict)  # name -> embedding
    uploads: dict[str, bytes] = field(default_factory=dict)  # file name -> bytes
    cli_stderr: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)
    stopped: bool = False

    def client(self, address: str | None = None) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=address) if address else None
        return httpx.Client(base_url=self.server.url, timeout=60, transport=transport)

    def stop(self) -> None:
        if not self.stopped:
            self.server.stop()
            self.stopped = True


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(name: str, data: bytes) -> tuple[str, tuple[str, bytes, str]]:
    kind = "image/png" if name.endswith(".png") else "image/jpeg"
    return ("image", (name, data, kind))


@pytest.fixture(scope="module")
def story(
    make_deployment: Callable[..., Any],
    face_bytes: Callable[[str], bytes],
    served_embedder: Any,
    served_embedding: Callable[[str], Any],
) -> Any:
    deployment = make_deployment("secrets", init=False)
    made = deployment.cli("init")
    assert made.returncode == 0, made.stderr
    cli_secrets = {}
    stderr = [made.stderr]
    for role, extra in (
        ("admin", ()),
        ("auditor", ()),
        (
            "kiosk",
            # A trusted edge device's key: the story sends embeddings as well as photos.
            (
                "--venue",
                VENUE,
                "--purpose",
                "checkin",
                "--purpose",
                "marketing",
                "--allow-embeddings",
            ),
        ),
    ):
        done = deployment.cli("keys", f"create-{role}", *extra)
        assert done.returncode == 0, done.stderr
        cli_secrets[role] = done.json()["key"]
        stderr.append(done.stderr)
    server = deployment.serve(
        "story",
        FACEKEEP_MATCH_RATE="0",
        FACEKEEP_LOG_LEVEL="DEBUG",
        # Failed codes from throttled addresses, all together (the default is 30 a minute).
        FACEKEEP_CODE_FAILURES_GLOBAL_PER_MINUTE="10",
        FACEKEEP_METRICS_TOKEN=METRICS_TOKEN,
    )
    st = Story(
        deployment, server, cli_secrets["admin"], cli_secrets["auditor"], cli_secrets["kiosk"]
    )
    st.cli_stderr = stderr
    st.secrets |= {f"{k} key (cli)": v for k, v in cli_secrets.items()}
    admin, auditor, kiosk = bearer(st.admin), bearer(st.auditor), bearer(st.kiosk)

    def photo(name: str) -> tuple[str, tuple[str, bytes, str]]:
        data = face_bytes(name)
        st.uploads[name] = data
        st.vectors[f"photo {name}"] = served_embedder.embed_probe(data).vector
        return upload(name, data)

    with st.client() as c:
        assert c.post("/v1/venues", json={"id": "hcm-2", "name": "Q1"}, headers=admin).is_success
        r = c.post(
            "/v1/kiosks",
            json={
                "venue": VENUE,
                "purposes": ["checkin", "marketing"],
                "label": "door",
                "allow_embeddings": True,
            },
            headers=admin,
        )
        assert r.status_code == 201, r.text
        kiosk2 = r.json()["key"]
        st.secrets["kiosk key (api)"] = kiosk2
        assert c.get("/v1/kiosks", headers=admin).status_code == 200
        form = {"notice_version": "v1", "lang": "vi", "venues": VENUE}
        people = {
            "obama": ["obama_1.jpg", "obama_2.jpg"],
            "biden": ["biden_1.jpg"],
            "kit": ["kit_harington_1.jpg"],
            "rose": ["rose_leslie_1.jpg"],
            "lin": ["lin_manuel_miranda_1.png"],
        }
        for customer, photos in people.items():
            r = c.post(
                "/v1/enrolments",
                data={**form, "customer": customer, "purposes": "checkin,marketing"},
                files=[photo(p) for p in photos],
                headers=admin,
            )
            assert r.status_code == 201, r.text
            st.codes[customer] = r.json()["access_code"]
        st.secrets |= {f"access code {k}": v for k, v in st.codes.items()}
        r = c.post("/v1/faces/count", files=[photo("group_two_people.jpg")], headers=admin)
        assert r.json() == {"faces": 2}, r.text
        # Matches by photo and by embedding, at both kiosks, for both purposes.
        r = c.post("/v1/match", files=[photo("obama_3.jpg")], headers=kiosk)
        assert r.json()["customer"] == "obama", r.text
        r = c.post("/v1/match", files=[photo("biden_2.jpg")], headers=bearer(kiosk2))
        assert r.json()["customer"] == "biden", r.text
        vector = served_embedding("kit_harington_2")
        st.vectors["probe kit_harington_2"] = vector
        r = c.post("/v1/match", json={"embedding": [float(x) for x in vector]}, headers=kiosk)
        assert r.json()["customer"] == "kit", r.text
        r = c.post(
            "/v1/match",
            json={"embedding": [float(x) for x in vector], "purpose": "marketing"},
            headers=bearer(kiosk2),
        )
        assert r.json()["customer"] == "kit", r.text
        r = c.post("/v1/match", files=[photo("alex_lacamoire_1.jpg")], headers=kiosk)
        assert r.json() == {"match": False}, r.text
        # Bad requests that carry biometric data or near-secrets.
        bad = [float(x) for x in vector[:127]]
        assert c.post("/v1/match", json={"embedding": bad}, headers=kiosk).status_code == 422
        text = '{"embedding": [' + ",".join(repr(float(x)) for x in vector) + "]"
        assert (
            c.post(
                "/v1/match", content=text, headers={**kiosk, "content-type": "application/json"}
            ).status_code
            == 400
        )
        near = st.codes["lin"][:-1] + ("A" if st.codes["lin"][-1] != "A" else "B")
        assert c.get("/v1/me", headers=bearer(near)).status_code == 401
        assert c.get("/v1/me", headers=bearer(st.admin + "x")).status_code == 401
        # The customer's own page.
        me = bearer(st.codes["obama"])
        assert c.get("/v1/me", headers=me).status_code == 200
        assert c.post("/v1/me/objections", json={}, headers=me).status_code == 200
        r = c.put(
            "/v1/me/templates", files=[photo("rose_leslie_2.jpg")], headers=bearer(st.codes["rose"])
        )
        assert r.status_code == 200, r.text
        assert c.post("/v1/me/revoke", headers=bearer(st.codes["biden"])).status_code == 200
        assert c.delete("/v1/me", headers=bearer(st.codes["kit"])).status_code == 200
        r = c.post("/v1/pages/customer-link", json={"code": st.codes["obama"]}, headers=admin)
        assert r.status_code == 200, r.text
        # Staff and auditor.
        assert c.get("/v1/customers/lin", headers=admin).status_code == 200
        r = c.post("/v1/customers/rose/revoke", json={"purpose": "marketing"}, headers=admin)
        assert r.status_code == 200, r.text
        r = c.post("/v1/customers/lin/erase", json={"reason": "request"}, headers=admin)
        assert r.status_code == 200, r.text
        for path in ("/v1/audit/events", "/v1/audit/head", "/v1/audit/heads", "/v1/keys"):
            assert c.get(path, headers=auditor).status_code == 200, path
        assert c.get("/v1/customers/obama/receipts", headers=auditor).status_code == 200
        assert c.get("/v1/audit/export", headers=auditor).status_code == 200
        r = c.get("/v1/kiosks", headers=admin)
        door = next(k["id"] for k in r.json()["kiosks"] if k["label"] == "door")
        assert c.post(f"/v1/kiosks/{door}/disable", headers=admin).status_code == 200
        assert (
            c.post("/v1/match", json={"embedding": bad}, headers=bearer(kiosk2)).status_code == 401
        )
    shown = deployment.cli("show", "--customer", "obama")
    assert shown.returncode == 0, shown.stderr
    st.cli_stderr.append(shown.stderr)
    yield st
    st.stop()


# ------------------------------------------------------------------ authorisation matrix


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in openapi["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_authorisation_matrix_over_every_route_of_the_live_server(
    story: Story, served_embedding: Callable[[str], Any], figures: Any
) -> None:
    with story.client() as c:
        openapi = c.get("/openapi.json").json()
        ops = operations(openapi)
        # Two customers of the matrix: one for everything, one to erase.
        codes = {}
        for name in ("matrix-1", "matrix-2"):
            r = c.post(
                "/v1/enrolments",
                data={
                    "customer": name,
                    "purposes": "checkin",
                    "venues": VENUE,
                    "notice_version": "v1",
                    "lang": "en",
                },
                files=[upload("obama_1.jpg", story.uploads["obama_1.jpg"])],
                headers=bearer(story.admin),
            )
            assert r.status_code == 201, r.text
            codes[name] = r.json()["access_code"]
            story.secrets[f"access code {name}"] = codes[name]
        callers = {
            "admin": story.admin,
            "kiosk": story.kiosk,
            "auditor": story.auditor,
            "customer": codes["matrix-1"],
        }
        # DELETE /v1/me last: it erases the customer calling it.
        ops.sort(key=lambda o: (o[0] == "DELETE" and o[1] == "/v1/me", o[1], o[0]))
        wrong = 0
        cells = 0
        failures = []
        for method, path, op in ops:
            roles = op["x-roles"]
            url = re.sub(r"\{[^}]+\}", "nobody", path)
            has_json = "application/json" in (op.get("requestBody") or {}).get("content", {})
            body = {"json": {}} if has_json else {}
            for caller in ("admin", "kiosk", "auditor", "customer", "none", "wrong"):
                if caller == "wrong":
                    wrong += 1
                    # Each wrong token from its own address: the guessing limiter is
                    # per address and is tested on its own below.
                    token: str | None = "fkk_" + secrets.token_urlsafe(32)
                    client = story.client(f"127.0.1.{wrong}")
                else:
                    token = callers.get(caller)
                    if caller == "customer" and method == "DELETE" and path == "/v1/me":
                        token = codes["matrix-2"]
                    client = c
                headers = bearer(token) if token else {}
                r = client.request(method, url, headers=headers, **body)
                if client is not c:
                    client.close()
                cells += 1
                status = r.status_code
                if roles == ["metrics"]:  # only the scraper's token, never a principal
                    ok = status == 401 and r.json().get("code") == "unauthorized"
                elif "public" in roles:
                    ok = status not in (401, 403)
                elif caller in ("none", "wrong"):
                    ok = status == 401 and r.json().get("code") == "unauthorized"
                elif caller in roles:
                    ok = status not in (401, 403, 429)
                else:
                    ok = status == 403 and r.json().get("code") == "forbidden"
                if status >= 500:
                    ok = False
                if not ok:
                    failures.append(f"{caller:9} {method} {path} (x-roles {roles}) -> {status}")
        # The pages outside the document are public shells.
        for path in PAGES:
            for token in (None, story.admin, "wrong"):
                r = c.get(path, headers=bearer(token) if token else {})
                cells += 1
                if r.status_code != 200:
                    failures.append(f"page {path} with {token and 'a token'} -> {r.status_code}")
    figures("authz_matrix", {"operations": len(ops), "cells": cells})
    assert len(ops) >= 25
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------ brute force


def test_guessing_access_codes_is_throttled_per_address(story: Story, figures: Any) -> None:
    guesses = 40
    started = time.monotonic()
    statuses = []
    with story.client("127.0.0.66") as attacker:
        for _ in range(guesses):
            r = attacker.get("/v1/me", headers=bearer(new_access_code()))
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) >= 1
                assert r.json()["code"] == "rate_limited"
        elapsed = time.monotonic() - started
        # Once the address's own budget and the global one are both spent, even the right
        # code gets no answer: no oracle for a lucky guess.
        assert attacker.get("/v1/me", headers=bearer(story.codes["obama"])).status_code == 429
        # A valid API key (256 bits, not guessable) still works from that address, so a
        # venue's shared address cannot be locked out of its kiosks by a guesser.
        assert attacker.get("/v1/venues", headers=bearer(story.admin)).status_code == 200
    tried = statuses.count(401)
    # The address's budget and the global spill-over one: each a burst of 10 and 10 a
    # minute (+1 each for the clock).
    allowed = 2 * (10 + 10 / 60 * elapsed + 1)
    assert tried <= allowed, (tried, allowed, statuses)
    assert statuses.count(429) >= guesses - allowed
    # A forwarded-for header from an untrusted address does not buy new addresses.
    with story.client("127.0.0.67") as spoofer:
        spoofed = [
            spoofer.get(
                "/v1/me",
                headers={**bearer(new_access_code()), "X-Forwarded-For": f"10.9.{i}.1"},
            ).status_code
            for i in range(20)
        ]
    assert spoofed.count(401) <= 11, spoofed
    # Others are not affected.
    with story.client() as c:
        assert c.get("/v1/me", headers=bearer(story.codes["obama"])).status_code == 200
    per_day = 10 * 60 * 24
    figures(
        "brute_force",
        {
            "guesses_sent": guesses,
            "guesses_evaluated": tried,
            "answered_429": statuses.count(429),
            "seconds": round(elapsed, 2),
            "max_guesses_per_address_per_day": per_day,
            "max_guesses_from_throttled_addresses_per_day": per_day,
            "code_space_log2": 99,
        },
    )


# --------------------------------------------------------------------------- scanning


def text_forms(vector: Any) -> set[bytes]:
    """Each component printed as JSON, Python and numpy would, and in fixed formats."""
    out: set[bytes] = set()
    for x in np.asarray(vector, dtype=np.float64):
        x64, x32 = float(x), float(np.float32(x))
        for form in (repr(x64), repr(x32), str(np.float32(x)), f"{x64:.4f}", f"{x64:.5f}"):
            out.add(form.encode())
        for form in (f"{x64:.6f}", f"{x64:.8f}", f"{x64:.6e}", f"{x64:.4e}"):
            out.add(form.encode())
    # Tiny components print as 0.0000: not evidence of anything.
    return {f for f in out if len(f.lstrip(b"-")) >= 6 and f.strip(b"-0.e+") != b""}


def byte_forms(vector: Any) -> dict[str, bytes]:
    v = np.asarray(vector, dtype=np.float64)
    return {
        "float32": v.astype("<f4").tobytes(),
        "float64": v.astype("<f8").tobytes(),
        "float32be": v.astype(">f4").tobytes(),
        "float64be": v.astype(">f8").tobytes(),
    }


def shared_runs(haystack: bytes, needles: dict[str, bytes], k: int) -> list[str]:
    """Names of needles sharing a run of at least 2k-1 bytes with the haystack (exact:
    such a run contains a haystack window aligned to k). Low-entropy windows (fewer than
    k/2 distinct bytes, such as zero padding) are ignored."""
    windows = {haystack[p : p + k] for p in range(0, len(haystack) - k + 1, k)}
    found = []
    for name, needle in needles.items():
        for j in range(len(needle) - k + 1):
            piece = needle[j : j + k]
            if piece in windows and len(set(piece)) >= k // 2:
                found.append(f"{name} (at byte {j})")
                break
    return found


def encodings(secret: bytes) -> Iterable[bytes]:
    yield secret
    yield secret.hex().encode()
    yield secret.hex().upper().encode()
    yield base64.b64encode(secret).rstrip(b"=")
    yield base64.urlsafe_b64encode(secret).rstrip(b"=")


def key_material(story: Story) -> dict[str, bytes]:
    """The KEK, the audit signing key seed, and the data keys of customers still held."""
    from keys.store import data_keys

    data_dir = story.deployment.data_dir
    out = {p.name: p.read_bytes() for p in (data_dir / "kek").glob("epoch-*.kek")}
    out["audit signing key"] = (data_dir / "audit" / "signing-ed25519.key").read_bytes()
    with story.deployment.runtime(start=False) as runtime:
        with runtime.keys.engine.connect() as conn:
            active = conn.execute(
                select(data_keys.c.customer_id).where(data_keys.c.state == "active")
            ).scalars()
            customers = list(active)
        for customer in customers:
            out[f"data key of {customer}"] = bytes(runtime.keys.data_key(customer)._key)
    return out


def test_logs_hold_no_secret_and_no_embedding(story: Story, figures: Any) -> None:
    keys = key_material(story)
    story.stop()
    log = story.server.logs() + "\n".join(story.cli_stderr).encode()
    assert len(log) > 10_000, "the server logged too little to be a meaningful scan"
    leaks = []
    for name, secret in story.secrets.items():
        for form in {secret, secret.replace("-", ""), secret.replace("-", "").lower()}:
            if form.encode() in log:
                leaks.append(f"{name} appears in the logs")
    for name, raw in keys.items():
        for form in encodings(raw):
            if form in log:
                leaks.append(f"{name} appears in the logs")
    numbers = set(NUMBER.findall(log))
    for name, vector in story.vectors.items():
        hits = text_forms(vector) & numbers
        if hits:
            leaks.append(f"embedding {name} printed in the logs: {sorted(hits)[:5]}")
        forms = byte_forms(vector)
        leaks += [f"embedding bytes {n}" for n in shared_runs(log, forms, 16)]
        for kind, raw in forms.items():
            if raw[:48].hex().encode() in log or base64.b64encode(raw[:48]) in log:
                leaks.append(f"embedding {name} ({kind}) as hex or base64 in the logs")
    leaks += [f"image bytes {n}" for n in shared_runs(log, story.uploads, 32)]
    # Nothing that looks like an encoded blob at all.
    blobs = [m.group()[:40] for m in HEX_RUN.finditer(log)] + [
        m.group()[:40] for m in B64_RUN.finditer(log)
    ]
    lines = log.count(b"\n")
    figures(
        "log_scan",
        {
            "log_bytes": len(log),
            "log_lines": lines,
            "secrets_checked": len(story.secrets) + len(keys),
            "embeddings_checked": len(story.vectors),
            "numbers_in_logs": len(numbers),
            "images_checked": len(story.uploads),
            "leaks": len(leaks),
        },
    )
    assert not leaks, "\n".join(leaks)
    assert not blobs, f"encoded blobs in the logs: {blobs[:5]}"


@pytest.mark.sqlite_only
def test_no_embedding_or_image_bytes_at_rest(story: Story, figures: Any) -> None:
    story.stop()
    roots = [story.deployment.data_dir, story.deployment.tmpdir]
    files = [p for root in roots for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "vault.db" for p in files), files
    needles = {}
    for name, vector in story.vectors.items():
        for kind, raw in byte_forms(vector).items():
            needles[f"{name} {kind}"] = raw
    found = []
    scanned = 0
    for path in files:
        data = path.read_bytes()
        scanned += len(data)
        found += [f"{path.name}: embedding {n}" for n in shared_runs(data, needles, 16)]
        found += [f"{path.name}: image {n}" for n in shared_runs(data, story.uploads, 32)]
    temp_files = [str(p) for p in files if story.deployment.tmpdir in p.parents]
    figures(
        "data_dir_scan",
        {
            "files": len(files),
            "bytes_scanned": scanned,
            "embeddings_checked": len(story.vectors),
            "images_checked": len(story.uploads),
            "files_left_in_tmpdir": len(temp_files),
            "found": len(found),
        },
    )
    assert not found, "\n".join(found)
    assert not temp_files, f"files left in the server's TMPDIR: {temp_files}"


def test_the_scanners_find_what_they_look_for(
    story: Story, tmp_path: Path, served_embedding: Callable[[str], Any]
) -> None:
    """The scans above are only worth their silence if they would have spoken."""
    vector = served_embedding("obama_1")
    image = next(iter(story.uploads.values()))
    blob = (
        b"x" * 1000
        + byte_forms(vector)["float32"][40:80]
        + b"y" * 999
        + image[5000:5070]
        + b"z" * 5
    )
    assert shared_runs(blob, byte_forms(vector), 16)
    assert shared_runs(blob, {"image": image}, 32)
    line = f'{{"msg": "oops", "value": {float(vector[7])!r}}}'.encode()
    assert text_forms(vector) & set(NUMBER.findall(line))
    line = f'{{"value": {float(np.float32(vector[9]))}}}'.encode()
    assert text_forms(vector) & set(NUMBER.findall(line))
