"""``enroll.evaluation``: the metrics on hand-made distances and embeddings whose answers
are known, and ``facekeep evaluate`` end to end on the sample faces (real engines)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from enroll import EMBEDDING_DIM, ENGINES, Embedding, EngineSpec, FaceBox, MultipleFaces, NoFace
from enroll.evaluation import (
    Dataset,
    DatasetError,
    Identification,
    Photo,
    Verification,
    choose_margin,
    default_gallery_sizes,
    distance_matrix,
    embed_dataset,
    evaluate_embeddings,
    first_photo_split,
    load_dataset,
    modelled,
    probe_gallery,
)

FACEKEEP = Path(sys.executable).parent / "facekeep"
FACES = Path(__file__).parents[1] / "data" / "faces"
PNG = b"\x89PNG\r\n\x1a\n"
F64 = npt.NDArray[np.float64]


def verification(genuine: Sequence[float], impostor: Sequence[float]) -> Verification:
    return Verification(np.sort(np.array(genuine, float)), np.sort(np.array(impostor, float)))


def square(labels: Sequence[str], pairs: dict[tuple[int, int], float], other: float) -> F64:
    """A symmetric distance matrix: ``pairs`` as given, every other pair ``other``."""
    d = np.full((len(labels), len(labels)), other)
    np.fill_diagonal(d, 0.0)
    for (i, j), value in pairs.items():
        d[i, j] = d[j, i] = value
    return d


# -- verification ----------------------------------------------------------------------


def test_fmr_fnmr_and_the_threshold_for_a_target_fmr() -> None:
    v = verification([0.2, 0.4, 0.6, 0.9], [0.5, 0.8, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7])
    assert v.fmr(0.49) == 0.0 and v.fmr(0.5) == 0.1 and v.fmr(1.0) == 0.3
    assert v.fnmr(0.2) == 0.75 and v.fnmr(0.6) == 0.25 and v.fnmr(0.9) == 0.0
    assert v.accepted_impostors(1.05) == 3
    # At most 1 in 10 impostor pairs: 0.5 accepts one, 0.8 two.
    assert v.threshold_for(0.1, 0.05) == 0.75
    assert v.threshold_for(0.1, 0.1) == 0.7
    assert v.threshold_for(0.0, 0.05) == 0.45
    thresholds, fmr, fnmr = v.det()
    assert len(thresholds) == 14
    assert np.all(np.diff(fmr) >= 0) and np.all(np.diff(fnmr) <= 0)
    assert fmr[-1] == 1.0 and fnmr[-1] == 0.0


def test_pairs_of_a_distance_matrix() -> None:
    labels = ["a", "a", "b", "c", "c", "c"]
    vectors = np.eye(6, EMBEDDING_DIM) * np.arange(1, 7)[:, None]
    d = distance_matrix(vectors, vectors)
    assert d[0, 1] == pytest.approx(np.sqrt(1 + 4))
    v = Verification.of(d, labels)
    assert (len(v.genuine), len(v.impostor)) == (1 + 3, 15 - 4)
    assert list(v.genuine) == pytest.approx(np.sqrt([1 + 4, 16 + 25, 16 + 36, 25 + 36]))
    assert v.impostor[0] == pytest.approx(np.sqrt(1 + 9))


# -- open-set identification -------------------------------------------------------------


def test_open_set_answers_right_wrong_missed_and_strangers() -> None:
    # Rows: 0 a's template, 1 b's template, 2 c's template, 3 c's second template;
    # probes: 4 of a (near a), 5 of a (nearer b: wrong person), 6 of b (a near tie
    # between b and c), 7 of c (near c's second template only), 8 a stranger near a.
    labels = ["a", "b", "c", "c", "a", "a", "b", "c", "x"]
    d = square(
        labels,
        {
            (4, 0): 0.5,
            (5, 0): 0.9,
            (5, 1): 0.6,
            (6, 1): 0.7,
            (6, 2): 0.72,
            (7, 2): 1.3,
            (7, 3): 0.4,
            (8, 0): 0.8,
        },
        other=1.5,
    )
    gallery = {"a": [0], "b": [1], "c": [2, 3]}
    probes = probe_gallery(d, labels, gallery)
    assert probes.gallery_size == 3 and len(probes.best) == 5
    plain = probes.at(1.0, 0.0)
    assert (plain.genuine, plain.right, plain.wrong, plain.missed) == (4, 3, 1, 0)
    assert (plain.strangers, plain.strangers_matched) == (1, 1)
    assert plain.genuine_acceptance == 0.75 and plain.fpir == 1.0
    # A margin of 0.05 refuses the near tie (0.70 against 0.72), not the others.
    margin = probes.at(1.0, 0.05)
    assert (margin.right, margin.wrong, margin.missed, margin.strangers_matched) == (2, 1, 1, 1)
    # A stricter threshold turns the wrong answer and the stranger into "no match".
    strict = probes.at(0.55, 0.0)
    assert (strict.right, strict.wrong, strict.missed, strict.strangers_matched) == (2, 0, 2, 0)
    assert strict.fnir == 0.5 and strict.false_answer_rate == 0.0
    fnir, fpir = probes.fnir_fpir(0.0, np.array([0.3, 0.75, 0.85]))
    assert list(fpir) == [0.0, 0.0, 1.0] and list(fnir) == [1.0, 0.25, 0.25]


def test_one_customer_has_no_second_best() -> None:
    labels = ["a", "a", "x"]
    d = square(labels, {(1, 0): 0.3, (2, 0): 0.9}, other=1.5)
    answers = probe_gallery(d, labels, {"a": [0]}).at(1.0, 0.5)
    assert (answers.right, answers.strangers_matched) == (1, 1)


def test_modelled_answers_follow_from_the_distance_distributions() -> None:
    v = verification([0.5] * 10, [1.5] * 100)
    clear = modelled(v, 50, 1.0, 0.05)
    assert (clear.genuine_acceptance, clear.wrong_rate, clear.fpir) == (1.0, 0.0, 0.0)
    # Two customers; the other one lies at 0.2 with chance 1/4, else at 1.5 or more.
    v = verification([0.5, 1.2], [0.2, 1.5, 1.6, 1.7])
    two = modelled(v, 2, 1.0, 0.1)
    assert two.genuine_acceptance == pytest.approx(0.5 * 0.75)  # the 0.5 mate, nearest
    assert two.wrong_rate == pytest.approx(0.25)  # the 0.2 stranger, for either mate
    assert two.fpir == pytest.approx(2 * 0.25 * 0.75)  # two at 0.2 are a tie: refused
    # A margin of 0.35 refuses the 0.2 customer against the 0.5 mate (too near a tie),
    # not against the 1.2 mate.
    wide = modelled(v, 2, 1.0, 0.35)
    assert wide.wrong_rate == pytest.approx(0.5 * 0.25)
    assert wide.genuine_acceptance == pytest.approx(0.5 * 0.75)


def test_the_model_agrees_with_simulated_galleries() -> None:
    rng = np.random.default_rng(3)
    v = verification(rng.normal(0.8, 0.12, 400), rng.normal(1.35, 0.12, 4000))
    size, threshold, margin = 40, 1.05, 0.03
    expected = modelled(v, size, threshold, margin)
    trials = 20_000
    mates = rng.choice(v.genuine, trials)
    others = rng.choice(v.impostor, (trials, size - 1))
    candidates = np.column_stack([mates, others])  # column 0 is the probe's own person
    order = np.argsort(candidates, axis=1)
    ranked = np.take_along_axis(candidates, order, axis=1)
    answered = (ranked[:, 0] <= threshold) & (ranked[:, 1] - ranked[:, 0] >= margin)
    right = answered & (order[:, 0] == 0)
    wrong = answered & (order[:, 0] != 0)
    strangers = np.sort(rng.choice(v.impostor, (trials, size)), axis=1)
    matched = (strangers[:, 0] <= threshold) & (strangers[:, 1] - strangers[:, 0] >= margin)
    assert right.mean() == pytest.approx(expected.genuine_acceptance, abs=0.01)
    assert wrong.mean() == pytest.approx(expected.wrong_rate, abs=0.005)
    assert matched.mean() == pytest.approx(expected.fpir, abs=0.005)
    assert expected.fpir > 0.01 and expected.wrong_rate > 0.001  # the test means something


def answers_at(margin: float, acceptance: float, false_answers: float) -> Identification:
    return Identification(100, 1.0, margin, True, acceptance, false_answers, 0.0, 0.0)


def test_the_margin_rule_buys_the_fewest_false_answers_within_one_point() -> None:
    table = {
        0.00: (0.950, 0.030),
        0.01: (0.948, 0.020),
        0.02: (0.945, 0.010),
        0.03: (0.941, 0.010),  # as few false answers, but not the smallest such margin
        0.04: (0.930, 0.000),  # fewest false answers, but 2 points of genuine acceptance
    }
    choice = choose_margin(lambda m: answers_at(m, *table[m]), 1.0, grid=list(table))
    assert choice.margin == 0.02
    assert len(choice.rows) == 5 and "0.02" in choice.reason
    free = choose_margin(lambda m: answers_at(m, 0.9, 0.0), 1.0, grid=[0.0, 0.05])
    assert free.margin == 0.0


# -- datasets and embedding ----------------------------------------------------------------


def make_photos(root: Path, layout: dict[str, int]) -> None:
    for person, count in layout.items():
        (root / person).mkdir(parents=True)
        for i in range(count):
            (root / person / f"{person}_{i + 1:04d}.jpg").write_bytes(f"{person} {i}".encode())


def test_folders_and_manifests(tmp_path: Path) -> None:
    make_photos(tmp_path / "folders", {"b": 2, "a": 1})
    (tmp_path / "folders" / "notes.txt").write_text("ignored")
    ds = load_dataset(tmp_path / "folders")
    assert ds.source == "folders" and ds.people == ["a", "b"]
    assert [p.file for p in ds.photos] == ["a/a_0001.jpg", "b/b_0001.jpg", "b/b_0002.jpg"]

    flat = tmp_path / "flat"
    flat.mkdir()
    for name in ("x1.jpg", "x2.jpg", "y1.jpg", "group.jpg"):
        (flat / name).write_bytes(b"...")
    (flat / "manifest.csv").write_text(
        "file,identity,faces\ny1.jpg,y,1\nx1.jpg,x,1\ngroup.jpg,,2\nx2.jpg,x,1\n"
    )
    ds = load_dataset(flat)
    assert ds.source == "manifest.csv" and ds.unlabelled == 1
    assert ds.people == ["y", "x"] and [p.file for p in ds.photos] == ["y1.jpg", "x1.jpg", "x2.jpg"]

    (flat / "manifest.csv").write_text("file,identity\n../secret.jpg,x\ny1.jpg,y\n")
    with pytest.raises(DatasetError) as outside:
        load_dataset(flat)
    assert outside.value.code == "invalid_dataset"
    (flat / "manifest.csv").write_text("name,person\nx1.jpg,x\n")
    with pytest.raises(DatasetError, match="columns"):
        load_dataset(flat)
    make_photos(tmp_path / "one", {"only": 3})
    with pytest.raises(DatasetError, match="at least 2"):
        load_dataset(tmp_path / "one")


class ScriptedEmbedder:
    """Embeds a photo whose bytes are ``person index`` as a chosen vector; some photos
    show two faces and some none."""

    engine: ClassVar[EngineSpec] = ENGINES["sface"]

    def __init__(self, vectors: dict[bytes, F64], crowds: set[bytes], blank: set[bytes]):
        self.vectors, self.crowds, self.blank = vectors, crowds, blank

    def _embedding(self, data: bytes) -> Embedding:
        return Embedding(vector=self.vectors[data], box=FaceBox(0, 60, 60, 0))

    def embed_enrolment(self, data: bytes) -> Embedding:
        if data in self.blank:
            raise NoFace()
        if data in self.crowds:
            raise MultipleFaces(2)
        return self._embedding(data)

    def embed_probe(self, data: bytes) -> Embedding:
        if data in self.blank:
            raise NoFace()
        return self._embedding(data)

    def count_faces(self, data: bytes) -> int:  # pragma: no cover - not used
        return 0 if data in self.blank else 2 if data in self.crowds else 1

    def warm_up(self) -> None:  # pragma: no cover - not used
        pass


def unit(angle: float) -> F64:
    """A unit vector in the plane of the first two axes (distances are chords)."""
    v = np.zeros(EMBEDDING_DIM)
    v[0], v[1] = np.cos(angle), np.sin(angle)
    return v


def test_embedding_a_set_and_evaluating_it(tmp_path: Path) -> None:
    # Four people far apart on a circle; each person's photos within 0.05 rad.
    layout = {"p0": 3, "p1": 2, "p2": 2, "p3": 1}
    make_photos(tmp_path, layout)
    vectors = {}
    for k, (person, count) in enumerate(layout.items()):
        for i in range(count):
            vectors[f"{person} {i}".encode()] = unit(k * np.pi / 2 + 0.05 * i)
    embedder = ScriptedEmbedder(vectors, crowds={b"p1 0"}, blank={b"p2 1"})
    ds = load_dataset(tmp_path)
    embedded = embed_dataset(ds, embedder)
    assert embedded.failures == {"p2/p2_0002.jpg": "no_face"}
    assert len(embedded.photo_index) == 7 and list(embedded.faces).count(2) == 1

    ev = evaluate_embeddings(ds, embedded, ENGINES["sface"], gallery_sizes=[2, 4], draws=5)
    v = ev.verification
    assert (len(v.genuine), len(v.impostor)) == (3 + 1, 21 - 4)
    assert v.genuine.max() == pytest.approx(2 * np.sin(0.05), rel=1e-9)
    assert v.impostor.min() == pytest.approx(2 * np.sin(np.pi / 4 - 0.05), rel=1e-9)
    # The largest 0.05 step below the nearest stranger (1.34): no stranger pair accepted.
    assert ev.threshold_at_target == 1.3
    assert ev.enrolable_people == 4  # p1 through their second photo
    full = ev.identification[-1]
    assert full.gallery_size == 4 and not full.modelled and full.draws == 1
    # p0's two other photos and p1's crowded first photo, all answered rightly.
    assert (full.genuine, full.right, full.wrong, full.strangers) == (3, 3, 0, 0)
    two = ev.identification[0]
    assert two.draws == 5 and two.wrong == 0 and two.strangers_matched == 0
    assert two.strangers > 0
    payload = json.dumps(ev.to_json())
    assert "no_face" in payload and "p2/p2_0002.jpg" in payload
    with pytest.raises(DatasetError) as big:
        evaluate_embeddings(ds, embedded, ENGINES["sface"], gallery_sizes=[500])
    assert big.value.code == "gallery_too_large"


def test_the_fixed_split_and_default_sizes() -> None:
    photos = [
        Photo(f"{w}{i}", w)
        for w, n in [("a", 2), ("s1", 1), ("s2", 1), ("s3", 1)]
        for i in range(n)
    ]
    enrol, kept_out = first_photo_split(Dataset("d", Path("."), tuple(photos), "folders"))
    assert enrol == ["a", "s1", "s3"] and kept_out == {"s2"}
    assert default_gallery_sizes(76) == [10, 20, 30, 40, 50, 60, 70, 76]
    assert default_gallery_sizes(6) == [3, 6]


# -- the command, on the sample faces with both real engines ------------------------------------


@pytest.mark.faces
def test_evaluate_command_on_the_sample_faces(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = subprocess.run(
        [str(FACEKEEP), "evaluate", str(FACES), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, run.stdout  # one JSON object; the table went to stderr
    summary = json.loads(lines[0])
    assert "faces (14 photos of 6 people; manifest.csv)" in run.stderr
    assert summary["dataset"] == "faces" and summary["people"] == 6 and summary["photos"] == 14
    assert set(summary["engines"]) == {"sface", "dlib"}
    for name, figures in summary["engines"].items():
        assert figures["configured"]["threshold"] == ENGINES[name].threshold
        assert figures["embedded"] == 14 and figures["no_face"] == 0
        split = figures["fixed_split"]
        assert split["wrong_person"] == 0, (name, split)
    sface = summary["engines"]["sface"]
    assert sface["at_configured_threshold"]["fmr"] == 0.0
    assert sface["fixed_split"]["genuine_acceptance"] >= 0.75

    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["unlabelled_skipped"] == 2  # the two group photos
    assert report["engines"]["sface"]["verification"]["genuine_pairs"] == 14
    for name in ("det.png", "identification_fnir_fpir.png", "identification_gallery.png"):
        assert (out / name).read_bytes().startswith(PNG), name
    markdown = (out / "report.md").read_text()
    assert "## Open-set identification" in markdown and "(det.png)" in markdown
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>")
    # Self-contained: every image inlined, nothing fetched from anywhere.
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    for src in sources:
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)
    assert not re.search(r"(href|src)=\"(?!data:)", page)
    assert "<link" not in page and "<script" not in page and "url(" not in page
    assert "faces (14 photos of 6 people" in page


def test_evaluate_command_refuses_a_folder_without_people(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(FACEKEEP), "evaluate", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["error"] == "invalid_dataset"
