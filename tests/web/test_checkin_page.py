"""The check-in kiosk in Debian's Chromium with a fake camera fed videos made from the
sample photos (Y4M, written here with numpy and Pillow), against a real ``facekeep serve``
whose default webhook is a local receiver that verifies every signature.

An enrolled guest is welcomed (and handed off to the receiver), a stranger and a guest who
withdrew check-in read the same "check in at the counter", a guest who stays is checked in
once, a guest who leaves and comes back is checked in once per visit, two faces get "one
person at a time", and the sign-in refuses keys that are not for check-in at this venue.
Screenshots of both languages go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from enroll import Embedder
from tests.support import launch_server
from tests.webhook_receiver import Receiver
from vault.checkins import new_secret

FACEKEEP = Path(sys.executable).parent / "facekeep"
FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
VENUE = "hcm-q1"
W, H = 640, 480
FPS = 5
BACKGROUND = (96, 104, 116)
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


# ------------------------------------------------------------------------- fake camera


def _yuv420(image: Image.Image) -> bytes:
    """One raw I420 frame (BT.601 full range, as Y4M's default 420jpeg)."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    v = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b

    def half(plane: np.ndarray) -> np.ndarray:
        halved: np.ndarray = plane.reshape(H // 2, 2, W // 2, 2).mean(axis=(1, 3))
        return halved

    planes = [y, half(u), half(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, scenes: list[tuple[Image.Image, float]]) -> Path:
    """A Y4M video of ``(picture, seconds)`` scenes; Chromium loops it."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1\n".encode())
        for picture, seconds in scenes:
            frame = b"FRAME\n" + _yuv420(picture)
            for _ in range(max(1, round(seconds * FPS))):
                out.write(frame)
    return path


def empty_scene() -> Image.Image:
    return Image.new("RGB", (W, H), BACKGROUND)


def guest_at_the_kiosk(embedder: Embedder, name: str, share: float = 0.42) -> Image.Image:
    """The photo cropped around its face so that the face fills ``share`` of the frame's
    height, as a guest at arm's length from a tablet."""
    photo = Image.open(FACES / name).convert("RGB")
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    box = embedder.detect(buffer.getvalue())[1][0]  # type: ignore[attr-defined]
    height = box.height / share
    width = height * W / H
    cx, cy = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    left, top = round(cx - width / 2), round(cy - height / 2)
    canvas = Image.new("RGB", (round(width), round(height)), BACKGROUND)
    canvas.paste(photo, (-left, -top))
    return canvas.resize((W, H), Image.Resampling.LANCZOS)


def group_at_the_kiosk(name: str) -> Image.Image:
    photo = Image.open(FACES / name).convert("RGB")
    scale = max(W / photo.width, H / photo.height)
    photo = photo.resize((round(photo.width * scale), round(photo.height * scale)))
    return photo.crop((0, 0, W, H))


# ------------------------------------------------------------------------- the site


@dataclass
class CheckinSite:
    url: str
    admin: str
    receiver: Receiver
    videos: dict[str, Path]
    customers: dict[str, str]

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def kiosk(
        self, purposes: tuple[str, ...] = ("checkin",), venue: str = VENUE
    ) -> tuple[str, str]:
        """A new kiosk key (secret, id), one per scenario, so each is counted apart."""
        response = httpx.post(
            f"{self.url}/v1/kiosks",
            json={"venue": venue, "purposes": list(purposes), "label": "door"},
            headers=self.auth(self.admin),
        )
        assert response.status_code == 201, response.text
        return response.json()["key"], response.json()["id"]

    def outbox(self) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.url}/v1/checkins/outbox",
            params={"limit": 500},
            headers=self.auth(self.admin),
        )
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, served_embedder: Embedder
) -> Iterator[CheckinSite]:
    base = tmp_path_factory.mktemp("checkin")
    receiver = Receiver(secret=new_secret()).start()
    secret_file = base / "checkin.secret"
    secret_file.write_text(receiver.secret + "\n")
    secret_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env |= {
        "FACEKEEP_DATA_DIR": str(base / "data"),
        "FACEKEEP_LOG_LEVEL": "WARNING",
        "FACEKEEP_RETENTION_INTERVAL_SECONDS": "0",
        "FACEKEEP_CHECKIN_WEBHOOK_URL": receiver.url,
        "FACEKEEP_CHECKIN_WEBHOOK_SECRET_FILE": str(secret_file),
        "FACEKEEP_WEBHOOK_POLL_SECONDS": "0.2",
    }

    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(FACEKEEP), *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        out: dict[str, Any] = json.loads(done.stdout)
        return out

    cli("init")
    admin = cli("keys", "create-admin")["key"]
    # Not waited for yet: the videos are made while the server starts.
    server = launch_server(None, env=env, log=base / "server.log", ready=None)
    url = server.url
    videos = {
        "guest": [(guest_at_the_kiosk(served_embedder, "obama_3.jpg"), 0.4)],
        "stranger": [(guest_at_the_kiosk(served_embedder, "biden_1.jpg"), 0.4)],
        "revoked": [(guest_at_the_kiosk(served_embedder, "kit_harington_2.jpg"), 0.4)],
        "visits": [
            (guest_at_the_kiosk(served_embedder, "obama_3.jpg"), 4.0),
            (empty_scene(), 3.0),
        ],
        "group": [(group_at_the_kiosk("group_two_people.jpg"), 0.4)],
    }
    made = {name: write_y4m(base / f"{name}.y4m", scenes) for name, scenes in videos.items()}
    try:
        server.wait_ready("/readyz", timeout=150.0)
        auth = {"Authorization": f"Bearer {admin}"}
        made_venue = httpx.post(
            f"{url}/v1/venues", json={"id": VENUE, "name": "Quận 1"}, headers=auth
        )
        assert made_venue.status_code == 201, made_venue.text
        customers = {}
        for who, photos in {
            "obama": ["obama_1.jpg", "obama_2.jpg"],
            "kit": ["kit_harington_1.jpg"],
        }.items():
            enrolled = httpx.post(
                f"{url}/v1/enrolments",
                data={"purposes": "checkin", "venues": VENUE, "notice_version": "v1", "lang": "vi"},
                files=[("image", (p, (FACES / p).read_bytes(), "image/jpeg")) for p in photos],
                headers=auth,
                timeout=60,
            )
            assert enrolled.status_code == 201, enrolled.text
            customers[who] = enrolled.json()["customer"]
        revoked = httpx.post(
            f"{url}/v1/customers/{customers['kit']}/revoke",
            json={"purpose": "checkin"},
            headers=auth,
        )
        assert revoked.status_code == 200, revoked.text
        yield CheckinSite(url, admin, receiver, made, customers)
    finally:
        server.stop()
        receiver.stop()


