"""Public surface, error objects and data classes (no face model needed)."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import enroll
from enroll import (
    DEFAULT_ENGINE,
    EMBEDDING_DIM,
    ENGINES,
    MODEL_NAME,
    MODEL_VERSION,
    Embedder,
    Embedding,
    EnrollError,
    FaceBox,
    FaceEmbedder,
    FaceTooSmall,
    ImageLimits,
    ImageTooLarge,
    MultipleFaces,
    NoFace,
    NotAnImage,
    engine,
    make_embedder,
)
from enroll.engines import DLIB, SFACE

ENROLL_DIR = Path(enroll.__file__).parent


def test_public_surface() -> None:
    assert set(enroll.__all__) == {
        "DEFAULT_ENGINE",
        "ENGINES",
        "EngineSpec",
        "engine",
        "make_embedder",
        "EMBEDDING_DIM",
        "MODEL_NAME",
        "MODEL_VERSION",
        "DecodedImage",
        "Embedder",
        "Embedding",
        "EnrollError",
        "FaceBox",
        "FaceEmbedder",
        "FaceTooSmall",
        "ImageLimits",
        "ImageTooLarge",
        "MultipleFaces",
        "NoFace",
        "NotAnImage",
        "decode_image",
    }
    assert EMBEDDING_DIM == 128
    assert MODEL_NAME == "dlib_face_recognition_resnet_model_v1"
    assert MODEL_VERSION.startswith("face_recognition-1.3.0/")


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_enroll_imports_no_other_project_package_and_one_face_recognition_user() -> None:
    users = []
    for path in sorted(ENROLL_DIR.glob("*.py")):
        imported = _imported_modules(path)
        assert not imported & {"vault", "keys", "api"}, path.name
        if "face_recognition" in imported or "dlib" in imported:
            users.append(path.name)
    assert users == ["embedder.py"]


def test_import_enroll_is_cheap_and_lazy() -> None:
    code = (
        "import sys, enroll\n"
        "heavy = {'face_recognition', 'dlib', 'face_recognition_models', 'vault', 'keys', 'api'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""  # no pkg_resources warning on import


@pytest.mark.parametrize(
    ("err", "code", "details"),
    [
        (NotAnImage(), "not_an_image", {"reason": "undecodable"}),
        (NotAnImage("truncated"), "not_an_image", {"reason": "truncated"}),
        (
            ImageTooLarge("pixels", 2_500_000_000, 50_000_000),
            "image_too_large",
            {"kind": "pixels", "actual": 2_500_000_000, "limit": 50_000_000},
        ),
        (NoFace(), "no_face", {}),
        (MultipleFaces(3), "multiple_faces", {"count": 3}),
        (FaceTooSmall(40, 48), "face_too_small", {"size": 40, "minimum": 48}),
    ],
)
def test_error_codes_and_details(err: EnrollError, code: str, details: dict[str, object]) -> None:
    assert isinstance(err, EnrollError) and isinstance(err, Exception)
    assert err.code == type(err).code == code
    assert err.message and str(err) == err.message
    assert err.details() == details
    assert err.to_dict() == {"code": code, "message": err.message, **details}
    assert code in repr(err)


@pytest.mark.parametrize(
    "err",
    [
        NotAnImage("truncated"),
        ImageTooLarge("bytes", 20, 10),
        NoFace(),
        MultipleFaces(2),
        FaceTooSmall(30, 48),
    ],
)
def test_errors_survive_pickling(err: EnrollError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert copy.to_dict() == err.to_dict()
    assert str(copy) == str(err)


def test_error_messages_are_human() -> None:
    assert "3 faces" in MultipleFaces(3).message
    assert "40 px" in FaceTooSmall(40, 48).message and "48 px" in FaceTooSmall(40, 48).message
    assert NoFace("custom text").message == "custom text"


def test_face_box_geometry() -> None:
    box = FaceBox(top=10, right=110, bottom=60, left=30)
    assert (box.width, box.height, box.size, box.area) == (80, 50, 50, 4000)
    with pytest.raises(AttributeError):
        box.top = 0  # type: ignore[misc]


def test_embedding_validates_copies_and_hides_vector() -> None:
    raw = np.linspace(-0.2, 0.2, EMBEDDING_DIM)
    emb = Embedding(vector=raw, box=FaceBox(1, 2, 3, 0))
    raw[0] = 42.0
    assert emb.vector[0] == pytest.approx(-0.2)  # copied
    assert emb.vector.dtype == np.float64 and not emb.vector.flags.writeable
    assert repr(emb) == "Embedding(dim=128, box=FaceBox(top=1, right=2, bottom=3, left=0))"
    assert "0.2" not in str(emb)
    with pytest.raises(ValueError):
        Embedding(vector=np.zeros(127), box=FaceBox(1, 2, 3, 0))


def test_face_embedder_validates_arguments() -> None:
    with pytest.raises(ValueError):
        FaceEmbedder(detector="mtcnn")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FaceEmbedder(min_face_size=0)
    with pytest.raises(ValueError):
        FaceEmbedder(upsample=-1)
    emb = FaceEmbedder(ImageLimits(working_size=800), min_face_size=60, upsample=2)
    assert (emb.limits.working_size, emb.min_face_size, emb.upsample) == (800, 60, 2)
    assert FaceEmbedder().detector == "hog"


class _FakeEmbedder:
    engine = SFACE

    def warm_up(self) -> None:
        pass

    def embed_enrolment(self, data: bytes) -> Embedding:
        return Embedding(vector=np.zeros(EMBEDDING_DIM), box=FaceBox(0, 1, 1, 0))

    def embed_probe(self, data: bytes) -> Embedding:
        return self.embed_enrolment(data)

    def count_faces(self, data: bytes) -> int:
        return 1


def test_fake_embedder_satisfies_protocol() -> None:
    fake: Embedder = _FakeEmbedder()
    assert isinstance(fake, Embedder)
    assert fake.count_faces(b"") == 1


def test_a_fake_without_an_engine_is_no_embedder() -> None:
    """The engine is part of the protocol: a vault must know whose embeddings it gets."""

    class Anonymous:
        def embed_enrolment(self, data: bytes) -> Embedding:
            raise NotImplementedError

        embed_probe = embed_enrolment

        def count_faces(self, data: bytes) -> int:
            return 0

        def warm_up(self) -> None:
            pass

    assert not isinstance(Anonymous(), Embedder)


def test_engines_are_described_once() -> None:
    assert DEFAULT_ENGINE is SFACE
    assert set(ENGINES) == {"sface", "dlib"}
    assert engine("dlib") is DLIB
    with pytest.raises(ValueError, match="sface"):
        engine("insightface")
    assert len({spec.model_version for spec in ENGINES.values()}) == len(ENGINES)
    assert DLIB.model_version == MODEL_VERSION
    assert make_embedder("dlib").engine is DLIB
