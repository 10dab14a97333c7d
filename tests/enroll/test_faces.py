"""The real face model on the sample photos (marked ``faces``)."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image, ImageFile

from enroll import (
    EMBEDDING_DIM,
    Embedder,
    FaceEmbedder,
    FaceTooSmall,
    MultipleFaces,
    NoFace,
    NotAnImage,
)
from tests.enroll.imaging import encode, landscape, open_bytes

pytestmark = pytest.mark.faces

Vec = Callable[[str], npt.NDArray[np.float64]]
Bytes = Callable[[str], bytes]

SAME_PERSON = 0.5  # nearest other photo of the same person is closer than this
STRANGER = 0.6  # different people are farther apart than this
SAME_PHOTO = 0.12  # the same photo re-encoded / rotated / another format


def _manifest(faces_dir: Path) -> list[dict[str, str]]:
    with (faces_dir / "manifest.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def singles(faces_dir: Path) -> dict[str, str]:
    """file -> identity for every single-face sample photo."""
    return {r["file"]: r["identity"] for r in _manifest(faces_dir) if r["faces"] == "1"}


def dist(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    return float(np.linalg.norm(a - b))


def test_every_single_face_photo_gives_one_finite_embedding(
    singles: dict[str, str], embedder: FaceEmbedder, face_bytes: Bytes, face_embedding: Vec
) -> None:
    assert len(singles) == 14
    for name in singles:
        data = face_bytes(name)
        emb = embedder.embed_enrolment(data)  # raises unless exactly one face
        box = emb.box
        width, height = open_bytes(data).size
        assert 0 <= box.left < box.right <= width, name
        assert 0 <= box.top < box.bottom <= height, name
        assert box.size >= embedder.min_face_size, name
        assert emb.vector.shape == (EMBEDDING_DIM,) and emb.vector.dtype == np.float64
        assert np.all(np.isfinite(emb.vector)), name
        assert not emb.vector.flags.writeable
        # the probe path gives the same vector for a single-face photo
        assert np.array_equal(face_embedding(name), emb.vector), name


def test_same_person_close_and_strangers_far(singles: dict[str, str], face_embedding: Vec) -> None:
    names = sorted(singles)
    for a in names:
        same = [
            dist(face_embedding(a), face_embedding(b))
            for b in names
            if b != a and singles[b] == singles[a]
        ]
        if singles[a] == "lin_manuel_miranda":
            assert same == []  # the never-enrolled stranger has one photo only
        else:
            assert min(same) < SAME_PERSON, a
    for a, b in itertools.combinations(names, 2):
        if singles[a] != singles[b]:
            assert dist(face_embedding(a), face_embedding(b)) > STRANGER, (a, b)


def test_stranger_is_far_from_everyone(singles: dict[str, str], face_embedding: Vec) -> None:
    stranger = face_embedding("lin_manuel_miranda_1.png")
    for name in singles:
        if name != "lin_manuel_miranda_1.png":
            assert dist(stranger, face_embedding(name)) > STRANGER, name


def test_rgba_png_matches_its_jpeg_source(face_embedding: Vec) -> None:
    assert dist(face_embedding("obama_rgba_32bit.png"), face_embedding("obama_2.jpg")) < SAME_PHOTO


@pytest.mark.parametrize(
    ("group", "count"), [("group_two_people.jpg", 2), ("group_kit_rose.jpg", 2)]
)
def test_group_photo_refused_for_enrolment(
    group: str, count: int, embedder: FaceEmbedder, face_bytes: Bytes
) -> None:
    with pytest.raises(MultipleFaces) as info:
        embedder.embed_enrolment(face_bytes(group))
    assert info.value.count == count
    assert info.value.code == "multiple_faces"
    assert info.value.to_dict() == {
        "code": "multiple_faces",
        "message": info.value.message,
        "count": count,
    }
    assert embedder.count_faces(face_bytes(group)) == count


def test_group_probe_uses_largest_face(
    embedder: FaceEmbedder, face_bytes: Bytes, face_embedding: Vec
) -> None:
    for group in ("group_two_people.jpg", "group_kit_rose.jpg"):
        _, boxes = embedder.detect(face_bytes(group))
        assert boxes[0].area == max(b.area for b in boxes)
        assert embedder.embed_probe(face_bytes(group)).box == boxes[0]
    # In group_kit_rose.jpg the larger face is Kit Harington's.
    probe = face_embedding("group_kit_rose.jpg")
    assert dist(probe, face_embedding("kit_harington_1.jpg")) < SAME_PERSON
    assert dist(probe, face_embedding("kit_harington_2.jpg")) < SAME_PERSON
    assert dist(probe, face_embedding("rose_leslie_1.jpg")) > STRANGER
    assert dist(probe, face_embedding("rose_leslie_2.jpg")) > STRANGER


@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    [
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
        (3, Image.Transpose.ROTATE_180),
    ],
)
def test_exif_rotated_photo_gives_same_face(
    orientation: int,
    stored_as: Image.Transpose,
    embedder: FaceEmbedder,
    face_bytes: Bytes,
    face_embedding: Vec,
) -> None:
    upright = embedder.embed_enrolment(face_bytes("obama_2.jpg"))
    exif = Image.Exif()
    exif[0x0112] = orientation
    rotated = open_bytes(face_bytes("obama_2.jpg")).transpose(stored_as)
    data = encode(rotated, "JPEG", quality=92, exif=exif)

    emb = embedder.embed_enrolment(data)
    assert dist(emb.vector, upright.vector) < SAME_PHOTO
    for got, want in zip(
        (emb.box.top, emb.box.right, emb.box.bottom, emb.box.left),
        (upright.box.top, upright.box.right, upright.box.bottom, upright.box.left),
        strict=True,
    ):
        assert abs(got - want) <= 6

    # Without the tag the face lies on its side and HOG does not find it.
    if orientation in (6, 8):
        with pytest.raises(NoFace):
            embedder.embed_enrolment(encode(rotated, "JPEG", quality=92))


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "CMYK-JPEG", "I;16-PNG"])
def test_other_encodings_of_a_face(
    fmt: str, embedder: FaceEmbedder, face_bytes: Bytes, face_embedding: Vec
) -> None:
    src = open_bytes(face_bytes("obama_2.jpg"))
    if fmt == "WEBP":
        data, reference = encode(src, "WEBP", quality=90), face_embedding("obama_2.jpg")
        limit = SAME_PHOTO
    elif fmt == "PNG":
        data, reference = encode(src, "PNG"), face_embedding("obama_2.jpg")
        limit = 0.01
    elif fmt == "CMYK-JPEG":
        data, reference = (
            encode(src.convert("CMYK"), "JPEG", quality=92),
            face_embedding("obama_2.jpg"),
        )
        limit = SAME_PHOTO
    else:
        grey = np.asarray(src.convert("L")).astype(np.uint16) * 257
        data = encode(Image.fromarray(grey), "PNG")
        reference = embedder.embed_enrolment(encode(src.convert("L"), "PNG")).vector
        limit = 0.01
    assert dist(embedder.embed_enrolment(data).vector, reference) < limit


def test_tiny_face_is_not_found(embedder: FaceEmbedder, face_bytes: Bytes) -> None:
    # obama_small.jpg shrunk to 60 px wide: the face is ~20 px, below what HOG can see
    # even with one upsample, so this is NoFace (not FaceTooSmall).
    img = open_bytes(face_bytes("obama_small.jpg"))
    img.thumbnail((60, 60), Image.Resampling.LANCZOS)
    data = encode(img, "PNG")
    for call in (embedder.embed_enrolment, embedder.embed_probe):
        with pytest.raises(NoFace) as info:
            call(data)
        assert info.value.code == "no_face"
    assert embedder.count_faces(data) == 0


def test_small_but_detectable_face_is_too_small(embedder: FaceEmbedder, face_bytes: Bytes) -> None:
    # At 100 px wide the face is found (~36-45 px) but is under the 48 px minimum.
    img = open_bytes(face_bytes("obama_small.jpg"))
    img.thumbnail((100, 100), Image.Resampling.LANCZOS)
    data = encode(img, "PNG")
    assert embedder.count_faces(data) == 1
    for call in (embedder.embed_enrolment, embedder.embed_probe):
        with pytest.raises(FaceTooSmall) as info:
            call(data)
        err = info.value
        assert err.code == "face_too_small"
        assert err.minimum == embedder.min_face_size == 48
        assert 30 <= err.size < 48


def test_min_face_size_is_in_original_pixels(face_bytes: Bytes) -> None:
    strict = FaceEmbedder(min_face_size=300)
    data = face_bytes("obama_2.jpg")  # 417x800, face ~190 px in the original
    with pytest.raises(FaceTooSmall) as info:
        strict.embed_enrolment(data)
    assert info.value.minimum == 300
    assert 150 < info.value.size < 300
    with pytest.raises(FaceTooSmall):
        strict.embed_probe(data)
    assert strict.count_faces(data) == 1  # counting does not judge size


def test_landscape_without_faces(embedder: FaceEmbedder) -> None:
    for data in (
        encode(landscape(), "JPEG", quality=90),
        encode(Image.new("RGB", (640, 480), (255, 255, 255)), "PNG"),
    ):
        assert embedder.count_faces(data) == 0
        with pytest.raises(NoFace):
            embedder.embed_enrolment(data)
        with pytest.raises(NoFace):
            embedder.embed_probe(data)


def test_embedding_repr_hides_the_vector(embedder: FaceEmbedder, face_bytes: Bytes) -> None:
    emb = embedder.embed_enrolment(face_bytes("biden_1.jpg"))
    text = repr(emb) + str(emb) + f"{emb}"
    assert "FaceBox(" in text and "dim=128" in text
    for value in emb.vector[:8]:
        assert f"{value:.4f}"[2:] not in text
        assert repr(float(value)) not in text


def test_shared_embedder_is_thread_safe(face_bytes: Bytes, face_embedding: Vec) -> None:
    shared = FaceEmbedder()
    names = ["obama_1.jpg", "biden_2.jpg", "rose_leslie_1.jpg", "kit_harington_2.jpg"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda n: shared.embed_enrolment(face_bytes(n)), names))
    for name, emb in zip(names, results, strict=True):
        assert np.array_equal(emb.vector, face_embedding(name))


def test_face_embedder_satisfies_protocol(embedder: FaceEmbedder) -> None:
    assert isinstance(embedder, Embedder)


def test_loading_the_model_keeps_truncated_images_refused(
    embedder: FaceEmbedder, face_bytes: Bytes
) -> None:
    # face_recognition flips Pillow's LOAD_TRUNCATED_IMAGES on import; the embedder undoes it.
    embedder.warm_up()
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = face_bytes("obama_1.jpg")
    with pytest.raises(NotAnImage) as info:
        embedder.embed_enrolment(data[: len(data) * 2 // 3])
    assert info.value.reason == "truncated"