@pytest.fixture
def kiosk_page(launch: Callable[..., Any], site: CheckinSite) -> Iterator[Callable[..., Any]]:
    """``kiosk_page(video, lang)`` -> a check-in page in a Chromium whose camera plays the
    video, checked at the end for script errors and requests leaving facekeep."""
    opened: list[tuple[Any, Any]] = []
    errors: list[str] = []
    foreign: list[str] = []

    def open_page(video: str, lang: str = "vi", query: str = "") -> Any:
        browser = launch(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={site.videos[video]}")
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((site.url + "/", "data:", "blob:"))
                else foreign.append(r.url)
            ),
        )
        page.goto(f"{site.url}/kiosk/checkin?lang={lang}{query}")
        opened.append((browser, page))
        return page

    yield open_page
    for browser, _ in opened:
        browser.close()
    assert not errors, errors
    assert not foreign, foreign


def sign_in(page: Any, key: str) -> None:
    page.fill("#kiosk-key", key)
    page.click("#signin-button")


def answered(page: Any, count: int = 1) -> str:
    """Wait until the page has shown ``count`` answers; the last one's kind."""
    page.wait_for_selector(f'body[data-answers="{count}"]', state="attached", timeout=90_000)
    kind: str = page.evaluate("document.body.dataset.lastAnswer")
    return kind


def result_text(page: Any) -> str:
    return re.sub(r"\s+", " ", page.inner_text("#result")).strip()


# ------------------------------------------------------------------------- the tests


def test_an_enrolled_guest_is_welcomed_once_and_handed_off(
    kiosk_page: Callable[..., Any],
    site: CheckinSite,
    shoot: Callable[..., Any],
    accessible: Callable[[Any], None],
) -> None:
    key, kiosk_id = site.kiosk()
    page = kiosk_page("guest", "vi")
    accessible(page)
    shoot(page, "checkin-signin")
    sign_in(page, key)
    assert answered(page) == "welcome"
    text = result_text(page)
    assert re.fullmatch(r"Chào mừng quý khách! Đã check-in lúc \d\d:\d\d", text), text
    accessible(page)
    shoot(page, "checkin-welcome", full_page=False)
    # Nothing on screen names the guest.
    html = page.content()
    assert site.customers["obama"] not in html
    # The check-in reaches the venue's system, signed, with who, where and which kiosk.
    site.receiver.wait_for(lambda ds: any(d.body.get("kiosk") == kiosk_id for d in ds))
    (delivery,) = [d for d in site.receiver.deliveries if d.body["kiosk"] == kiosk_id]
    assert delivery.readme_ok and delivery.library_ok
    assert delivery.body["customer_id"] == site.customers["obama"]
    assert delivery.body["venue"] == VENUE
    # The guest stayed in front of the camera all along: one answer, no second try.
    assert page.evaluate("document.body.dataset.answers") == "1"
    assert "L" not in (page.evaluate("document.body.dataset.trail") or "")
    # The device stays signed in (localStorage) across a reload.
    assert page.evaluate("localStorage.getItem('facekeep.checkin.key')") == key
    page.reload()
    page.wait_for_selector("#scanner:not([hidden])")
    assert page.is_hidden("#signin")


