"""Hostile images, generated in memory: the corpus that the ``hostile`` bench part
(:mod:`bench.hostile`) times and that tests/reliability/test_hostile_images.py checks
the answers of.

Truncated JPEG and PNG, a real PNG decompression bomb (50,000 x 50,000 1-bit pixels:
2.5 gigapixels, 312 MB of raw rows in a 0.3 MB file), a JPEG with a huge EXIF block (a
64 KB APP1 whose IFD has 5,000 entries with out-of-range counts and offsets and a pointer
loop, followed by 150 more 64 KB APP1 segments: 9.8 MB), CMYK, 16-bit greyscale, an
animated GIF, an SVG, a zero-byte file, and a ZIP archive named ``face.jpg``.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import numpy as np
from PIL import Image

#: The HTTP status of each problem code an image route answers a hostile image with.
STATUS = {"not_an_image": 415, "image_too_large": 413, "no_face": 422, "image_too_complex": 422}


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
    """Encode a Pillow image to bytes in memory."""
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
    """A face-free JPEG behind the hostile EXIF block and ``extra_segments`` 64 KB APP1s."""
    base = encode(scene(), "JPEG", quality=85)
    exif = hostile_exif()
    first = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    noise = np.random.default_rng(1).integers(0, 256, 65_000, dtype=np.uint8).tobytes()
    filler = b"Exif\x00\x00" + noise
    more = (b"\xff\xe1" + struct.pack(">H", len(filler) + 2) + filler) * extra_segments
    return base[:2] + first + more + base[2:]


def many_scan_jpeg(scans: int = 2000, size: int = 3000) -> bytes:
    """A progressive JPEG of a flat ``size`` x ``size`` picture whose last scan (its
    SOS segment and entropy-coded data) is repeated until the file has ``scans`` scans:
    about 100 KB for 2,000, and seconds of CPU for a decoder that walks them all (libjpeg
    only warns about the bogus progression)."""
    picture = Image.new("RGB", (size, size), (120, 130, 140))
    data = encode(picture, "JPEG", progressive=True, quality=90)
    # 0xFF 0xDA cannot occur inside entropy-coded data (a 0xFF there is stuffed with
    # 0x00), so the last SOS marker starts the last scan, which runs up to the EOI; the
    # Huffman tables defined before it stay in force for its repeats.
    if not data.endswith(b"\xff\xd9"):
        raise ValueError("a JPEG without its end marker")
    last = data[data.rfind(b"\xff\xda") : -2]
    extra = max(0, scans - data.count(b"\xff\xda"))
    return data[:-2] + last * extra + b"\xff\xd9"


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
