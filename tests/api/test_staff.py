"""Staff accounts: least privilege at the counter.

A staff account is scoped to venues and signs in with a short PIN (stored with argon2id)
for a session that ends after an idle time, at sign-out, and when the account is disabled
or its PIN rotated. Staff may enrol with consent at their venues, look up, revoke for and
give a new access code to customers of their venues, and nothing else: no erasure, no
kiosks or keys, no audit data. Before this, the only staff credential was the operator's
admin key, typed into the counter's tablet.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.storage import query

pytestmark = pytest.mark.faces

HERE, THERE = "hcm-1", "hn-2"
PIN = "493817"


@pytest.fixture
def svc(make_service, clock_type):
    service = make_service(clock=clock_type(), code_failures_per_minute=0)
    service.venue(HERE)
    service.venue(THERE)
    return service


def sign_in(svc, staff_id: str, pin: str = PIN):
    return svc.client.post("/v1/staff/sessions", json={"staff": staff_id, "pin": pin})


def enrol(svc, headers: dict[str, str], photos, venue: str, customer: str) -> Any:
    return svc.client.post(
        "/v1/enrolments",
        headers=headers,
        files=[("image", ("a.jpg", photos("obama_1.jpg")[1], "image/jpeg"))],
        data={
            "customer": customer,
            "purposes": "checkin",
            "venues": venue,
            "notice_version": "v1",
            "lang": "vi",
        },
    )


def test_an_operator_makes_a_staff_account_whose_pin_is_stored_with_argon2(svc, problem) -> None:
    r = svc.client.post(
        "/v1/staff",
        json={"id": "lan", "name": "Lan", "venues": [HERE]},
        headers=svc.admin.headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    pin = body["pin"]
    assert pin.isdigit() and len(pin) == 8
    assert body["venues"] == [HERE] and body["role"] == "staff"
    # The PIN is stored only as an argon2id hash, with its parameters.
    rows = query(svc.settings.vault_url(), "SELECT secret_hash FROM staff_accounts")
    assert len(rows) == 1 and rows[0][0].startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    assert pin not in rows[0][0]
    # A PIN of the operator's choosing; too short is refused.
    r = svc.client.post(
        "/v1/staff", json={"id": "minh", "venues": [HERE], "pin": PIN}, headers=svc.admin.headers
    )
    assert r.status_code == 201 and r.json()["pin"] is None
    problem(
        svc.client.post(
            "/v1/staff", json={"id": "x", "venues": [HERE], "pin": "123"}, headers=svc.admin.headers
        ),
        422,
        "invalid_pin",
    )
    problem(
        svc.client.post(
            "/v1/staff", json={"id": "lan", "venues": [HERE]}, headers=svc.admin.headers
        ),
        409,
        "staff_exists",
    )
    # Signing in: a wrong PIN and an unknown account get the same answer.
    for staff_id, pin_tried in (("lan", "000000"), ("nobody", pin)):
        r = sign_in(svc, staff_id, pin_tried)
        problem(r, 401, "unauthorized")
    r = sign_in(svc, "lan", pin)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    assert r.json()["token"].startswith("fks_") and r.json()["idle_seconds"] == 15 * 60
    me = svc.client.get("/v1/staff/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.json() == {"staff": "lan", "venues": [HERE]}


def test_staff_work_only_at_their_venues(svc, photos, problem) -> None:
    staff = svc.staff((HERE,), staff_id="lan")
    r = enrol(svc, staff.headers, photos, HERE, "guest-here")
    assert r.status_code == 201, r.text
    assert r.json()["access_code"]
    problem(enrol(svc, staff.headers, photos, THERE, "guest-there"), 403, "venue_not_allowed")
    problem(enrol(svc, staff.headers, photos, f"{HERE},{THERE}", "both"), 403, "venue_not_allowed")
    there = enrol(svc, svc.admin.headers, photos, THERE, "guest-there")
    assert there.status_code == 201, there.text

    # Their own venue's customers: look up, revoke, a new access code.
    assert svc.client.get("/v1/customers/guest-here", headers=staff.headers).status_code == 200
    r = svc.client.post("/v1/customers/guest-here/access-code", headers=staff.headers)
    assert r.status_code == 200 and r.json()["access_code"]
    r = svc.client.post(
        "/v1/customers/guest-here/revoke", json={"purpose": "checkin"}, headers=staff.headers
    )
    assert r.status_code == 200, r.text
    # Another venue's customer does not exist for them; nothing is changed.
    for method, path, body in (
        ("GET", "/v1/customers/guest-there", None),
        ("POST", "/v1/customers/guest-there/access-code", None),
        ("POST", "/v1/customers/guest-there/revoke", {}),
    ):
        problem(
            svc.client.request(method, path, json=body, headers=staff.headers),
            404,
            "customer_not_found",
        )
    assert (
        svc.client.get("/v1/customers/guest-there", headers=svc.admin.headers).json()["consents"][
            0
        ]["status"]
        == "active"
    )

    # The counter lists only the staff member's venues.
    r = svc.client.get("/v1/venues", headers=staff.headers)
    assert [v["id"] for v in r.json()["venues"]] == [HERE]
    # Never: erase, re-enrol photos, kiosks, keys, staff accounts, venues, audit data,
    # the registers.
    forbidden = [
        ("POST", "/v1/customers/guest-here/erase", {"reason": "x"}),
        ("GET", "/v1/kiosks", None),
        ("POST", "/v1/kiosks", {"venue": HERE, "purposes": ["checkin"]}),
        ("GET", "/v1/credentials", None),
        ("POST", "/v1/api-keys", {"role": "admin"}),
        ("POST", "/v1/staff", {"id": "z", "venues": [HERE]}),
        ("POST", "/v1/venues", {"id": "v9", "name": "v"}),
        ("GET", "/v1/audit/events", None),
        ("GET", "/v1/audit/head", None),
        ("GET", "/v1/keys", None),
        ("GET", "/v1/customers/guest-here/receipts", None),
        ("GET", "/v1/requests", None),
        ("GET", "/v1/breaches", None),
    ]
    for method, path, body in forbidden:
        r = svc.client.request(method, path, json=body, headers=staff.headers)
        problem(r, 403, "forbidden")
    r = svc.client.put(
        "/v1/customers/guest-here/templates",
        files=[("image", ("a.jpg", photos("obama_2.jpg")[1], "image/jpeg"))],
        headers=staff.headers,
    )
    problem(r, 403, "forbidden")
    # The audit log names the staff member, never the session.
    events = [e for e in svc.events() if e["customer"] == "guest-here"]
    assert {"role": "staff", "id": "lan"} in [e["actor"] for e in events]
    assert staff.secret not in str(svc.events())


def test_a_session_ends_when_idle_at_sign_out_and_when_the_account_changes(svc, problem) -> None:
    clock = svc.clock
    staff = svc.staff((HERE,), staff_id="lan")
    me = "/v1/staff/me"
    for _ in range(3):  # used every 10 minutes: stays alive past 15 minutes of age
        clock.advance(minutes=10)
        assert svc.client.get(me, headers=staff.headers).status_code == 200
    clock.advance(minutes=15, seconds=1)
    problem(svc.client.get(me, headers=staff.headers), 401, "unauthorized")

    # Sign-out ends it at once.
    staff = sign_in(svc, "lan").json()["token"]
    headers = {"Authorization": f"Bearer {staff}"}
    assert svc.client.delete("/v1/staff/sessions/current", headers=headers).status_code == 200
    problem(svc.client.get(me, headers=headers), 401, "unauthorized")

    # A new PIN ends every session and the old PIN; disabling ends them too.
    headers = {"Authorization": f"Bearer {sign_in(svc, 'lan').json()['token']}"}
    r = svc.client.post("/v1/staff/lan/rotate", json={}, headers=svc.admin.headers)
    new_pin = r.json()["pin"]
    problem(svc.client.get(me, headers=headers), 401, "unauthorized")
    problem(sign_in(svc, "lan", PIN), 401, "unauthorized")
    headers = {"Authorization": f"Bearer {sign_in(svc, 'lan', new_pin).json()['token']}"}
    assert svc.client.get(me, headers=headers).status_code == 200
    r = svc.client.post("/v1/staff/lan/disable", headers=svc.admin.headers)
    assert r.status_code == 200 and r.json()["disabled"] is True
    problem(svc.client.get(me, headers=headers), 401, "unauthorized")
    problem(sign_in(svc, "lan", new_pin), 401, "unauthorized")
    actions = [e["action"] for e in svc.events()]
    for action in ("staff.signin", "staff.signout", "staff.rotate", "staff.disable"):
        assert action in actions


def test_the_idle_time_and_maximum_age_are_configurable(make_service, clock_type, problem) -> None:
    svc = make_service(clock=clock_type(), staff_idle_minutes=2, staff_session_hours=1)
    staff = svc.staff((HERE,))
    svc.clock.advance(minutes=1, seconds=50)
    assert svc.client.get("/v1/staff/me", headers=staff.headers).status_code == 200
    svc.clock.advance(minutes=2)
    problem(svc.client.get("/v1/staff/me", headers=staff.headers), 401, "unauthorized")
    staff = svc.staff((HERE,))
    signed_in = svc.clock.now
    for _ in range(61):  # always busy, but a session lasts an hour at most
        svc.clock.advance(minutes=1)
        if svc.client.get("/v1/staff/me", headers=staff.headers).status_code != 200:
            break
    assert svc.clock.now - signed_in == timedelta(hours=1)
    problem(svc.client.get("/v1/staff/me", headers=staff.headers), 401, "unauthorized")


def test_wrong_pins_lock_the_account_for_a_while(svc, problem) -> None:
    svc.staff((HERE,), staff_id="lan")
    for _ in range(5):
        problem(sign_in(svc, "lan", "111111"), 401, "unauthorized")
    # Locked: even the right PIN waits (on every replica: the lock is in the database).
    r = sign_in(svc, "lan", PIN)
    problem(r, 429, "staff_locked")
    assert 1 <= int(r.headers["retry-after"]) <= 15 * 60
    svc.clock.advance(minutes=15, seconds=1)
    assert sign_in(svc, "lan", PIN).status_code == 201
    # The count starts again after a success; five more failures lock it again, longer.
    for _ in range(5):
        sign_in(svc, "lan", "111111")
    svc.clock.advance(minutes=15, seconds=1)
    assert sign_in(svc, "lan", PIN).status_code == 201
    failed = [e for e in svc.events() if e["action"] == "staff.signin_failed"]
    assert len(failed) == 10 and all("111111" not in str(e) for e in failed)


def test_wrong_pins_spend_the_address_budget(make_service, problem) -> None:
    svc = make_service(code_failures_per_minute=6, code_failure_burst=3)
    svc.staff((HERE,), staff_id="lan")
    svc.staff((HERE,), staff_id="minh")
    statuses = [sign_in(svc, s, "111111").status_code for s in ("lan", "minh", "lan", "minh")]
    assert statuses == [401, 401, 401, 429], statuses
    elsewhere = svc.new_client(("192.0.2.9", 4000))
    r = elsewhere.post("/v1/staff/sessions", json={"staff": "lan", "pin": PIN})
    assert r.status_code == 201
