"""The page routes and their JSON helpers without a browser: HTML in both languages with
strict security headers, nothing loaded from outside, static files only from the shipped
folder, and the face count, customer link and export routes behind their roles."""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from api import credentials
from api.app import create_app
from api.notices import notice_for
from api.routes.pages import STATIC_DIR, STATIC_FILES
from api.runtime import init_data_dir
from api.settings import Settings
from api.web.i18n import STRINGS
from enroll import Embedder
from vault import SYSTEM
from vault.audit.verify import verify_export

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PAGES = ["/", "/kiosk/enrol", "/me", "/audit", "/privacy", "/staff"]


@dataclass
class Site:
    client: TestClient
    admin: str
    auditor: str
    kiosk: str

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def site(tmp_path: Path, served_embedder: Embedder) -> Iterator[Site]:
    settings = Settings(data_dir=tmp_path / "data", retention_interval_seconds=0)
    init_data_dir(settings)
    app = create_app(settings, embedder=served_embedder)
    engine = app.state.facekeep.runtime.vault.engine
    now = datetime.now(UTC)
    credentials.ensure_venue(engine, "hanoi-1", "Hà Nội 1", now, SYSTEM)

    def key(role: str, **extra: Any) -> str:
        secret, _ = credentials.create_key(engine, role=role, now=now, actor=SYSTEM, **extra)
        return secret

    admin, auditor = key("admin"), key("auditor")
    kiosk = key("kiosk", venue="hanoi-1", purposes=("checkin",))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(client, admin, auditor, kiosk)


