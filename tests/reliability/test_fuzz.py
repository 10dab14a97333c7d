"""API fuzzing with schemathesis against the service's own OpenAPI document.

Every operation of ``/openapi.json`` is fuzzed with a valid credential of every role
(admin, kiosk, auditor, customer), in schemathesis' positive and negative generation
modes, through the ASGI app in this process (real SQLite or PostgreSQL, real embedder:
it is only ever fed what schemathesis generates). Each answer must

- not be a server error (``not_a_server_error``),
- conform to the response schema the document declares (``response_schema_conformance``),
- be an RFC 9457 problem document whenever it is an error (the document declares error
  bodies only as ``application/problem+json`` by convention, so this is checked here),
- never echo a credential of the run.

The CI run generates ``FUZZ_EXAMPLES`` (default 4) cases per operation, role and mode,
derandomised; ``scripts/fuzz`` runs the full, random one (``FUZZ_EXAMPLES=30``, at least
``FUZZ_MIN_REQUESTS=1000`` requests). A second test sweeps hand-picked hostile values
(NUL characters, 64-bit integers, over-long strings) through every parameter and body
field with real ids, which random generation rarely hits.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.access import hash_access_code
from api.app import create_app
from api.operations import enroll_vectors
from api.runtime import init_data_dir
from api.settings import Settings
from tests.support.consents import consent_request
from vault import SYSTEM, ConsentRequest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.faces

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
MIN_REQUESTS = int(os.environ.get("FUZZ_MIN_REQUESTS", "300"))
RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")
# Callers the route refuses are answered before any parsing: two cases each suffice.
REFUSED_EXAMPLES = 2
ROLES = ("admin", "staff", "kiosk", "auditor", "customer")
STAFF_PIN = "493817"
VENUE = "hcm-1"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}


class _ServerErrors(logging.Handler):
    """The method, path, status and error type of each request the server logged as
    failed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = ("method", "path", "status", "error_type", "error_site")
        self.seen.append(" ".join(str(getattr(record, f, None)) for f in fields))


def consent() -> ConsentRequest:
    return consent_request(VENUE, "checkin", "marketing")


@dataclass
class Callers:
    """A valid credential per role; the customer is re-enrolled whenever a fuzzed call
    erased them (``DELETE /v1/me``), so the role keeps reaching the routes' logic."""

    app: Any
    vector: Any
    tokens: dict[str, str] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)

    @property
    def runtime(self) -> Any:
        return self.app.state.facekeep.runtime

    def setup(self) -> None:
        from datetime import UTC, datetime

        from api import credentials

        engine = self.runtime.vault.engine
        now = datetime.now(UTC)
        credentials.ensure_venue(engine, VENUE, VENUE, now, SYSTEM)
        for role in ("admin", "auditor", "kiosk"):
            secret, _ = credentials.create_key(
                engine,
                role=role,
                now=now,
                actor=SYSTEM,
                venue=VENUE if role == "kiosk" else None,
                purposes=("checkin", "marketing") if role == "kiosk" else (),
                # So that JSON embedding probes reach the matcher, not only the 403.
                allow_embeddings=role == "kiosk",
            )
            self.tokens[role] = secret
            self.made.append(secret)
        from api import accounts

        accounts.create_staff(
            engine,
            staff_id="fuzz-staff",
            name="",
            venues=(VENUE,),
            pin=STAFF_PIN,
            now=now,
            actor=SYSTEM,
        )
        self.new_session()
        self.new_customer()

    def new_session(self) -> None:
        from datetime import UTC, datetime

        from api import accounts

        engine = self.runtime.vault.engine
        token, _ = accounts.sign_in(engine, "fuzz-staff", STAFF_PIN, now=datetime.now(UTC))
        self.tokens["staff"] = token
        self.made.append(token)

    def new_customer(self) -> None:
        result = enroll_vectors(self.runtime, [self.vector], consent(), actor=SYSTEM)
        self.tokens["customer"] = result.access_code
        self.made.append(result.access_code)

    def token(self, role: str) -> str:
        if role == "customer":
            code = self.tokens["customer"]
            if self.runtime.vault.customer_by_code_hash(hash_access_code(code)) is None:
                self.new_customer()
        if role == "staff":  # a fuzzed DELETE /v1/staff/sessions/current signed it out
            from datetime import UTC, datetime, timedelta

            from api import accounts

            alive = accounts.session_account(
                self.runtime.vault.engine,
                self.tokens["staff"],
                now=datetime.now(UTC),
                idle=timedelta(minutes=15),
                max_age=timedelta(hours=12),
            )
            if alive is None:
                self.new_session()
        return self.tokens[role]


