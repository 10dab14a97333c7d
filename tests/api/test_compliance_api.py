"""The compliance routes over HTTP on the engine under test: what a guest does on their
own page is recorded in the register of data-subject requests, completed at once, and
their page says when their templates will be erased; staff record requests that came by
telephone or letter and carry them out; auditors read the registers and change nothing;
the breach register opens a file, counts the affected customers, records steps and
drafts both notifications."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.faces


@pytest.fixture
def svc(make_service: Any, clock_type: Any) -> Any:
    from datetime import UTC, datetime

    service = make_service(clock=clock_type(datetime(2026, 11, 27, 2, 0, tzinfo=UTC)))
    service.venue("hoa-sen-1", "Karaoke Hoa Sen 1")
    return service


def test_a_guests_own_actions_are_recorded_and_their_erasure_date_shown(
    svc: Any, face_embedding: Any
) -> None:
    guest = svc.enrol_vectors(
        [face_embedding("obama_1")], purposes=("checkin", "marketing"), venues=("hoa-sen-1",)
    )
    me = svc.client.get("/v1/me", headers=guest.headers).json()
    assert me["erase_after"] is None  # a consent without an end keeps the templates
    r = svc.client.post("/v1/me/revoke", json={"purpose": "checkin"}, headers=guest.headers)
    assert r.status_code == 200, r.text
    assert svc.client.get("/v1/me", headers=guest.headers).json()["erase_after"] is None
    svc.clock.advance(hours=1)
    r = svc.client.post("/v1/me/objections", json={"purpose": "marketing"}, headers=guest.headers)
    assert r.status_code == 200, r.text
    # Every purpose withdrawn: erased 30 days (the grace period) after the last withdrawal.
    me = svc.client.get("/v1/me", headers=guest.headers).json()
    assert me["erase_after"] == (svc.clock.now + timedelta(days=30)).isoformat()

    listed = svc.client.get("/v1/requests", headers=svc.auditor.headers).json()
    rows = {r["kind"]: r for r in listed["requests"]}
    assert set(rows) == {"withdrawal", "objection"}
    assert rows["withdrawal"]["purpose"] == "checkin"
    assert rows["objection"]["outcome"] == "objection: marketing"
    for row in rows.values():
        assert row["channel"] == "self-service" and row["status"] == "completed"
        assert row["customer"] == guest.id and row["late"] == []
        assert row["received_at"] == row["completed_at"]
    assert listed["summary"] == {"open": 0, "late": 0, "completed": 2, "refused": 0}

    r = svc.client.delete("/v1/me", headers=guest.headers)
    assert r.status_code == 200, r.text
    kinds = [
        r["kind"]
        for r in svc.client.get(
            "/v1/requests", params={"customer": guest.id}, headers=svc.admin.headers
        ).json()["requests"]
    ]
    assert sorted(kinds) == ["erasure", "objection", "withdrawal"]
    events = [e for e in svc.events() if e["action"].startswith("request.")]
    assert len(events) == 6 and {e["actor"]["role"] for e in events} == {"customer"}


def test_staff_record_and_carry_out_requests(svc: Any, face_embedding: Any, problem: Any) -> None:
    guest = svc.enrol_vectors([face_embedding("obama_1")], venues=("hoa-sen-1",))
    admin = svc.admin.headers
    r = svc.client.post(
        "/v1/requests",
        json={"kind": "erasure", "channel": "phone", "note": "gọi lúc 9 giờ"},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    call = r.json()
    # Friday 27 November 2026, 09:00 in Hanoi: Monday and Tuesday are the working days.
    assert call["acknowledge_by"] == "2026-12-01T16:59:59+00:00"
    assert call["complete_by"] == "2026-12-12T16:59:59+00:00"
    problem(
        svc.client.post(
            "/v1/requests",
            json={"kind": "erasure", "channel": "phone"},
            headers=svc.auditor.headers,
        ),
        403,
        "forbidden",
    )
    problem(
        svc.client.post(
            "/v1/requests", json={"kind": "forget-me", "channel": "phone"}, headers=admin
        ),
        422,
        "invalid_request",
    )
    problem(
        svc.client.post(
            "/v1/requests",
            json={
                "kind": "access",
                "channel": "letter",
                "received_at": "0001-01-01T00:00:00+14:00",
            },
            headers=admin,
        ),
        422,
        "invalid_time",
    )
    svc.clock.advance(days=5)  # Wednesday: the acknowledgement is late
    due = svc.client.get("/v1/requests", params={"due": "true"}, headers=svc.auditor.headers)
    assert [(r["request"], r["late"]) for r in due.json()["requests"]] == [
        (call["request"], ["acknowledge"])
    ]
    url = f"/v1/requests/{call['request']}"
    problem(svc.client.post(f"{url}/complete", json={}, headers=admin), 422, "invalid_customer")
    r = svc.client.post(f"{url}/complete", json={"customer": guest.id}, headers=admin)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "completed" and done["result"]["erased"] is True
    assert r.headers["cache-control"] == "no-store"
    assert svc.client.get(f"/v1/customers/{guest.id}", headers=admin).json()["status"] == "erased"
    problem(svc.client.post(f"{url}/complete", json={}, headers=admin), 409, "request_closed")
    problem(
        svc.client.post("/v1/requests/dsr_0000000000000000/acknowledge", headers=admin),
        404,
        "request_not_found",
    )
    other = svc.client.post(
        "/v1/requests", json={"kind": "access", "channel": "email"}, headers=admin
    ).json()
    r = svc.client.post(
        f"/v1/requests/{other['request']}/refuse",
        json={"reason": "không xác minh được"},
        headers=admin,
    )
    assert r.json()["status"] == "refused"


def test_a_request_naming_another_customer_is_refused_and_nothing_is_done(
    svc: Any, face_embedding: Any, problem: Any
) -> None:
    guest = svc.enrol_vectors([face_embedding("obama_1")], venues=("hoa-sen-1",))
    other = svc.enrol_vectors([face_embedding("biden_1")], venues=("hoa-sen-1",))
    admin = svc.admin.headers
    opened = svc.client.post(
        "/v1/requests",
        json={"kind": "erasure", "channel": "letter", "customer": other.id},
        headers=admin,
    ).json()
    before = svc.events()
    url = f"/v1/requests/{opened['request']}/complete"
    r = svc.client.post(url, json={"customer": guest.id}, headers=admin)
    assert "another customer" in problem(r, 422, "invalid_customer")["detail"]
    assert svc.events() == before  # nobody was erased, nothing was recorded
    for customer in (guest, other):
        view = svc.client.get(f"/v1/customers/{customer.id}", headers=admin).json()
        assert view["status"] == "active"
    listed = svc.client.get("/v1/requests", params={"customer": other.id}, headers=admin).json()
    assert [(r["request"], r["status"]) for r in listed["requests"]] == [
        (opened["request"], "open")
    ]


def test_the_breach_register_over_http(svc: Any, face_embedding: Any, problem: Any) -> None:
    guest = svc.enrol_vectors([face_embedding("obama_1")], venues=("hoa-sen-1",))
    svc.enrol_vectors([face_embedding("biden_1")], venues=("elsewhere",))
    admin = svc.admin.headers
    r = svc.client.post(
        "/v1/breaches",
        json={"description": "Máy tính bảng bị mất", "venues": ["hoa-sen-1"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    breach = r.json()
    assert breach["affected"] == [guest.id] and breach["hours_left"] == 72.0
    problem(
        svc.client.post(
            "/v1/breaches",
            json={"description": "x", "venues": ["a"], "customers": ["b"]},
            headers=admin,
        ),
        422,
        "invalid_scope",
    )
    problem(
        svc.client.post("/v1/breaches", json={"description": "x"}, headers=svc.auditor.headers),
        403,
        "forbidden",
    )
    url = f"/v1/breaches/{breach['breach']}"
    svc.clock.advance(hours=30)
    r = svc.client.post(
        f"{url}/steps", json={"step": "authority_notified", "note": "A05"}, headers=admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["hours_left"] == 42.0  # still waiting for the guests' notice
    drafts = svc.client.get(f"{url}/drafts", params={"lang": "vi"}, headers=svc.auditor.headers)
    assert drafts.status_code == 200, drafts.text
    body = drafts.json()
    assert "Thông báo vi phạm quy định về bảo vệ dữ liệu cá nhân" in body["authority"]
    assert "Máy tính bảng bị mất" in body["guests"] and body["affected"] == [guest.id]
    english = svc.client.get(f"{url}/drafts", params={"lang": "en"}, headers=admin).json()
    assert "thông báo cho cơ quan chức năng" not in english["authority"]
    assert "notified the authority: A05" in english["authority"]
    svc.client.post(f"{url}/steps", json={"step": "closed"}, headers=admin)
    problem(
        svc.client.post(f"{url}/steps", json={"step": "note", "note": "x"}, headers=admin),
        409,
        "breach_closed",
    )
    problem(svc.client.get("/v1/breaches/br_nope", headers=admin), 404, "breach_not_found")
    listed = svc.client.get("/v1/breaches", params={"open": "true"}, headers=admin).json()
    assert listed["breaches"] == []
    assert [e["action"] for e in svc.events() if e["action"].startswith("breach.")] == [
        "breach.open",
        "breach.step",
        "breach.step",
    ]
