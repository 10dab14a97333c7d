"""The counter records the notice the guest read, in a real browser: when the venue changes
the notice file (FACEKEEP_NOTICES_DIR) after the page loaded, the enrolment is refused
(409 ``notice_changed``), nothing is recorded, the guest is told why in the language they
read the notice in, and reads the new notice and agrees again before anything is kept.
Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.web.conftest import serving

pytestmark = [pytest.mark.browser, pytest.mark.faces]

OLD = {"vi": "Thông báo v3 của quán", "en": "Notice v3 of the venue"}
NEW = {"vi": "Thông báo v3 đã sửa", "en": "Notice v3, amended"}
CHANGED = {
    "vi": "Thông báo về dữ liệu khuôn mặt vừa được cập nhật sau khi bạn đọc, nên chưa có gì "
    "được lưu. Vui lòng đọc thông báo mới rồi đồng ý lại.",
    "en": "The notice about your face data was updated after you read it, so nothing has "
    "been saved. Please read the new notice and agree again.",
}
RELOAD = {"vi": "Đọc thông báo mới", "en": "Read the new notice"}
_NOTICES = re.compile(r'<script type="application/json" id="fk-notices">(.*?)</script>', re.S)


BODY = {
    "vi": "{controller} giữ dữ liệu khuôn mặt của bạn.",
    "en": "{controller} keeps your face data.",
}


def write_notices(folder: Path, headings: dict[str, str]) -> None:
    for lang, heading in headings.items():
        (folder / f"v3.{lang}.txt").write_text(f"{heading}\n\n{BODY[lang]}\n", encoding="utf-8")


@pytest.fixture(scope="module")
def notices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("notices")
    write_notices(folder, OLD)
    return folder


@pytest.fixture(scope="module")
def venue_server(tmp_path_factory: pytest.TempPathFactory, notices: Path) -> Iterator[Any]:
    """A server whose notices come (also) from a folder the test edits."""
    with serving(tmp_path_factory.mktemp("web-notices"), notices_dir=str(notices)) as running:
        yield running


def shown_sha256(server: Any, lang: str) -> str:
    """The hash of the notice the counter page shows now in ``lang``."""
    page = httpx.get(f"{server.url}/kiosk/enrol", params={"lang": lang})
    found = _NOTICES.search(page.text)
    assert found is not None
    sha: str = json.loads(found.group(1))[lang]["sha256"]
    return sha


def agree_and_take_photo(page: Any, photo: Any) -> None:
    page.check("#purpose-checkin")
    page.check("#confirm")
    page.click("#consent-continue")
    page.set_input_files("#photo-files", str(photo("alex_lacamoire_1.jpg")))
    expect(page.locator("#photos li p.ok")).to_have_count(1, timeout=60_000)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_a_notice_changed_after_the_page_loaded_is_read_again(
    venue_server: Any,
    notices: Path,
    new_page: Any,
    counter_sign_in: Any,
    photo: Any,
    shoot: Any,
    accessible: Any,
    lang: str,
) -> None:
    write_notices(notices, OLD)
    page = new_page(origin=venue_server.url)
    page.goto(f"{venue_server.url}/kiosk/enrol?lang={lang}")
    counter_sign_in(page, venue_server)
    expect(page.locator("#notice-h")).to_have_text(OLD[lang])
    # The venue's lawyer changes the notice while the guest reads the old one.
    write_notices(notices, NEW)
    agree_and_take_photo(page, photo)
    events = venue_server.audit_size()
    with page.expect_response(re.compile(r"/v1/enrolments$")) as answer:
        page.click("#enrol")
    assert answer.value.status == 409
    assert answer.value.json()["code"] == "notice_changed"
    expect(page.locator("#photo-error")).to_have_text(CHANGED[lang])
    expect(page.locator("#notice-reload")).to_have_text(RELOAD[lang])
    expect(page.locator("#done-section")).to_be_hidden()
    # Only the new notice leads on: enrolling again or going back would offer the old one.
    expect(page.locator("#enrol")).to_be_hidden()
    expect(page.locator("#back")).to_be_hidden()
    assert venue_server.audit_size() == events  # nothing recorded about the guest
    accessible(page)
    shoot(page, "kiosk-notice-changed")
    # The guest reads the new notice and agrees again; then the enrolment stores it.
    page.click("#notice-reload")
    expect(page.locator("#consent-section")).to_be_visible()
    expect(page.locator("#notice-h")).to_have_text(NEW[lang])
    expect(page.locator("#confirm")).not_to_be_checked()
    expect(page.locator("#photo-section")).to_be_hidden()
    shoot(page, "kiosk-notice-reloaded")
    agree_and_take_photo(page, photo)
    expect(page.locator("#enrol")).to_be_visible()
    expect(page.locator("#notice-reload")).to_be_hidden()
    with page.expect_response(re.compile(r"/v1/enrolments$")) as answer:
        page.click("#enrol")
    assert answer.value.status == 201, answer.value.text()
    expect(page.locator("#done-section")).to_be_visible(timeout=60_000)
    customer = answer.value.json()["customer"]
    view = httpx.get(
        f"{venue_server.url}/v1/customers/{customer}",
        headers={"Authorization": f"Bearer {venue_server.admin}"},
    ).json()
    (consent,) = view["consents"]
    assert consent["notice_lang"] == lang
    assert consent["notice_sha256"] == shown_sha256(venue_server, lang)
