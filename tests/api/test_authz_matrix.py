"""Who may call what, driven by the app's own OpenAPI document.

Every operation declares its roles as ``x-roles``. For each operation and each caller
(admin, staff, kiosk, auditor, customer, the metrics scraper, no credential, a wrong
token) the route is called with real ids and a valid body: admitted roles get a success,
known credentials of other roles get 403 and missing or wrong credentials get 401 (the
metrics token is not a principal: /metrics answers 401 to every other credential).
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute

pytestmark = pytest.mark.faces

CALLERS = ("admin", "staff", "kiosk", "auditor", "customer", "metrics", "none", "wrong-token")
KNOWN_ROLES = {"admin", "staff", "kiosk", "auditor", "customer", "metrics", "public"}
METRICS_TOKEN = "matrix-metrics-token-" + secrets.token_hex(16)
VENUE = "hcm-1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def one_json_line(text: str) -> dict[str, Any]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module")
def svc(open_service, tmp_path_factory, fake_embedder):
    # Wrong tokens are the point of this module: the guessing limiter is off here (it
    # has its own tests in test_errors.py), and uploads go to the fake embedder (the face
    # is not the subject).
    service = open_service(
        tmp_path_factory.mktemp("authz") / "data",
        fake=fake_embedder,
        code_failures_per_minute=0,
        match_rate=0,
        metrics_token=METRICS_TOKEN,
    )
    service.venue(VENUE)
    yield service
    service.close()


@pytest.fixture(scope="module")
def openapi(svc) -> dict[str, Any]:
    r = svc.client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in openapi["paths"].items()
        for method, op in ops.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def documented_routes(routes: Any, prefix: str = "") -> Any:
    """(method, path) of every FastAPI route, including routes of included routers."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from documented_routes(inner.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(route, APIRoute):
            for method in route.methods - {"HEAD", "OPTIONS"}:
                yield method, prefix + route.path


def test_every_operation_declares_its_roles(svc, openapi) -> None:
    ops = operations(openapi)
    assert len(ops) >= 20
    missing = [f"{m} {p}" for m, p, op in ops if "x-roles" not in op]
    assert not missing, f"operations without x-roles: {missing}"
    for method, path, op in ops:
        roles = op["x-roles"]
        assert isinstance(roles, list) and roles, (method, path, roles)
        assert set(roles) <= KNOWN_ROLES, (method, path, roles)
        assert "public" not in roles or roles == ["public"], (method, path, roles)
        # No data route is open to everyone (signing in is how staff get a credential).
        if (method, path) != ("POST", "/v1/staff/sessions"):
            assert not (path.startswith("/v1/") and roles == ["public"]), (method, path)
    # No route hides from the document (and so from this matrix).
    documented = {(m, p) for m, p, _ in ops}
    routes = set(documented_routes(svc.app.routes))
    assert len(routes) >= len(ops)
    hidden = sorted(routes - documented)
    assert not hidden, f"routes missing from /openapi.json: {hidden}"
    public = {p for m, p, op in ops if op["x-roles"] == ["public"]}
    assert {"/healthz", "/readyz"} <= public
    # Metrics show match outcomes as they happen: only for the scraper's token.
    assert {p for m, p, op in ops if op["x-roles"] == ["metrics"]} == {"/metrics"}


def required_query(op: dict[str, Any]) -> dict[str, Any]:
    """Valid values for the required query parameters of an operation."""
    out: dict[str, Any] = {}
    for param in op.get("parameters", []):
        if param["in"] == "query" and param.get("required"):
            schema = param["schema"]
            assert schema.get("type") == "integer", f"no value for query parameter {param}"
            out[param["name"]] = max(0, schema.get("minimum", 0))
    return out