def header(response: Any, name: str) -> str:
    for key, values in response.headers.items():
        if key.lower() == name:
            return values[0] if isinstance(values, list) else str(values)
    return ""


def own_checks(response: Any, callers: Callers) -> list[str]:
    """Problems with an answer that schemathesis' checks do not look for."""
    out = []
    status = response.status_code
    if status >= 400:
        kind = header(response, "content-type")
        if not kind.startswith("application/problem+json"):
            out.append(f"error {status} is not application/problem+json but {kind!r}")
        else:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not set(body) >= PROBLEM_FIELDS:
                out.append(f"error {status} is not a problem document: {response.content[:200]!r}")
            elif body["status"] != status or not body["type"].endswith("/" + body["code"]):
                out.append(f"problem document disagrees with the answer: {body}")
    text = response.content.decode("utf-8", errors="replace")
    for secret in callers.made:
        if secret in text or secret.replace("-", "") in text:
            out.append("a credential of the run was echoed in an answer")
    return out


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def run_operation(
    operation: Any, role: str, mode: GenerationMode, examples: int, callers: Callers, tally: Tally
) -> bool:
    """Fuzz one operation with one role in one mode; False if the mode can generate no
    case for the operation (Hypothesis gives up: ``Unsatisfiable``)."""

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case: Any) -> None:
        headers = {"Authorization": f"Bearer {callers.token(role)}"}
        tally.requests += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # the app raised through the transport: a 500 at least
            tally.failures.setdefault(
                (operation.label, role, "exception"), f"{type(exc).__name__}: {exc}"[:2000]
            )
            return
        tally.statuses[f"{operation.label} [{role}] {response.status_code}"] += 1
        try:
            case.validate_response(
                response,
                checks=[not_a_server_error, response_schema_conformance],
                headers=headers,
            )
        except Exception as exc:
            tally.failures.setdefault((operation.label, role, "schemathesis"), str(exc)[:3000])
        for problem in own_checks(response, callers):
            tally.failures.setdefault((operation.label, role, "problem"), problem)

    try:
        fuzz()
    except Unsatisfiable:
        # Negative mode has nothing to negate in an operation whose only parameters are
        # free strings (a path id): every string is valid.
        tally.skipped.append(f"{operation.label} [{role}] {mode.value}")
        return False
    return True


