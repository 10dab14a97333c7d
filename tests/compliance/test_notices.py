"""Notice v2 (Vietnamese and English): what the law asks a consent notice to say, filled
in from the deployment's settings; v1 stays readable for the consents given under it; a
venue's own notices folder adds or replaces versions; and ``facekeep serve`` refuses to
face guests while the controller is still a placeholder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.notices import (
    NoticeFacts,
    UnknownNotice,
    available,
    latest_version,
    notice_for,
    notice_template,
    notice_text,
)
from api.settings import Settings

FACEKEEP = Path(sys.executable).parent / "facekeep"

CONFIGURED = Settings(
    controller="Công ty TNHH Karaoke Hoa Sen",
    controller_address="12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội",
    privacy_contact="privacy@hoasen.example, 024 3333 4444",
    dpo="Nguyễn Thị Lan, dpo@hoasen.example",
    retention_grace_days=14,
    consent_validity_days=[90, 365],
    public_url="https://face.hoasen.example/",
)

# Each sentence the law asks for, as it reads in each language.
REQUIRED = {
    "vi": [
        "dữ liệu cá nhân nhạy cảm",
        "Bên kiểm soát dữ liệu cá nhân của bạn: Công ty TNHH Karaoke Hoa Sen.",
        "Địa chỉ: 12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội.",
        "Liên hệ về dữ liệu cá nhân: privacy@hoasen.example, 024 3333 4444.",
        "Người phụ trách bảo vệ dữ liệu cá nhân: Nguyễn Thị Lan, dpo@hoasen.example.",
        "tự nguyện",
        "check-in bình thường tại quầy",
        "tối đa 365 ngày",
        "Trong vòng 14 ngày",
        "trong vòng 2 ngày làm việc",
        "trong vòng 15 ngày",
        "không bán dữ liệu khuôn mặt",
        "trừ khi pháp luật yêu cầu",
        "https://face.hoasen.example/privacy",
    ],
    "en": [
        "sensitive personal data",
        "The controller of your personal data: Công ty TNHH Karaoke Hoa Sen.",
        "Address: 12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội.",
        "Privacy requests: privacy@hoasen.example, 024 3333 4444.",
        "Data protection officer: Nguyễn Thị Lan, dpo@hoasen.example.",
        "voluntary",
        "check in as usual at the counter",
        "at most 365 days",
        "Within 14 days",
        "within 2 working days",
        "within 15 days",
        "do not sell your face data",
        "except where the law requires it",
        "https://face.hoasen.example/privacy",
    ],
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_v2_says_what_the_law_asks_with_the_deployments_facts(lang: str) -> None:
    text = notice_for(CONFIGURED, "v2", lang)
    for sentence in REQUIRED[lang]:
        assert sentence in text, sentence
    assert "{" not in text and "}" not in text
    # The key is kept on the venue's server: v2 never says it belongs to the guest alone.
    assert "alone" not in text and "chỉ thuộc về riêng bạn" not in text
    assert text.splitlines()[0].endswith("(version v2)" if lang == "en" else "(phiên bản v2)")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_missing_fact_drops_its_line_not_the_notice(lang: str) -> None:
    text = notice_text("v2", lang, facts=NoticeFacts(controller="Karaoke Hoa Sen"))
    assert "Karaoke Hoa Sen" in text
    assert "Data protection officer" not in text and "Người phụ trách" not in text
    assert "Address:" not in text and "Địa chỉ:" not in text
    assert "{" not in text


def test_v1_stays_exactly_as_it_was_given() -> None:
    for lang in ("vi", "en"):
        assert notice_text("v1", lang) == notice_template("v1", lang)
        assert notice_for(CONFIGURED, "v1", lang) == notice_template("v1", lang)
    assert "chỉ thuộc về riêng bạn" in notice_text("v1", "vi")  # what those guests read
    assert {("v1", "vi"), ("v1", "en"), ("v2", "vi"), ("v2", "en")} <= set(available())
    assert latest_version("vi") == latest_version("en") == "v2"


def test_a_venue_folder_adds_and_replaces_notices(tmp_path: Path) -> None:
    (tmp_path / "v10.vi.txt").write_text("Thông báo v10\n\nBên kiểm soát: {controller}.\n")
    (tmp_path / "v1.en.txt").write_text("Our own wording of v1\n")
    (tmp_path / "notes.md").write_text("not a notice")
    settings = Settings(controller="Karaoke Hoa Sen", notices_dir=tmp_path)
    assert latest_version("vi", tmp_path) == "v10"  # natural order: v10 after v2
    assert latest_version("en", tmp_path) == "v2"
    assert notice_for(settings, "v10", "vi").endswith("Bên kiểm soát: Karaoke Hoa Sen.\n")
    assert notice_for(settings, "v1", "en") == "Our own wording of v1\n"
    with pytest.raises(UnknownNotice):
        notice_text("v10", "en", folder=tmp_path)
    with pytest.raises(UnknownNotice):
        notice_text("../v1", "vi")


def test_placeholders_are_named() -> None:
    assert Settings().placeholders() == ["FACEKEEP_CONTROLLER", "FACEKEEP_PRIVACY_CONTACT"]
    assert Settings(controller="Karaoke Hoa Sen").placeholders() == ["FACEKEEP_PRIVACY_CONTACT"]
    assert CONFIGURED.placeholders() == []
    assert Settings(host="127.0.0.1").loopback_only() and Settings(host="::1").loopback_only()
    assert not Settings(host="0.0.0.0").loopback_only()
    assert not Settings(host="192.168.1.20").loopback_only()


def _serve(tmp_path: Path, host: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    clean.update(env)
    return subprocess.run(
        [str(FACEKEEP), "serve", "--data-dir", str(tmp_path / "data"), "--host", host],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_on_a_network_address_refuses_placeholders(tmp_path: Path) -> None:
    done = _serve(tmp_path, "0.0.0.0")
    assert done.returncode != 0
    error = json.loads(done.stdout)
    assert error["error"] == "controller_not_configured"
    assert "FACEKEEP_CONTROLLER and FACEKEEP_PRIVACY_CONTACT" in error["message"]
    assert not (tmp_path / "data").exists()  # refused before anything was made
    done = _serve(tmp_path, "0.0.0.0", FACEKEEP_CONTROLLER="Karaoke Hoa Sen")
    error = json.loads(done.stdout)
    assert error["error"] == "controller_not_configured"
    assert "FACEKEEP_PRIVACY_CONTACT" in error["message"]
    assert "FACEKEEP_CONTROLLER " not in error["message"]
