"""Acceptance: the default engine, threshold and margin, through the HTTP API, on
../shared/faces-asia (76 East and Southeast Asian people, 271 photos).

A real service in this process (the FastAPI app over Starlette's TestClient, real
databases, the real SFace embedder, image work on its threads) is set up as a venue
would be: everyone with several photos and every other single-photo person (the 1st,
3rd, ... in manifest order) enrolled at one venue with check-in consent, each with their
first photo the service accepts (one showing exactly one face); the other single-photo
people stay strangers. Every other photo is then sent to ``POST /v1/match`` by that
venue's kiosk. The same split, decided in memory, is the ``eval_asia_*`` rows of
``python -m bench``.

Bounds: no wrong-person answer, at most one stranger matched, at least 90 % of the
genuine probes answered with the right customer. The counts go to
``test-artifacts/eval/asia_http.json`` and ``.md``.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from api import credentials
from api.app import create_app
from api.settings import Settings
from enroll.evaluation import first_photo_split, load_dataset
from vault import SYSTEM

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
ASIA = ROOT.parent / "shared" / "faces-asia"
ARTIFACTS = ROOT / "test-artifacts" / "eval"
VENUE = "asia-1"

# Accuracy does not depend on the database: tests/conftest.py runs tests/eval/ in the
# SQLite pass only.
pytestmark = [pytest.mark.faces, pytest.mark.timeout(900)]


def photo(path: Path) -> tuple[str, tuple[str, bytes, str]]:
    return ("image", (path.name, path.read_bytes(), "image/jpeg"))


def test_faces_asia_through_the_api(tmp_path: Path, db_urls: Any) -> None:
    assert (ASIA / "manifest.csv").is_file(), f"{ASIA} is missing (it sits beside the repo)"
    dataset = load_dataset(ASIA)
    to_enrol, strangers = first_photo_split(dataset)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_urls.vault,
        keystore_url=db_urls.keys,
        image_workers=0,
        match_rate=1000.0,
        match_burst=1000.0,
        retention_interval_seconds=0,
    )
    from api.runtime import init_data_dir

    init_data_dir(settings)
    app = create_app(settings)
    runtime = app.state.facekeep.runtime
    engine_name = runtime.settings.face_engine
    threshold, margin = runtime.vault.threshold, runtime.vault.margin
    admin, _ = credentials.create_key(
        runtime.vault.engine, role="admin", now=datetime.now(UTC), actor=SYSTEM, label="eval"
    )
    staff = {"Authorization": f"Bearer {admin}"}
    started = time.perf_counter()
    with TestClient(app, raise_server_exceptions=True) as client:
        r = client.post("/v1/venues", json={"id": VENUE, "name": VENUE}, headers=staff)
        assert r.status_code == 201, r.text
        r = client.post("/v1/kiosks", json={"venue": VENUE, "purposes": ["checkin"]}, headers=staff)
        assert r.status_code == 201, r.text
        kiosk = {"Authorization": f"Bearer {r.json()['key']}"}

        # Enrol: each person's first photo the service accepts.
        customer_of: dict[str, str] = {}
        enrolled_with: dict[str, str] = {}
        refused: Counter[str] = Counter()
        for person in to_enrol:
            for item in (p for p in dataset.photos if p.identity == person):
                r = client.post(
                    "/v1/enrolments",
                    data={
                        "purposes": "checkin",
                        "venues": VENUE,
                        "notice_version": "v1",
                        "lang": "en",
                    },
                    files=[photo(ASIA / item.file)],
                    headers=staff,
                )
                if r.status_code == 201:
                    customer_of[person] = r.json()["customer"]
                    enrolled_with[person] = item.file
                    break
                assert r.status_code == 422, r.text
                refused[r.json()["code"]] += 1
        person_of = {c: p for p, c in customer_of.items()}

        # Probe with every other photo.
        outcome: Counter[str] = Counter()
        problems: Counter[str] = Counter()
        wrong: list[tuple[str, str]] = []
        matched_strangers: list[str] = []
        used = set(enrolled_with.values())
        for item in dataset.photos:
            if item.file in used:
                continue
            genuine = item.identity in customer_of
            r = client.post("/v1/match", files=[photo(ASIA / item.file)], headers=kiosk)
            if r.status_code == 422:
                problems[r.json()["code"]] += 1
                outcome["genuine missed" if genuine else "stranger not matched"] += 1
                continue
            assert r.status_code == 200, r.text
            answer = r.json()
            assert set(answer) in ({"match"}, {"match", "customer", "consent"}), answer
            if not answer["match"]:
                outcome["genuine missed" if genuine else "stranger not matched"] += 1
            elif not genuine:
                outcome["stranger matched"] += 1
                matched_strangers.append(item.file)
            elif person_of.get(answer["customer"]) == item.identity:
                outcome["genuine right"] += 1
            else:
                outcome["genuine wrong person"] += 1
                wrong.append((item.file, person_of.get(answer["customer"], "?")))
    seconds = time.perf_counter() - started

    genuine_probes = sum(n for k, n in outcome.items() if k.startswith("genuine"))
    stranger_probes = sum(n for k, n in outcome.items() if k.startswith("stranger"))
    right = outcome["genuine right"]
    result = {
        "dataset": f"{ASIA.name} ({len(dataset.photos)} photos of {len(dataset.people)} people)",
        "engine": engine_name,
        "threshold": threshold,
        "margin": margin,
        "venue": VENUE,
        "customers_enrolled": len(customer_of),
        "enrolment_photos_refused": dict(refused),
        "kept_out_as_strangers": len(strangers) + len(set(to_enrol) - set(customer_of)),
        "genuine_probes": genuine_probes,
        "genuine_right": right,
        "genuine_wrong_person": outcome["genuine wrong person"],
        "genuine_missed": outcome["genuine missed"],
        "genuine_acceptance": right / genuine_probes,
        "stranger_probes": stranger_probes,
        "strangers_matched": outcome["stranger matched"],
        "probes_refused": dict(problems),
        "wrong_person_answers": [{"probe": f, "answered_as": p} for f, p in wrong],
        "strangers_matched_files": matched_strangers,
        "seconds": round(seconds, 1),
    }
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "asia_http.json").write_text(json.dumps(result, indent=2) + "\n")
    (ARTIFACTS / "asia_http.md").write_text(
        f"# faces-asia through POST /v1/match\n\n{result['dataset']}; engine {engine_name}, "
        f"threshold {threshold:.2f}, margin {margin:.2f}; one venue, check-in consent; "
        f"{len(customer_of)} customers enrolled (each their first accepted photo)\n\n"
        "| probes | count | share |\n|---|---|---|\n"
        f"| genuine, right customer | {right} of {genuine_probes} | "
        f"{100 * right / genuine_probes:.1f} % |\n"
        f"| genuine, wrong person | {outcome['genuine wrong person']} | |\n"
        f"| genuine, missed | {outcome['genuine missed']} | |\n"
        f"| strangers matched | {outcome['stranger matched']} of {stranger_probes} | |\n"
    )

    assert len(customer_of) >= 50 and genuine_probes >= 190 and stranger_probes >= 20, result
    assert not wrong, result
    assert outcome["stranger matched"] <= 1, result
    assert right >= 0.9 * genuine_probes, result