def test_a_stranger_and_a_withdrawn_guest_are_sent_to_the_counter_alike(
    kiosk_page: Callable[..., Any], site: CheckinSite, shoot: Callable[..., Any]
) -> None:
    texts = {}
    for video in ("stranger", "revoked"):
        key, kiosk_id = site.kiosk()
        page = kiosk_page(video, "en")
        sign_in(page, key)
        assert answered(page) == "no_match"
        texts[video] = result_text(page)
        if video == "stranger":
            shoot(page, "checkin-no-match", full_page=False)
        rows = [r for r in site.outbox() if r["kiosk"] == kiosk_id]
        assert rows == []  # nobody checked in, nothing handed off
    assert texts["stranger"] == "We could not recognise you: please check in at the counter"
    assert texts["revoked"] == texts["stranger"]


def test_one_checkin_per_visit(kiosk_page: Callable[..., Any], site: CheckinSite) -> None:
    key, kiosk_id = site.kiosk()
    page = kiosk_page("visits", "vi")
    sign_in(page, key)
    assert answered(page, 1) == "welcome"
    assert answered(page, 2) == "welcome"
    trail = page.evaluate("document.body.dataset.trail")
    # Every answer after the first came only after the guest had left the frame.
    assert trail.startswith("ALA"), trail
    assert "AA" not in trail, trail
    site.receiver.wait_for(
        lambda ds: len({d.webhook_id for d in ds if d.body.get("kiosk") == kiosk_id}) >= 2
    )
    ids = [r["checkin_id"] for r in site.outbox() if r["kiosk"] == kiosk_id]
    shown = int(page.evaluate("document.body.dataset.answers"))
    assert 2 <= len(ids) <= shown and len(set(ids)) == len(ids)


def test_two_faces_get_one_person_at_a_time_and_no_answer(
    kiosk_page: Callable[..., Any], site: CheckinSite, shoot: Callable[..., Any]
) -> None:
    key, _ = site.kiosk()
    page = kiosk_page("group", "en")
    sign_in(page, key)
    page.wait_for_selector('body[data-hint="hint_one"]', state="attached")
    assert page.inner_text("#hint") == "One person at a time"
    assert page.evaluate("document.body.dataset.answers") == "0"
    shoot(page, "checkin-one-person", full_page=False)
    # The guest switches the screen to Vietnamese without reloading the camera.
    page.click("#lang-switch")
    assert page.evaluate("document.documentElement.lang") == "vi"
    expect(page.locator("#hint")).to_have_text("Mỗi lần một người")


def test_only_a_checkin_key_of_this_venue_signs_the_device_in(
    kiosk_page: Callable[..., Any], site: CheckinSite
) -> None:
    marketing, _ = site.kiosk(purposes=("marketing",))
    checkin, _ = site.kiosk()
    page = kiosk_page("group", "en", query="&venue=another-venue")
    sign_in(page, "fkk_not-a-key-at-all")
    page.wait_for_selector("#signin-error:not([hidden])")
    assert page.inner_text("#signin-error") == "Wrong key, or the key was disabled."
    sign_in(page, marketing)
    expect(page.locator("#signin-error")).to_contain_text("This key cannot check guests in")
    sign_in(page, checkin)
    expect(page.locator("#signin-error")).to_contain_text("belongs to another venue")
    assert page.evaluate("localStorage.getItem('facekeep.checkin.key')") is None
    assert page.is_hidden("#scanner")


def test_the_kiosk_routes_tell_nothing_more_than_framing(site: CheckinSite) -> None:
    checkin, _ = site.kiosk()
    marketing, _ = site.kiosk(purposes=("marketing",))
    session = httpx.get(f"{site.url}/v1/kiosk/session", headers=site.auth(checkin)).json()
    assert session == {
        "venue": VENUE,
        "venue_name": "Quận 1",
        "purposes": ["checkin"],
        "checkin": True,
    }
    assert (
        httpx.get(f"{site.url}/v1/kiosk/session", headers=site.auth(marketing)).json()["checkin"]
        is False
    )
    assert (
        httpx.get(f"{site.url}/v1/kiosk/session", headers=site.auth(site.admin)).status_code == 403
    )

    def frame(picture: Image.Image, key: str = checkin) -> httpx.Response:
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=80)
        return httpx.post(
            f"{site.url}/v1/kiosk/frame",
            files={"image": ("frame.jpg", buffer.getvalue(), "image/jpeg")},
            headers=site.auth(key),
            timeout=30,
        )

    assert frame(empty_scene()).json() == {"faces": 0, "face": None, "big_enough": False}
    assert frame(group_at_the_kiosk("group_two_people.jpg")).json()["faces"] == 2
    assert frame(empty_scene(), marketing).status_code == 403
    page = httpx.get(f"{site.url}/kiosk/checkin")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and " style=" not in page.text


def test_both_languages_have_the_same_strings() -> None:
    from api.web.i18n_checkin import CHECKIN_STRINGS

    assert set(CHECKIN_STRINGS["vi"]) == set(CHECKIN_STRINGS["en"])
    assert CHECKIN_STRINGS["en"]["no_match"] == (
        "We could not recognise you: please check in at the counter"
    )
    assert CHECKIN_STRINGS["vi"]["welcome"] == "Chào mừng quý khách!"
