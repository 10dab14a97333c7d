"""decode_image on well-formed inputs: formats, modes, orientation, shrinking."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from enroll import DecodedImage, ImageLimits, decode_image
from tests.enroll.imaging import encode, landscape, open_bytes, quadrants


def _sample_names(faces_dir: Path) -> list[str]:
    with (faces_dir / "manifest.csv").open(newline="") as fh:
        return [row["file"] for row in csv.DictReader(fh)]


def test_every_sample_decodes_to_working_size(
    faces_dir: Path, face_bytes: Callable[[str], bytes]
) -> None:
    names = _sample_names(faces_dir)
    assert len(names) == 16
    for name in names:
        img = decode_image(face_bytes(name))
        src = open_bytes(face_bytes(name))
        h, w = img.pixels.shape[:2]
        assert img.pixels.dtype == np.uint8 and img.pixels.shape[2] == 3, name
        assert img.pixels.flags.c_contiguous and not img.pixels.flags.writeable, name
        assert img.original_size == src.size, name  # none of the samples is EXIF-rotated
        assert max(w, h) == min(640, max(src.size)), name
        assert img.scale >= 1.0
        assert img.scale == pytest.approx(max(src.size) / max(w, h))
        assert abs(w / h - src.size[0] / src.size[1]) < 0.01, name


def test_small_image_is_never_upscaled(face_bytes: Callable[[str], bytes]) -> None:
    img = decode_image(face_bytes("obama_small.jpg"))
    assert img.size == (320, 240)
    assert img.original_size == (320, 240)
    assert img.scale == 1.0


def test_decoded_pixels_match_plain_pillow(face_bytes: Callable[[str], bytes]) -> None:
    data = face_bytes("obama_small.jpg")
    ours = decode_image(data).pixels.astype(int)
    plain = np.asarray(open_bytes(data).convert("RGB")).astype(int)
    assert np.abs(ours - plain).max() == 0


def test_large_jpeg_uses_draft_and_keeps_geometry() -> None:
    data = encode(quadrants(4000, 3000), "JPEG", quality=90)
    img = decode_image(data)
    assert img.size == (640, 480)
    assert img.original_size == (4000, 3000)
    assert img.scale == pytest.approx(6.25)
    px = img.pixels.astype(int)
    assert np.abs(px[100, 100] - (255, 0, 0)).max() < 12  # top-left red
    assert np.abs(px[100, 540] - (0, 255, 0)).max() < 12  # top-right green
    assert np.abs(px[380, 100] - (0, 0, 255)).max() < 12  # bottom-left blue


def test_custom_working_size() -> None:
    img = decode_image(encode(quadrants(1000, 500), "PNG"), ImageLimits(working_size=200))
    assert img.size == (200, 100)
    assert img.scale == pytest.approx(5.0)


# Pillow's exif_transpose: orientation -> transpose applied for display. The stored image
# is built with the inverse transpose so that, displayed correctly, it is the test card.
_INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", sorted(_INVERSE))
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_orientation_is_applied(orientation: int, fmt: str) -> None:
    card = quadrants(1200, 800)
    inverse = _INVERSE[orientation]
    stored = card.transpose(inverse) if inverse is not None else card
    exif = Image.Exif()
    exif[0x0112] = orientation
    params: dict[str, object] = {"exif": exif}
    if fmt != "PNG":
        params["quality"] = 92
    img = decode_image(encode(stored, fmt, **params))
    assert img.original_size == (1200, 800)
    assert img.size == (640, 427)
    expected = np.asarray(card.resize(img.size, Image.Resampling.LANCZOS)).astype(int)
    assert np.abs(img.pixels.astype(int) - expected).mean() < 6.0


def test_rgba_alpha_is_composited_on_white() -> None:
    arr = np.zeros((50, 80, 4), dtype=np.uint8)  # black, fully transparent...
    arr[:, 40:] = (200, 10, 10, 255)  # ...except an opaque red right half
    arr[:, 20:40] = (0, 0, 0, 128)  # and a half-transparent black band
    img = decode_image(encode(Image.fromarray(arr, "RGBA"), "PNG"))
    assert tuple(img.pixels[25, 5]) == (255, 255, 255)
    assert tuple(img.pixels[25, 60]) == (200, 10, 10)
    assert all(abs(int(v) - 127) <= 1 for v in img.pixels[25, 30])


@pytest.mark.parametrize("mode", ["L", "LA", "P", "PA_like", "1", "I;16"])
def test_other_png_modes_become_rgb(mode: str) -> None:
    base = quadrants(60, 40)
    if mode == "PA_like":
        src = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
        src.info["transparency"] = 0
        data = encode(src, "PNG", transparency=0)
    elif mode == "I;16":
        grey = (np.asarray(base.convert("L")).astype(np.uint16) * 257).astype(np.uint16)
        data = encode(Image.fromarray(grey), "PNG")
    else:
        data = encode(base.convert(mode), "PNG")
    img = decode_image(data)
    assert img.pixels.shape == (40, 60, 3)
    assert img.pixels.dtype == np.uint8


def test_16_bit_greyscale_png_keeps_full_range() -> None:
    ramp = np.linspace(0, 65535, 256, dtype=np.float64).round().astype(np.uint16)
    grey16 = np.tile(ramp, (8, 1))
    data = encode(Image.fromarray(grey16), "PNG")
    assert open_bytes(data).mode.startswith("I")
    img = decode_image(data)
    assert img.pixels.shape == (8, 256, 3)
    row = img.pixels[0, :, 0].astype(int)
    assert np.array_equal(row, (ramp >> 8).astype(int))  # top 8 bits, not clipped at 255
    assert np.array_equal(img.pixels[..., 0], img.pixels[..., 1])
    assert np.array_equal(img.pixels[..., 1], img.pixels[..., 2])


def test_cmyk_jpeg_decodes_to_rgb() -> None:
    cmyk = Image.new("CMYK", (64, 48), (255, 0, 0, 0))  # pure cyan ink
    data = encode(cmyk, "JPEG", quality=95)
    assert open_bytes(data).mode == "CMYK"
    img = decode_image(data)
    assert img.pixels.shape == (48, 64, 3)
    assert np.abs(img.pixels[24, 32].astype(int) - (0, 255, 255)).max() < 10


def test_greyscale_jpeg_decodes_to_rgb() -> None:
    data = encode(landscape(900, 600).convert("L"), "JPEG")
    img = decode_image(data)
    assert img.pixels.shape == (427, 640, 3)


@pytest.mark.parametrize("lossless", [False, True])
def test_webp_decodes(lossless: bool) -> None:
    data = encode(quadrants(900, 600), "WEBP", lossless=lossless, quality=90)
    img = decode_image(data)
    assert img.original_size == (900, 600)
    assert img.size == (640, 427)
    assert np.abs(img.pixels[50, 50].astype(int) - (255, 0, 0)).max() < 16


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_image_gives_first_frame(fmt: str) -> None:
    red = Image.new("RGB", (40, 30), (255, 0, 0))
    blue = Image.new("RGB", (40, 30), (0, 0, 255))
    data = encode(red, fmt, save_all=True, append_images=[blue], duration=100, loop=0)
    assert getattr(open_bytes(data), "n_frames", 1) == 2
    img = decode_image(data)
    assert np.abs(img.pixels[15, 20].astype(int) - (255, 0, 0)).max() < 16


def test_decoding_leaves_pillow_globals_alone() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    decode_image(encode(quadrants(50, 50), "PNG"))
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_decoded_image_repr_has_no_pixels() -> None:
    img = decode_image(encode(quadrants(50, 40), "PNG"))
    assert isinstance(img, DecodedImage)
    assert repr(img) == "DecodedImage(size=(50, 40), scale=1.0000, original_size=(50, 40))"


@pytest.mark.parametrize(
    "kwargs",
    [{"max_bytes": 0}, {"max_pixels": -1}, {"working_size": 0}, {"working_size": 1.5}],
)
def test_image_limits_are_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ImageLimits(**kwargs)  # type: ignore[arg-type]


def test_image_limits_defaults() -> None:
    limits = ImageLimits()
    assert limits == ImageLimits(15 * 1024 * 1024, 50_000_000, 640)
