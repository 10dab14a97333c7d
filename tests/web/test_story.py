"""The whole story in a real browser: a guest enrols at the consent counter (kiosk mode,
notice v2, an uploaded photo), a kiosk matches them over the JSON API, the access code
leaves the screen when the guest says they saved it, a second guest enrols in English after
an in-page language switch that keeps everything on the screen; the first guest opens their
page with the QR link, stops check-in and marketing (each confirmed), erases everything
from "erase now" and closes the destruction receipt only after confirming; the auditor's
page finds their key destroyed with every proof checked in the page. Screenshots of each
page go to test-artifacts/."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from api.notices import notice_for
from api.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.faces]

FACEKEEP = Path(sys.executable).parent / "facekeep"


def switch_lang(page: Any, lang: str) -> None:
    """Use the page's own language switch (in place on the consent counter, a reload
    elsewhere; the tab's storage stays)."""
    page.locator(f'.lang-switch a[hreflang="{lang}"]').click()
    page.wait_for_load_state("load")
    expect(page.locator("html")).to_have_attribute("lang", lang)


def give_consent(page: Any, purposes: list[str]) -> None:
    for purpose in purposes:
        page.check(f"#purpose-{purpose}")
    page.check("#confirm")
    page.click("#consent-continue")
    expect(page.locator("#photo-section")).to_be_visible()


def enrol_with_upload(page: Any, photo: Path, lang: str = "vi") -> dict[str, Any]:
    page.set_input_files("#photo-files", str(photo))
    expect(page.locator("#photos li p.ok")).to_have_count(1, timeout=60_000)
    expect(page.locator("#enrol")).to_be_enabled()
    expect(page.locator("#enrol-reason")).to_be_empty()
    page.click("#enrol")
    expect(page.locator("#done-section")).to_be_visible(timeout=60_000)
    code = page.locator("#access-code").inner_text().strip()
    assert re.fullmatch(r"[A-Z0-9]{4}(-[A-Z0-9]{4}){4}", code), code
    expect(page.locator("#qr")).to_have_attribute("src", re.compile(r"^data:image/svg\+xml"))
    link = page.locator("#me-link").get_attribute("href")
    assert link is not None and link.endswith(f"/me?lang={lang}#code={code}"), link
    expect(page.locator("#code-timer")).to_contain_text(re.compile(r"[12]:\d\d"))
    with page.expect_download() as download_info:
        page.click("#download")
    download = download_info.value
    receipt = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert download.suggested_filename.startswith("facekeep-consent-receipt-")
    return {"code": code, "link": link, "receipt": receipt}


