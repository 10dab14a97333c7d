"""Image decoding is bounded in work, not only in bytes and pixels: a small progressive
JPEG with thousands of scans is refused before decoding (too many scans), a file with
too many frames likewise, and any decode that runs past its CPU-time budget is abandoned
mid-way with ``image_too_complex`` (422 over HTTP)."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from enroll import ImageLimits, decode_image
from enroll.errors import ImageTooComplex
from tests.enroll.imaging import encode, jpeg_with_scans


def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding() -> None:
    data = jpeg_with_scans(2000)
    assert len(data) < 200_000  # small: the byte and pixel limits let it through
    started = time.thread_time()
    with pytest.raises(ImageTooComplex) as caught:
        decode_image(data)
    assert caught.value.code == "image_too_complex"
    assert (caught.value.kind, caught.value.limit) == ("scans", 32)
    assert time.thread_time() - started < 0.5  # refused by counting, not by decoding
    # An ordinary progressive photo (about ten scans) decodes.
    assert decode_image(jpeg_with_scans(10, size=800)).size == (640, 640)


def test_a_decode_past_its_cpu_budget_is_abandoned_mid_way() -> None:
    data = jpeg_with_scans(2000)
    limits = ImageLimits(max_scans=100_000, cpu_seconds=0.3)
    started = time.thread_time()
    with pytest.raises(ImageTooComplex) as caught:
        decode_image(data, limits)
    spent = time.thread_time() - started
    assert (caught.value.kind, caught.value.limit) == ("cpu", 0.3)
    # Stopped near the budget (the compressed data is fed a few KB at a time), far
    # short of the whole decode, which walks the picture's blocks 2,000 times.
    assert spent < 0.3 + 1.5, spent


def test_too_many_frames_are_refused() -> None:
    frames = [Image.new("RGB", (64, 64), (i, i, i)) for i in range(20)]
    animated = encode(frames[0], "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageTooComplex) as caught:
        decode_image(animated)
    assert (caught.value.kind, caught.value.limit) == ("frames", 16)
    few = encode(frames[0], "PNG", save_all=True, append_images=frames[1:3])
    assert decode_image(few).size == (64, 64)
