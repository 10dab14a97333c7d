"""In-memory image builders for the enroll tests (nothing is written to disk)."""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import numpy as np
from PIL import Image


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    """Encode a Pillow image to bytes in memory."""
    buf = BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def open_bytes(data: bytes) -> Image.Image:
    """Open image bytes with Pillow (for building variants of sample photos)."""
    img = Image.open(BytesIO(data))
    img.load()
    return img


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose IHDR declares ``width`` x ``height`` RGB pixels.

    Its IDAT holds only a few zero rows, so it is a decompression bomb in spirit: a
    decoder that trusted the header would allocate width*height*3 bytes.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * min(width, 1024)) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to claim ``width`` x ``height``."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (120, 130, 140)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    # FFC0, length(2), precision(1), height(2), width(2)
    data[sof + 5 : sof + 7] = struct.pack(">H", height)
    data[sof + 7 : sof + 9] = struct.pack(">H", width)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """A WebP (VP8X) header claiming a ``width`` x ``height`` canvas, with no image data."""
    vp8x = struct.pack("<B3x", 0) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    body = b"WEBP" + chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


def quadrants(width: int, height: int) -> Image.Image:
    """An asymmetric test card: red / green / blue / white quadrants (TL, TR, BL, BR)."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    arr[:h2, :w2] = (255, 0, 0)
    arr[:h2, w2:] = (0, 255, 0)
    arr[h2:, :w2] = (0, 0, 255)
    arr[h2:, w2:] = (255, 255, 255)
    return Image.fromarray(arr)


def landscape(width: int = 900, height: int = 600, seed: int = 7) -> Image.Image:
    """A face-free generated 'landscape': sky gradient, hills, grass noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    sky = np.stack([110 + 80 * y + 0 * x, 160 + 60 * y + 0 * x, 235 - 20 * y + 0 * x], axis=-1)
    horizon = 0.55 + 0.08 * np.sin(6.0 * x) + 0.04 * np.sin(17.0 * x + 1.0)
    ground = y > horizon
    grass = np.stack([40 + 30 * y + 0 * x, 110 + 40 * y + 0 * x, 40 + 10 * y + 0 * x], axis=-1)
    img = np.where(ground[..., None], grass, sky)
    img = img + rng.normal(0.0, 6.0, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def _jpeg_scan_units(data: bytes) -> tuple[bytes, list[bytes]]:
    """A progressive JPEG split into its header and one unit per scan (the tables before a
    scan, its SOS segment and its entropy-coded data)."""
    import re

    next_marker = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
    pos, starts, ends = 2, [], []
    while data[pos + 1] != 0xD9:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if data[pos + 1] == 0xDA:
            found = next_marker.search(data, end)
            assert found is not None
            end = found.end() - 2
            starts.append(pos)
            ends.append(end)
        pos = end
    units = [data[(ends[i - 1] if i else starts[0]) : ends[i]] for i in range(len(starts))]
    return data[: starts[0]], units


def jpeg_with_scans(scans: int, size: int = 3000) -> bytes:
    """A small progressive JPEG of a flat ``size`` x ``size`` picture whose last scan is
    repeated until the file has ``scans`` scans: each repeat is a few dozen bytes, yet
    the decoder walks every block of the picture again (libjpeg only warns about the
    bogus progression). 2,000 scans are about 150 KB and seconds of CPU to decode."""
    picture = Image.new("RGB", (size, size), (120, 130, 140))
    header, units = _jpeg_scan_units(encode(picture, "JPEG", progressive=True, quality=90))
    extra = max(0, scans - len(units))
    return header + b"".join(units) + units[-1] * extra + b"\xff\xd9"
