"""Staff sign-in on the consent counter, in a real browser and both languages: staff sign
in with their staff account and PIN (a server session), never with an API key; a wrong PIN
is refused with the server's answer and counted by its throttle until the account locks;
every staff action taken while a guest may hold the tablet (the staff controls, the next
guest, sign-out) asks for the PIN again and the server checks it; staff controls left open
close after a minute untouched; sign-out ends the server session and leaves nothing in the
tab; a session that ended on the server while idle sends
the page back to the sign-in form with a clear message, drops the token, and keeps the
guest half-way through (their choices and photos) for staff to carry on. The idle expiry
runs on a second server whose sessions end after a few seconds. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser]

TEXT = {
    "vi": {
        "account": "Tài khoản nhân viên",
        "pin": "Mã PIN",
        "wrong": "Sai tài khoản hoặc mã PIN.",
        "need_account": "Hãy nhập tên tài khoản nhân viên.",
        "who": (
            "Đang đăng nhập: Nguyễn Thị Lan ({staff}). Phiên đăng nhập tự kết thúc sau 15 "
            "phút không dùng."
        ),
        "signout_title": "Đăng xuất khỏi quầy?",
        "signed_out": "Đã đăng xuất. Máy tính bảng không còn giữ phiên đăng nhập nào.",
        "ended": (
            "Phiên đăng nhập của nhân viên đã kết thúc (lâu không dùng hoặc đã đăng xuất). "
            "Hãy đăng nhập lại."
        ),
        "kept": (
            "Lựa chọn và ảnh của khách đang đăng ký được giữ trong 5 phút: hãy đăng nhập "
            "lại tại cùng địa điểm để tiếp tục."
        ),
        "locked": "Nhập sai mã PIN quá nhiều lần nên tài khoản tạm thời bị khóa.",
    },
    "en": {
        "account": "Staff account",
        "pin": "PIN",
        "wrong": "Wrong staff account or PIN.",
        "need_account": "Enter your staff account name.",
        "who": (
            "Signed in as Nguyễn Thị Lan ({staff}). The session ends by itself after 15 "
            "minutes unused."
        ),
        "signout_title": "Sign out of the counter?",
        "signed_out": "Signed out. This tablet no longer holds a staff session.",
        "ended": "The staff session has ended (unused for a while, or signed out). Sign in again.",
        "kept": (
            "The guest's choices and photos are kept for 5 minutes: sign in again at the "
            "same venue to carry on."
        ),
        "locked": "Too many wrong PINs: this account is locked for a while.",
    },
}


def storage(page: Any) -> dict[str, str]:
    """Everything the tab keeps in sessionStorage."""
    kept: dict[str, str] = page.evaluate(
        "Object.fromEntries(Object.keys(sessionStorage).map((k) => [k, sessionStorage[k]]))"
    )
    return kept


def token(page: Any) -> str | None:
    found: str | None = page.evaluate("sessionStorage.getItem('facekeep.staff-token')")
    return found


def refused(page: Any, account: str, pin: str) -> int:
    """Sign in with a wrong PIN; the server's status."""
    with page.expect_response(re.compile(r"/v1/staff/sessions$")) as answer:
        page.fill("#staff-account", account)
        page.fill("#staff-pin", pin)
        page.click("#signin-submit")
    status: int = answer.value.status
    expect(page.locator("#staff-pin")).to_have_value("")
    expect(page.locator("#staff-form")).to_be_hidden()
    return status


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_staff_sign_in_with_their_account_and_pin_never_an_api_key(
    server: Any, new_page: Any, shoot: Any, accessible: Any, lang: str
) -> None:
    text = TEXT[lang]
    staff = server.new_staff(f"signin-{lang}", pin="58204613", name="Nguyễn Thị Lan")
    page = new_page()
    page.goto(f"{server.url}/kiosk/enrol?lang={lang}")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("label[for=staff-account]")).to_have_text(text["account"])
    expect(page.locator("label[for=staff-pin]")).to_have_text(text["pin"])
    expect(page.locator("#staff-pin")).to_have_attribute("type", "password")
    expect(page.locator("#staff-key")).to_have_count(0)  # nowhere to type an API key
    expect(page.locator("#consent-section")).to_be_hidden()
    accessible(page)
    shoot(page, "kiosk-0-signin")

    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_have_text(text["need_account"])
    # The operator's admin key is not a staff credential: neither as the account nor as
    # the PIN.
    page.fill("#staff-account", server.admin)
    page.fill("#staff-pin", server.admin)
    page.click("#signin-submit")
    expect(page.locator("#signin-error")).to_have_text(
        re.compile(f"^({re.escape(text['need_account'])}|{re.escape(text['wrong'])})$")
    )
    assert refused(page, staff, server.admin) == 401
    expect(page.locator("#signin-error")).to_have_text(text["wrong"])
    assert refused(page, staff, "58204610") == 401
    expect(page.locator("#signin-error")).to_have_text(text["wrong"])
    assert token(page) is None
    shoot(page, "kiosk-0-signin-wrong-pin")

    page.fill("#staff-pin", "58204613")
    page.click("#signin-submit")
    expect(page.locator("#staff-form")).to_be_visible()
    expect(page.locator("#staff-who")).to_have_text(text["who"].format(staff=staff))
    expect(page.locator("#venue")).to_have_value(server.venue)
    session = token(page)
    assert session is not None and session.startswith("fks_")
    assert server.staff_me(session) == 200
    # The tab keeps the session token and who is signed in, never the PIN or a key.
    kept = json.dumps(storage(page))
    assert "58204613" not in kept and server.admin not in kept
    accessible(page)
    shoot(page, "kiosk-0-venue")
    page.click("#staff-submit")
    expect(page.locator("#consent-section")).to_be_visible()
    expect(page.locator(".site-nav")).to_be_hidden()
    expect(page.locator("#staff-unlock")).to_be_visible()


