"""What a kiosk learns, and which kiosks may send embeddings.

A match answer is the customer and consent or exactly ``{"match": false}``: no distance,
score or any other number, whatever the kind of probe (the audit event keeps the
distance, for auditors). Embedding probes come only from kiosk keys made for trusted
edge devices (``allow_embeddings``); every other kiosk key gets 403
``embeddings_not_allowed``. Real photos through the real SFace engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from api import credentials
from api.runtime import VAULT_MIGRATIONS, init_data_dir
from api.settings import Settings
from dbkit import make_engine
from vault import SYSTEM

pytestmark = pytest.mark.faces

VENUE = "hcm-1"


def numbers(value: Any, path: str = "$") -> Iterator[str]:
    """Paths of every number (not a boolean) inside a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{path}[{i}]")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield path


def test_no_number_reaches_a_kiosk(make_service, photos, face_embedding) -> None:
    svc = make_service()
    svc.venue(VENUE)
    cameras = svc.kiosk(VENUE)
    edge = svc.kiosk(VENUE, allow_embeddings=True)
    obama = svc.enrol([photos("obama_1.jpg"), photos("obama_rgba_32bit.png")])
    e = face_embedding
    answers = {
        "image": svc.match(cameras, image=photos("obama_2.jpg")),
        "frames": svc.match(cameras, images=[photos("obama_2.jpg"), photos("obama_3.jpg")]),
        "embedding": svc.match(edge, embedding=e("obama_3")),
        "embeddings": svc.match(edge, embeddings=[e("obama_2"), e("obama_3")]),
        "stranger image": svc.match(cameras, image=photos("lin_manuel_miranda_1.png")),
        "stranger embedding": svc.match(edge, embedding=e("lin_manuel_miranda_1")),
        "stranger frames": svc.match(edge, embeddings=[e("biden_1"), e("biden_2")]),
    }
    hit = {"match": True, "customer": obama.id, "consent": obama.consent}
    for label, r in answers.items():
        assert r.status_code == 200, (label, r.text)
        assert not list(numbers(r.json())), (label, r.text)
        expected = {"match": False} if label.startswith("stranger") else hit
        assert r.json() == expected, (label, r.text)
        if not label.startswith("stranger"):
            continue
        assert r.content == b'{"match":false}', label
    # The published answer schema has no room for a number either.
    schema = svc.client.get("/openapi.json").json()["components"]["schemas"]["MatchAnswer"]
    assert set(schema["properties"]) == {"match", "customer", "consent"}
    assert schema.get("additionalProperties") is False
    # Auditors still see how near each match came.
    matches = [ev for ev in svc.events() if ev["action"] == "match"]
    assert len(matches) == len(answers)
    hits = [ev for ev in matches if ev["outcome"] == "match"]
    assert len(hits) == 4
    assert all(0.0 <= ev["details"]["distance"] < svc.runtime.vault.threshold for ev in hits)


def test_only_trusted_edge_devices_send_embeddings(
    make_service, photos, face_embedding, problem
) -> None:
    svc = make_service()
    svc.venue(VENUE)
    cameras = svc.kiosk(VENUE, label="camera kiosk")
    edge = svc.kiosk(VENUE, label="edge device", allow_embeddings=True)
    offline = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    kit = svc.enrol([photos("kit_harington_1.jpg")])
    vector = face_embedding("kit_harington_2")

    for key in (cameras, offline):
        for r in (
            svc.match(key, embedding=vector),
            svc.match(key, embeddings=[vector, vector]),
            # The body of a refused key is not even read.
            svc.client.post(
                "/v1/match",
                content=b"{",
                headers={**key.headers, "content-type": "application/json"},
            ),
        ):
            body = problem(r, 403, "embeddings_not_allowed")
            assert "trusted edge devices" in body["detail"]
        # The same key's camera images are matched.
        assert svc.match(key, image=photos("kit_harington_2.jpg")).json()["customer"] == kit.id
    assert svc.match(edge, embedding=vector).json()["customer"] == kit.id
    assert svc.match(edge, image=photos("kit_harington_2.jpg")).json()["customer"] == kit.id
    # Refused embedding probes are not matches: no event was written for them.
    matches = [ev for ev in svc.events() if ev["action"] == "match"]
    assert len(matches) == 4

    # Listings show the flag; the audit log records it with each key.
    listed = svc.client.get("/v1/kiosks", headers=svc.admin.headers).json()["kiosks"]
    flags = {k["id"]: k["allow_embeddings"] for k in listed}
    assert flags == {cameras.id: False, edge.id: True, offline.id: False}
    made = {
        ev["details"]["key_id"]: ev["details"]["allow_embeddings"]
        for ev in svc.events()
        if ev["action"] == "apikey.create"
    }
    assert made[edge.id] is True and made[cameras.id] is False

    # The flag is a JSON boolean, and only kiosk keys can have it.
    for value in ("true", 1, None):
        r = svc.client.post(
            "/v1/kiosks",
            json={"venue": VENUE, "purposes": ["checkin"], "allow_embeddings": value},
            headers=svc.admin.headers,
        )
        problem(r, 422, "invalid_request")
    with pytest.raises(ValueError, match="only kiosk keys"):
        credentials.create_key(
            svc.engine, role="admin", now=svc.now(), actor=SYSTEM, allow_embeddings=True
        )


def test_embedding_probes_share_the_keys_rate_limit(make_service, face_embedding, problem):
    svc = make_service(match_rate=0.001, match_burst=2)
    svc.venue(VENUE)
    edge = svc.kiosk(VENUE, allow_embeddings=True)
    cameras = svc.kiosk(VENUE)
    vector = face_embedding("obama_1")
    assert svc.match(edge, embeddings=[vector, vector]).status_code == 200
    assert svc.match(edge, image=("x.jpg", b"not an image")).status_code == 415
    problem(svc.match(edge, embedding=vector), 429, "rate_limited")
    # A key that may not send embeddings spends its budget on refused attempts too.
    problem(svc.match(cameras, embedding=vector), 403, "embeddings_not_allowed")
    problem(svc.match(cameras, embedding=vector), 403, "embeddings_not_allowed")
    problem(svc.match(cameras, embedding=vector), 429, "rate_limited")


def test_kiosk_keys_made_before_the_flag_send_images_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    init_data_dir(settings)
    engine = make_engine(settings.vault_url())
    config = Config()
    config.set_main_option("script_location", str(VAULT_MIGRATIONS))
    config.attributes["engine"] = engine
    try:
        command.downgrade(config, "vault0003")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO api_keys (key_id, secret_hash, role, venue, purposes, label,"
                    " created_at) VALUES ('kiosk_old', :digest, 'kiosk', :venue,"
                    " '[\"checkin\"]', '', CURRENT_TIMESTAMP)"
                ),
                {"digest": credentials.hash_secret("fkk_old"), "venue": VENUE},
            )
        command.upgrade(config, "head")
        [old] = credentials.list_keys(engine, "kiosk")
        assert (old.key_id, old.allow_embeddings) == ("kiosk_old", False)
        found = credentials.lookup(engine, "fkk_old")
        assert found is not None and found.allow_embeddings is False
    finally:
        engine.dispose()
