"""Safe, in-memory decoding of uploaded photos into a small RGB pixel array.

Only JPEG, PNG and WebP are accepted. Size limits are enforced from the file header
*before* any pixel data is decoded, so decompression bombs are refused cheaply. Nothing is
ever written to disk.

Work is bounded too, not only bytes and pixels: a small progressive JPEG with thousands
of scans takes seconds of CPU to decode. The number of JPEG scans (SOS markers) and of
frames is checked before decoding, and each decode runs under a CPU-time budget: the
compressed data is fed to the decoder in small pieces, and when the thread's CPU time
passes the budget the decode is abandoned (:class:`ImageTooComplex`).
"""

from __future__ import annotations

import re
import struct
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageOps

from enroll.errors import ImageTooComplex, ImageTooLarge, NotAnImage

__all__ = ["DecodedImage", "ImageLimits", "decode_image"]

#: Pillow format names we let Pillow try (a JPEG with a multi-picture header opens as "MPO").
_PIL_FORMATS = ("JPEG", "PNG", "WEBP")
_ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"

#: EXIF orientations that swap width and height.
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})

#: Exceptions Pillow (and its C decoders) raise for corrupt, truncated or unsupported data.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow's "broken PNG file", "not a JPEG file", ...
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
    zlib.error,
)


@dataclass(frozen=True)
class ImageLimits:
    """Limits applied to every upload.

    ``max_bytes`` caps the encoded size, ``max_pixels`` the decoded width x height (judged
    from the header), ``working_size`` is the long side in pixels the image is shrunk to
    before face detection (images are never upscaled). ``max_scans`` caps a JPEG's scans
    (a progressive JPEG from a camera or an encoder has about ten), ``max_frames`` the
    frames of any format, and ``cpu_seconds`` the CPU time of one decode.
    """

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 50_000_000
    working_size: int = 640
    max_scans: int = 32
    max_frames: int = 16
    cpu_seconds: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "working_size", "max_scans", "max_frames"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ImageLimits.{name} must be a positive int")
        if not self.cpu_seconds > 0:
            raise ValueError("ImageLimits.cpu_seconds must be positive")


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A decoded upload: RGB pixels at working size plus how to map back to the original.

    ``pixels`` is a read-only, C-contiguous ``uint8`` array of shape (H, W, 3);
    ``scale`` is original / working (>= 1.0); ``original_size`` is (width, height) of the
    original image after applying its EXIF orientation.
    """

    pixels: npt.NDArray[np.uint8]
    scale: float
    original_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of ``pixels``."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def __repr__(self) -> str:
        return (
            f"DecodedImage(size={self.size}, scale={self.scale:.4f}, "
            f"original_size={self.original_size})"
        )


def decode_image(data: bytes, limits: ImageLimits | None = None) -> DecodedImage:
    """Decode JPEG/PNG/WebP bytes into RGB pixels shrunk to ``limits.working_size``.

    EXIF orientation is applied; alpha is composited onto a white background; 16-bit,
    palette, greyscale and CMYK images are converted to 8-bit RGB; animated PNG/WebP give
    their first frame. Raises :class:`NotAnImage` or :class:`ImageTooLarge`.
    """
    limits = limits if limits is not None else ImageLimits()
    n_bytes = len(data)
    if n_bytes == 0:
        raise NotAnImage("empty", "The upload is empty.")
    if n_bytes > limits.max_bytes:
        raise ImageTooLarge("bytes", n_bytes, limits.max_bytes)

    header_size = _sniff_header_size(data)  # raises NotAnImage for other formats
    if header_size is not None:
        _check_pixels(header_size, limits)
    if data.startswith(_JPEG_MAGIC):
        _check_jpeg_work(data, limits)

    try:
        # Second line of defence (sizes were already checked from the header above):
        # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; make it raise.
        # Note catch_warnings() swaps the process-wide filter list and is not thread-safe
        # before Python 3.14: concurrent decodes may leave this one filter installed.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _decode(data, limits)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge("pixels", None, limits.max_pixels) from None
    except (ImageTooLarge, NotAnImage):
        raise
    except _DECODE_ERRORS as exc:
        reason = "truncated" if "truncated" in str(exc) else "undecodable"
        # Deliberately not chained: Pillow messages can quote raw bytes of the upload.
        raise NotAnImage(reason) from None


class _Budgeted(BytesIO):
    """The upload, read by the decoder a piece at a time; each read checks the thread's
    CPU time against the budget, so a decode that takes too long stops mid-way."""

    def __init__(self, data: bytes, seconds: float) -> None:
        super().__init__(data)
        self._seconds = seconds
        self._start = time.thread_time()

    def check(self) -> None:
        """Raise :class:`ImageTooComplex` once the budget is spent."""
        if time.thread_time() - self._start > self._seconds:
            raise ImageTooComplex("cpu", self._seconds)

    def read(self, size: int | None = -1) -> bytes:
        self.check()
        return super().read(size)


#: Bytes of compressed data handed to the decoder at a time (Pillow's default is 64 KB):
#: the budget is checked between pieces.
_PIECE = 4 * 1024


def _decode(data: bytes, limits: ImageLimits) -> DecodedImage:
    source = _Budgeted(data, limits.cpu_seconds)
    with Image.open(source, formats=_PIL_FORMATS) as opened:
        opened.decodermaxblock = _PIECE
        return _decode_opened(opened, limits, source.check)


def _decode_opened(
    img: Image.Image, limits: ImageLimits, budget: Callable[[], None] = lambda: None
) -> DecodedImage:
    if img.format not in _ACCEPTED_FORMATS:  # pragma: no cover - formats= already restricts
        raise NotAnImage("unsupported_format")
    header_w, header_h = img.size
    _check_pixels((header_w, header_h), limits)

    frames = getattr(img, "n_frames", 1)
    if frames > limits.max_frames:
        raise ImageTooComplex("frames", limits.max_frames)
    if frames > 1:
        img.seek(0)  # animated PNG/WebP: first frame only

    orientation = _orientation(img)
    if orientation in _TRANSPOSING_ORIENTATIONS:
        original_size = (header_h, header_w)
    else:
        original_size = (header_w, header_h)
    working = _working_dims(original_size, limits.working_size)

    if img.format in ("JPEG", "MPO"):
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when that is still >= working size.
        draft_target = (
            (working[1], working[0]) if orientation in _TRANSPOSING_ORIENTATIONS else working
        )
        img.draft("RGB", draft_target)
    img.load()  # raises OSError("image file is truncated ...") for truncated data
    budget()

    if orientation not in (None, 1):
        img = _exif_transpose(img)
    img = _to_rgb(img)
    if img.size != working:
        img = img.resize(working, Image.Resampling.LANCZOS, reducing_gap=3.0)
    budget()

    pixels = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    if pixels.ndim != 3 or pixels.shape[2] != 3:  # pragma: no cover - _to_rgb guarantees RGB
        raise NotAnImage("undecodable")
    pixels.flags.writeable = False
    scale = max(original_size) / max(working)
    return DecodedImage(pixels=pixels, scale=scale, original_size=original_size)


def _sniff_header_size(data: bytes) -> tuple[int, int] | None:
    """Check the magic bytes and return (w, h) read from the header, if it can be found.

    Sizes are checked before Pillow sees the data (the WebP decoder, for one, allocates
    its canvas while *opening*). When the size cannot be read here, it is still checked
    right after ``Image.open``, which parses headers only.
    """
    if data.startswith(_PNG_SIGNATURE):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        raise NotAnImage("undecodable")
    if data.startswith(_JPEG_MAGIC):
        return _jpeg_size(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_size(data)
    raise NotAnImage("unsupported_format")


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Walk the JPEG marker segments up to the first SOFn and read its size."""
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return int(width), int(height)
        pos += 2 + length
    return None


