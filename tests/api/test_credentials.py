"""Every credential of every role can be listed, disabled and rotated, through the API and
the command line, and stops working on the running server: API keys (admin, kiosk,
auditor; before this, admin and auditor keys could not be disabled at all), staff
accounts (PIN) and customers' access codes. API keys may carry an expiry."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

VENUE = "hcm-1"
PIN = "493817"


@pytest.fixture
def svc(make_service, clock_type):
    # Cache off: a change made by another process shows at the next request (the cache's
    # own time limit is tested in test_key_cache.py).
    service = make_service(clock=clock_type(), key_cache_seconds=0, match_rate=0)
    service.venue(VENUE)
    return service


@pytest.fixture
def cli(svc, facekeep_bin, subprocess_env):
    def run(*args: str, stdin: str | None = None, ok: bool = True) -> dict[str, Any]:
        done = subprocess.run(
            [str(facekeep_bin), *args, "--data-dir", str(svc.root)],
            capture_output=True,
            text=True,
            input=stdin,
            env=subprocess_env(**svc.db_env()),
            timeout=120,
        )
        assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
        value: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return value

    return run


def test_every_credential_is_listed_without_its_secret(svc, cli) -> None:
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    staff = svc.staff((VENUE,), staff_id="lan")
    r = svc.client.get("/v1/credentials", headers=svc.admin.headers)
    assert r.status_code == 200
    listed = r.json()
    roles = {k["id"]: k["role"] for k in listed["keys"]}
    assert roles[svc.admin.id] == "admin" and roles[svc.auditor.id] == "auditor"
    assert roles[kiosk.id] == "kiosk"
    assert [s["id"] for s in listed["staff"]] == ["lan"]
    for secret in (svc.admin.secret, svc.auditor.secret, kiosk.secret, staff.secret, PIN):
        assert secret not in r.text
    assert "argon2" not in r.text and "secret_hash" not in r.text
    printed = cli("credentials", "list")
    assert {k["id"] for k in printed["keys"]} == set(roles)
    assert [s["id"] for s in printed["staff"]] == ["lan"]
    assert cli("credentials", "list", "--role", "staff")["keys"] == []


def test_admin_and_auditor_keys_are_disabled_and_rotated_over_the_api(svc, problem) -> None:
    second = svc.key("admin", label="laptop")
    auditor = svc.key("auditor")
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    assert svc.client.get("/v1/venues", headers=second.headers).status_code == 200
    r = svc.client.post(f"/v1/api-keys/{second.id}/disable", headers=svc.admin.headers)
    assert r.status_code == 200 and r.json()["disabled"] is True
    problem(svc.client.get("/v1/venues", headers=second.headers), 401, "unauthorized")
    r = svc.client.post(f"/v1/api-keys/{auditor.id}/disable", headers=svc.admin.headers)
    assert r.status_code == 200
    problem(svc.client.get("/v1/audit/head", headers=auditor.headers), 401, "unauthorized")

    # Rotation: the same key id, a new secret shown once; the old secret stops at once.
    for key, path in ((svc.key("auditor"), "/v1/audit/head"), (kiosk, None)):
        r = svc.client.post(f"/v1/api-keys/{key.id}/rotate", headers=svc.admin.headers)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["id"] == key.id and body["rotated_at"] and body["key"] != key.secret
        new = {"Authorization": f"Bearer {body['key']}"}
        if path:
            problem(svc.client.get(path, headers=key.headers), 401, "unauthorized")
            assert svc.client.get(path, headers=new).status_code == 200
    problem(
        svc.client.post("/v1/api-keys/admin_000000/rotate", headers=svc.admin.headers),
        404,
        "key_not_found",
    )
    events = svc.events()
    done = {(e["action"], e["details"].get("key_id")) for e in events}
    assert {("apikey.disable", second.id), ("apikey.rotate", kiosk.id)} <= done
    assert all(key.secret not in str(events) for key in (second, auditor, kiosk))


def test_command_line_changes_stop_keys_on_the_running_server(svc, cli, problem) -> None:
    auditor = svc.key("auditor")
    admin = svc.key("admin")
    assert svc.client.get("/v1/audit/head", headers=auditor.headers).status_code == 200
    cli("credentials", "disable", "--key", auditor.id)
    problem(svc.client.get("/v1/audit/head", headers=auditor.headers), 401, "unauthorized")
    rotated = cli("credentials", "rotate", "--key", admin.id)
    assert rotated["id"] == admin.id
    problem(svc.client.get("/v1/venues", headers=admin.headers), 401, "unauthorized")
    new = {"Authorization": f"Bearer {rotated['key']}"}
    assert svc.client.get("/v1/venues", headers=new).status_code == 200
    failed = cli("credentials", "disable", "--key", "kiosk_nothing", ok=False)
    assert failed["error"] == "key_not_found"
    assert cli("credentials", "disable", ok=False)["error"] == "usage"


def test_api_keys_expire(svc, cli, problem) -> None:
    r = svc.client.post(
        "/v1/api-keys", json={"role": "auditor", "expires_days": 1}, headers=svc.admin.headers
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    made = r.json()
    assert made["expires_at"] is not None
    headers = {"Authorization": f"Bearer {made['key']}"}
    assert svc.client.get("/v1/audit/head", headers=headers).status_code == 200
    kiosk = cli(
        "keys", "create-kiosk", "--venue", VENUE, "--purpose", "checkin", "--expires-days", "2"
    )
    assert kiosk["expires_at"] is not None
    svc.clock.advance(days=1, seconds=1)
    problem(svc.client.get("/v1/audit/head", headers=headers), 401, "unauthorized")
    listed = {
        k["id"]: k
        for k in svc.client.get("/v1/credentials", headers=svc.admin.headers).json()["keys"]
    }
    assert listed[made["id"]]["expires_at"] == made["expires_at"]
    problem(
        svc.client.post(
            "/v1/api-keys", json={"role": "kiosk", "venue": VENUE}, headers=svc.admin.headers
        ),
        422,
        "invalid_request",
    )


def test_keys_made_offline_can_expire(svc, cli) -> None:
    made = cli("keys", "create-auditor", "--expires-days", "30")
    expires = made["expires_at"]
    assert expires is not None and expires > svc.now().isoformat()
    assert cli("keys", "create-admin")["expires_at"] is None


def test_staff_accounts_from_the_command_line(svc, cli, problem) -> None:
    made = cli("staff", "create", "--id", "lan", "--venue", VENUE, "--name", "Lan")
    pin = made["pin"]
    assert pin.isdigit() and made["venues"] == [VENUE]
    token = svc.client.post("/v1/staff/sessions", json={"staff": "lan", "pin": pin}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert svc.client.get("/v1/staff/me", headers=headers).status_code == 200
    # A PIN chosen by the person, read from stdin (never from the command line).
    rotated = cli("credentials", "rotate", "--staff", "lan", "--pin-stdin", stdin="82736451\n")
    assert rotated["pin"] is None
    problem(svc.client.get("/v1/staff/me", headers=headers), 401, "unauthorized")
    r = svc.client.post("/v1/staff/sessions", json={"staff": "lan", "pin": "82736451"})
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    cli("credentials", "disable", "--staff", "lan")
    problem(svc.client.get("/v1/staff/me", headers=headers), 401, "unauthorized")
    short = cli(
        "staff", "create", "--id", "x", "--venue", VENUE, "--pin-stdin", stdin="12\n", ok=False
    )
    assert short["error"] == "invalid_pin"


def test_customers_access_codes_are_disabled_and_rotated(svc, cli, face_embedding, problem) -> None:
    customer = svc.enrol_vectors([face_embedding("obama_1")], venues=(VENUE,))
    assert svc.client.get("/v1/me", headers=customer.headers).status_code == 200
    r = svc.client.delete(f"/v1/customers/{customer.id}/access-code", headers=svc.admin.headers)
    assert r.status_code == 200
    problem(svc.client.get("/v1/me", headers=customer.headers), 401, "unauthorized")
    code = cli("credentials", "rotate", "--customer", customer.id)["access_code"]
    assert svc.client.get("/v1/me", headers={"Authorization": f"Bearer {code}"}).status_code == 200
    cli("credentials", "disable", "--customer", customer.id)
    problem(
        svc.client.get("/v1/me", headers={"Authorization": f"Bearer {code}"}), 401, "unauthorized"
    )
    actions = [e["action"] for e in svc.events() if e["customer"] == customer.id]
    assert actions.count("access_code.disable") == 2 and "access_code.replace" in actions


def test_a_disable_made_elsewhere_reaches_a_caching_server_within_its_time(make_service) -> None:
    # With the cache on, a disable made through this server stops the key at once; the
    # time another replica takes is pinned in test_key_cache.py with a hand-moved clock.
    svc = make_service(key_cache_seconds=60)
    auditor = svc.key("auditor")
    assert svc.client.get("/v1/audit/head", headers=auditor.headers).status_code == 200
    r = svc.client.post(f"/v1/api-keys/{auditor.id}/disable", headers=svc.admin.headers)
    assert r.status_code == 200
    assert svc.client.get("/v1/audit/head", headers=auditor.headers).status_code == 401
