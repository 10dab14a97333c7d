"""A stored template that no longer decrypts (altered or damaged in the database) is
logged, counted in /metrics and marked in the operator's views and in ``facekeep show``,
instead of its customer silently vanishing from matching; the customer's authentic
templates still serve."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.storage import query

pytestmark = pytest.mark.faces

VENUE = "hcm-1"
TOKEN = "metrics-" + "m" * 40


def test_a_tampered_template_is_reported_everywhere(
    embedder, face_embedding, tmp_path, db_urls, facekeep_bin, subprocess_env, caplog
) -> None:
    from tests.api.conftest import Service

    root = tmp_path / "data"
    svc = Service(root, embedder, db_urls, metrics_token=TOKEN, match_rate=0)
    svc.venue(VENUE)
    guest = svc.enrol_vectors(
        [face_embedding("obama_1"), face_embedding("obama_2")], venues=(VENUE,)
    )
    other = svc.enrol_vectors([face_embedding("rose_leslie_1")], venues=(VENUE,))
    svc.close()
    url = svc.settings.vault_url()
    tid, sealed = query(
        url,
        "SELECT template_id, sealed FROM templates WHERE customer_id = :c ORDER BY template_id",
        {"c": guest.id},
    )[0]
    flipped = bytes(sealed[:30]) + bytes([sealed[30] ^ 1]) + bytes(sealed[31:])
    query(url, "UPDATE templates SET sealed = :s WHERE template_id = :t", {"s": flipped, "t": tid})

    caplog.set_level("WARNING", logger="facekeep.vault")
    restarted = Service(root, embedder, db_urls, metrics_token=TOKEN, match_rate=0)
    try:
        # Logged, with the ids an operator needs (never key or template bytes).
        lines = [r.getMessage() for r in caplog.records if r.name == "facekeep.vault"]
        assert any(tid in line and guest.id in line for line in lines), lines
        # Counted.
        r = restarted.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert re.search(r"^facekeep_unreadable_templates 1\.0$", r.text, re.M), r.text[-500:]
        # Marked for the operator (the guest's own page does not show the check).
        view = restarted.client.get(f"/v1/customers/{guest.id}", headers=restarted.admin.headers)
        marks = {t["id"]: t["readable"] for t in view.json()["templates"]["items"]}
        assert marks[tid] is False and sum(marks.values()) == 1
        # Still matched on the authentic template; the other guest untouched.
        kiosk = restarted.kiosk(VENUE, allow_embeddings=True)
        hit = restarted.match(kiosk, embedding=face_embedding("obama_3"))
        assert hit.json().get("customer") == guest.id
        hit = restarted.match(kiosk, embedding=face_embedding("rose_leslie_2"))
        assert hit.json().get("customer") == other.id
    finally:
        restarted.close()
    done = subprocess.run(
        [str(facekeep_bin), "show", "--customer", guest.id, "--data-dir", str(root)],
        capture_output=True,
        text=True,
        env=subprocess_env(**restarted.db_env()),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["unreadable_templates"] == [tid]
    assert {t["template_id"]: t["readable"] for t in shown["templates"]}[tid] is False
