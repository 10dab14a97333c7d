"""The consent counter's promises to guests and staff, in a real browser, in both
languages: "I do not agree" records nothing but an anonymous count; the access code leaves
the screen when its countdown ends (time moved by Playwright's clock, not slept); once a
guest holds the tablet the navigation and staff controls are hidden until the server has
accepted the staff PIN again, and staff can issue a new access code from the page; photos
of different people get a helpful message; the staff page shows requests and breaches with
their deadlines; the privacy page publishes the schedule. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser]

REFUSED = {
    "vi": ("Không đồng ý", "Chúng tôi không ghi lại bất cứ thông tin nào về bạn."),
    "en": ("I do not agree", "Nothing about you has been recorded."),
}


@pytest.fixture
def sign_in(counter_sign_in: Any) -> Any:
    """``sign_in(page, server, lang)``: open the counter and sign in with the staff
    account and its PIN."""

    def open_and_sign_in(page: Any, server: Any, lang: str) -> None:
        page.goto(f"{server.url}/kiosk/enrol?lang={lang}")
        counter_sign_in(page, server)

    return open_and_sign_in


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_refusing_records_nothing_but_a_count(
    server: Any, new_page: Any, shoot: Any, accessible: Any, sign_in: Any, lang: str
) -> None:
    page = new_page()
    sign_in(page, server, lang)
    refusals = server.metric("facekeep_consent_refusals_total")
    events = server.audit_size()
    button, text = REFUSED[lang]
    expect(page.locator("#consent-refuse")).to_have_text(button)
    # Refusing needs no tick and no confirmation box: it is as easy as agreeing.
    page.click("#consent-refuse")
    expect(page.locator("#refused-section")).to_be_visible()
    expect(page.locator("#refused-section")).to_contain_text(text)
    expect(page.locator("#photo-section")).to_be_hidden()
    accessible(page)
    shoot(page, "kiosk-2b-refused")
    assert server.metric("facekeep_consent_refusals_total") == refusals + 1
    assert server.audit_size() == events  # not one event about the guest
    page.click("#refused-done")
    expect(page.locator("#consent-section")).to_be_visible()
    expect(page.locator("#confirm")).not_to_be_checked()


@pytest.mark.faces
def test_the_access_code_is_cleared_after_its_countdown(
    server: Any, new_page: Any, shoot: Any, photo: Any, sign_in: Any
) -> None:
    page = new_page()
    page.clock.install()
    sign_in(page, server, "vi")
    page.check("#purpose-checkin")
    page.check("#confirm")
    page.click("#consent-continue")
    page.set_input_files("#photo-files", str(photo("alex_lacamoire_1.jpg")))
    expect(page.locator("#photos li p.ok")).to_have_count(1, timeout=60_000)
    page.click("#enrol")
    expect(page.locator("#done-section")).to_be_visible(timeout=60_000)
    code = page.locator("#access-code").inner_text()
    assert code
    expect(page.locator("#code-timer")).to_have_text(
        re.compile(r"^Mã sẽ được xóa khỏi màn hình sau [12]:\d\d\.$")
    )
    page.clock.run_for(61_000)
    expect(page.locator("#code-timer")).to_have_text(re.compile(r"sau 0:[56]\d\."))
    expect(page.locator("#access-code")).to_have_text(code)
    # Switching language keeps the code (the page does not reload).
    page.locator('.lang-switch a[hreflang="en"]').click()
    expect(page.locator("#code-timer")).to_contain_text("The code will be cleared")
    expect(page.locator("#access-code")).to_have_text(code)
    page.clock.run_for(60_000)
    expect(page.locator("#access-code")).to_have_text("")
    expect(page.locator("#qr")).not_to_have_attribute("src", re.compile("."))
    expect(page.locator("#handover")).to_be_hidden()
    expect(page.locator("#code-cleared")).to_have_text(
        "The code has been cleared from this screen. If you did not save it, ask staff for "
        "a new one."
    )
    assert code not in page.content()
    shoot(page, "kiosk-6-code-cleared")


@pytest.mark.faces
def test_kiosk_mode_hides_staff_controls_and_staff_issue_a_new_code(
    server: Any,
    new_page: Any,
    shoot: Any,
    accessible: Any,
    face_bytes: Any,
    counter_sign_in: Any,
    give_pin: Any,
) -> None:
    guest = server.enrol(face_bytes("rose_leslie_1.jpg"))
    old = {"Authorization": f"Bearer {guest['access_code']}"}
    assert httpx.get(f"{server.url}/v1/me", headers=old).status_code == 200
    staff = server.new_staff("hoa-new-code", pin="70215986", name="Hoa")
    page = new_page()
    page.goto(f"{server.url}/kiosk/enrol?lang=en")
    counter_sign_in(page, server, staff=staff, pin="70215986")
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator(".brand")).to_be_hidden()
    expect(page.locator("#staff-bar")).to_be_hidden()
    expect(page.locator(".lang-switch")).to_be_visible()  # the guest keeps the language choice
    first = page.evaluate("sessionStorage.getItem('facekeep.staff-token')")
    # Opening the staff controls needs the PIN again, checked by the server; a wrong PIN
    # and the operator's admin key are refused with the server's answer.
    page.click("#staff-unlock")
    expect(page.locator("#pin-dialog")).to_be_visible()
    expect(page.locator("#pin-h")).to_have_text("Staff controls")
    expect(page.locator("#pin-who")).to_have_text("Signed in as Hoa (hoa-new-code).")
    for wrong in ("70215987", server.admin):
        with page.expect_response(re.compile(r"/v1/staff/sessions$")) as answer:
            page.fill("#pin-input", wrong)
            page.click("#pin-submit")
        assert answer.value.status == 401
        expect(page.locator("#pin-error")).to_have_text("Wrong staff account or PIN.")
        expect(page.locator("#pin-input")).to_have_value("")
        expect(page.locator("#staff-bar")).to_be_hidden()
    shoot(page, "kiosk-8-unlock", full_page=False)
    with page.expect_response(lambda r: r.request.method == "DELETE") as ended:
        give_pin(page, "70215986")
    assert ended.value.status == 200
    expect(page.locator("#staff-bar")).to_be_visible()
    expect(page.locator(".site-nav")).to_be_visible()
    expect(page.locator("#staff-bar .public-url-warning")).to_contain_text("FACEKEEP_PUBLIC_URL")
    # The PIN given again opened a new session and ended the one it replaced.
    second = page.evaluate("sessionStorage.getItem('facekeep.staff-token')")
    assert second.startswith("fks_") and second != first
    assert server.staff_me(second) == 200
    assert server.staff_me(first) == 401
    accessible(page)
    page.click("#staff-new-code")
    page.fill("#new-code-customer", guest["customer"])
    shoot(page, "kiosk-9-new-code-form")
    page.click("#new-code-form button[type=submit]")
    expect(page.locator("#done-h")).to_have_text("Your new access code")
    code = page.locator("#access-code").inner_text().strip()
    assert code and code != guest["access_code"]
    expect(page.locator("#receipt")).to_be_empty()
    expect(page.locator("#me-link")).to_have_attribute("href", re.compile(r"/me\?lang=en#code="))
    expect(page.locator(".site-nav")).to_be_hidden()  # the tablet goes back to the guest
    # The link is for the guest's phone: on the tablet it does not open their page.
    page.click("#me-link")
    expect(page).to_have_url(re.compile(r"/kiosk/enrol\?lang=en$"))
    expect(page.locator("#access-code")).to_have_text(code)
    shoot(page, "kiosk-9-new-code")
    assert httpx.get(f"{server.url}/v1/me", headers=old).status_code == 401
    new = {"Authorization": f"Bearer {code}"}
    assert httpx.get(f"{server.url}/v1/me", headers=new).json()["customer"] == guest["customer"]
    # Only staff move on to the next guest (the PIN again); then nothing of the code stays.
    page.click("#next")
    expect(page.locator("#pin-h")).to_have_text("Move on to the next guest?")
    give_pin(page, "70215986")
    expect(page.locator("#consent-section")).to_be_visible()
    assert code not in page.content()


@pytest.mark.faces
@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("vi", "Các ảnh cho thấy những người khác nhau."),
        ("en", "The photos show different people."),
    ],
)
def test_photos_of_different_people_say_what_to_do(
    server: Any, new_page: Any, photo: Any, sign_in: Any, lang: str, message: str
) -> None:
    page = new_page()
    sign_in(page, server, lang)
    page.check("#purpose-checkin")
    page.check("#confirm")
    page.click("#consent-continue")
    page.set_input_files("#photo-files", [str(photo("obama_1.jpg")), str(photo("biden_1.jpg"))])
    expect(page.locator("#photos li p.ok")).to_have_count(2, timeout=60_000)
    page.click("#enrol")
    expect(page.locator("#photo-error")).to_contain_text(message, timeout=60_000)
    expect(page.locator("#done-section")).to_be_hidden()


@pytest.mark.faces
@pytest.mark.parametrize("lang", ["vi", "en"])
def test_staff_page_shows_what_is_open_and_late(
    server: Any, new_page: Any, shoot: Any, accessible: Any, lang: str
) -> None:
    admin = {"Authorization": f"Bearer {server.admin}"}
    letter = httpx.post(
        f"{server.url}/v1/requests",
        json={"kind": "access", "channel": "letter", "received_at": "2026-01-05T09:00:00+07:00"},
        headers=admin,
    ).json()
    page = new_page()
    page.goto(f"{server.url}/staff?lang={lang}")
    page.fill("#staff-key", server.admin)
    page.click("#key-form button[type=submit]")
    row = page.locator(f'tr[data-request="{letter["request"]}"]')
    expect(row).to_be_visible()
    expect(row).to_have_class(re.compile("late"))
    expect(row.locator(".badge.late")).to_have_count(2)
    # Record one that came by telephone, then open a breach file.
    page.locator("details.form-box summary").first.click()
    page.select_option("#rq-kind", "erasure")
    page.select_option("#rq-channel", "phone")
    page.fill("#rq-note", "gọi lúc 9 giờ")
    page.click("#rq-form button[type=submit]")
    expect(page.locator("#status")).to_contain_text(re.compile(r"dsr_[0-9a-f]{16}"))
    expect(page.locator("#requests tbody tr")).to_have_count(
        httpx.get(f"{server.url}/v1/requests?due=true", headers=admin).json()["summary"]["open"]
    )
    page.locator("details.form-box summary").nth(1).click()
    # This server is shared by both languages' runs: the file opened here is told apart
    # by its description (the first card may be the other run's, about to be redrawn).
    description = f"Máy tính bảng ở quầy bị mất ({lang})"
    page.fill("#br-description", description)
    page.click("#br-form button[type=submit]")
    card = page.locator("article.breach", has_text=description)
    expect(card).to_have_count(1)
    expect(card.locator(".badge")).to_contain_text(re.compile(r"(71|72)"))
    card.locator("button", has_text=re.compile("bản thảo|draft")).click()
    expect(card.locator("pre.draft").first).to_contain_text(
        "Thông báo vi phạm" if lang == "vi" else "Notification of a personal data",
        timeout=30_000,
    )
    accessible(page)
    shoot(page, "staff-requests")
    # Acknowledge the late letter from the page.
    row.locator("button.ack").click()
    expect(row).to_contain_text("đã xác nhận" if lang == "vi" else "acknowledged")


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_privacy_page(server: Any, new_page: Any, shoot: Any, accessible: Any, lang: str) -> None:
    page = new_page()
    page.goto(f"{server.url}/privacy?lang={lang}")
    expect(page.locator("#schedule tbody tr")).to_have_count(5)
    expect(page.locator("#rights tbody tr")).to_have_count(7)
    expect(page.locator("details.notice-version")).to_have_count(4)
    notice = page.locator(f'details.notice-version[data-version="v2"][data-lang="{lang}"]')
    notice.locator("summary").click()
    expect(notice).to_contain_text(
        "dữ liệu cá nhân nhạy cảm" if lang == "vi" else "sensitive personal data"
    )
    accessible(page)
    shoot(page, "privacy-notices")