def test_an_api_key_left_in_the_tab_by_an_older_page_is_never_used(
    server: Any, new_page: Any
) -> None:
    page = new_page()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization", "")))
    page.goto(f"{server.url}/kiosk/enrol?lang=en")
    page.evaluate(
        "(key) => sessionStorage.setItem('facekeep.staff', JSON.stringify("
        "{key, venue: 'hanoi-1', venueName: 'x', days: 365}))",
        server.admin,
    )
    page.reload()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#consent-section")).to_be_hidden()
    assert storage(page) == {}
    assert not any(server.admin in header for header in sent)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sign_out_needs_the_pin_ends_the_session_and_leaves_nothing(
    server: Any, new_page: Any, shoot: Any, counter_sign_in: Any, give_pin: Any, lang: str
) -> None:
    text = TEXT[lang]
    staff = server.new_staff(f"signout-{lang}", pin="31415926")
    page = new_page()
    ended: list[tuple[str, int]] = []  # (token, status) of every session the page ended
    page.on(
        "response",
        lambda r: (
            ended.append((r.request.headers["authorization"][7:], r.status))
            if r.request.method == "DELETE"
            else None
        ),
    )
    page.goto(f"{server.url}/kiosk/enrol?lang={lang}")
    counter_sign_in(page, server, staff=staff, pin="31415926")
    first = token(page)
    page.click("#staff-unlock")
    give_pin(page, "31415926")
    second = token(page)
    expect(page.locator("#staff-bar")).to_be_visible()
    page.click("#staff-signout")
    expect(page.locator("#pin-h")).to_have_text(text["signout_title"])
    page.fill("#pin-input", "31415927")
    page.click("#pin-submit")
    expect(page.locator("#pin-error")).to_have_text(text["wrong"])
    expect(page.locator("#staff-bar")).to_be_visible()  # still signed in
    shoot(page, "kiosk-11-signout-pin", full_page=False)
    give_pin(page, "31415926")
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#staff-status")).to_have_text(text["signed_out"])
    expect(page.locator("#staff-account")).to_have_value("")
    assert storage(page) == {}
    # Three sessions, each ended on the server: the first when the PIN opened the staff
    # controls, the second when the PIN was given to sign out, the third by signing out.
    for _ in range(100):
        if len(ended) == 3:
            break
        page.wait_for_timeout(100)
    assert len(ended) == 3 and {status for _, status in ended} == {200}
    assert {first, second} <= {used for used, _ in ended}
    for used, _ in ended:
        assert server.staff_me(used) == 401
    shoot(page, "kiosk-11-signed-out")
    page.reload()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#consent-section")).to_be_hidden()


def test_staff_controls_left_open_hand_the_tablet_back_to_the_guest(
    server: Any, new_page: Any, counter_sign_in: Any, give_pin: Any
) -> None:
    """Staff called away with their controls open leave none to the guest: after a minute
    without a touch or key the page is the guest's again (a PIN dialog left open closes
    too), and the controls need the PIN once more. Time moves by Playwright's clock."""
    staff = server.new_staff("relock", pin="27182818")
    page = new_page()
    page.clock.install()
    page.goto(f"{server.url}/kiosk/enrol?lang=en")
    counter_sign_in(page, server, staff=staff, pin="27182818")
    expect(page.locator("#consent-section")).to_be_visible()
    page.click("#staff-unlock")
    give_pin(page, "27182818")
    expect(page.locator("#staff-bar")).to_be_visible()
    page.clock.run_for(45_000)
    page.keyboard.press("Shift")  # staff are still at the tablet: the count starts again
    page.clock.run_for(45_000)
    expect(page.locator("#staff-bar")).to_be_visible()
    expect(page.locator("#staff-unlock")).to_be_hidden()
    page.clock.run_for(16_000)
    expect(page.locator("#staff-bar")).to_be_hidden()
    expect(page.locator("#staff-unlock")).to_be_visible()
    expect(page.locator("body")).to_have_class(re.compile(r"\bkiosk-mode\b"))
    expect(page.locator("#consent-section")).to_be_visible()
    # Opened again, then the sign-out PIN dialog is left open: both close after a minute.
    page.click("#staff-unlock")
    give_pin(page, "27182818")
    page.click("#staff-signout")
    expect(page.locator("#pin-dialog")).to_be_visible()
    page.clock.run_for(61_000)
    expect(page.locator("#pin-dialog")).to_be_hidden()
    expect(page.locator("#staff-bar")).to_be_hidden()
    expect(page.locator("#staff-unlock")).to_be_visible()
    assert token(page) is not None  # still signed in: only the controls closed
    # Controls that were never opened are not touched by the count.
    page.clock.run_for(120_000)
    expect(page.locator("#consent-section")).to_be_visible()


