"""The consent records exactly the notice the guest saw.

The counter page embeds each notice with the SHA-256 of its full text (facts filled in)
and sends that hash back with the enrolment. If the notice changed in between (a venue's
lawyer edited a file in FACEKEEP_NOTICES_DIR), the enrolment is refused with 409
``notice_changed`` and nothing is written; before, the consent recorded the new text, one
the guest never read. Without a hash (API clients, the CLI) nothing changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from dbkit import make_engine
from vault.consent import notice_sha256

HERE = "hcm-1"
_NOTICES = re.compile(r'<script type="application/json" id="fk-notices">(.*?)</script>', re.S)


@pytest.fixture
def notices(tmp_path: Path) -> Path:
    """A venue's notices folder with its own wording of v3 (newer than the shipped v2)."""
    folder = tmp_path / "notices"
    folder.mkdir()
    (folder / "v3.vi.txt").write_text("Thông báo v3\n\nBên kiểm soát: {controller}.\n")
    (folder / "v3.en.txt").write_text("Notice v3\n\nController: {controller}.\n")
    return folder


@pytest.fixture
def svc(make_service, fake_embedder, notices):
    service = make_service(fake=fake_embedder, notices_dir=notices, controller="Hoa Sen")
    service.venue(HERE)
    return service


def page_notice(svc, lang: str) -> dict[str, Any]:
    """The notice the counter page shows in ``lang``, as the page's script reads it."""
    r = svc.client.get("/kiosk/enrol", params={"lang": lang})
    assert r.status_code == 200, r.text
    found = _NOTICES.search(r.text)
    assert found is not None
    notice: dict[str, Any] = json.loads(found.group(1))[lang]
    return notice


def enrol(svc, photos, lang: str, version: str, sha256: str | None, headers=None) -> Any:
    data = {"purposes": "checkin", "venues": HERE, "notice_version": version, "lang": lang}
    if sha256 is not None:
        data["notice_sha256"] = sha256
    return svc.client.post(
        "/v1/enrolments",
        headers=headers or svc.admin.headers,
        files=[("image", ("a.jpg", photos("obama_1.jpg")[1], "image/jpeg"))],
        data=data,
    )


def row_counts(svc) -> dict[str, int]:
    """Rows of every table of the vault and of the key store."""
    counts: dict[str, int] = {}
    for name, url in (("vault", svc.settings.vault_url()), ("keys", svc.settings.keys_url())):
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                for table in inspect(conn).get_table_names():
                    n = conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
                    counts[f"{name}.{table}"] = n
        finally:
            engine.dispose()
    return counts


def stored_notice(svc, answer: dict[str, Any]) -> tuple[str, str]:
    """The notice text and hash the enrolment's consent stored."""
    view = svc.runtime.vault.show(answer["customer"])
    (consent,) = [c for c in view.consents if c.consent_id == answer["consent"]]
    return consent.notice_text, consent.notice_sha256


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_hash_the_page_shows_is_the_one_the_consent_stores(svc, photos, lang) -> None:
    shown = page_notice(svc, lang)
    assert shown["version"] == "v3"
    # The hash covers the full text shown, facts filled in, not the file.
    assert "Hoa Sen" in shown["paragraphs"][1]
    assert shown["sha256"] != notice_sha256(
        (svc.settings.notices_dir / f"v3.{lang}.txt").read_text()
    )
    r = enrol(svc, photos, lang, shown["version"], shown["sha256"])
    assert r.status_code == 201, r.text
    stored_text, stored_hash = stored_notice(svc, r.json())
    assert stored_hash == shown["sha256"] == notice_sha256(stored_text)
    assert [p for p in stored_text.split("\n\n") if p.strip()] == shown["paragraphs"]


def test_a_wrong_hash_is_refused_and_writes_nothing(svc, photos, problem) -> None:
    shown = page_notice(svc, "vi")
    staff = svc.staff([HERE])
    before = row_counts(svc)
    for headers in (svc.admin.headers, staff.headers):
        r = enrol(svc, photos, "vi", "v3", "0" * 64, headers=headers)
        body = problem(r, 409, "notice_changed")
        assert body["version"] == "v3" and body["lang"] == "vi", body
        assert "reload" in body["detail"], body
    # Another version's or language's hash is not this notice's either.
    assert page_notice(svc, "en")["sha256"] != shown["sha256"]
    r = enrol(svc, photos, "vi", "v3", page_notice(svc, "en")["sha256"])
    problem(r, 409, "notice_changed")
    r = enrol(svc, photos, "vi", "v2", shown["sha256"])
    problem(r, 409, "notice_changed")
    # No customer, consent, template, key or audit event.
    assert row_counts(svc) == before
    assert not [e for e in svc.events() if e["action"].startswith("enrol")]


def test_without_a_hash_the_current_text_is_stored_as_before(svc, photos) -> None:
    r = enrol(svc, photos, "en", "v3", None)
    assert r.status_code == 201, r.text
    stored_text, stored_hash = stored_notice(svc, r.json())
    assert stored_hash == page_notice(svc, "en")["sha256"] == notice_sha256(stored_text)


def test_a_notice_changed_after_the_page_was_rendered_is_refused(svc, photos, problem) -> None:
    shown = page_notice(svc, "vi")
    (svc.settings.notices_dir / "v3.vi.txt").write_text(
        "Thông báo v3 (sửa)\n\nBên kiểm soát: {controller}. Dữ liệu được giữ lâu hơn.\n"
    )
    before = row_counts(svc)
    r = enrol(svc, photos, "vi", shown["version"], shown["sha256"])
    body = problem(r, 409, "notice_changed")
    assert (body["version"], body["lang"]) == ("v3", "vi")
    assert row_counts(svc) == before
    # Reloaded, the page shows the new text; the guest agrees to it and that is stored.
    fresh = page_notice(svc, "vi")
    assert fresh["sha256"] != shown["sha256"]
    r = enrol(svc, photos, "vi", fresh["version"], fresh["sha256"])
    assert r.status_code == 201, r.text
    stored_text, stored_hash = stored_notice(svc, r.json())
    assert stored_hash == fresh["sha256"]
    assert "Dữ liệu được giữ lâu hơn." in stored_text