#: The next marker after entropy-coded data: 0xFF followed by neither a stuffed zero, a
#: restart marker nor a fill byte.
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
#: Start-of-frame markers (SOF0-SOF15 without DHT, JPG and DAC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _check_jpeg_work(data: bytes, limits: ImageLimits) -> None:
    """Count the frames and scans of the first JPEG image in ``data`` (up to its EOI,
    walking over each scan's entropy-coded data) and refuse one with too many."""
    pos, end = 2, len(data)
    frames = scans = 0
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return
            pos = found.end() - 2
            continue
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:  # end of image: what follows (an MPO's next picture) is a frame
            return
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _SOF:
            frames += 1
            if frames > limits.max_frames:
                raise ImageTooComplex("frames", limits.max_frames)
        pos += 2 + length
        if marker == 0xDA:
            scans += 1
            if scans > limits.max_scans:
                raise ImageTooComplex("scans", limits.max_scans)
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return
            pos = found.end() - 2


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _check_pixels(size: tuple[int, int], limits: ImageLimits) -> None:
    pixels = size[0] * size[1]
    if pixels > limits.max_pixels:
        raise ImageTooLarge("pixels", pixels, limits.max_pixels)


def _working_dims(size: tuple[int, int], working_size: int) -> tuple[int, int]:
    width, height = size
    long_side = max(width, height)
    if long_side <= working_size:
        return width, height
    factor = working_size / long_side
    if width >= height:
        return working_size, max(1, round(height * factor))
    return max(1, round(width * factor)), working_size


def _orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(ExifTags.Base.Orientation)
    except _DECODE_ERRORS:
        return None  # unreadable EXIF: treat as unrotated rather than refusing the photo
    return value if isinstance(value, int) and 1 <= value <= 8 else None


# A hostile EXIF block makes Pillow warn once per bad tag (thousands of raw lines on
# stderr, outside the JSON logs); unreadable EXIF is already handled as "no rotation".
# Set once at import: changing filters per call would not be thread-safe.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.TiffImagePlugin")


def _exif_transpose(img: Image.Image) -> Image.Image:
    try:
        transposed = ImageOps.exif_transpose(img)
    except _DECODE_ERRORS:
        return img
    return transposed if transposed is not None else img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any decoded mode to 8-bit RGB; transparent areas become white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit (or wider) greyscale: keep the top 8 bits instead of clipping at 255.
        wide = np.asarray(img)
        if mode == "F":
            grey = np.clip(wide, 0.0, 255.0).astype(np.uint8)
        else:
            grey = (np.clip(wide.astype(np.int64), 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(np.ascontiguousarray(grey)).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
