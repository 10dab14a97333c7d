"""The whole story over HTTP with real photos: venue and kiosk, consented enrolment,
matching by image and by embedding, the customer's rights with their access code
(see, object, revoke, correct, erase), and what the auditor sees afterwards."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.faces

NO_MATCH = b'{"match":false}'


def as_json(vector: Any) -> list[float]:
    return [float(x) for x in vector]


def test_the_whole_story(
    make_service, photos, face_embedding, auth, problem, no_biometrics
) -> None:
    svc = make_service()
    admin, auditor, client = svc.admin, svc.auditor, svc.client

    # 1. The operator registers a venue and a kiosk; the kiosk key is shown once.
    svc.venue("hcm-1", "District 1")
    # It runs on a trusted edge device, so it may send embeddings as well as images.
    r = client.post(
        "/v1/kiosks",
        json={
            "venue": "hcm-1",
            "purposes": ["checkin", "marketing"],
            "label": "front desk",
            "allow_embeddings": True,
        },
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    kiosk_secret, kiosk_id = created["key"], created["id"]
    assert created["venue"] == "hcm-1"
    assert created["purposes"] == ["checkin", "marketing"]
    assert created["role"] == "kiosk" and created["disabled"] is False
    assert created["allow_embeddings"] is True
    listing = client.get("/v1/kiosks", headers=admin.headers)
    assert listing.status_code == 200
    assert [(k["id"], k["allow_embeddings"]) for k in listing.json()["kiosks"]] == [
        (kiosk_id, True)
    ]
    assert kiosk_secret not in listing.text, "the kiosk secret is shown more than once"
    kiosk = auth(kiosk_secret)

    # 2. Two customers are enrolled with their consent (notice v1 in Vietnamese).
    r = svc.enrol_request(
        [photos("obama_1.jpg"), photos("obama_rgba_32bit.png")],
        purposes=("checkin", "marketing"),
        venues=("hcm-1",),
        customer="guest-obama",
    )
    assert r.status_code == 201, r.text
    obama = r.json()
    assert obama["customer"] == "guest-obama"
    assert obama["templates"] == 2
    assert obama["purposes"] == ["checkin", "marketing"]
    assert obama["venues"] == ["hcm-1"]
    assert (obama["notice_version"], obama["lang"]) == ("v1", "vi")
    assert obama["expires_at"] is None
    r = svc.enrol_request([photos("biden_1.jpg")], purposes=("checkin",), venues=("hcm-1",))
    assert r.status_code == 201, r.text
    biden = r.json()
    assert biden["customer"] != obama["customer"] and biden["templates"] == 1
    assert biden["access_code"] != obama["access_code"]
    assert biden["key_id"] != obama["key_id"]
    obama_code, biden_code = auth(obama["access_code"]), auth(biden["access_code"])

    # 3. The kiosk recognises both from other photos of them, by image and by embedding.
    def match(**body: Any) -> dict[str, Any]:
        if "image" in body:
            data = {"purpose": body["purpose"]} if "purpose" in body else {}
            resp = client.post(
                "/v1/match", headers=kiosk, files=[("image", body["image"])], data=data
            )
        else:
            resp = client.post("/v1/match", headers=kiosk, json=body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    hit = match(image=photos("obama_2.jpg"))
    assert hit == {"match": True, "customer": "guest-obama", "consent": obama["consent"]}
    assert match(image=photos("biden_2.jpg"))["customer"] == biden["customer"]
    assert match(embedding=as_json(face_embedding("obama_3")))["customer"] == "guest-obama"
    hit = match(embedding=as_json(face_embedding("biden_2")))
    assert hit["customer"] == biden["customer"] and hit["consent"] == biden["consent"]

    # A stranger gets exactly {"match": false}, by image and by embedding.
    stranger = photos("lin_manuel_miranda_1.png")
    r = client.post("/v1/match", headers=kiosk, files=[("image", stranger)])
    assert (r.status_code, r.content) == (200, NO_MATCH)
    r = client.post(
        "/v1/match",
        headers=kiosk,
        json={"embedding": as_json(face_embedding("lin_manuel_miranda_1"))},
    )
    assert (r.status_code, r.content) == (200, NO_MATCH)

    # 4. Obama objects to marketing: marketing stops at once, check-in goes on.
    assert match(embedding=as_json(face_embedding("obama_2")), purpose="marketing")["match"]
    r = client.post("/v1/me/objections", json={}, headers=obama_code)
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == [{"consent": obama["consent"], "purpose": "marketing"}]
    r = client.post(
        "/v1/match",
        headers=kiosk,
        json={"embedding": as_json(face_embedding("obama_2")), "purpose": "marketing"},
    )
    assert (r.status_code, r.content) == (200, NO_MATCH)
    assert match(embedding=as_json(face_embedding("obama_2")))["customer"] == "guest-obama"

    # 5. Obama sees what is held: consents, template counts, where and when matched.
    r = client.get("/v1/me", headers=obama_code)
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["customer"] == "guest-obama" and me["status"] == "active"
    assert me["key"] == {"id": obama["key_id"], "state": "active"}
    assert me["templates"]["count"] == 2 and len(me["templates"]["items"]) == 2
    [consent] = me["consents"]
    assert consent["consent"] == obama["consent"]
    assert consent["status"] == "active"
    assert consent["active_purposes"] == ["checkin"]
    states = {p["purpose"]: p for p in consent["purposes"]}
    assert states["checkin"]["active"] is True and states["checkin"]["revoked_at"] is None
    assert states["marketing"]["active"] is False
    assert states["marketing"]["revoke_reason"] == "objection"
    assert (consent["notice_version"], consent["notice_lang"]) == ("v1", "vi")
    assert consent["venues"] == ["hcm-1"]
    history = me["matches"]
    # obama_2 image, obama_3 json, obama_2 marketing (before the objection), obama_2 json
    assert len(history) == 4, history
    for entry in history:
        assert entry["venue"] == "hcm-1"
        assert entry["kiosk"] == kiosk_id
    times = [datetime.fromisoformat(e["at"]) for e in history]
    assert times == sorted(times) and times[0] >= datetime.fromisoformat(me["created_at"])
    assert [e["purpose"] for e in history] == ["checkin", "checkin", "marketing", "checkin"]
    no_biometrics(
        me,
        vectors=[face_embedding(n) for n in ("obama_1", "obama_2", "obama_3")],
        secrets=[kiosk_secret, admin.secret, obama["access_code"], biden["access_code"]],
    )
    assert biden["customer"] not in r.text

    # 6. Obama retakes their photos: new templates of the same face replace the old ones.
    # How near a probe came is for auditors only: the match event keeps the distance.
    def last_distance() -> float:
        [*_, last] = [e for e in svc.events() if e["action"] == "match"]
        return float(last["details"]["distance"])

    old_ids = {t["id"] for t in me["templates"]["items"]}
    assert match(embedding=as_json(face_embedding("obama_3")))["customer"] == "guest-obama"
    before = last_distance()
    r = client.put("/v1/me/templates", headers=obama_code, files=[("image", photos("obama_3.jpg"))])
    assert r.status_code == 200, r.text
    assert r.json() == {"customer": "guest-obama", "templates": 1}
    me = client.get("/v1/me", headers=obama_code).json()
    assert me["templates"]["count"] == 1
    assert not old_ids & {t["id"] for t in me["templates"]["items"]}
    after = match(embedding=as_json(face_embedding("obama_3")))
    assert after == {"match": True, "customer": "guest-obama", "consent": obama["consent"]}
    assert before > 0.2 and last_distance() < 0.05, (before, last_distance())

    # 7. Biden withdraws consent with the access code; matching stops at once.
    r = client.post("/v1/me/revoke", headers=biden_code)
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] == [{"consent": biden["consent"], "purpose": "checkin"}]
    r = client.post("/v1/match", headers=kiosk, files=[("image", photos("biden_2.jpg"))])
    assert (r.status_code, r.content) == (200, NO_MATCH)
    r = client.post(
        "/v1/match", headers=kiosk, json={"embedding": as_json(face_embedding("biden_1"))}
    )
    assert (r.status_code, r.content) == (200, NO_MATCH)
    me = client.get("/v1/me", headers=biden_code).json()
    assert me["consents"][0]["status"] == "revoked"

    # 8. Biden asks to be erased: the key is destroyed, the code stops working.
    r = client.delete("/v1/me", headers=biden_code)
    assert r.status_code == 200, r.text
    erased = r.json()
    assert erased["customer"] == biden["customer"] and erased["erased"] is True
    assert erased["destroyed_key_ids"] == [biden["key_id"]]
    assert erased["already_erased"] is False
    r = client.get(f"/v1/keys/{biden['key_id']}", headers=auditor.headers)
    assert r.status_code == 200, r.text
    key = r.json()
    assert key["state"] == "destroyed" and key["destroyed_at"] is not None
    assert key["customer"] == biden["customer"]
    r = client.get(f"/v1/keys/{obama['key_id']}", headers=auditor.headers)
    assert r.json()["state"] == "active"
    problem(client.get("/v1/me", headers=biden_code), 401, "unauthorized")
    problem(client.delete("/v1/me", headers=biden_code), 401, "unauthorized")
    shown = client.get(f"/v1/customers/{biden['customer']}", headers=admin.headers).json()
    assert shown["status"] == "erased" and shown["key"]["state"] == "destroyed"
    # Obama is untouched.
    assert match(image=photos("obama_3.jpg"))["customer"] == "guest-obama"

    # 9. The auditor reads the log: every step, with the role and key id that did it.
    events = svc.events()
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(len(events))), "events are missing or out of order"

    def only(action: str, customer: str) -> list[dict[str, Any]]:
        return [e for e in events if e["action"] == action and e["customer"] == customer]

    for who in (obama, biden):
        [enrol] = only("enrol", who["customer"])
        assert enrol["actor"] == {"role": "admin", "id": admin.id}
        assert enrol["details"]["key_id"] == who["key_id"]
        assert enrol["details"]["notice_version"] == "v1" and enrol["details"]["lang"] == "vi"
    matches = only("match", "guest-obama")
    assert len(matches) == 7
    assert all(e["actor"] == {"role": "kiosk", "id": kiosk_id} for e in matches)
    assert all(e["outcome"] == "match" for e in matches)
    misses = [e for e in events if e["action"] == "match" and e["outcome"] == "no_match"]
    assert len(misses) == 5 and all(e["customer"] is None for e in misses)
    [objection] = only("consent.revoke", "guest-obama")
    assert objection["actor"] == {"role": "customer", "id": "guest-obama"}
    assert objection["details"]["reason"] == "objection"
    [revoke] = only("consent.revoke", biden["customer"])
    assert revoke["actor"] == {"role": "customer", "id": biden["customer"]}
    assert revoke["details"]["purpose"] == "all"
    [begin] = only("erase.begin", biden["customer"])
    [complete] = only("erase.complete", biden["customer"])
    assert begin["actor"] == complete["actor"] == {"role": "customer", "id": biden["customer"]}
    assert begin["seq"] < complete["seq"]
    assert complete["details"]["key_ids"] == [biden["key_id"]]
    [replace] = only("templates.replace", "guest-obama")
    assert replace["details"] == {"removed": 2, "added": 1, "verified": True}
    creations = [e for e in events if e["action"] == "apikey.create"]
    assert {e["details"]["key_id"] for e in creations} >= {admin.id, auditor.id, kiosk_id}
    assert all(len(e["leaf_hash"]) == 64 for e in events)
    no_biometrics(
        events,
        vectors=[face_embedding(n) for n in ("obama_1", "obama_2", "biden_1", "biden_2")],
        secrets=[
            kiosk_secret,
            admin.secret,
            auditor.secret,
            obama["access_code"],
            biden["access_code"],
        ],
    )


def test_unknown_revoked_expired_and_erased_faces_get_the_same_bytes(
    make_service, clock_type, photos, face_embedding
) -> None:
    clock = clock_type()
    svc = make_service(clock=clock)
    svc.venue("hcm-1")
    kiosk = svc.kiosk("hcm-1", allow_embeddings=True)
    kit = svc.enrol([photos("kit_harington_1.jpg")])
    rose = svc.enrol([photos("rose_leslie_1.jpg")], expires_days=1)
    alex = svc.enrol([photos("alex_lacamoire_1.jpg")])
    assert rose.body["expires_at"] == (clock.now + timedelta(days=1)).isoformat()
    probes = {
        kit.id: "kit_harington_2",
        rose.id: "rose_leslie_2",
        alex.id: "alex_lacamoire_2",
    }
    images = {c: photos(n + ".jpg") for c, n in probes.items()}

    # Before: each of them is recognised (so the comparison below can fail).
    for customer, name in probes.items():
        r = svc.match(kiosk, embedding=face_embedding(name))
        assert r.json()["customer"] == customer, (name, r.text)

    # Kit withdraws, Alex is erased, a day and a second pass (Rose's consent expires).
    assert svc.client.post("/v1/me/revoke", headers=kit.headers).status_code == 200
    assert svc.client.delete("/v1/me", headers=alex.headers).status_code == 200
    clock.advance(days=1, seconds=1)

    answers = {}
    for customer, name in probes.items():
        answers[f"{name} json"] = svc.match(kiosk, embedding=face_embedding(name))
        answers[f"{name} image"] = svc.match(kiosk, image=images[customer])
    answers["stranger json"] = svc.match(kiosk, embedding=face_embedding("lin_manuel_miranda_1"))
    answers["stranger image"] = svc.match(kiosk, image=photos("lin_manuel_miranda_1.png"))
    shapes = set()
    for label, r in answers.items():
        assert r.status_code == 200, (label, r.text)
        assert r.content == NO_MATCH, (label, r.content)
        assert r.headers["content-type"] == "application/json"
        shapes.add(tuple(sorted((k, v) for k, v in r.headers.items() if k != "x-request-id")))
    assert len(shapes) == 1, shapes

    # Rose's consent shows as expired to her, and nothing else changed about her.
    me = svc.client.get("/v1/me", headers=rose.headers).json()
    assert me["consents"][0]["status"] == "expired"
    assert me["consents"][0]["active_purposes"] == []
    assert me["key"]["state"] == "active"


def test_a_kiosk_only_sees_customers_who_consented_at_its_venue(
    make_service, photos, face_embedding
) -> None:
    svc = make_service()
    svc.venue("hcm-1")
    svc.venue("hn-2")
    here = svc.kiosk("hcm-1", allow_embeddings=True)
    there = svc.kiosk("hn-2", allow_embeddings=True)
    obama = svc.enrol([photos("obama_1.jpg")], venues=("hcm-1",))
    probe = face_embedding("obama_2")
    assert svc.match(here, embedding=probe).json()["customer"] == obama.id
    r = svc.match(there, embedding=probe)
    assert (r.status_code, r.content) == (200, NO_MATCH)
    # The customer is matched by the kiosk of their venue only, and the history says so.
    history = svc.client.get("/v1/me", headers=obama.headers).json()["matches"]
    assert [(h["venue"], h["kiosk"]) for h in history] == [("hcm-1", here.id)]


def test_revoking_one_purpose_with_the_access_code(make_service, photos, face_embedding) -> None:
    svc = make_service()
    svc.venue("hcm-1")
    kiosk = svc.kiosk("hcm-1", ("checkin", "marketing"), allow_embeddings=True)
    kit = svc.enrol([photos("kit_harington_1.jpg")], purposes=("checkin", "marketing"))
    probe = face_embedding("kit_harington_2")
    r = svc.client.post("/v1/me/revoke", json={"purpose": "checkin"}, headers=kit.headers)
    assert r.status_code == 200, r.text
    assert r.json()["purpose"] == "checkin"
    assert r.json()["revoked"] == [{"consent": kit.consent, "purpose": "checkin"}]
    assert svc.match(kiosk, embedding=probe, purpose="checkin").content == NO_MATCH
    assert svc.match(kiosk, embedding=probe, purpose="marketing").json()["customer"] == kit.id
    # Revoking again revokes nothing more and is not an error.
    r = svc.client.post("/v1/me/revoke", json={"purpose": "checkin"}, headers=kit.headers)
    assert r.status_code == 200 and r.json()["revoked"] == []
