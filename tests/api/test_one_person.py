"""Photos of one guest show one person: enrolment, retakes (self-service and at the
counter) and multi-frame kiosk probes refuse photos of different people with 422
``faces_differ``, naming the photos by position and never a distance; nothing is written
when they are refused. Real photos through the real SFace engine."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import update

from enroll import ENGINES
from vault.models import templates

pytestmark = pytest.mark.faces

VENUE = "hcm-1"
NO_MATCH = b'{"match":false}'


@pytest.fixture(scope="module")
def svc(open_service, tmp_path_factory):
    service = open_service(tmp_path_factory.mktemp("one-person") / "data", match_rate=0)
    service.venue(VENUE)
    service.kiosk_key = service.kiosk(VENUE)  # images only
    yield service
    service.close()


def differ(problem: Any, response: Any, pairs: list[list[int]]) -> dict[str, Any]:
    """A 422 faces_differ naming ``pairs`` (empty: not the enrolled person), no distance."""
    body: dict[str, Any] = problem(response, 422, "faces_differ")
    assert body.get("pairs", []) == pairs, body
    assert not re.search(r"\d\.\d", body["detail"]), body["detail"]
    numbers = [v for k, v in body.items() if k not in ("status", "pairs") and _number(v)]
    assert not numbers, body
    return body


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def actions(svc: Any, action: str, customer: str | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in svc.events()
        if e["action"] == action and (customer is None or e["customer"] == customer)
    ]


def template_ids(svc: Any, customer: Any) -> set[str]:
    r = svc.client.get("/v1/me", headers=customer.headers)
    assert r.status_code == 200, r.text
    return {t["id"] for t in r.json()["templates"]["items"]}


def test_an_enrolment_with_photos_of_two_people_is_refused_and_writes_nothing(
    svc, photos, problem
) -> None:
    obama, biden = photos("obama_1.jpg"), photos("biden_1.jpg")
    r = svc.enrol_request([obama, biden], customer="two-people")
    differ(problem, r, [[0, 1]])
    r = svc.enrol_request([obama, photos("obama_2.jpg"), biden], customer="two-people")
    body = differ(problem, r, [[0, 2], [1, 2]])
    assert "0 and 2" in body["detail"] and "1 and 2" in body["detail"]
    # Nothing was written: no customer, no event, not even a data key.
    problem(
        svc.client.get("/v1/customers/two-people", headers=svc.admin.headers),
        404,
        "customer_not_found",
    )
    assert not actions(svc, "enrol", "two-people")
    assert svc.runtime.keys.record("two-people") is None
    # Several photos of one person are one enrolment (at another venue than the kiosk's,
    # so the later tests' Obama is the only one that kiosk knows).
    svc.venue("hn-2")
    guest = svc.enrol([obama, photos("obama_2.jpg"), photos("obama_3.jpg")], venues=("hn-2",))
    assert guest.body["templates"] == 3


def test_an_access_code_cannot_put_another_persons_face_on_the_guest(svc, photos, problem) -> None:
    obama = svc.enrol([photos("obama_1.jpg")], customer="retake-obama")
    before = template_ids(svc, obama)

    # Obama's code with Biden's photo, or with Biden beside Obama: refused, nothing changes.
    r = svc.client.put(
        "/v1/me/templates", headers=obama.headers, files=[("image", photos("biden_1.jpg"))]
    )
    differ(problem, r, [])
    r = svc.client.put(
        "/v1/me/templates",
        headers=obama.headers,
        files=[("image", photos("obama_2.jpg")), ("image", photos("biden_1.jpg"))],
    )
    differ(problem, r, [[0, 1]])
    assert template_ids(svc, obama) == before
    assert not actions(svc, "templates.replace", obama.id)
    # Obama is still greeted as Obama; Biden is a stranger.
    hit = svc.match(svc.kiosk_key, image=photos("obama_2.jpg"))
    assert hit.json() == {"match": True, "customer": obama.id, "consent": obama.consent}
    r = svc.match(svc.kiosk_key, image=photos("biden_2.jpg"))
    assert (r.status_code, r.content) == (200, NO_MATCH)

    # Staff re-enrolling at the counter are held to the same rule.
    r = svc.client.put(
        f"/v1/customers/{obama.id}/templates",
        headers=svc.admin.headers,
        files=[("image", photos("biden_1.jpg"))],
    )
    differ(problem, r, [])
    assert template_ids(svc, obama) == before

    # New photos of Obama himself replace the templates, recorded as verified.
    r = svc.client.put(
        "/v1/me/templates",
        headers=obama.headers,
        files=[("image", photos("obama_2.jpg")), ("image", photos("obama_3.jpg"))],
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"customer": obama.id, "templates": 2}
    assert not template_ids(svc, obama) & before
    r = svc.client.put(
        f"/v1/customers/{obama.id}/templates",
        headers=svc.admin.headers,
        files=[("image", photos("obama_1.jpg"))],
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"customer": obama.id, "templates": 1}
    self_service, staff = actions(svc, "templates.replace", obama.id)
    assert self_service["details"] == {"removed": 1, "added": 2, "verified": True}
    assert self_service["actor"] == {"role": "customer", "id": obama.id}
    assert staff["details"] == {"removed": 2, "added": 1, "verified": True}
    assert staff["actor"] == {"role": "admin", "id": svc.admin.id}
    assert svc.match(svc.kiosk_key, image=photos("obama_3.jpg")).json()["customer"] == obama.id


def test_after_an_engine_change_retakes_happen_at_the_counter(svc, photos, problem) -> None:
    kit = svc.enrol([photos("kit_harington_1.jpg")], customer="retake-kit")
    # As if Kit had enrolled under the earlier engine: no template of the vault's model.
    with svc.engine.begin() as conn:
        conn.execute(
            update(templates)
            .where(templates.c.customer_id == kit.id)
            .values(model_version=ENGINES["dlib"].model_version)
        )
    before = template_ids(svc, kit)
    new_photo = [("image", photos("kit_harington_2.jpg"))]

    # The guest's own retake cannot be checked against their face: to the counter.
    r = svc.client.put("/v1/me/templates", headers=kit.headers, files=new_photo)
    body = problem(r, 409, "reenrol_at_counter")
    assert "counter" in body["detail"]
    assert template_ids(svc, kit) == before
    assert not actions(svc, "templates.replace", kit.id)

    # Staff, who see the person, re-enrol them: recorded as not verified.
    r = svc.client.put(
        f"/v1/customers/{kit.id}/templates", headers=svc.admin.headers, files=new_photo
    )
    assert r.status_code == 200, r.text
    [event] = actions(svc, "templates.replace", kit.id)
    assert event["details"] == {"removed": 1, "added": 1, "verified": False}
    assert event["actor"] == {"role": "admin", "id": svc.admin.id}
    hit = svc.match(svc.kiosk_key, image=photos("kit_harington_1.jpg"))
    assert hit.json() == {"match": True, "customer": kit.id, "consent": kit.consent}
    # From now on the guest's own retakes are checked against the new face again.
    r = svc.client.put(
        "/v1/me/templates", headers=kit.headers, files=[("image", photos("rose_leslie_1.jpg"))]
    )
    differ(problem, r, [])


def test_staff_re_enrolment_of_unknown_or_erased_customers(svc, photos, problem) -> None:
    new_photo = [("image", photos("alex_lacamoire_1.jpg"))]
    r = svc.client.put("/v1/customers/nobody/templates", headers=svc.admin.headers, files=new_photo)
    problem(r, 404, "customer_not_found")
    alex = svc.enrol([photos("alex_lacamoire_2.jpg")])
    assert svc.client.delete("/v1/me", headers=alex.headers).status_code == 200
    r = svc.client.put(
        f"/v1/customers/{alex.id}/templates", headers=svc.admin.headers, files=new_photo
    )
    problem(r, 410, "customer_erased")
    problem(
        svc.client.put(f"/v1/customers/{alex.id}/templates", headers=svc.admin.headers),
        415,
        "unsupported_media_type",
    )


def test_frames_of_one_guest_are_one_probe_and_one_event(
    svc, photos, face_embedding, bad_images, problem
) -> None:
    rose = svc.enrol([photos("rose_leslie_1.jpg")], customer="frames-rose")
    trusted = svc.kiosk(VENUE, allow_embeddings=True)
    frames = [photos("rose_leslie_2.jpg"), photos("rose_leslie_1.jpg")]
    hit = {"match": True, "customer": rose.id, "consent": rose.consent}

    # Two camera frames of Rose: one match, one audit event.
    events = len(actions(svc, "match"))
    r = svc.match(svc.kiosk_key, images=frames)
    assert (r.status_code, r.json()) == (200, hit)
    assert len(actions(svc, "match")) == events + 1
    r = svc.match(
        trusted, embeddings=[face_embedding(n) for n in ("rose_leslie_2", "rose_leslie_1")]
    )
    assert (r.status_code, r.json()) == (200, hit)
    assert len(actions(svc, "match")) == events + 2

    # Frames of two people are refused, naming the frames; no match is recorded.
    r = svc.match(svc.kiosk_key, images=[frames[0], photos("kit_harington_2.jpg")])
    assert "frames" in differ(problem, r, [[0, 1]])["detail"]
    r = svc.match(
        trusted, embeddings=[face_embedding(n) for n in ("rose_leslie_2", "kit_harington_2")]
    )
    differ(problem, r, [[0, 1]])
    assert len(actions(svc, "match")) == events + 2

    # Up to five frames.
    r = svc.match(svc.kiosk_key, images=[frames[0]] * 6)
    problem(r, 422, "too_many_frames")
    r = svc.match(trusted, embeddings=[face_embedding("rose_leslie_2")] * 6)
    problem(r, 422, "too_many_frames")
    assert svc.match(svc.kiosk_key, images=[frames[0]] * 5).json() == hit

    # A frame without a usable face fails the probe, as one image would, and is named.
    r = svc.match(svc.kiosk_key, images=[frames[0], ("scene.jpg", bad_images.landscape())])
    assert problem(r, 422, "no_face")["frame"] == 1
    r = svc.match(svc.kiosk_key, images=[("x.jpg", bad_images.garbage()), frames[0]])
    assert problem(r, 415, "not_an_image")["frame"] == 0

    # Malformed embedding frames.
    vector = [float(x) for x in face_embedding("rose_leslie_2")]
    for body in (
        {"embeddings": []},
        {"embeddings": vector},
        {"embeddings": [vector, vector[:100]]},
        {"embeddings": [vector, ["x"] * 128]},
        {"embedding": vector, "embeddings": [vector]},
        {"purpose": "checkin"},
    ):
        r = svc.client.post("/v1/match", json=body, headers=trusted.headers)
        problem(r, 422, "invalid_embedding")
    # An image part is required in a form.
    r = svc.client.post("/v1/match", headers=svc.kiosk_key.headers, files=[("photo", frames[0])])
    problem(r, 422, "invalid_request")