def test_schemathesis_fuzz_all_operations_all_roles(
    tmp_path: Path, served_embedder: Any, served_embedding: Callable[[str], Any], figures: Any
) -> None:
    settings_ = Settings(
        data_dir=tmp_path / "data",
        match_rate=0,
        code_failures_per_minute=0,
        retention_interval_seconds=0,
    )
    init_data_dir(settings_)
    app = create_app(settings_, embedder=served_embedder)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    callers = Callers(app, served_embedding("obama_1"))
    tally = Tally()
    started = time.monotonic()
    # The server logs each 5xx with the error's type, which a schemathesis report lacks.
    server_errors = _ServerErrors()
    logging.getLogger("facekeep.access").addHandler(server_errors)
    try:
        callers.setup()
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 25, [op.label for op in operations]
        for operation in operations:
            allowed = set(operation.definition.raw.get("x-roles", []))
            # Cases come from the operation's schema alone (the credential is added to
            # each), so a mode that can make none for one role makes none for any: it is
            # tried once, not once a role (Hypothesis spends about a second giving up).
            barren: set[GenerationMode] = set()
            for role in ROLES:
                examples = EXAMPLES if (role in allowed or "public" in allowed) else 0
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    if mode in barren:
                        tally.skipped.append(f"{operation.label} [{role}] {mode.value}")
                        continue
                    if not run_operation(
                        operation, role, mode, examples or REFUSED_EXAMPLES, callers, tally
                    ):
                        barren.add(mode)
    except BaseException as exc:
        exc.add_note(f"server errors logged: {server_errors.seen}")
        raise
    finally:
        logging.getLogger("facekeep.access").removeHandler(server_errors)
        schemathesis.python.asgi.shutdown_lifespans()
    elapsed = time.monotonic() - started
    by_status = Counter(key.rsplit(" ", 1)[1] for key in tally.statuses.elements())
    figures(
        "fuzz",
        {
            "examples_per_operation_role_mode": EXAMPLES,
            "operations": len(operations),
            "roles": list(ROLES),
            "requests": tally.requests,
            "seconds": round(elapsed, 1),
            "by_status": dict(sorted(by_status.items())),
            "failures": len(tally.failures),
            "randomised": RANDOM,
        },
    )
    report = "\n\n".join(f"== {k}\n{v}" for k, v in sorted(tally.failures.items()))
    assert not tally.failures, f"{len(tally.failures)} fuzzing failures:\n{report}"
    assert not any(s.startswith("5") for s in by_status), by_status
    assert tally.requests >= MIN_REQUESTS, (tally.requests, MIN_REQUESTS)
    # Every operation was reached past authentication by the roles it admits.
    reached = {key.split(" [")[0] for key, n in tally.statuses.items() if n and " 403" not in key}
    assert reached >= {op.label for op in operations}, {op.label for op in operations} - reached


# ------------------------------------------------------------------ hostile value sweep

HOSTILE_STRINGS = (
    "\x00",
    "a\x00b",
    "y" * 100,
    "x" * 201,
    "é" * 300,
    "%00",
    "../../etc/passwd",
    "\ud7ff",
)
HOSTILE_INTEGERS = (-(2**63), -1, 2**31, 2**63, 10**30)


def hostile_sweep_cases(
    openapi: dict[str, Any], ids: dict[str, str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, request kwargs) with one hostile value in one place each."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    bodies = {
        ("POST", "/v1/venues"): {"id": "v-sweep", "name": "Sweep"},
        ("POST", "/v1/kiosks"): {"venue": VENUE, "purposes": ["checkin"], "label": "k"},
        ("POST", "/v1/customers/{customer_id}/revoke"): {"purpose": "marketing", "reason": "r"},
        ("POST", "/v1/customers/{customer_id}/erase"): {"reason": "r"},
        ("POST", "/v1/me/revoke"): {"purpose": "marketing"},
        ("POST", "/v1/me/objections"): {"purpose": "marketing"},
        ("POST", "/v1/pages/customer-link"): {"code": "ABCD-EFGH-JKMN-PQRS-TUVW"},
    }
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            method = method.upper()
            params = op.get("parameters", [])
            path_values = {p["name"]: ids.get(p["name"], "x") for p in params if p["in"] == "path"}
            for p in params:
                if p["in"] == "path":
                    for value in HOSTILE_STRINGS:
                        out.append((method, path, {"path": {**path_values, p["name"]: value}}))
                elif p["in"] == "query":
                    is_int = p["schema"].get("type") == "integer" or any(
                        s.get("type") == "integer" for s in p["schema"].get("anyOf", [])
                    )
                    values = HOSTILE_INTEGERS if is_int else HOSTILE_STRINGS
                    for value in values:
                        query = {q["name"]: 0 for q in params if q.get("required")} | {
                            p["name"]: value
                        }
                        out.append((method, path, {"path": path_values, "params": query}))
            body = bodies.get((method, path))
            if body is not None:
                for name in body:
                    for value in (*HOSTILE_STRINGS, 2**63, None, [], {}):
                        out.append(
                            (method, path, {"path": path_values, "json": {**body, name: value}})
                        )
    return out