def test_kiosk_customer_and_auditor_pages(
    server: Any,
    new_page: Any,
    shoot: Any,
    accessible: Any,
    photo: Any,
    face_bytes: Any,
    counter_sign_in: Any,
    give_pin: Any,
) -> None:
    # ---------------------------------------------------------------- consent counter (vi)
    kiosk = new_page()
    kiosk.goto(f"{server.url}/kiosk/enrol")
    expect(kiosk.locator("html")).to_have_attribute("lang", "vi")
    expect(kiosk.locator("h1")).to_have_text("Quầy đăng ký khuôn mặt")
    expect(kiosk.locator(".public-url-warning").first).to_contain_text(server.url)
    accessible(kiosk)
    shoot(kiosk, "kiosk-1-staff")
    switch_lang(kiosk, "en")
    shoot(kiosk, "kiosk-1-staff")
    switch_lang(kiosk, "vi")
    expect(kiosk.locator("#staff-section")).to_be_visible()
    counter_sign_in(kiosk, server, validity="365")

    # Kiosk mode: the guest holds the tablet; no navigation, no staff controls.
    expect(kiosk.locator(".site-nav")).to_be_hidden()
    expect(kiosk.locator("#staff-bar")).to_be_hidden()
    expect(kiosk.locator("#staff-unlock")).to_be_visible()
    # The full notice v2, Vietnamese by default; purposes unticked; nothing to capture yet.
    notice = kiosk.locator("article.notice").inner_text()
    for paragraph in notice_for(Settings(), "v2", "vi").split("\n\n"):
        for line in paragraph.strip().split("\n"):
            assert line in notice, line
    assert "dữ liệu cá nhân nhạy cảm" in notice
    expect(kiosk.locator("#purpose-checkin")).not_to_be_checked()
    expect(kiosk.locator("#purpose-marketing")).not_to_be_checked()
    expect(kiosk.locator("#confirm")).not_to_be_checked()
    expect(kiosk.locator("#photo-files")).to_be_hidden()
    expect(kiosk.locator("#camera-start")).to_be_hidden()
    expect(kiosk.locator("#consent-refuse")).to_have_text("Không đồng ý")
    expect(kiosk.locator("#retention-text")).to_contain_text("365")
    expect(kiosk.locator("#venue-name")).to_have_text(re.compile("Karaoke Hà Nội 1"))
    accessible(kiosk)
    shoot(kiosk, "kiosk-2-notice")

    # Confirming without a purpose, or a purpose without confirming, captures nothing.
    kiosk.click("#consent-continue")
    expect(kiosk.locator("#consent-error")).to_have_text("Hãy đánh dấu ít nhất một mục đích.")
    kiosk.check("#purpose-checkin")
    kiosk.click("#consent-continue")
    expect(kiosk.locator("#consent-error")).to_have_text("Hãy đánh dấu ô xác nhận.")
    expect(kiosk.locator("#photo-section")).to_be_hidden()
    give_consent(kiosk, ["marketing"])
    expect(kiosk.locator("#consent-summary")).to_contain_text("Check-in, Tiếp thị")
    # No photo yet: the enrol button waits and says why.
    expect(kiosk.locator("#enrol")).to_be_disabled()
    expect(kiosk.locator("#enrol-reason")).to_have_text(
        "Cần ít nhất một ảnh có đúng một khuôn mặt."
    )

    # A photo of two people says what to do; it does not count and is never sent.
    kiosk.set_input_files("#photo-files", str(photo("group_two_people.jpg")))
    expect(kiosk.locator("#photos li p.warn")).to_have_text(
        "Ảnh 1 có 2 khuôn mặt: hãy chụp lại, chỉ để khách trong khung hình.", timeout=60_000
    )
    expect(kiosk.locator("#photos-h")).to_have_text("Ảnh dùng được (0/5)")
    expect(kiosk.locator("#enrol")).to_be_disabled()
    expect(kiosk.locator("#photo-not-sent")).to_be_visible()
    accessible(kiosk)
    shoot(kiosk, "kiosk-3-photo-hint")

    alice = enrol_with_upload(kiosk, photo("obama_1.jpg"))
    customer = alice["receipt"]["receipt"]["pii_principal_id"]
    assert alice["receipt"]["receipt"]["language"] == "vi"
    assert alice["receipt"]["receipt"]["notice"]["version"] == "v2"
    assert [s["purpose"] for s in alice["receipt"]["receipt"]["services"]] == [
        "checkin",
        "marketing",
    ]
    # The receipt starts with one plain sentence, with the venue's name; the technical
    # fields are folded away.
    sentence = kiosk.locator("#receipt .sentence")
    expect(sentence).to_contain_text("bạn đã đồng ý để Karaoke Hà Nội 1 nhận ra khuôn mặt")
    expect(sentence).to_contain_text("Check-in và Tiếp thị")
    expect(kiosk.locator("#receipt details.tech")).not_to_have_attribute("open", "")
    expect(kiosk.locator("#receipt details.tech summary")).to_have_text("Chi tiết kỹ thuật")
    expect(kiosk.locator("#receipt dl")).to_be_hidden()
    kiosk.locator("#receipt details.tech summary").click()
    expect(kiosk.locator("#receipt")).to_contain_text(customer)
    kiosk.locator("#receipt details.tech summary").click()
    accessible(kiosk)
    shoot(kiosk, "kiosk-4-done")
    with kiosk.expect_download() as download_info:
        kiosk.click("#save-image")
    image = download_info.value
    assert image.suggested_filename.endswith(".png")
    assert Path(image.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kiosk.emulate_media(media="print")
    kiosk.evaluate(
        "document.body.classList.add('print-receipt');"
        "document.getElementById('done-section').classList.add('print-target')"
    )
    expect(kiosk.locator(".site-header")).to_be_hidden()
    expect(kiosk.locator("#next")).to_be_hidden()
    kiosk.screenshot(path=str(shoot_dir() / "kiosk-5-print-vi.png"), full_page=True)
    kiosk.emulate_media(media="screen")
    kiosk.evaluate(
        "document.body.classList.remove('print-receipt');"
        "document.getElementById('done-section').classList.remove('print-target')"
    )

    # The kiosk's JSON API recognises the new customer.
    hit = server.match(face_bytes("obama_2.jpg"))
    assert hit["match"] is True and hit["customer"] == customer

    # The guest saved the code: it leaves the screen, the receipt stays.
    kiosk.click("#code-saved")
    expect(kiosk.locator("#access-code")).to_have_text("")
    expect(kiosk.locator("#handover")).to_be_hidden()
    expect(kiosk.locator("#code-cleared")).to_be_visible()
    expect(kiosk.locator("#receipt .sentence")).to_be_visible()
    shoot(kiosk, "kiosk-6-code-saved")

    # "Next guest" asks first, for the staff PIN; going back keeps the receipt.
    kiosk.click("#next")
    expect(kiosk.locator("#pin-dialog")).to_be_visible()
    expect(kiosk.locator("#pin-h")).to_have_text("Chuyển sang khách tiếp theo?")
    expect(kiosk.locator("#pin-input")).to_be_focused()
    shoot(kiosk, "kiosk-7-next-confirm", full_page=False)
    kiosk.click("#pin-cancel")
    expect(kiosk.locator("#pin-dialog")).to_be_hidden()
    expect(kiosk.locator("#receipt .sentence")).to_be_visible()
    kiosk.click("#next")
    give_pin(kiosk, server.pin)
    expect(kiosk.locator("#consent-section")).to_be_visible()
    expect(kiosk.locator("#purpose-checkin")).not_to_be_checked()
    expect(kiosk.locator("#receipt")).to_be_empty()

    # A second guest in English: the switch happens in place, without a reload.
    kiosk.evaluate("window.__samePage = true")
    switch_lang(kiosk, "en")
    assert kiosk.evaluate("window.__samePage") is True
    expect(kiosk.locator("#notice-h")).to_contain_text("(version v2)")
    expect(kiosk.locator("#consent-refuse")).to_have_text("I do not agree")
    shoot(kiosk, "kiosk-2-notice")
    give_consent(kiosk, ["checkin"])
    kiosk.set_input_files("#photo-files", str(photo("group_two_people.jpg")))
    expect(kiosk.locator("#photos li p.warn")).to_have_text(
        "Photo 1 shows 2 faces: retake it with only the guest in view.", timeout=60_000
    )
    shoot(kiosk, "kiosk-3-photo-hint")
    bob = enrol_with_upload(kiosk, photo("biden_1.jpg"), lang="en")
    assert bob["receipt"]["receipt"]["language"] == "en"
    expect(kiosk.locator("#receipt .sentence")).to_contain_text(
        "you agreed that Karaoke Hà Nội 1 may recognise your face for Check-in"
    )
    shoot(kiosk, "kiosk-4-done")
    # Changing the language on the code screen keeps the code, and the link follows.
    switch_lang(kiosk, "vi")
    assert kiosk.evaluate("window.__samePage") is True
    expect(kiosk.locator("#access-code")).to_have_text(bob["code"])
    expect(kiosk.locator("#me-link")).to_have_attribute(
        "href", re.compile(rf"/me\?lang=vi#code={bob['code']}$")
    )
    expect(kiosk.locator("#receipt .sentence")).to_contain_text("bạn đã đồng ý")

    # ---------------------------------------------------------------- customer page
    me = new_page(viewport={"width": 390, "height": 844})
    me.goto(alice["link"])
    expect(me.locator("#data-section")).to_be_visible()
    assert "code=" not in me.url  # the fragment left the address bar
    expect(me.locator("html")).to_have_attribute("lang", "vi")
    expect(me.locator("#who")).to_contain_text(customer)
    expect(me.locator("#consents")).to_contain_text("Check-in: đang hiệu lực")
    expect(me.locator("#consents")).to_contain_text("Tiếp thị: đang hiệu lực")
    expect(me.locator("#consents")).to_contain_text("Karaoke Hà Nội 1")
    expect(me.locator("#templates-count")).to_contain_text("1 mẫu")
    expect(me.locator("#matches tbody tr")).to_have_count(1)
    expect(me.locator("#matches tbody tr")).to_contain_text("Karaoke Hà Nội 1")
    expect(me.locator("#forget")).to_have_text("Xóa mã khỏi máy này")
    expect(me.locator("#consents button.stop")).to_have_count(2)  # one action per purpose
    expect(me.locator("img")).to_have_count(0)  # never an image of the face
    accessible(me)
    shoot(me, "me-2-data")
    switch_lang(me, "en")
    expect(me.locator("#consents")).to_contain_text("Check-in: active")
    shoot(me, "me-2-data")
    switch_lang(me, "vi")

    # Each stop is confirmed first; cancelling changes nothing.
    me.click('button.stop[data-purpose="checkin"]')
    expect(me.locator("#stop-dialog")).to_be_visible()
    expect(me.locator("#stop-dialog-h")).to_have_text("Rút lại đồng ý check-in bằng khuôn mặt?")
    shoot(me, "me-3-stop-confirm", full_page=False)
    me.click("#stop-cancel")
    expect(me.locator("#consents")).to_contain_text("Check-in: đang hiệu lực")
    me.click('button.stop[data-purpose="checkin"]')
    me.click("#stop-confirm")
    expect(me.locator("#status")).to_have_text("Đã rút lại đồng ý cho Check-in.")
    expect(me.locator("#consents")).to_contain_text("Check-in: đã rút lại lúc")
    expect(me.locator('button.stop[data-purpose="checkin"]')).to_have_count(0)
    expect(me.locator("#erase-after-text")).to_have_text(
        re.compile(
            r"^Mẫu khuôn mặt vẫn được giữ cho mục đích còn hiệu lực: Tiếp thị\. Mẫu khuôn mặt "
            r"của bạn sẽ tự động bị xóa vào ngày \d\d/\d\d/\d{4}\."
        )
    )
    expect(me.locator("#erase-now")).to_be_visible()
    shoot(me, "me-3-revoked")

    # Withdrawn: the next match at the kiosk fails.
    assert server.match(face_bytes("obama_2.jpg")) == {"match": False}

    # Retake the photos (templates replaced, no image shown), then stop marketing.
    me.set_input_files("#retake-files", str(photo("obama_3.jpg")))
    expect(me.locator("#retake-chosen")).to_have_text("Đã chọn 1 ảnh.")
    me.click("#retake-form button[type=submit]")
    expect(me.locator("#status")).to_have_text("Đã thay bằng 1 mẫu mới.", timeout=60_000)
    expect(me.locator("#templates-count")).to_contain_text("1 mẫu")
    me.click('button.stop[data-purpose="marketing"]')
    expect(me.locator("#stop-dialog-text")).to_contain_text("phản đối tiếp thị")
    me.click("#stop-confirm")
    expect(me.locator("#status")).to_have_text("Đã ghi nhận phản đối; tiếp thị đã dừng.")
    expect(me.locator("#consents")).to_contain_text("Không còn mục đích nào đang hiệu lực.")
    expect(me.locator("#consents .stop")).to_have_count(0)
    assert server.match(face_bytes("obama_2.jpg")) == {"match": False}
    # Every purpose is withdrawn: the page says when the templates go, and offers now.
    expect(me.locator("#erase-after-text")).to_have_text(
        re.compile(r"^Mẫu khuôn mặt của bạn sẽ tự động bị xóa vào ngày \d\d/\d\d/\d{4}\.")
    )
    shoot(me, "me-3-erase-after")

    me.click("#erase-now")
    dialog = me.locator("#erase-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("không thể hoàn tác")
    expect(me.locator("#erase-cancel")).to_be_focused()
    shoot(me, "me-4-erase-confirm", full_page=False)
    me.click("#erase-confirm")
    expect(me.locator("#erased-section")).to_be_visible(timeout=30_000)
    expect(dialog).to_be_hidden()
    receipt_box = me.locator("#destruction-receipt")
    expect(receipt_box).to_contain_text("Biên nhận hủy dữ liệu")
    expect(receipt_box.locator(".sentence")).to_have_text(
        re.compile(
            r"^Ngày \d\d/\d\d/\d{4}, facekeep operator đã hủy vĩnh viễn dữ liệu khuôn mặt của "
            r"bạn theo yêu cầu của bạn\.$"
        )
    )
    receipt_box.locator("details.tech summary").click()
    expect(receipt_box).to_contain_text(customer)
    expect(receipt_box).to_contain_text("crypto-shred")
    accessible(me)
    shoot(me, "me-5-erased")
    with me.expect_download() as download_info:
        me.click("#erased-download")
    destruction = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    assert destruction["receipt"]["version"] == "facekeep-destruction-receipt/1"
    assert destruction["receipt"]["pii_principal_id"] == customer
    switch_lang(me, "en")
    expect(me.locator("#destruction-receipt .sentence")).to_contain_text(
        "facekeep operator permanently destroyed your face data at your request."
    )
    shoot(me, "me-5-erased")
    # Closing the receipt asks first.
    me.click("#erased-close")
    expect(me.locator("#close-dialog")).to_be_visible()
    shoot(me, "me-6-close-confirm", full_page=False)
    me.click("#close-cancel")
    expect(me.locator("#erased-section")).to_be_visible()
    me.click("#erased-close")
    me.click("#close-confirm")
    expect(me.locator("#login-section")).to_be_visible()
    # The access code no longer opens anything.
    gone = httpx.get(f"{server.url}/v1/me", headers={"Authorization": f"Bearer {alice['code']}"})
    assert gone.status_code == 401

    # ---------------------------------------------------------------- auditor page
    audit = new_page()
    audit.goto(f"{server.url}/audit")
    expect(audit.locator("#login-section")).to_be_visible()
    accessible(audit)
    shoot(audit, "audit-1-login")
    audit.fill("#auditor-key", "not-a-key")
    audit.click("#key-form button[type=submit]")
    expect(audit.locator("#login-error")).not_to_be_empty()
    audit.fill("#auditor-key", server.auditor)
    audit.click("#key-form button[type=submit]")
    expect(audit.locator("#head-signature")).to_have_attribute("data-ok", "true")
    expect(audit.locator("#head")).to_contain_text("Mã băm gốc")

    def search(query: str) -> None:
        audit.fill("#q", query)
        audit.click("#search-form button[type=submit]")
        expect(audit.locator("#result-h")).to_contain_text(customer, timeout=30_000)
        row = audit.locator(".key-card")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-state", "destroyed")
        checks = audit.locator(".receipt-check.destruction .checks li")
        expect(checks).to_have_count(6)
        assert (
            audit.locator('.checks li[data-ok="true"]').count()
            == audit.locator(".checks li").count()
        )

    search(customer)
    key_id = audit.locator(".key-card").get_attribute("data-key")
    assert key_id is not None
    accessible(audit)
    shoot(audit, "audit-2-destroyed")
    switch_lang(audit, "en")
    search(key_id)
    expect(audit.locator(".receipt-check.destruction")).to_contain_text("Destruction receipt")
    shoot(audit, "audit-2-destroyed")

    with audit.expect_download() as download_info:
        audit.click("#export")
    export = download_info.value
    assert re.fullmatch(r"facekeep-audit-export-\d+\.zip", export.suggested_filename)
    folder = Path(export.path()).parent / "export"
    with zipfile.ZipFile(export.path()) as archive:
        names = set(archive.namelist())
        assert {"manifest.json", "log.jsonl", "key-states.jsonl", "audit-pubkey.pem"} <= names
        archive.extractall(folder)
    verified = subprocess.run(
        [str(FACEKEEP), "audit", "verify", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    states = [json.loads(line) for line in (folder / "key-states.jsonl").read_text().splitlines()]
    assert {"key_id": key_id, "state": "destroyed"}.items() <= next(
        s for s in states if s["key_id"] == key_id
    ).items()

    # ---------------------------------------------------------------- sign-in pages
    fresh = new_page()
    for lang in ("vi", "en"):
        fresh.goto(f"{server.url}/me?lang={lang}")
        expect(fresh.locator("#login-section")).to_be_visible()
        accessible(fresh)
        shoot(fresh, "me-1-login")
        fresh.goto(f"{server.url}/?lang={lang}")
        accessible(fresh)
        shoot(fresh, "home")
        fresh.goto(f"{server.url}/privacy?lang={lang}")
        accessible(fresh)
        shoot(fresh, "privacy")
    fresh.goto(f"{server.url}/audit?lang=en")
    shoot(fresh, "audit-1-login")


def shoot_dir() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