@pytest.mark.faces
def test_a_session_that_ended_while_idle_returns_to_sign_in_and_keeps_the_guest(
    short_idle_server: Any,
    short_idle: float,
    new_page: Any,
    shoot: Any,
    accessible: Any,
    photo: Any,
    counter_sign_in: Any,
) -> None:
    server, text = short_idle_server, TEXT["vi"]
    page = new_page(origin=server.url)
    page.goto(f"{server.url}/kiosk/enrol?lang=vi")
    counter_sign_in(page, server)
    page.check("#purpose-checkin")
    page.check("#confirm")
    page.click("#consent-continue")
    page.set_input_files("#photo-files", str(photo("alex_lacamoire_1.jpg")))
    expect(page.locator("#photos li p.ok")).to_have_count(1, timeout=60_000)
    expired = token(page)
    # The tablet lies unused past the server's idle time; the guest then presses enrol.
    page.wait_for_timeout((short_idle + 0.5) * 1000)
    with page.expect_response(re.compile(r"/v1/enrolments$")) as answer:
        page.click("#enrol")
    assert answer.value.status == 401
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#staff-status")).to_have_text(f"{text['ended']} {text['kept']}")
    expect(page.locator("#photo-section")).to_be_hidden()
    expect(page.locator("#staff-unlock")).to_be_hidden()
    expect(page.locator("#staff-account")).to_have_value(server.staff)
    expect(page.locator("#staff-pin")).to_be_focused()
    assert token(page) is None and expired is not None
    assert "staff-token" not in json.dumps(storage(page))
    accessible(page)
    shoot(page, "kiosk-10-session-ended")
    # Staff sign in again: the guest carries on from their photos, nothing redone.
    page.fill("#staff-pin", server.pin)
    page.click("#signin-submit")
    expect(page.locator("#photo-section")).to_be_visible()
    expect(page.locator("#photos li p.ok")).to_have_count(1)
    expect(page.locator(".site-nav")).to_be_hidden()
    renewed = token(page)
    assert renewed is not None and renewed != expired
    page.click("#enrol")
    expect(page.locator("#done-section")).to_be_visible(timeout=60_000)
    code = page.locator("#access-code").inner_text().strip()
    assert code
    # Idle again with the code on the screen; the guest switches to English, whose QR
    # link needs the session: the page returns to sign-in and the code does not linger.
    page.wait_for_timeout((short_idle + 0.5) * 1000)
    with page.expect_response(re.compile(r"/v1/pages/customer-link$")) as answer:
        page.locator('.lang-switch a[hreflang="en"]').click()
    assert answer.value.status == 401
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#staff-status")).to_have_text(TEXT["en"]["ended"])
    expect(page.locator("#done-section")).to_be_hidden()
    assert code not in page.content()
    assert token(page) is None


def test_a_tab_reopened_after_the_idle_time_asks_staff_to_sign_in_again(
    short_idle_server: Any, short_idle: float, new_page: Any, counter_sign_in: Any
) -> None:
    server, text = short_idle_server, TEXT["en"]
    page = new_page(origin=server.url)
    page.goto(f"{server.url}/kiosk/enrol?lang=en")
    counter_sign_in(page, server)
    page.wait_for_timeout((short_idle + 0.5) * 1000)
    page.reload()
    expect(page.locator("#signin-form")).to_be_visible()
    expect(page.locator("#staff-status")).to_have_text(text["ended"])  # no guest to keep
    expect(page.locator("#consent-section")).to_be_hidden()
    assert token(page) is None


def test_wrong_pins_are_counted_until_the_account_locks(
    short_idle_server: Any, new_page: Any, shoot: Any
) -> None:
    server = short_idle_server
    staff = server.new_staff("locked", pin="27182818")
    page = new_page(origin=server.url)
    page.goto(f"{server.url}/kiosk/enrol?lang=vi")
    for attempt in range(5):
        assert refused(page, staff, f"2718281{attempt}") == 401
        expect(page.locator("#signin-error")).to_have_text(TEXT["vi"]["wrong"])
    # Locked now, so even the right PIN is refused for a while, in either language.
    assert refused(page, staff, "27182818") == 429
    expect(page.locator("#signin-error")).to_contain_text(TEXT["vi"]["locked"])
    shoot(page, "kiosk-0-signin-locked")
    page.locator('.lang-switch a[hreflang="en"]').click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert refused(page, staff, "27182818") == 429
    expect(page.locator("#signin-error")).to_contain_text(TEXT["en"]["locked"])
    assert token(page) is None
    shoot(page, "kiosk-0-signin-locked")