class _Links(HTMLParser):
    """Every URL a page refers to, and the form controls it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.checkboxes: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href", "action", "poster"):
            if found.get(name):
                self.urls.append(str(found[name]))
        if tag == "input" and found.get("type") == "checkbox":
            self.checkboxes.append(found)


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


# ------------------------------------------------------------------------------ strings


def test_both_languages_have_the_same_strings_and_placeholders() -> None:
    vi, en = STRINGS["vi"], STRINGS["en"]
    assert vi.keys() == en.keys()
    for key in vi:
        assert vi[key].strip() and en[key].strip(), key
        assert set(re.findall(r"\{\w+\}", vi[key])) == set(re.findall(r"\{\w+\}", en[key])), key


def test_every_string_the_scripts_use_exists() -> None:
    static = Path(__file__).resolve().parents[2] / "api" / "web" / "static"
    used: set[str] = set()
    for script in static.glob("*.js"):
        if script.name.startswith("checkin"):
            continue  # the check-in screen has its own strings (api/web/i18n_checkin.py)
        used |= set(re.findall(r"\bt\('([a-z0-9_]+)'\s*[,)]", script.read_text(encoding="utf-8")))
    assert used, "no t('...') calls found"
    assert used - STRINGS["en"].keys() == set()
    # Strings picked by a computed key: every value the API can answer has one.
    computed = {
        "status_": ("active", "expired", "revoked"),
        "state_": ("active", "destroyed"),
        "purpose_": ("checkin", "marketing"),
    }
    for prefix, values in computed.items():
        assert {prefix + v for v in values} <= STRINGS["en"].keys()


def test_every_string_is_used_by_a_page() -> None:
    web = Path(__file__).resolve().parents[2] / "api" / "web"
    used: set[str] = set()
    for template in (web / "templates").glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z0-9_]+)", template.read_text(encoding="utf-8")))
    for script in (web / "static").glob("*.js"):
        used |= set(re.findall(r"'([a-z0-9_]+)'", script.read_text(encoding="utf-8")))
    computed = (
        "err_",
        "status_",
        "state_",
        "purpose_",
        "kind_",
        "channel_",
        "rqstatus_",
        "br_step_",
    )
    unused = {k for k in STRINGS["en"] if k not in used and not k.startswith(computed)}
    assert unused == set()


# ------------------------------------------------------------------------------ pages


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(
    ("asked", "lang"), [(None, "vi"), ("vi", "vi"), ("en", "en"), ("fr", "vi")]
)
def test_pages_render_in_both_languages_with_strict_headers(
    site: Site, path: str, asked: str | None, lang: str
) -> None:
    response = site.client.get(path, params={"lang": asked} if asked else None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f'<html lang="{lang}">' in response.text
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    # Nothing from outside: every URL is this site's own path, a fragment or data.
    for url in _parse(response.text).urls:
        assert url.startswith(("/", "#", "data:")) and not url.startswith("//"), url
    # No inline script runs (the strings travel as JSON data).
    for match in re.finditer(r"<script([^>]*)>", response.text):
        attrs = match.group(1)
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs


def _escaped(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().replace("'", "&#39;").replace('"', "&#34;"))


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_kiosk_shows_the_full_newest_notice_and_unticked_separate_purposes(
    site: Site, lang: str
) -> None:
    html = site.client.get("/kiosk/enrol", params={"lang": lang}).text
    text = re.sub(r"\s+", " ", html)
    settings = site.client.app.state.facekeep.settings  # type: ignore[attr-defined]
    for paragraph in notice_for(settings, "v2", lang).split("\n\n"):
        assert _escaped(paragraph) in text
    boxes = {b["id"]: b for b in _parse(html).checkboxes}
    assert set(boxes) == {"purpose-checkin", "purpose-marketing", "confirm"}
    assert all("checked" not in box for box in boxes.values())
    # Both languages travel with the page, so switching language never reloads it.
    other = "en" if lang == "vi" else "vi"
    assert (
        notice_for(settings, "v2", other).split("\n\n")[1].split("\n")[0]
        in json.loads(
            re.search(r'id="fk-notices">(.*?)</script>', html).group(1)  # type: ignore[union-attr]
        )[other]["paragraphs"][1]
    )
    assert 'id="consent-refuse"' in html  # the refuse button stands beside "agree"
    assert 'data-code-seconds="120"' in html
    assert "FACEKEEP_PUBLIC_URL" in html  # the staff warning: no public address is set


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_privacy_page_publishes_controller_schedule_notices_and_rights(
    tmp_path: Path, served_embedder: Embedder, lang: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        retention_interval_seconds=0,
        controller="Công ty TNHH Karaoke Hoa Sen",
        privacy_contact="privacy@hoasen.example",
        dpo="Nguyễn Thị Lan",
        retention_grace_days=14,
        consent_validity_days=[90, 365],
        privacy_note_vi="Nhật ký kiểm toán được giữ 5 năm.",
        privacy_note_en="The audit log is kept 5 years.",
    )
    init_data_dir(settings)
    with TestClient(create_app(settings, embedder=served_embedder)) as client:
        html = client.get("/privacy", params={"lang": lang}).text
    text = re.sub(r"\s+", " ", html)
    t = STRINGS[lang]
    for expected in (
        "Công ty TNHH Karaoke Hoa Sen",
        "privacy@hoasen.example",
        "Nguyễn Thị Lan",
        t["pv_s_consent_v"].replace("{days}", "90, 365"),
        t["pv_s_templates_v"].replace("{grace}", "14").replace("{max}", "379"),
        t["pv_s_requests_v"].replace("{ack}", "2").replace("{days}", "15"),
        t["pv_s_breach_v"].replace("{hours}", "72"),
        t["pv_r_withdraw"],
        t["pv_r_erase_how"],
        "Nhật ký kiểm toán được giữ 5 năm." if lang == "vi" else "The audit log is kept 5 years.",
    ):
        assert _escaped(expected) in text, expected
    for version in ("v1", "v2"):
        for notice_lang in ("vi", "en"):
            assert f'data-version="{version}" data-lang="{notice_lang}"' in html
            first = notice_for(settings, version, notice_lang).split("\n\n")[1]
            assert _escaped(first.split("\n")[0]) in text
    assert "FACEKEEP_CONTROLLER" not in html  # nothing left unset


def test_privacy_page_says_what_is_not_configured(site: Site) -> None:
    html = site.client.get("/privacy").text
    assert "FACEKEEP_CONTROLLER, FACEKEEP_PRIVACY_CONTACT" in html


def test_pages_and_their_files_are_public_routes_of_the_api_document(site: Site) -> None:
    paths = site.client.get("/openapi.json").json()["paths"]
    for page in [*PAGES, *(f"/static/{name}" for name in STATIC_FILES)]:
        assert paths[page]["get"]["x-roles"] == ["public"], page
    expected = {
        ("/v1/faces/count", "post"): ["admin"],
        ("/v1/pages/customer-link", "post"): ["admin"],
        ("/v1/pages/refusals", "post"): ["admin"],
        ("/v1/pages/venues", "get"): ["admin", "customer", "auditor"],
        ("/v1/audit/export", "get"): ["auditor"],
    }
    for (path, method), allowed in expected.items():
        # Staff sign-in (another role) may be admitted too; never anyone else.
        assert set(allowed) <= set(paths[path][method]["x-roles"]) <= {*allowed, "staff"}


def test_static_files_only_from_the_shipped_folder(site: Site) -> None:
    shipped = {p.name for p in STATIC_DIR.iterdir() if p.is_file()}
    assert shipped == set(STATIC_FILES)
    for name in STATIC_FILES:
        response = site.client.get(f"/static/{name}")
        assert response.status_code == 200
        assert response.content == (STATIC_DIR / name).read_bytes()
        assert response.headers["x-content-type-options"] == "nosniff"
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        assert response.headers["content-type"].startswith(kind)
    for bad in ["nope.js", "..%2Fi18n.py", "..%2F..%2Fsettings.py", "i18n.py", "x/common.js"]:
        assert site.client.get(f"/static/{bad}").status_code == 404, bad


# ------------------------------------------------------------------------------ JSON helpers


@pytest.mark.faces
def test_face_count_for_the_live_hint(site: Site, face_bytes: Callable[[str], bytes]) -> None:
    def count(name: str, token: str) -> Any:
        return site.client.post(
            "/v1/faces/count",
            headers=site.auth(token),
            files={"image": (name, face_bytes(name), "image/jpeg")},
        )

    assert count("obama_1.jpg", site.admin).json() == {"faces": 1}
    assert count("group_two_people.jpg", site.admin).json() == {"faces": 2}
    assert count("obama_1.jpg", site.kiosk).status_code == 403
    assert count("obama_1.jpg", site.auditor).status_code == 403
    no_face = site.client.post(
        "/v1/faces/count",
        headers=site.auth(site.admin),
        files={"image": ("x.jpg", b"not an image at all", "image/jpeg")},
    )
    assert no_face.status_code == 415 and no_face.json()["code"] == "not_an_image"
    assert site.client.post("/v1/faces/count").status_code == 401


def test_customer_link_and_its_qr_code(site: Site) -> None:
    code = "ABCD-EFGH-JKLM-NPQR-STUV"
    response = site.client.post(
        "/v1/pages/customer-link", headers=site.auth(site.admin), json={"code": code}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == f"http://testserver/me?lang=vi#code={code}"
    assert body["public_url_set"] is False
    english = site.client.post(
        "/v1/pages/customer-link",
        headers=site.auth(site.admin),
        json={"code": code, "lang": "en"},
    ).json()
    assert english["url"] == f"http://testserver/me?lang=en#code={code}"
    assert body["qr_svg"].startswith("data:image/svg+xml")
    assert "<svg" in body["qr_svg"] or "%3Csvg" in body["qr_svg"]
    for bad in ["", "x", "ABCD EFGH", "<script>", "A" * 60]:
        r = site.client.post(
            "/v1/pages/customer-link", headers=site.auth(site.admin), json={"code": bad}
        )
        assert r.status_code == 422, bad
    forbidden = site.client.post(
        "/v1/pages/customer-link", headers=site.auth(site.kiosk), json={"code": code}
    )
    assert forbidden.status_code == 403


def test_a_refusal_is_only_an_anonymous_count(site: Site) -> None:
    registry = site.client.app.state.facekeep.metrics.registry  # type: ignore[attr-defined]

    def refusals() -> float:
        value = registry.get_sample_value("facekeep_consent_refusals_total")
        assert value is not None
        return float(value)

    events = len(
        site.client.get("/v1/audit/events", headers=site.auth(site.auditor)).json()["events"]
    )
    assert refusals() == 0
    for _ in range(2):
        r = site.client.post("/v1/pages/refusals", headers=site.auth(site.admin))
        assert r.status_code == 200 and r.json() == {"recorded": "an anonymous count only"}
    assert refusals() == 2
    # Nothing else was written: no audit event, no request in the register.
    after = site.client.get("/v1/audit/events", headers=site.auth(site.auditor)).json()["events"]
    assert len(after) == events
    assert site.client.get("/v1/requests", headers=site.auth(site.admin)).json()["requests"] == []
    assert site.client.post("/v1/pages/refusals", headers=site.auth(site.kiosk)).status_code == 403


def test_venue_names_for_receipts(site: Site) -> None:
    for token in (site.admin, site.auditor):
        r = site.client.get("/v1/pages/venues", headers=site.auth(token))
        assert r.json() == {"venues": {"hanoi-1": "Hà Nội 1"}}
    assert site.client.get("/v1/pages/venues", headers=site.auth(site.kiosk)).status_code == 403


def test_export_zip_verifies_offline(site: Site, tmp_path: Path) -> None:
    assert site.client.get("/v1/audit/export", headers=site.auth(site.admin)).status_code == 403
    response = site.client.get("/v1/audit/export", headers=site.auth(site.auditor))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    name = re.search(r'filename="([^"]+)"', response.headers["content-disposition"])
    assert name and re.fullmatch(r"facekeep-audit-export-\d+\.zip", name.group(1))
    folder = tmp_path / "export"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert "manifest.json" in archive.namelist()
        archive.extractall(folder)
    report = verify_export(folder)
    assert report.ok, report
