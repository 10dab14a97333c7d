"""Real embeddings of the sample faces, and synthetic identities drawn around them.

Plain uniform or Gaussian noise makes a poor stand-in for faces: its distances are not
those of face_recognition's embeddings. Here every synthetic identity starts from a real
embedding of a sample photo, moved by a random offset and brought back to that real
embedding's norm, so that (as with real faces) two photos of one person lie 0.3-0.5 apart
and strangers 0.6 or more. Everything is deterministic in a seed and generated in chunks,
so any customer's vectors can be regenerated without ever storing them.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enroll import ImageLimits, decode_image

F32 = npt.NDArray[np.float32]
DIM = 128
CHUNK = 4096  # customers per generation chunk

# Where the sample photos are: the shared folder beside the project, else the test copy.
ROOT = Path(__file__).resolve().parent.parent
FACE_DIRS = (ROOT.parent / "shared" / "faces", ROOT / "tests" / "data" / "faces")
ROW1_PHOTOS = ("obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpg", "rose_leslie_1.jpg")
PROBE_PHOTO = "obama_2.jpg"  # image probes; obama_1.jpg is enrolled through the API
ENROL_PHOTOS = ("alex_lacamoire_1.jpg", "biden_2.jpg", "kit_harington_1.jpg", "rose_leslie_2.jpg")


def faces_dir() -> Path:
    """The folder of sample photos used for benchmarks."""
    for folder in FACE_DIRS:
        if folder.is_dir() and any(folder.glob("*.jpg")):
            return folder
    raise FileNotFoundError("no sample faces in ../shared/faces or tests/data/faces")


def photo_files(folder: Path) -> list[Path]:
    """The sample photos, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png", ".webp"))


def jpeg_at(data: bytes, long_side: int) -> bytes:
    """A photo re-encoded as a JPEG with the given long side (quality 90)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    scale = long_side / max(img.size)
    size = (round(img.size[0] * scale), round(img.size[1] * scale))
    out = io.BytesIO()
    img.resize(size, Image.Resampling.LANCZOS).save(out, "JPEG", quality=90)
    return out.getvalue()


def face_recognition_module() -> Any:
    """Import face_recognition quietly (the benchmark calls it directly as a baseline)."""
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
    return face_recognition


def real_embeddings(cache: Path) -> F32:
    """128-d embeddings of every face in every sample photo (cached by file contents).

    Near-duplicates (the same frame at other resolutions, under 0.12 apart) are kept once.
    """
    folder = faces_dir()
    files = photo_files(folder)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
    tag = digest.hexdigest()[:16]
    cached = cache / f"real-embeddings-{tag}.npy"
    if cached.exists():
        loaded: F32 = np.load(cached).astype(np.float32)
        return loaded
    fr = face_recognition_module()
    limits = ImageLimits(working_size=1024)
    found: list[npt.NDArray[np.float64]] = []
    for path in files:
        image = decode_image(path.read_bytes(), limits)
        pixels = np.ascontiguousarray(image.pixels, dtype=np.uint8)
        boxes = fr.face_locations(pixels, number_of_times_to_upsample=1, model="hog")
        encodings = fr.face_encodings(
            pixels, known_face_locations=boxes, num_jitters=1, model="small"
        )
        found.extend(np.asarray(e, dtype=np.float64) for e in encodings)
    kept: list[npt.NDArray[np.float64]] = []
    for vector in found:
        if all(np.linalg.norm(vector - k) >= 0.12 for k in kept):
            kept.append(vector)
    if len(kept) < 4:
        raise RuntimeError(f"only {len(kept)} distinct faces found in {folder}")
    result = np.stack(kept).astype(np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cached, result)
    return result


@dataclass(frozen=True)
class SynthParams:
    """How far things lie apart (Euclidean, like face_recognition's distance)."""

    identity_spread: float = 0.75  # typical distance between two identities of one seed
    template_noise: tuple[float, float] = (0.15, 0.30)  # template to its identity
    probe_noise: tuple[float, float] = (0.20, 0.35)  # probe to its identity


class Synth:
    """Deterministic synthetic identities around real embeddings.

    Customer ``i`` has identity base ``base(i)`` (a real embedding plus an offset,
    rescaled to the real embedding's norm) and one enrolled template at a distance drawn
    from ``template_noise``; a probe of them lies ``probe_noise`` from the base, so
    probe-to-template distances are about 0.25-0.46, as for two real photos of a person.
    """

    def __init__(self, real: F32, seed: int = 20250301, params: SynthParams | None = None):
        self.real = np.asarray(real, dtype=np.float32)
        self.seed = seed
        self.params = params or SynthParams()
        self._norms = np.linalg.norm(self.real, axis=1)

    def fingerprint(self) -> str:
        """Identifies the generated data (for caches)."""
        blob = (
            json.dumps(
                {"seed": self.seed, "params": self.params.__dict__, "chunk": CHUNK},
                sort_keys=True,
            ).encode()
            + np.ascontiguousarray(self.real).tobytes()
        )
        return hashlib.sha256(blob).hexdigest()[:16]

    def _bases_chunk(self, chunk: int, stream: int = 0) -> F32:
        rng = np.random.default_rng([self.seed, stream, chunk, 0])
        seeds = rng.integers(0, len(self.real), CHUNK)
        sigma = self.params.identity_spread / np.sqrt(2 * DIM)
        base = self.real[seeds] + rng.normal(0.0, sigma, (CHUNK, DIM)).astype(np.float32)
        base *= (self._norms[seeds] / np.linalg.norm(base, axis=1))[:, None]
        return base.astype(np.float32)

    def _noise(self, rng: np.random.Generator, n: int, lo_hi: tuple[float, float]) -> F32:
        direction = rng.normal(0.0, 1.0, (n, DIM))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        length = rng.uniform(lo_hi[0], lo_hi[1], n)
        return (direction * length[:, None]).astype(np.float32)

    def templates(self, start: int, stop: int) -> F32:
        """Enrolled templates of customers ``start`` .. ``stop - 1`` (one each)."""
        out = np.empty((max(0, stop - start), DIM), dtype=np.float32)
        pos = 0
        for chunk in range(start // CHUNK, (stop - 1) // CHUNK + 1 if stop > start else 0):
            lo, hi = max(start, chunk * CHUNK), min(stop, (chunk + 1) * CHUNK)
            base = self._bases_chunk(chunk)
            rng = np.random.default_rng([self.seed, 0, chunk, 1])
            noise = self._noise(rng, CHUNK, self.params.template_noise)
            block = base + noise
            out[pos : pos + hi - lo] = block[lo - chunk * CHUNK : hi - chunk * CHUNK]
            pos += hi - lo
        return out

    def probes(self, customers: npt.NDArray[np.int64], rng: np.random.Generator) -> F32:
        """A fresh "photo" of each listed customer (another draw around their base)."""
        customers = np.asarray(customers, dtype=np.int64)
        out = np.empty((len(customers), DIM), dtype=np.float32)
        for chunk in np.unique(customers // CHUNK):
            where = np.flatnonzero(customers // CHUNK == chunk)
            base = self._bases_chunk(int(chunk))[customers[where] - chunk * CHUNK]
            out[where] = base + self._noise(rng, len(where), self.params.probe_noise)
        return out

    def strangers(self, n: int, rng: np.random.Generator) -> F32:
        """Probes of people who were never enrolled (identities of another stream)."""
        chunk = int(rng.integers(0, 1 << 30))
        base = self._bases_chunk(chunk, stream=1)[:n]
        return (base + self._noise(rng, len(base), self.params.probe_noise)).astype(np.float32)
