"""Hostile images against a real ``facekeep serve``: each is answered with its 4xx code
(within a bound on waiting, never a timed assert: how fast is the benchmark's business),
and the server's memory stays bounded.

The corpus is generated here: truncated JPEG and PNG, a real PNG decompression bomb
(50,000 x 50,000 1-bit pixels: 2.5 gigapixels, 312 MB of raw rows in a 0.3 MB file), a
JPEG with a huge EXIF block (a 64 KB APP1 whose IFD has 5,000 entries with out-of-range
counts and offsets and a pointer loop, followed by 150 more 64 KB APP1 segments: 9.8 MB),
CMYK, 16-bit greyscale, an animated GIF, an SVG, a zero-byte file, and a ZIP archive
named ``face.jpg``. Every upload route gets every image: the kiosk's match, the staff's
enrolment and face count, and the customer's re-enrolment.

Memory is the server process's peak resident set (``VmHWM`` in /proc/PID/status), read
after a warm-up (models loaded, one real match and enrolment done) and after the corpus.
The bound, +256 MB, is a tenth of what decoding the bomb alone would take (2.5 GB at one
byte a pixel) and well above what the accepted uploads need (the largest is 9.8 MB,
held a few times over while parsed, plus a 640 px working image).
"""

from __future__ import annotations

import io
import json
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.faces

#: How long a request may take before the test gives up on it: a bound on waiting that
#: catches a hang (the server's own decode budget is 2 s of CPU), not a latency target.
ANSWER_BOUND_S = 30.0
PEAK_RSS_BOUND_KB = 256 * 1024
ROUTES = ("match", "enrolment", "count", "re-enrolment")


