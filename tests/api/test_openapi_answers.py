"""The OpenAPI document describes every JSON answer with its response model, and the
models send what the routes always sent (nothing dropped, renamed or turned into null)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.faces

VENUE = "hcm-1"


@pytest.fixture(scope="module")
def svc(edge_service):
    return edge_service


def test_every_json_answer_is_described_in_openapi(svc) -> None:
    document = svc.client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    described = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if not status.startswith("2") or content is None:
                    continue
                ref = content["schema"].get("$ref", "")
                assert ref.startswith("#/components/schemas/"), (method, path, content)
                schema = schemas[ref.rsplit("/", 1)[1]]
                assert schema["properties"] and schema["additionalProperties"] is False, ref
                described += 1
    assert described >= 50, described
    # Answers that are not JSON say what they are.
    metrics = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]


def test_the_described_answers_are_the_answers(svc, face_embedding, problem) -> None:
    # A field left out when empty stays out; fields sent as null stay null.
    r = svc.client.get(f"/v1/venues/{VENUE}/webhook", headers=svc.admin.headers)
    assert r.status_code == 200
    assert r.json() == {"venue": VENUE, "url": None, "source": None}
    customer = svc.enrol_vectors([face_embedding("obama_1")], venues=(VENUE,))
    body = svc.client.get(f"/v1/customers/{customer.id}", headers=svc.admin.headers).json()
    assert all(item["readable"] is True for item in body["templates"]["items"])
    mine = svc.client.get("/v1/me", headers=customer.headers).json()
    assert all("readable" not in item for item in mine["templates"]["items"])
    assert mine["erased_at"] is None and "erase_after" in mine
    r = svc.client.post("/v1/me/revoke", headers=customer.headers, json={"purpose": "marketing"})
    assert r.json() == {"customer": customer.id, "purpose": "marketing", "revoked": []}
    r = svc.client.delete("/v1/me", headers=customer.headers)
    erased = r.json()
    assert erased["customer"] == customer.id and erased["erased"] is True
    assert set(erased) >= {"destroyed_key_ids", "key_commitments", "receipt", "kek_epoch"}