def test_hostile_values_in_every_parameter_are_never_a_server_error(
    tmp_path: Path,
    served_embedder: Any,
    served_embedding: Callable[[str], Any],
    face_bytes: Callable[[str], bytes],
    figures: Any,
) -> None:
    settings_ = Settings(
        data_dir=tmp_path / "data",
        match_rate=0,
        code_failures_per_minute=0,
        retention_interval_seconds=0,
    )
    init_data_dir(settings_)
    app = create_app(settings_, embedder=served_embedder)
    callers = Callers(app, served_embedding("obama_1"))
    failures: list[str] = []
    count = 0
    with TestClient(app, raise_server_exceptions=False) as client:
        callers.setup()
        openapi = client.get("/openapi.json").json()
        runtime = callers.runtime

        def fresh_ids() -> dict[str, str]:
            result = enroll_vectors(runtime, [callers.vector], consent(), actor=SYSTEM)
            customer = result.enrolment.customer_id
            receipt = client.get(
                f"/v1/customers/{customer}/receipts",
                headers={"Authorization": f"Bearer {callers.token('auditor')}"},
            ).json()["receipts"][0]["receipt"]["receipt_id"]
            return {
                "customer_id": customer,
                "key_id": result.enrolment.key_id,
                "receipt_id": receipt,
                "kiosk_id": "kiosk_000000000000",
                "code": result.access_code,
            }

        cases = hostile_sweep_cases(openapi, fresh_ids())
        assert len(cases) > 150, len(cases)
        ids = fresh_ids()
        for method, path, kwargs in cases:
            if method != "GET":
                ids = fresh_ids()  # a write may erase or revoke: give it live ids
            values = {**ids, **kwargs.get("path", {})}
            route = path.format(**{k: quote(str(v), safe="") for k, v in values.items()})
            allowed = openapi["paths"][path][method.lower()]["x-roles"]
            role = next((r for r in ROLES if r in allowed), "admin")
            token = ids["code"] if role == "customer" else callers.token(role)
            response = client.request(
                method,
                route,
                params=kwargs.get("params"),
                json=kwargs.get("json"),
                headers={"Authorization": f"Bearer {token}"},
            )
            count += 1
            if response.status_code >= 500:
                failures.append(f"{method} {route!r} {kwargs} -> {response.status_code}")
        # Multipart text fields of the enrolment, with a real face so the values reach the
        # database (where PostgreSQL refuses NUL characters).
        photo = face_bytes("obama_1.jpg")
        admin = {"Authorization": f"Bearer {callers.token('admin')}"}
        base = {"purposes": "checkin", "venues": VENUE, "notice_version": "v1", "lang": "vi"}
        for name in ("method", "device", "notice_version", "purposes", "venues", "expires_days"):
            for value in ("a\x00b", "9" * 40):
                response = client.post(
                    "/v1/enrolments",
                    data={**base, name: value, "customer": f"sweep-{secrets.token_hex(4)}"},
                    files={"image": ("a.jpg", photo, "image/jpeg")},
                    headers=admin,
                )
                count += 1
                if response.status_code >= 500:
                    failures.append(f"enrolment {name}={value!r} -> {response.status_code}")
    figures("fuzz", {"hostile_sweep_requests": count})
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------- pages outside the document


@settings(max_examples=60, deadline=None, database=None, derandomize=not RANDOM)
@given(
    path=st.sampled_from(["/", "/kiosk", "/kiosk/enrol", "/me", "/audit", "/static/"]),
    tail=st.text(max_size=40),
    query=st.dictionaries(st.sampled_from(["lang", "x", "code"]), st.text(max_size=30)),
)
def test_pages_outside_the_document_never_fail(
    path: str, tail: str, query: dict[str, str], page_client: Any
) -> None:
    url = path + (quote(tail, safe="") if path.endswith("/static/") else "")
    response = page_client.get(url, params=query, follow_redirects=False)
    assert response.status_code < 500, (url, query, response.status_code, response.text[:300])


@pytest.fixture(scope="module")
def page_client(tmp_path_factory: pytest.TempPathFactory, served_embedder: Any) -> Any:
    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("pages") / "data", retention_interval_seconds=0
    )
    init_data_dir(settings_)
    with TestClient(
        create_app(settings_, embedder=served_embedder), raise_server_exceptions=False
    ) as c:
        yield c