class Fixtures:
    """Fresh credentials and fresh resources for every single call, so a call that
    erases, disables or revokes never changes what the next call sees."""

    def __init__(self, svc: Any, face_embedding: Callable[[str], Any], photo: bytes) -> None:
        self.svc = svc
        self.vector = face_embedding("obama_1")
        self.photo = photo
        self.n = 0

    def customer(self) -> Any:
        self.n += 1
        return self.svc.enrol_vectors([self.vector], customer=f"matrix-{self.n}")

    def signin(self) -> str:
        """A staff account that can sign in (with the conftest's default PIN)."""
        self.n += 1
        from api import accounts
        from vault import SYSTEM

        staff_id = f"signin-{self.n}"
        accounts.create_staff(
            self.svc.engine,
            staff_id=staff_id,
            name="",
            venues=(VENUE,),
            pin="493817",
            now=self.svc.now(),
            actor=SYSTEM,
        )
        return staff_id

    def receipt_id(self) -> str:
        customer = self.customer()
        r = self.svc.client.get(
            f"/v1/customers/{customer.id}/receipts", headers=self.svc.auditor.headers
        )
        assert r.status_code == 200, r.text
        return str(r.json()["receipts"][0]["receipt"]["receipt_id"])

    def request_id(self) -> str:
        r = self.svc.client.post(
            "/v1/requests",
            json={"kind": "access", "channel": "phone", "customer": self.customer().id},
            headers=self.svc.admin.headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["request"])

    def breach_id(self) -> str:
        r = self.svc.client.post(
            "/v1/breaches", json={"description": "matrix"}, headers=self.svc.admin.headers
        )
        assert r.status_code == 201, r.text
        return str(r.json()["breach"])

    def token(self, caller: str) -> str | None:
        svc = self.svc
        if caller == "admin":
            return svc.key("admin").secret
        if caller == "auditor":
            return svc.key("auditor").secret
        if caller == "kiosk":
            # A trusted edge device's key: the match request below sends an embedding.
            key = svc.key("kiosk", venue=VENUE, purposes=("checkin",), allow_embeddings=True)
            return key.secret
        if caller == "customer":
            return self.customer().code
        if caller == "staff":
            return svc.staff((VENUE,)).secret
        if caller == "metrics":
            return METRICS_TOKEN
        if caller == "wrong-token":
            return "fkk_" + secrets.token_urlsafe(32)
        return None

    def request(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        """The concrete path and a valid request for an operation."""
        ids: dict[str, Callable[[], str]] = {
            "customer_id": lambda: self.customer().id,
            "venue": lambda: VENUE,
            "key_id": lambda: self.customer().key_id,
            "kiosk_id": lambda: self.svc.key("kiosk", venue=VENUE, purposes=("checkin",)).id,
            "receipt_id": self.receipt_id,
            "request_id": self.request_id,
            "breach_id": self.breach_id,
            "api_key_id": lambda: self.svc.key("kiosk", venue=VENUE, purposes=("checkin",)).id,
            "staff_id": lambda: self.svc.staff((VENUE,)).id,
        }
        names = re.findall(r"{(\w+)}", path)
        unknown = [n for n in names if n not in ids]
        assert not unknown, f"{path}: add a way to make a real {unknown} to this test"
        concrete = path.format(**{n: ids[n]() for n in names})
        self.n += 1
        image = [("image", ("photo.jpg", self.photo, "image/jpeg"))]
        bodies: dict[tuple[str, str], dict[str, Any]] = {
            ("POST", "/v1/match"): {"json": {"embedding": [float(x) for x in self.vector]}},
            ("POST", "/v1/venues"): {"json": {"id": f"venue-{self.n}", "name": "v"}},
            ("POST", "/v1/kiosks"): {"json": {"venue": VENUE, "purposes": ["checkin"]}},
            ("POST", "/v1/enrolments"): {
                "files": image,
                "data": {
                    "customer": f"enrolled-{self.n}",
                    "purposes": "checkin",
                    "venues": VENUE,
                    "notice_version": "v1",
                    "lang": "vi",
                },
            },
            ("POST", "/v1/customers/{customer_id}/revoke"): {"json": {}},
            ("POST", "/v1/customers/{customer_id}/erase"): {"json": {"reason": "matrix"}},
            ("POST", "/v1/me/revoke"): {"json": {}},
            ("POST", "/v1/me/objections"): {"json": {}},
            ("PUT", "/v1/me/templates"): {"files": image},
            ("PUT", "/v1/customers/{customer_id}/templates"): {"files": image},
            ("POST", "/v1/faces/count"): {"files": image},
            ("POST", "/v1/kiosk/frame"): {"files": image},
            ("PUT", "/v1/venues/{venue}/webhook"): {"json": {"url": "http://127.0.0.1:9/hook"}},
            ("POST", "/v1/pages/customer-link"): {"json": {"code": "ABCD-EFGH-JKMN-PQRS-TUVW"}},
            ("POST", "/v1/requests"): {"json": {"kind": "access", "channel": "phone"}},
            ("POST", "/v1/requests/{request_id}/complete"): {"json": {"outcome": "matrix"}},
            ("POST", "/v1/requests/{request_id}/refuse"): {"json": {"reason": "matrix"}},
            ("POST", "/v1/breaches"): {"json": {"description": "matrix"}},
            ("POST", "/v1/breaches/{breach_id}/steps"): {"json": {"step": "note", "note": "m"}},
            ("POST", "/v1/api-keys"): {"json": {"role": "auditor", "expires_days": 30}},
            ("POST", "/v1/staff"): {"json": {"id": f"new-staff-{self.n}", "venues": [VENUE]}},
            ("POST", "/v1/staff/sessions"): {"json": {"staff": self.signin(), "pin": "493817"}},
        }
        return concrete, bodies.get((method, path), {})


def test_authorisation_matrix(svc, openapi, face_embedding, face_bytes) -> None:
    fx = Fixtures(svc, face_embedding, face_bytes("obama_2.jpg"))
    failures: list[str] = []
    calls = 0
    for method, path, op in operations(openapi):
        allowed = set(op["x-roles"])
        for caller in CALLERS:
            token = fx.token(caller)
            url, kwargs = fx.request(method, path)
            kwargs["params"] = required_query(op)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            r = svc.client.request(method, url, headers=headers, **kwargs)
            calls += 1
            status = r.status_code
            if "public" in allowed or caller in allowed:
                expected = "2xx"
                ok = 200 <= status < 300
            elif caller in ("none", "wrong-token", "metrics") or allowed == {"metrics"}:
                expected = "401 unauthorized"
                ok = status == 401 and r.json().get("code") == "unauthorized"
                ok = ok and r.headers.get("www-authenticate") == "Bearer"
            else:
                expected = "403 forbidden"
                ok = status == 403 and r.json().get("code") == "forbidden"
            if not ok:
                hint = ""
                if expected == "2xx" and status in (400, 404, 415, 422):
                    hint = " (a new route? give it a valid request in Fixtures.request)"
                failures.append(f"{method} {path} as {caller}: {status}, expected {expected}{hint}")
    assert calls == len(operations(openapi)) * len(CALLERS)
    assert not failures, "\n".join(failures)


def test_a_kiosk_cannot_name_a_purpose_it_does_not_have(
    svc, face_embedding, photos, problem
) -> None:
    kiosk = svc.kiosk(VENUE, ("checkin",), allow_embeddings=True)
    vector = face_embedding("obama_1")
    problem(svc.match(kiosk, embedding=vector, purpose="marketing"), 403, "forbidden")
    problem(svc.match(kiosk, image=photos("obama_2.jpg"), purpose="marketing"), 403, "forbidden")
    problem(svc.match(kiosk, embedding=vector, purpose="surveillance"), 403, "forbidden")
    assert svc.match(kiosk, embedding=vector, purpose="checkin").status_code == 200
    marketing = svc.kiosk(VENUE, ("marketing",), allow_embeddings=True)
    problem(svc.match(marketing, embedding=vector, purpose="checkin"), 403, "forbidden")
    assert svc.match(marketing, embedding=vector).status_code == 200


def test_a_disabled_kiosk_key_gets_401(svc, face_embedding, problem) -> None:
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    other = svc.kiosk(VENUE, allow_embeddings=True)
    vector = face_embedding("obama_1")
    assert svc.match(kiosk, embedding=vector).status_code == 200
    r = svc.client.post(f"/v1/kiosks/{kiosk.id}/disable", headers=svc.admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == kiosk.id and r.json()["disabled"] is True
    problem(svc.match(kiosk, embedding=vector), 401, "unauthorized")
    assert svc.match(other, embedding=vector).status_code == 200
    listed = svc.client.get("/v1/kiosks", headers=svc.admin.headers).json()["kiosks"]
    assert {k["id"]: k["disabled"] for k in listed}[kiosk.id] is True
    events = svc.events()
    assert any(
        e["action"] == "apikey.disable"
        and e["details"] == {"key_id": kiosk.id}
        and e["actor"] == {"role": "admin", "id": svc.admin.id}
        for e in events
    )


def test_the_kiosk_disable_route_does_not_touch_other_keys(svc, problem) -> None:
    auditor = svc.key("auditor")
    assert svc.client.get("/v1/keys", headers=auditor.headers).status_code == 200
    r = svc.client.post(f"/v1/kiosks/{auditor.id}/disable", headers=svc.admin.headers)
    problem(r, 404, "not_found")
    # The route said there is no such kiosk, so nothing may have changed.
    assert svc.client.get("/v1/keys", headers=auditor.headers).status_code == 200


def test_a_key_made_offline_with_the_cli_works_without_restart(
    svc, facekeep_bin, subprocess_env, face_embedding, problem
) -> None:
    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(facekeep_bin), "keys", *args, "--data-dir", str(svc.root)],
            capture_output=True,
            text=True,
            env=subprocess_env(**svc.db_env()),
            timeout=120,
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        return one_json_line(done.stdout)

    made = cli(
        "create-kiosk", "--venue", "offline-venue", "--purpose", "checkin", "--allow-embeddings"
    )
    assert made["role"] == "kiosk" and made["venue"] == "offline-venue"
    assert made["allow_embeddings"] is True
    kiosk = {"Authorization": f"Bearer {made['key']}"}
    vector = [float(x) for x in face_embedding("obama_1")]
    # The running app sees the new key (and the venue the CLI registered) at once.
    r = svc.client.post("/v1/match", json={"embedding": vector}, headers=kiosk)
    assert (r.status_code, r.content) == (200, b'{"match":false}')
    customer = svc.enrol_vectors([face_embedding("obama_1")], venues=("offline-venue",))
    r = svc.client.post("/v1/match", json={"embedding": vector}, headers=kiosk)
    assert r.status_code == 200 and r.json()["customer"] == customer.id
    problem(svc.client.get("/v1/venues", headers=kiosk), 403, "forbidden")

    # The app's own view agrees: the kiosk is listed, made by the command line.
    r = svc.client.get("/v1/kiosks", headers=svc.admin.headers)
    assert {k["id"]: k["allow_embeddings"] for k in r.json()["kiosks"]}[made["id"]] is True
    assert made["key"] not in r.text


def test_an_access_code_never_reaches_another_customers_data(svc, face_embedding, problem) -> None:
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    a = svc.enrol_vectors([face_embedding("kit_harington_1")], customer="iso-kit")
    b = svc.enrol_vectors([face_embedding("rose_leslie_1")], customer="iso-rose")
    me = svc.client.get("/v1/me", headers=a.headers)
    assert me.status_code == 200 and me.json()["customer"] == a.id
    assert b.id not in me.text and b.key_id not in me.text
    # Nothing in the request can point the code at someone else.
    for params in ({"customer": b.id}, {"customer_id": b.id}):
        r = svc.client.get("/v1/me", params=params, headers=a.headers)
        assert r.status_code == 200 and r.json()["customer"] == a.id
        assert b.id not in r.text
    problem(svc.client.get(f"/v1/customers/{b.id}", headers=a.headers), 403, "forbidden")
    problem(
        svc.client.post(f"/v1/customers/{b.id}/revoke", json={}, headers=a.headers),
        403,
        "forbidden",
    )
    problem(
        svc.client.post(f"/v1/customers/{b.id}/erase", json={"reason": "x"}, headers=a.headers),
        403,
        "forbidden",
    )
    problem(
        svc.client.get("/v1/audit/events", params={"customer": b.id}, headers=a.headers),
        403,
        "forbidden",
    )
    problem(svc.client.get(f"/v1/keys/{b.key_id}", headers=a.headers), 403, "forbidden")
    # Extra fields naming another customer are refused, not obeyed.
    r = svc.client.post("/v1/me/revoke", json={"customer": b.id}, headers=a.headers)
    problem(r, 422, "invalid_request")
    # The code is typed by hand: case and dashes do not matter, and still only reach A.
    loose = a.code.lower().replace("-", " ").replace(" ", "")
    r = svc.client.get("/v1/me", headers=bearer(loose))
    assert r.status_code == 200 and r.json()["customer"] == a.id
    # A revokes and erases: B is untouched and still matched.
    assert svc.client.post("/v1/me/revoke", headers=a.headers).status_code == 200
    assert svc.client.delete("/v1/me", headers=a.headers).status_code == 200
    r = svc.client.get("/v1/me", headers=b.headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "active" and body["consents"][0]["status"] == "active"
    assert body["key"]["state"] == "active"
    hit = svc.match(kiosk, embedding=face_embedding("rose_leslie_2"))
    assert hit.json()["customer"] == b.id
    miss = svc.match(kiosk, embedding=face_embedding("kit_harington_2"))
    assert miss.content == b'{"match":false}'


def test_unauthenticated_and_malformed_credentials_get_401(svc, problem) -> None:
    cases = {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": "Basic YWRtaW46YWRtaW4="},
        "no scheme": {"Authorization": svc.admin.secret},
        "overlong": {"Authorization": "Bearer " + "A" * 5000},
        "admin secret with a typo": {"Authorization": f"Bearer {svc.admin.secret}x"},
    }
    for label, headers in cases.items():
        r = svc.client.get("/v1/venues", headers=headers)
        problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer", label
    # The admin's key itself works with any case of the scheme word.
    r = svc.client.get("/v1/venues", headers={"Authorization": f"bearer {svc.admin.secret}"})
    assert r.status_code == 200