# ------------------------------------------------------------------------------ corpus


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(side: int = 50_000) -> bytes:
    """A real decompression bomb: ``side`` x ``side`` 1-bit greyscale, all black."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed pixels
    block = row * 256
    compressor = zlib.compressobj(9)
    parts, rows = [], side
    while rows > 0:
        n = min(256, rows)
        parts.append(compressor.compress(block if n == 256 else row * n))
        rows -= n
    parts.append(compressor.flush())
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def scene(width: int = 480, height: int = 360, seed: int = 7) -> Image.Image:
    """A face-free picture: a sky gradient over noisy grass."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[: height // 2] = np.linspace(120, 230, height // 2, dtype=np.uint8)[:, None, None]
    arr[height // 2 :, :, 1] = rng.integers(90, 160, (height - height // 2, width), dtype=np.uint8)
    return Image.fromarray(arr)


def encode(img: Image.Image, fmt: str, **params: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def hostile_exif(entries: int = 5000) -> bytes:
    """An EXIF APP1 payload: Orientation 6, an Exif-IFD pointer and a next-IFD pointer
    that both loop back to IFD0, and thousands of tags claiming 2 GB of data at an
    offset past the end."""
    body = [struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0), struct.pack("<HHII", 0x8769, 4, 1, 8)]
    for i in range(2, entries):
        body.append(struct.pack("<HHII", 0x9000 + i, 7, 0x7FFFFFFF, 0xFFFFFF00))
    ifd = struct.pack("<H", entries) + b"".join(body) + struct.pack("<I", 8)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", 8) + ifd


def huge_exif_jpeg(extra_segments: int = 150) -> bytes:
    base = encode(scene(), "JPEG", quality=85)
    exif = hostile_exif()
    first = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    noise = np.random.default_rng(1).integers(0, 256, 65_000, dtype=np.uint8).tobytes()
    filler = b"Exif\x00\x00" + noise
    more = (b"\xff\xe1" + struct.pack(">H", len(filler) + 2) + filler) * extra_segments
    return base[:2] + first + more + base[2:]


def build_corpus(face_jpeg: bytes) -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, the problem code expected from an image route)."""
    picture = scene()
    png = encode(picture, "PNG")
    frames = [scene(seed=s).convert("P") for s in (1, 2, 3)]
    gif = io.BytesIO()
    frames[0].save(gif, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("face.jpg", face_jpeg)
    grey16 = Image.fromarray(np.linspace(0, 65535, 480 * 360).reshape(360, 480).astype(np.uint16))
    assert grey16.mode == "I;16"
    cmyk = picture.convert("CMYK")
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="640" '
        b'height="480"><circle cx="320" cy="240" r="100" fill="peru"/></svg>'
    )
    return {
        "truncated_jpeg": ("truncated.jpg", face_jpeg[: len(face_jpeg) // 2], "not_an_image"),
        "truncated_png": ("truncated.png", png[: len(png) // 2], "not_an_image"),
        "png_bomb_50000x50000": ("bomb.png", png_bomb(), "image_too_large"),
        "jpeg_huge_exif": ("exif.jpg", huge_exif_jpeg(), "no_face"),
        "cmyk_jpeg": ("cmyk.jpg", encode(cmyk, "JPEG", quality=85), "no_face"),
        "grey16_png": ("grey16.png", encode(grey16, "PNG"), "no_face"),
        "animated_gif": ("anim.gif", gif.getvalue(), "not_an_image"),
        "svg": ("face.svg", svg, "not_an_image"),
        "zero_bytes": ("empty.jpg", b"", "not_an_image"),
        "zip_named_jpg": ("face.jpg", archive.getvalue(), "not_an_image"),
    }


STATUS = {"not_an_image": 415, "image_too_large": 413, "no_face": 422}


# --------------------------------------------------------------------- the deployment


class Target:
    def __init__(self, server: Any, keys: Any, code: str, customer: str) -> None:
        self.server = server
        self.keys = keys
        self.code = code
        self.customer = customer
        self.client = httpx.Client(base_url=server.url, timeout=60)

    def post(self, route: str, name: str, data: bytes, timeout: float = 60.0) -> httpx.Response:
        kind = "image/png" if name.endswith(".png") else "image/jpeg"
        files = [("image", (name, data, kind))]
        auth = {"Authorization": f"Bearer {self.keys.admin}"}
        if route == "match":
            auth = {"Authorization": f"Bearer {self.keys.kiosk}"}
            return self.client.post("/v1/match", files=files, headers=auth, timeout=timeout)
        if route == "count":
            return self.client.post("/v1/faces/count", files=files, headers=auth, timeout=timeout)
        if route == "re-enrolment":
            auth = {"Authorization": f"Bearer {self.code}"}
            return self.client.put("/v1/me/templates", files=files, headers=auth, timeout=timeout)
        form = {"purposes": "checkin", "venues": "hcm-1", "notice_version": "v1", "lang": "vi"}
        return self.client.post(
            "/v1/enrolments", files=files, data=form, headers=auth, timeout=timeout
        )


@pytest.fixture(scope="module")
def corpus(face_bytes: Callable[[str], bytes]) -> dict[str, tuple[str, bytes, str]]:
    return build_corpus(face_bytes("obama_1.jpg"))


@pytest.fixture(scope="module")
def target(make_deployment: Any, face_bytes: Callable[[str], bytes]) -> Any:
    deployment = make_deployment("hostile")
    keys = deployment.keys()
    server = deployment.serve("hostile", FACEKEEP_MATCH_RATE="0", FACEKEEP_LOG_LEVEL="INFO")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post(
            "/v1/enrolments",
            files=[("image", ("obama_1.jpg", face_bytes("obama_1.jpg"), "image/jpeg"))],
            data={"purposes": "checkin", "venues": "hcm-1", "notice_version": "v1", "lang": "vi"},
            headers={"Authorization": f"Bearer {keys.admin}"},
        )
        assert r.status_code == 201, r.text
        enrolled = r.json()
    t = Target(server, keys, enrolled["access_code"], enrolled["customer"])
    # Warm up every route with a real photo: models loaded, buffers allocated.
    photo = face_bytes("obama_2.jpg")
    assert t.post("match", "obama_2.jpg", photo).json()["match"] is True
    assert t.post("count", "obama_2.jpg", photo).json() == {"faces": 1}
    assert t.post("re-enrolment", "obama_2.jpg", photo).status_code == 200
    t.baseline = server.status()  # type: ignore[attr-defined]
    t.latencies = {}  # type: ignore[attr-defined]
    yield t
    t.client.close()
    server.stop()


# ------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "name",
    [
        "truncated_jpeg",
        "truncated_png",
        "png_bomb_50000x50000",
        "jpeg_huge_exif",
        "cmyk_jpeg",
        "grey16_png",
        "animated_gif",
        "svg",
        "zero_bytes",
        "zip_named_jpg",
    ],
)
def test_hostile_image_gets_its_4xx(
    target: Any, corpus: dict[str, tuple[str, bytes, str]], name: str, route: str
) -> None:
    filename, data, code = corpus[name]
    started = time.perf_counter()
    response = target.post(route, filename, data, timeout=ANSWER_BOUND_S)
    elapsed = time.perf_counter() - started
    target.latencies[f"{name} {route}"] = round(elapsed, 3)
    if route == "count" and code == "no_face":
        # Counting faces is not an error: a decodable picture without a face has 0.
        assert response.status_code == 200, response.text
        assert response.json() == {"faces": 0}
    else:
        assert response.status_code == STATUS[code], (response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code, response.text


def test_memory_stays_bounded_and_the_service_is_intact(
    target: Any, corpus: dict[str, Any], served_embedding: Callable[[str], Any], figures: Any
) -> None:
    # Every image once more on every route, so this test stands on its own as well.
    for filename, data, _code in corpus.values():
        for route in ROUTES:
            assert target.post(route, filename, data).status_code < 500
    after = target.server.status()
    before = target.baseline
    growth = after["VmHWM"] - before["VmHWM"]
    latencies = target.latencies
    figures(
        "hostile_images",
        {
            "corpus_bytes": {k: len(v[1]) for k, v in corpus.items()},
            "latency_s": latencies,
            "latency_max_s": max(latencies.values()) if latencies else None,
            "peak_rss_kb_before": before["VmHWM"],
            "peak_rss_kb_after": after["VmHWM"],
            "peak_rss_growth_kb": growth,
            "rss_kb_after": after["VmRSS"],
            "bound_kb": PEAK_RSS_BOUND_KB,
        },
    )
    assert growth < PEAK_RSS_BOUND_KB, f"peak RSS grew by {growth} kB"
    # The customer who sent hostile re-enrolments keeps their templates: still matched.
    vector = [float(x) for x in served_embedding("obama_3")]
    r = target.client.post(
        "/v1/match",
        json={"embedding": vector},
        headers={"Authorization": f"Bearer {target.keys.kiosk}"},
    )
    assert r.status_code == 200 and r.json().get("customer") == target.customer, r.text
    assert target.client.get("/readyz").status_code == 200
    assert target.server.proc.poll() is None


def test_a_hostile_upload_writes_only_json_lines_to_the_log(
    target: Any, corpus: dict[str, tuple[str, bytes, str]]
) -> None:
    filename, data, _ = corpus["jpeg_huge_exif"]
    response = target.post("match", filename, data)
    bad = non_json_lines(target.server.log_text())
    other = [line for line in bad if not is_pillow_exif_warning(line)]
    if other or response.status_code != 422:  # not this bug: fail for real
        pytest.fail(f"other non-JSON log lines ({other[:2]}) or {response.text}")
    assert not bad, f"{len(bad)} non-JSON log lines, e.g. {bad[:2]}"


def is_pillow_exif_warning(line: str) -> bool:
    text = line.strip()
    return "TiffImagePlugin.py" in text or text.startswith('warnings.warn(f"Tag data')


def non_json_lines(text: str) -> list[str]:
    bad = []
    for line in text.splitlines():
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                bad.append(line)
    return bad
