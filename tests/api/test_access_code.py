"""Staff issue a new access code to a customer who lost theirs: the new code is shown
once, the old one stops working at once, and the audit log records the change (never
a code)."""

from __future__ import annotations

import json

import pytest

VENUE = "hcm-1"


@pytest.fixture
def svc(make_service, fake_embedder):
    # Access codes are the subject, not the face: uploads go to the fake embedder.
    service = make_service(match_rate=0, fake=fake_embedder)
    service.venue(VENUE)
    return service


def _new_code(svc, customer_id: str, headers=None):
    return svc.client.post(
        f"/v1/customers/{customer_id}/access-code", headers=headers or svc.admin.headers
    )


def test_a_new_code_replaces_the_old_one_at_once(svc, photos, problem) -> None:
    customer = svc.enrol([photos("obama_1.jpg")], customer="lost-code-obama")
    assert svc.client.get("/v1/me", headers=customer.headers).status_code == 200
    r = _new_code(svc, customer.id)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["customer"] == customer.id
    code = body["access_code"]
    assert code != customer.code and len(code.replace("-", "")) == 20
    problem(svc.client.get("/v1/me", headers=customer.headers), 401, "unauthorized")
    me = svc.client.get("/v1/me", headers={"Authorization": f"Bearer {code}"})
    assert me.status_code == 200 and me.json()["customer"] == customer.id
    # Codes are typed by hand: the new one is as forgiving as the first.
    lower = code.lower().replace("-", "")
    assert svc.client.get("/v1/me", headers={"Authorization": f"Bearer {lower}"}).is_success

    events = [e for e in svc.events() if e["action"] == "access_code.replace"]
    assert len(events) == 1
    assert events[0]["customer"] == customer.id
    assert events[0]["actor"] == {"role": "admin", "id": svc.admin.id}
    everything = json.dumps(svc.events())
    for secret in (code, customer.code, code.replace("-", "")):
        assert secret not in everything


def test_the_customer_can_use_the_new_code_to_revoke(svc, photos, face_embedding) -> None:
    customer = svc.enrol([photos("obama_1.jpg")], customer="revoke-obama")
    code = _new_code(svc, customer.id).json()["access_code"]
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    assert svc.match(kiosk, embedding=face_embedding("obama_2")).json()["match"] is True
    r = svc.client.post("/v1/me/revoke", json={}, headers={"Authorization": f"Bearer {code}"})
    assert r.status_code == 200, r.text
    assert svc.match(kiosk, embedding=face_embedding("obama_2")).json() == {"match": False}


def test_unknown_and_erased_customers(svc, photos, problem) -> None:
    problem(_new_code(svc, "nobody-here"), 404, "customer_not_found")
    customer = svc.enrol([photos("biden_2.jpg")], customer="erased-biden")
    r = svc.client.post(
        f"/v1/customers/{customer.id}/erase", json={"reason": "request"}, headers=svc.admin.headers
    )
    assert r.status_code == 200, r.text
    before = len(svc.events())
    problem(_new_code(svc, customer.id), 410, "customer_erased")
    assert len(svc.events()) == before  # refused: nothing written


def test_only_admins_issue_codes(svc, photos, problem) -> None:
    customer = svc.enrol([photos("biden_2.jpg")], customer="authz-biden")
    kiosk = svc.kiosk(VENUE)
    problem(_new_code(svc, customer.id, kiosk.headers), 403, "forbidden")
    problem(_new_code(svc, customer.id, svc.auditor.headers), 403, "forbidden")
    problem(_new_code(svc, customer.id, customer.headers), 403, "forbidden")
    # The customer's own code still works: nothing was replaced.
    assert svc.client.get("/v1/me", headers=customer.headers).status_code == 200
