"""Narrower browser checks: the auditor page's proof code against the Python Merkle tree,
keyboard focus order at the kiosk, and the camera path with a fake camera that films a
sample face (the live hint comes from the server, then the photo is taken and enrolled)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import expect

from vault.audit import canonical_json
from vault.audit.merkle import MerkleTree, ProofError, leaf_hash, verify_inclusion

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def audit_page(new_page: Any, server: Any) -> Any:
    page = new_page()
    page.goto(f"{server.url}/audit")
    page.wait_for_function("() => window.FKAudit !== undefined")
    return page


def _python_verdict(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError:
        return False
    return True


def test_inclusion_proofs_are_checked_as_rfc_9162_says(audit_page: Any) -> None:
    """The page's verifier agrees with vault.audit.merkle on good proofs and on tampered ones."""
    cases = []
    for size in range(1, 18):
        tree = MerkleTree()
        leaves = [leaf_hash(f"entry {i}".encode()) for i in range(size)]
        for leaf in leaves:
            tree.append(leaf)
        root = tree.root(size)
        for index in range(size):
            proof = list(tree.inclusion_proof(index, size))
            cases.append(("good", leaves[index], index, size, proof, root))
            cases.append(("bad", leaves[index], index, size, [*proof, root], root))
            cases.append(("bad", leaf_hash(b"other"), index, size, proof, root))
            if proof:
                flipped = bytes([proof[0][0] ^ 1]) + proof[0][1:]
                cases.append(("bad", leaves[index], index, size, [flipped, *proof[1:]], root))
                cases.append(("bad", leaves[index], index, size, proof[:-1], root))
                # Another index or size: refused unless the path has the same shape.
                cases.append(("shape", leaves[index], (index + 1) % size, size, proof, root))
                cases.append(("shape", leaves[index], index, size + 1, proof, root))
    expected = [_python_verdict(*case[1:]) for case in cases]
    assert all(
        ok == (case[0] == "good")
        for case, ok in zip(cases, expected, strict=True)
        if case[0] != "shape"
    )
    results = audit_page.evaluate(
        """async (cases) => {
            const A = window.FKAudit;
            const out = [];
            for (const [leaf, index, size, proof, root] of cases) {
                out.push(await A.verifyInclusion(
                    A.fromHex(leaf), index, size, proof.map(A.fromHex), A.fromHex(root)));
            }
            return out;
        }""",
        [[c[1].hex(), c[2], c[3], [p.hex() for p in c[4]], c[5].hex()] for c in cases],
    )
    assert results == expected


def test_page_hashes_and_canonical_json_match_the_server(audit_page: Any) -> None:
    rng = random.Random(7)
    blobs = [bytes(rng.randrange(256) for _ in range(n)) for n in (0, 1, 55, 56, 63, 64, 65, 300)]
    got = audit_page.evaluate(
        """async (blobs) => {
            const A = window.FKAudit;
            const out = [];
            for (const b of blobs) {
                const bytes = new Uint8Array(b);
                out.push([A.toHex(await A.sha256(bytes)), A.toHex(A.sha256Plain(bytes))]);
            }
            return out;
        }""",
        [list(b) for b in blobs],
    )
    for blob, (webcrypto, plain) in zip(blobs, got, strict=True):
        assert webcrypto == plain == hashlib.sha256(blob).hexdigest()
    value = {
        "z": [1, 2, {"b": None, "a": True}],
        "name": 'Karaoke Hà Nội "1"\n\t\\ ✓ \u0001',
        "émoji": "🙂",
        "n": -12,
    }
    text = audit_page.evaluate("(v) => window.FKAudit.canonicalJson(v)", value)
    assert text == canonical_json(value)
    assert json.loads(text) == value


