"""Hostile and malformed uploads: exact error codes, refused fast, nothing leaked."""

from __future__ import annotations

import contextlib
import io
import time
import warnings
import zipfile
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from enroll import (
    DecodedImage,
    EnrollError,
    ImageLimits,
    ImageTooLarge,
    NotAnImage,
    decode_image,
)
from tests.enroll.imaging import (
    encode,
    jpeg_declaring,
    png_declaring,
    quadrants,
    webp_declaring,
)

# Generous: these cases are refused in milliseconds; the bound only catches a decoder
# that really tried to allocate/decode the claimed pixels.
FAST = 2.0


def _refuse(data: bytes, limits: ImageLimits | None = None) -> tuple[EnrollError, float]:
    start = time.perf_counter()
    with pytest.raises(EnrollError) as info:
        decode_image(data, limits)
    return info.value, time.perf_counter() - start


def _zip_named_jpg(payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.jpg", payload)
    return buf.getvalue()


def _svg() -> bytes:
    return (
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="100" '
        b'height="100"><circle cx="50" cy="50" r="40" fill="red"/></svg>\n'
    )


def _cases(jpeg: bytes, png: bytes) -> dict[str, tuple[bytes, str]]:
    small = quadrants(40, 30)
    return {
        "zero_bytes": (b"", "not_an_image"),
        "random_bytes": (np.random.default_rng(1).bytes(4096), "not_an_image"),
        # Seeded: random bytes may by chance hold a frame header naming a huge size.
        "jpeg_magic_then_garbage": (
            b"\xff\xd8\xff" + np.random.default_rng(3).bytes(2000),
            "not_an_image",
        ),
        "png_signature_only": (b"\x89PNG\r\n\x1a\n", "not_an_image"),
        "truncated_jpeg": (jpeg[: len(jpeg) // 2], "not_an_image"),
        "truncated_jpeg_header": (jpeg[:300], "not_an_image"),
        "truncated_png": (png[: len(png) // 2], "not_an_image"),
        "gif": (encode(small, "GIF"), "not_an_image"),
        "animated_gif": (
            encode(small, "GIF", save_all=True, append_images=[small.rotate(90)]),
            "not_an_image",
        ),
        "tiff": (encode(small, "TIFF"), "not_an_image"),
        "bmp": (encode(small, "BMP"), "not_an_image"),
        "ico": (encode(small, "ICO"), "not_an_image"),
        "svg": (_svg(), "not_an_image"),
        "zip_named_x_jpg": (_zip_named_jpg(jpeg), "not_an_image"),
        "pdf": (
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
            "not_an_image",
        ),
        "png_bomb_50000x50000": (png_declaring(50_000, 50_000), "image_too_large"),
        "png_header_8000x8000": (png_declaring(8_000, 8_000), "image_too_large"),
        "jpeg_header_65000x65000": (jpeg_declaring(65_000, 65_000), "image_too_large"),
        "jpeg_header_10000x10000": (jpeg_declaring(10_000, 10_000), "image_too_large"),
        "jpeg_header_9000x6000": (jpeg_declaring(9_000, 6_000), "image_too_large"),
        "webp_header_16000x16000": (webp_declaring(16_000, 16_000), "image_too_large"),
        "over_byte_limit": (b"\xff\xd8\xff" + bytes(15 * 1024 * 1024), "image_too_large"),
    }


CASE_IDS = list(_cases(b"\xff" * 1000, b"\x89" * 1000))


@pytest.fixture(scope="module")
def cases(face_bytes: Callable[[str], bytes]) -> dict[str, tuple[bytes, str]]:
    return _cases(face_bytes("obama_2.jpg"), face_bytes("obama_rgba_32bit.png"))


@pytest.mark.parametrize("case", CASE_IDS)
def test_hostile_input_is_refused_with_exact_code(
    case: str,
    cases: dict[str, tuple[bytes, str]],
    record_property: Callable[[str, object], None],
) -> None:
    data, code = cases[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape either
        err, seconds = _refuse(data)
    record_property("seconds", round(seconds, 4))
    assert err.code == code
    assert type(err) is (ImageTooLarge if code == "image_too_large" else NotAnImage)
    assert seconds < FAST
    # Nothing from the upload (or Pillow's message quoting it) may reach logs.
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__
    if data:
        assert repr(data[:8]) not in str(err) and data[:8].hex() not in str(err)
    assert set(err.to_dict()) >= {"code", "message"}


def test_error_reasons_and_sizes(cases: dict[str, tuple[bytes, str]]) -> None:
    def refuse(case: str) -> EnrollError:
        return _refuse(cases[case][0])[0]

    empty = refuse("zero_bytes")
    assert isinstance(empty, NotAnImage) and empty.reason == "empty"
    gif = refuse("gif")
    assert isinstance(gif, NotAnImage) and gif.reason == "unsupported_format"
    trunc = refuse("truncated_jpeg")
    assert isinstance(trunc, NotAnImage) and trunc.reason == "truncated"

    bomb = refuse("png_bomb_50000x50000")
    assert isinstance(bomb, ImageTooLarge)
    assert (bomb.kind, bomb.actual, bomb.limit) == ("pixels", 2_500_000_000, 50_000_000)
    mid = refuse("jpeg_header_9000x6000")  # below Pillow's own guard: our header check
    assert isinstance(mid, ImageTooLarge) and mid.actual == 54_000_000
    huge = refuse("jpeg_header_65000x65000")
    assert isinstance(huge, ImageTooLarge) and huge.actual == 65_000 * 65_000
    webp = refuse("webp_header_16000x16000")
    assert isinstance(webp, ImageTooLarge) and webp.actual == 256_000_000
    big = refuse("over_byte_limit")
    assert isinstance(big, ImageTooLarge)
    assert (big.kind, big.actual, big.limit) == ("bytes", 15 * 1024 * 1024 + 3, 15 * 1024 * 1024)


def test_bombs_are_refused_before_any_pixel_is_decoded(
    cases: dict[str, tuple[bytes, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for case in CASE_IDS:
        data, code = cases[case]
        if code == "image_too_large":
            assert _refuse(data)[0].code == "image_too_large", case


def test_bombs_refused_even_without_pillow_guard(
    cases: dict[str, tuple[bytes, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    for case in ("png_bomb_50000x50000", "jpeg_header_65000x65000", "webp_header_16000x16000"):
        err, seconds = _refuse(cases[case][0])
        assert err.code == "image_too_large", case
        assert seconds < FAST


@pytest.mark.parametrize(
    ("width", "height"),
    [(65_000, 65_000), (10_000, 10_000)],  # above 2x / between 1x and 2x Pillow's limit
)
def test_pillow_bomb_guard_is_mapped_too(width: int, height: int) -> None:
    # With our own pixel limit out of the way, Pillow's guard (error, or warning turned
    # into an error) must still end as ImageTooLarge, never as a decoded image.
    lenient = ImageLimits(max_pixels=10**10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        err, seconds = _refuse(jpeg_declaring(width, height), lenient)
    assert isinstance(err, ImageTooLarge)
    assert (err.kind, err.actual, err.limit) == ("pixels", None, 10**10)
    assert seconds < FAST


def test_custom_limits_refuse_real_images() -> None:
    png = encode(quadrants(2000, 1000), "PNG")
    assert _refuse(png, ImageLimits(max_pixels=1_000_000))[0].code == "image_too_large"
    assert _refuse(png, ImageLimits(max_bytes=len(png) - 1))[0].code == "image_too_large"
    assert decode_image(png, ImageLimits(max_bytes=len(png), max_pixels=2_000_000)).size == (
        640,
        320,
    )


def test_corrupt_png_crc_is_not_an_image(face_bytes: Callable[[str], bytes]) -> None:
    png = bytearray(face_bytes("obama_rgba_32bit.png"))
    png[29] ^= 0xFF  # inside the IHDR CRC
    assert _refuse(bytes(png))[0].code == "not_an_image"


_SMALL_JPEG = encode(quadrants(48, 32), "JPEG", quality=80)
_SMALL_PNG = encode(quadrants(48, 32).convert("RGBA"), "PNG")
_FUZZ_LIMITS = ImageLimits(max_pixels=1_000_000)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([_SMALL_JPEG, _SMALL_PNG]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10_000)),
)
def test_mutated_images_only_raise_enroll_errors(
    base: bytes, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(base)
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    try:
        img = decode_image(bytes(data), _FUZZ_LIMITS)
    except (NotAnImage, ImageTooLarge):
        return
    assert isinstance(img, DecodedImage)
    assert img.pixels.dtype == np.uint8 and img.pixels.ndim == 3


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_raise_enroll_errors(data: bytes) -> None:
    with contextlib.suppress(NotAnImage, ImageTooLarge):
        decode_image(data, _FUZZ_LIMITS)
