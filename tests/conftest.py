"""Shared fixtures: sample face photos and one real embedder per test session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from enroll import FaceEmbedder

FACES_DIR = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """Folder of sample photos (see tests/data/faces/ATTRIBUTION.md and manifest.csv)."""
    return FACES_DIR


@pytest.fixture(scope="session")
def face_bytes(faces_dir: Path) -> Callable[[str], bytes]:
    """``face_bytes("obama_1")`` or ``face_bytes("obama_1.jpg")`` -> the file's bytes."""
    cache: dict[str, bytes] = {}

    def load(name: str) -> bytes:
        if name not in cache:
            path = faces_dir / name
            if not path.suffix:
                matches = sorted(faces_dir.glob(f"{name}.*"))
                matches = [p for p in matches if p.suffix in (".jpg", ".png", ".webp")]
                if len(matches) != 1:
                    raise FileNotFoundError(f"no single sample photo named {name!r}")
                path = matches[0]
            cache[name] = path.read_bytes()
        return cache[name]

    return load


@pytest.fixture(scope="session")
def embedder() -> FaceEmbedder:
    """One real FaceEmbedder (default settings) shared by the whole session."""
    return FaceEmbedder()


@pytest.fixture(scope="session")
def face_embedding(
    embedder: FaceEmbedder, face_bytes: Callable[[str], bytes]
) -> Callable[[str], npt.NDArray[np.float64]]:
    """``face_embedding("obama_1")`` -> read-only 128-d vector of the photo's largest face.

    Each photo is embedded once per test session.
    """
    cache: dict[str, npt.NDArray[np.float64]] = {}

    def embed(name: str) -> npt.NDArray[np.float64]:
        key = Path(name).stem
        if key not in cache:
            cache[key] = embedder.embed_probe(face_bytes(name)).vector
        return cache[key]

    return embed