def test_kiosk_focus_follows_the_reading_order(
    new_page: Any, server: Any, counter_sign_in: Any
) -> None:
    page = new_page()
    page.goto(f"{server.url}/kiosk/enrol?lang=en")
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    counter_sign_in(page, server)
    expect(page.locator("#notice-h")).to_be_focused()
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    wanted = ["purpose-checkin", "purpose-marketing", "confirm", "consent-continue"]
    assert [i for i in order if i in wanted][:4] == wanted
    # Keyboard only: tick with the space bar, confirm with Enter.
    page.focus("#purpose-checkin")
    page.keyboard.press("Space")
    page.focus("#confirm")
    page.keyboard.press("Space")
    page.focus("#consent-continue")
    page.keyboard.press("Enter")
    expect(page.locator("#photo-h")).to_be_focused()
    expect(page.locator("#purpose-marketing")).not_to_be_checked()
    # No camera here (nor permission): the page says so and offers the file chooser.
    page.click("#camera-start")
    expect(page.locator("#hint")).to_have_text(
        "The camera cannot be used here; choose a photo file instead."
    )
    expect(page.locator("#photo-files")).to_be_focused()


def _y4m(photo: Path, out: Path, frames: int = 10) -> Path:
    """A short Y4M video (4:2:0) of one photo, for Chromium's fake camera."""
    image = Image.open(photo).convert("RGB")
    image.thumbnail((640, 480))
    width, height = image.width // 2 * 2, image.height // 2 * 2
    y, cb, cr = image.crop((0, 0, width, height)).convert("YCbCr").split()
    half = (width // 2, height // 2)
    frame = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with out.open("wb") as fh:
        fh.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            fh.write(b"FRAME\n" + frame)
    return out


@pytest.mark.faces
def test_camera_live_hint_then_capture_and_enrol(
    launch: Any, server: Any, photo: Any, tmp_path: Path, shoot: Any, counter_sign_in: Any
) -> None:
    """The fake camera films a sample face: the server's hint (over the video) says one
    face, the camera step fits a 1280 x 800 tablet without scrolling, a press takes a burst
    of 3 photos, and the enrolment succeeds; a match then finds the customer."""
    video = _y4m(photo("kit_harington_1.jpg"), tmp_path / "face.y4m")
    camera = launch(
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    )
    context = camera.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["camera"], origin=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    counted: list[str] = []
    page.on("request", lambda r: counted.append(r.url) if r.url.endswith("/faces/count") else None)
    try:
        page.goto(f"{server.url}/kiosk/enrol?lang=en")
        counter_sign_in(page, server)
        page.wait_for_timeout(1500)
        assert counted == []  # no frame leaves the page before consent
        page.check("#purpose-checkin")
        page.check("#confirm")
        page.click("#consent-continue")
        page.click("#camera-start")
        expect(page.locator("#camera")).to_be_visible()
        expect(page.locator("#hint")).to_have_text(
            "One face seen. Ready to take the photos.", timeout=30_000
        )
        expect(page.locator("#photos li")).to_have_count(0)  # seen, not captured
        expect(page.locator("#take-photo")).to_have_text("Take 3 photos")
        expect(page.locator("#take-photo")).to_be_enabled()
        # The whole step fits the tablet's screen, and the hint sits over the video.
        fits = page.evaluate("document.documentElement.scrollHeight <= window.innerHeight")
        assert fits, page.evaluate("document.documentElement.scrollHeight")
        video_box = page.locator("#camera").bounding_box()
        hint_box = page.locator("#hint").bounding_box()
        assert video_box and hint_box
        assert video_box["y"] <= hint_box["y"]
        assert hint_box["y"] + hint_box["height"] <= video_box["y"] + video_box["height"]
        page.screenshot(path=str(SHOTS / "kiosk-3-camera-en-tablet.png"))
        shoot(page, "kiosk-3-camera")
        page.click("#take-photo")
        expect(page.locator("#photos li p.ok")).to_have_count(3, timeout=60_000)
        expect(page.locator("#photos-h")).to_have_text("Usable photos (3 of 5)")
        page.click("#enrol")
        expect(page.locator("#done-section")).to_be_visible(timeout=60_000)
        expect(page.locator("#camera")).to_be_hidden()  # the camera is off again
        tracks = page.evaluate(
            "() => { const v = document.getElementById('camera'); return v.srcObject ? 1 : 0 }"
        )
        assert tracks == 0
        code = page.locator("#access-code").inner_text().strip()
    finally:
        context.close()
    assert not errors, errors
    assert code
    hit = server.match(photo("kit_harington_2.jpg").read_bytes())
    assert hit["match"] is True
