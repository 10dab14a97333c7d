"""How well a face engine tells people apart on an operator's own photos.

``facekeep evaluate`` runs this on a folder of consented photos, one sub-folder per person
(or a ``manifest.csv`` with ``file`` and ``identity`` columns). Every photo is embedded
once per engine and kept in memory; everything after that is arithmetic on distances, in
the vocabulary of NIST FRTE:

- **Verification** (one photo against one photo): every pair of photos is a same-person
  (genuine) or a different-person (impostor) pair. At a threshold ``t`` a pair is accepted
  when its distance is ``<= t``; FMR is the share of impostor pairs accepted, FNMR the
  share of genuine pairs refused. The threshold for a target FMR is the largest multiple
  of the engine's step at which FMR stays at or under the target.
- **Open-set identification** (a kiosk's probe against every enrolled customer). A
  customer's distance is the smallest over their templates; a probe is answered with the
  best customer only if that distance is within the threshold and the second-best
  customer is at least ``margin`` farther (the vault's rule). Genuine probes end as
  right, wrong person, or missed; strangers as matched or not. FNIR = (wrong + missed) /
  genuine probes, FPIR = strangers matched / stranger probes.

  *Measured* at gallery sizes up to the people in the set: galleries are drawn at random
  (fixed seed, repeated draws), each person enrolled with their first photo showing
  exactly one face; every other photo is a probe. *Modelled* beyond that, for the
  deployment's size: each genuine pair stands for a probe and its enrolled mate, and the
  other ``G - 1`` customers are independent draws from the impostor distances, so the
  expected answers follow from the two distributions (:func:`modelled`). The model is
  used only up to one customer per ten impostor pairs, where the distribution's tail is
  still sampled; at measured sizes both are reported, so the model can be checked.

Photos in which no face is found are counted and left out. A photo with several faces is
used as a probe with its largest face (as a kiosk does) but never enrolled (enrolment
needs exactly one face). Nothing here imports ``vault``, ``keys`` or ``api``; the
rendering is in :mod:`enroll.evaluation_report`.
"""

from __future__ import annotations

import csv
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from enroll.embedder import Embedder
from enroll.engines import ENGINES, EngineSpec
from enroll.errors import EnrollError, MultipleFaces

__all__ = [
    "DEFAULT_DEPLOYMENT_SIZE",
    "DEFAULT_DRAWS",
    "DEFAULT_SEED",
    "DEFAULT_TARGET_FMR",
    "MARGIN_BUDGET",
    "MARGIN_GRID",
    "THRESHOLD_STEPS",
    "Dataset",
    "DatasetError",
    "EmbeddedSet",
    "EngineEvaluation",
    "Evaluation",
    "Identification",
    "MarginChoice",
    "OpenSet",
    "Photo",
    "Verification",
    "choose_margin",
    "default_gallery_sizes",
    "distance_matrix",
    "embed_dataset",
    "evaluate",
    "evaluate_embeddings",
    "first_photo_split",
    "load_dataset",
    "modelled",
    "open_set",
    "probe_gallery",
]

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

DEFAULT_TARGET_FMR = 1e-4
#: Threshold grid per engine. SFace's distances spread over 0-1.4 and one 0.05 step
#: moves FNMR by a few points near its threshold; dlib's genuine and impostor distances
#: overlap within 0.35-0.60, where one 0.05 step moves FNMR by about 10 points.
THRESHOLD_STEPS: Mapping[str, float] = {"sface": 0.05, "dlib": 0.01}
#: Margins tried when choosing one (see :func:`choose_margin`).
MARGIN_GRID = tuple(round(0.01 * i, 2) for i in range(16))
#: A margin may cost at most this much genuine acceptance (1 point).
MARGIN_BUDGET = 0.01
#: The gallery size the margin is chosen for: a venue's enrolled customers.
DEFAULT_DEPLOYMENT_SIZE = 1000
#: Modelled galleries need this many impostor pairs per customer.
MODEL_PAIRS_PER_CUSTOMER = 10
DEFAULT_DRAWS = 20
DEFAULT_SEED = 20261130
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class DatasetError(ValueError):
    """The folder is not a usable evaluation set (``code`` is a stable keyword)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- the photos ------------------------------------------------------------------------


@dataclass(frozen=True)
class Photo:
    """One photo: its path relative to the dataset folder and whose face it shows."""

    file: str
    identity: str


@dataclass(frozen=True)
class Dataset:
    """Labelled photos in a folder, in a stable order (manifest order, else by name)."""

    name: str
    root: Path
    photos: tuple[Photo, ...]
    source: str  # "manifest.csv" or "folders"
    unlabelled: int = 0  # manifest rows without an identity (group photos), skipped

    @property
    def people(self) -> list[str]:
        """Identities in order of first appearance."""
        return list(dict.fromkeys(p.identity for p in self.photos))


def load_dataset(root: Path) -> Dataset:
    """Read ``root/manifest.csv`` (columns ``file`` and ``identity``; rows with an empty
    identity are skipped) if present, else one sub-folder per person.

    Raises :class:`DatasetError` for a missing manifest column, a listed file that is
    missing or outside ``root``, or fewer than two people.
    """
    root = root.resolve()
    manifest = root / "manifest.csv"
    photos: list[Photo] = []
    unlabelled = 0
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not {"file", "identity"} <= set(reader.fieldnames or ()):
                raise DatasetError(
                    "invalid_dataset", f"{manifest} needs the columns 'file' and 'identity'"
                )
            for row in reader:
                identity = (row.get("identity") or "").strip()
                name = (row.get("file") or "").strip()
                if not identity:
                    unlabelled += 1
                    continue
                path = (root / name).resolve()
                if not path.is_relative_to(root) or not path.is_file():
                    raise DatasetError(
                        "invalid_dataset", f"{manifest.name} lists {name!r}, not a file in {root}"
                    )
                photos.append(Photo(name, identity))
        source = "manifest.csv"
    else:
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
                    photos.append(Photo(f"{folder.name}/{path.name}", folder.name))
        source = "folders"
    dataset = Dataset(root.name, root, tuple(photos), source, unlabelled)
    if len(dataset.people) < 2:
        raise DatasetError(
            "invalid_dataset",
            f"{root} holds photos of {len(dataset.people)} people; at least 2 are needed "
            "(one folder per person, or a manifest.csv with file,identity)",
        )
    return dataset


@dataclass(frozen=True)
class EmbeddedSet:
    """The photos one engine could embed: ``vectors[i]`` is photo ``photo_index[i]`` of
    the dataset, in which ``faces[i]`` faces were found (1 = usable for enrolment)."""

    engine: str
    vectors: F64
    photo_index: Ints
    faces: Ints
    failures: dict[str, str] = field(default_factory=dict)  # file -> error code
    seconds: float = 0.0


def embed_dataset(
    dataset: Dataset,
    embedder: Embedder,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> EmbeddedSet:
    """Embed every photo once (largest face; exactly-one-face photos are marked so).

    A photo that cannot be read or shows no usable face is recorded in ``failures`` with
    its error code and left out; nothing here is fatal.
    """
    vectors: list[F64] = []
    index: list[int] = []
    faces: list[int] = []
    failures: dict[str, str] = {}
    started = time.perf_counter()
    for i, photo in enumerate(dataset.photos):
        if progress is not None:
            progress(i, len(dataset.photos))
        try:
            data = (dataset.root / photo.file).read_bytes()
        except OSError:
            failures[photo.file] = "unreadable"
            continue
        try:
            try:
                found = 1
                embedding = embedder.embed_enrolment(data)
            except MultipleFaces as exc:
                # Usable as a kiosk probe (largest face), never as an enrolment photo.
                found = exc.count
                embedding = embedder.embed_probe(data)
        except EnrollError as exc:
            failures[photo.file] = exc.code
            continue
        vectors.append(np.asarray(embedding.vector, dtype=np.float64))
        index.append(i)
        faces.append(found)
    if progress is not None:
        progress(len(dataset.photos), len(dataset.photos))
    return EmbeddedSet(
        engine=embedder.engine.name,
        vectors=np.array(vectors, dtype=np.float64).reshape(len(vectors), -1),
        photo_index=np.array(index, dtype=np.int64),
        faces=np.array(faces, dtype=np.int64),
        failures=failures,
        seconds=time.perf_counter() - started,
    )


def distance_matrix(a: F64, b: F64) -> F64:
    """Euclidean distances between the rows of ``a`` and the rows of ``b``."""
    a2 = np.einsum("ij,ij->i", a, a)[:, None]
    b2 = np.einsum("ij,ij->i", b, b)[None, :]
    squared: F64 = np.maximum(a2 + b2 - 2.0 * (a @ b.T), 0.0)
    return np.sqrt(squared)


# -- verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """Sorted distances of every genuine and every impostor pair."""

    genuine: F64
    impostor: F64

    @classmethod
    def of(cls, distances: F64, identities: Sequence[str]) -> Verification:
        """All pairs ``i < j`` of a square distance matrix."""
        labels = np.array(identities)
        upper = np.triu_indices(len(labels), 1)
        same = labels[upper[0]] == labels[upper[1]]
        values = distances[upper]
        return cls(np.sort(values[same]), np.sort(values[~same]))

    def fmr(self, threshold: float) -> float:
        """Share of impostor pairs at distance ``<= threshold``."""
        return self.accepted_impostors(threshold) / max(1, len(self.impostor))

    def fnmr(self, threshold: float) -> float:
        """Share of genuine pairs at distance ``> threshold``."""
        refused = len(self.genuine) - int(np.searchsorted(self.genuine, threshold, "right"))
        return refused / max(1, len(self.genuine))

    def accepted_impostors(self, threshold: float) -> int:
        """How many impostor pairs lie within ``threshold``."""
        return int(np.searchsorted(self.impostor, threshold, "right"))

    def threshold_for(self, target_fmr: float, step: float) -> float:
        """The largest multiple of ``step`` at which FMR is at most ``target_fmr``."""
        top = float(self.impostor[-1]) if len(self.impostor) else 2.0
        best = 0.0
        for k in range(1, math.ceil(top / step) + 2):
            candidate = round(k * step, 6)
            if self.fmr(candidate) > target_fmr:
                break
            best = candidate
        return best

    def det(self) -> tuple[F64, F64, F64]:
        """(thresholds, FMR, FNMR) at every distinct distance: the DET curve."""
        thresholds = np.unique(np.concatenate([self.genuine, self.impostor]))
        accepted = np.searchsorted(self.impostor, thresholds, "right")
        kept = np.searchsorted(self.genuine, thresholds, "right")
        fmr = accepted / max(1, len(self.impostor))
        fnmr = (len(self.genuine) - kept) / max(1, len(self.genuine))
        return thresholds, fmr.astype(np.float64), fnmr.astype(np.float64)

    @property
    def model_limit(self) -> int:
        """The largest gallery :func:`modelled` may stand for with these pairs."""
        return len(self.impostor) // MODEL_PAIRS_PER_CUSTOMER


# -- open-set identification -------------------------------------------------------------


def _rate(count: int, total: int) -> float:
    return count / total if total else math.nan


@dataclass(frozen=True)
class Identification:
    """What the kiosk answers at one gallery size, threshold and margin: measured (counts
    summed over the gallery draws) or modelled (expected rates; counts are 0)."""

    gallery_size: int
    threshold: float
    margin: float
    modelled: bool
    genuine_acceptance: float
    wrong_rate: float
    missed_rate: float
    fpir: float
    draws: int = 0
    genuine: int = 0
    right: int = 0
    wrong: int = 0
    missed: int = 0
    strangers: int = 0
    strangers_matched: int = 0

    @classmethod
    def counted(
        cls,
        gallery_size: int,
        threshold: float,
        margin: float,
        *,
        draws: int,
        right: int,
        wrong: int,
        missed: int,
        strangers: int,
        strangers_matched: int,
    ) -> Identification:
        """A measured result from its counts."""
        genuine = right + wrong + missed
        return cls(
            gallery_size,
            threshold,
            margin,
            False,
            _rate(right, genuine),
            _rate(wrong, genuine),
            _rate(missed, genuine),
            _rate(strangers_matched, strangers),
            draws,
            genuine,
            right,
            wrong,
            missed,
            strangers,
            strangers_matched,
        )

    @property
    def fnir(self) -> float:
        """False-negative identification rate: genuine probes not answered rightly."""
        return self.wrong_rate + self.missed_rate

    @property
    def false_answer_rate(self) -> float:
        """Wrong-person answers per genuine probe plus strangers matched per stranger
        probe: both name someone the person at the kiosk is not (NaN terms count 0)."""
        return sum(x for x in (self.wrong_rate, self.fpir) if not math.isnan(x))

    def to_json(self) -> dict[str, Any]:
        """Counts and rates (undefined rates are None; a modelled row has no counts)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        out: dict[str, Any] = {
            "gallery_size": self.gallery_size,
            "kind": "modelled" if self.modelled else "measured",
            "threshold": self.threshold,
            "margin": self.margin,
            "genuine_acceptance": clean(self.genuine_acceptance),
            "wrong_rate": clean(self.wrong_rate),
            "missed_rate": clean(self.missed_rate),
            "fnir": clean(self.fnir),
            "fpir": clean(self.fpir),
        }
        if not self.modelled:
            out.update(
                draws=self.draws,
                genuine_probes=self.genuine,
                right=self.right,
                wrong_person=self.wrong,
                missed=self.missed,
                stranger_probes=self.strangers,
                strangers_matched=self.strangers_matched,
            )
        return out


@dataclass(frozen=True)
class OpenSet:
    """Every probe of every draw at one gallery size, reduced to what a decision needs:
    the best and second-best customer distances and whether the best is the probe's own
    person. Decisions at any threshold and margin are then a vectorised comparison."""

    gallery_size: int
    draws: int
    best: F64
    second: F64
    best_is_mate: Bools
    mated: Bools

    def at(self, threshold: float, margin: float) -> Identification:
        """The kiosk's answers at ``threshold`` and ``margin``."""
        matched = (self.best <= threshold) & (self.second - self.best >= margin)
        return Identification.counted(
            self.gallery_size,
            threshold,
            margin,
            draws=self.draws,
            right=int((self.mated & matched & self.best_is_mate).sum()),
            wrong=int((self.mated & matched & ~self.best_is_mate).sum()),
            missed=int((self.mated & ~matched).sum()),
            strangers=int((~self.mated).sum()),
            strangers_matched=int((~self.mated & matched).sum()),
        )

    def fnir_fpir(self, margin: float, thresholds: F64) -> tuple[F64, F64]:
        """FNIR and FPIR at each threshold, at ``margin``."""
        rows = [self.at(float(t), margin) for t in thresholds]
        return np.array([r.fnir for r in rows]), np.array([r.fpir for r in rows])


def _decide(
    distances: F64, gallery_rows: Sequence[int], owners: Sequence[int], probe_rows: Ints
) -> tuple[F64, F64, Ints]:
    """Best and second-best customer distance (min over each customer's templates) and
    the best customer's number, for each probe row."""
    templates = np.asarray(gallery_rows, dtype=np.int64)
    owner = np.asarray(owners, dtype=np.int64)
    order = np.argsort(owner, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(owner[order]) != 0])
    sub = distances[np.ix_(probe_rows, templates[order])]
    per_customer = np.minimum.reduceat(sub, starts, axis=1)
    customers = owner[order][starts]
    if per_customer.shape[1] == 1:
        best = per_customer[:, 0]
        return best, np.full(len(best), np.inf), np.full(len(best), customers[0])
    two = np.argpartition(per_customer, 1, axis=1)[:, :2]
    d = np.take_along_axis(per_customer, two, axis=1)
    first = np.where(d[:, 0] <= d[:, 1], 0, 1)
    rows = np.arange(len(d))
    return d[rows, first], d[rows, 1 - first], customers[two[rows, first]]


def probe_gallery(
    distances: F64, labels: Sequence[str], gallery: Mapping[str, Sequence[int]]
) -> OpenSet:
    """Enrol ``gallery`` (person -> their template rows) and probe with every other row."""
    people = list(gallery)
    rows = [r for who in people for r in gallery[who]]
    owners = [k for k, who in enumerate(people) for _ in gallery[who]]
    used = set(rows)
    probes = np.array([r for r in range(len(labels)) if r not in used], dtype=np.int64)
    if len(probes) == 0:
        none = np.zeros(0, dtype=bool)
        return OpenSet(len(people), 1, np.zeros(0), np.zeros(0), none, none)
    best, second, who = _decide(distances, rows, owners, probes)
    number = {p: k for k, p in enumerate(people)}
    own = np.array([number.get(labels[r], -1) for r in probes], dtype=np.int64)
    return OpenSet(len(people), 1, best, second, who == own, own >= 0)


def open_set(
    distances: F64,
    labels: Sequence[str],
    enrolment: Mapping[str, int],
    gallery_size: int,
    *,
    draws: int,
    rng: np.random.Generator,
) -> OpenSet:
    """Measured open-set identification: ``draws`` random galleries of ``gallery_size``
    enrolable people (one draw when that is all of them), probes pooled."""
    enrolable = list(enrolment)
    if not 1 <= gallery_size <= len(enrolable):
        raise ValueError(f"gallery of {gallery_size} from {len(enrolable)} enrolable people")
    rounds = 1 if gallery_size == len(enrolable) else draws
    parts = []
    for _ in range(rounds):
        picked = sorted(rng.choice(len(enrolable), size=gallery_size, replace=False))
        gallery = {enrolable[i]: [enrolment[enrolable[i]]] for i in picked}
        parts.append(probe_gallery(distances, labels, gallery))
    return OpenSet(
        gallery_size=gallery_size,
        draws=rounds,
        best=np.concatenate([p.best for p in parts]),
        second=np.concatenate([p.second for p in parts]),
        best_is_mate=np.concatenate([p.best_is_mate for p in parts]),
        mated=np.concatenate([p.mated for p in parts]),
    )


def modelled(
    verification: Verification, gallery_size: int, threshold: float, margin: float
) -> Identification:
    """Expected open-set answers for a gallery of ``gallery_size`` customers with one
    template each, when every other customer is an independent draw from the impostor
    distances (pairs of different people) and a genuine probe's mate from the genuine
    ones. ``S(x)`` is the share of impostor distances above ``x``, ``n = G - 1``:

    - right: the mate within the threshold and every other customer beyond mate +
      margin, ``S(g + m)^n``;
    - wrong person: some impostor ``x`` nearest, within the threshold, and both the mate
      and every other customer at least ``m`` beyond it, ``n/N * S(x + m)^(n-1)`` summed
      over the impostor distances ``x <= min(t, g - m)``;
    - a stranger matched: the same sum with ``G`` customers, over ``x <= t``.
    """
    genuine, impostor = verification.genuine, verification.impostor
    total = len(impostor)
    others = gallery_size - 1

    def above(x: F64) -> F64:
        return 1.0 - np.searchsorted(impostor, x, "right") / total

    right = np.where(genuine <= threshold, above(genuine + margin) ** others, 0.0)
    near = impostor[impostor <= threshold]
    if others > 0:
        weights = others / total * above(near + margin) ** (others - 1)
        cumulative = np.concatenate([[0.0], np.cumsum(weights)])
        limit = np.minimum(threshold, genuine - margin)
        wrong = cumulative[np.searchsorted(near, limit, "left")]
    else:
        wrong = np.zeros(len(genuine))
    stranger = float((gallery_size / total * above(near + margin) ** others).sum())
    genuine_acceptance = float(right.mean())
    wrong_rate = float(wrong.mean())
    return Identification(
        gallery_size,
        threshold,
        margin,
        True,
        genuine_acceptance,
        wrong_rate,
        max(0.0, 1.0 - genuine_acceptance - wrong_rate),
        min(1.0, stranger),
    )


def first_photo_split(dataset: Dataset) -> tuple[list[str], set[str]]:
    """The fixed deployment-like split of the HTTP acceptance test: the people to enrol
    (everyone with several photos, and every other single-photo person: the 1st, 3rd,
    ... in dataset order) and the single-photo people kept out as strangers. Each is
    enrolled with their first photo showing exactly one face (someone with none stays a
    stranger); every other photo is a probe."""
    counts = Counter(p.identity for p in dataset.photos)
    singles = [who for who in dataset.people if counts[who] == 1]
    kept_out = set(singles[1::2])
    return [who for who in dataset.people if who not in kept_out], kept_out


def default_gallery_sizes(enrolable: int) -> list[int]:
    """10, 20, 30, ... below ``enrolable``, then ``enrolable`` (small sets: half, all)."""
    if enrolable <= 10:
        return sorted({max(1, enrolable // 2), enrolable})
    return [*range(10, enrolable, 10), enrolable]


# -- choosing the margin -------------------------------------------------------------------


@dataclass(frozen=True)
class MarginChoice:
    """The margin rule's table and outcome (see :func:`choose_margin`)."""

    margin: float
    threshold: float
    gallery_size: int
    modelled: bool
    budget: float
    rows: list[Identification]
    reason: str


def choose_margin(
    at: Callable[[float], Identification],
    threshold: float,
    *,
    grid: Sequence[float] = MARGIN_GRID,
    budget: float = MARGIN_BUDGET,
) -> MarginChoice:
    """The margin buying the fewest false answers for at most ``budget`` of genuine
    acceptance: among the margins in ``grid`` whose genuine acceptance ``at(margin)`` is
    at most ``budget`` below no margin's, the smallest with the fewest false answers
    (wrong-person answers plus strangers matched, :attr:`Identification.false_answer_rate`).

    ``at`` gives the answers at the deployment's gallery size. Near ties between the two
    best customers grow with the gallery, so a margin that is free among a few dozen
    people can cost many genuine answers among thousands; the rule is therefore applied
    at the deployment's size (modelled when the set has fewer people).
    """
    rows = [at(margin) for margin in grid]
    base = rows[0].genuine_acceptance
    affordable = [r for r in rows if base - r.genuine_acceptance <= budget + 1e-12]
    fewest = min(r.false_answer_rate for r in affordable)
    chosen = next(r for r in affordable if r.false_answer_rate <= fewest + 1e-12)
    kind = "modelled" if chosen.modelled else "measured"
    reason = (
        f"margin {chosen.margin:.2f} at threshold {threshold:.2f}, gallery of "
        f"{chosen.gallery_size:,} ({kind}): false answers {100 * rows[0].false_answer_rate:.2f} "
        f"% -> {100 * fewest:.2f} %, genuine acceptance {100 * base:.1f} % -> "
        f"{100 * chosen.genuine_acceptance:.1f} % (budget {100 * budget:.0f} point)"
    )
    return MarginChoice(
        chosen.margin, threshold, chosen.gallery_size, chosen.modelled, budget, rows, reason
    )


# -- one engine, then all ---------------------------------------------------------------------


@dataclass
class EngineEvaluation:
    """Everything measured for one engine on one dataset."""

    spec: EngineSpec
    embedded: EmbeddedSet
    photos: int
    people: int
    enrolable_people: int
    verification: Verification
    target_fmr: float
    step: float
    threshold_at_target: float
    identification: list[Identification]  # per gallery size, configured threshold + margin
    identification_no_margin: list[Identification]  # the same with margin 0
    model_check: list[Identification]  # modelled at the measured sizes, configured rule
    open_sets: dict[int, OpenSet]  # measured probes per gallery size
    split: Identification | None  # the acceptance test's fixed split
    margin: MarginChoice

    def answers(self, gallery_size: int, threshold: float, margin: float) -> Identification:
        """Measured answers at a measured gallery size, else modelled."""
        measured = self.open_sets.get(gallery_size)
        if measured is not None:
            return measured.at(threshold, margin)
        return modelled(self.verification, gallery_size, threshold, margin)

    def to_json(self) -> dict[str, Any]:
        """Plain values (no embedding, no distance of any single photo)."""
        v = self.verification
        return {
            "engine": self.spec.name,
            "model_version": self.spec.model_version,
            "configured": {"threshold": self.spec.threshold, "margin": self.spec.margin},
            "photos": self.photos,
            "embedded": len(self.embedded.photo_index),
            "no_face": dict(sorted(Counter(self.embedded.failures.values()).items())),
            "no_face_files": sorted(self.embedded.failures),
            "multiple_faces": int((self.embedded.faces > 1).sum()),
            "people": self.people,
            "enrolable_people": self.enrolable_people,
            "ms_per_photo": 1e3 * self.embedded.seconds / max(1, self.photos),
            "verification": {
                "genuine_pairs": len(v.genuine),
                "impostor_pairs": len(v.impostor),
                "fmr_resolution": 1.0 / max(1, len(v.impostor)),
                "genuine_distances": _percentiles(v.genuine),
                "impostor_distances": _percentiles(v.impostor),
                "at_configured_threshold": self._point(self.spec.threshold),
                "at_target_fmr": {
                    "target_fmr": self.target_fmr,
                    "step": self.step,
                    **self._point(self.threshold_at_target),
                },
                "per_threshold": self.threshold_table(),
            },
            "identification": [r.to_json() for r in self.identification],
            "identification_no_margin": [r.to_json() for r in self.identification_no_margin],
            "model_check": [r.to_json() for r in self.model_check],
            "fixed_split": self.split.to_json() if self.split else None,
            "recommended": {
                "threshold": self.threshold_at_target,
                "margin": self.margin.margin,
                "margin_rule": self.margin.reason,
                "margin_gallery_size": self.margin.gallery_size,
                "margin_table": [r.to_json() for r in self.margin.rows],
            },
        }

    def _point(self, threshold: float) -> dict[str, Any]:
        v = self.verification
        return {
            "threshold": threshold,
            "fmr": v.fmr(threshold),
            "impostor_pairs_accepted": v.accepted_impostors(threshold),
            "fnmr": v.fnmr(threshold),
        }

    def threshold_table(self) -> list[dict[str, Any]]:
        """FMR and FNMR at each step of the grid from where FNMR falls below 95 % until
        FMR passes 5 %."""
        v = self.verification
        out: list[dict[str, Any]] = []
        top = float(max(v.impostor[-1], v.genuine[-1]))
        for k in range(1, math.ceil(top / self.step) + 1):
            t = round(k * self.step, 6)
            if v.fnmr(t) >= 0.95:
                continue
            out.append(self._point(t))
            if out[-1]["fmr"] >= 0.05:
                break
        return out


def _percentiles(values: F64) -> dict[str, float]:
    p1, p50, p99 = np.percentile(values, [1, 50, 99])
    return {
        "min": float(values[0]),
        "p1": float(p1),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(values[-1]),
    }


def _enrolment_rows(embedded: EmbeddedSet, labels: Sequence[str]) -> dict[str, int]:
    """Per person, the row of their first photo showing exactly one face."""
    chosen: dict[str, int] = {}
    for row, who in enumerate(labels):
        if who not in chosen and embedded.faces[row] == 1:
            chosen[who] = row
    return chosen


def evaluate_embeddings(
    dataset: Dataset,
    embedded: EmbeddedSet,
    spec: EngineSpec,
    *,
    target_fmr: float = DEFAULT_TARGET_FMR,
    gallery_sizes: Sequence[int] | None = None,
    deployment_size: int = DEFAULT_DEPLOYMENT_SIZE,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    step: float | None = None,
) -> EngineEvaluation:
    """Verification, open-set identification, and the threshold and margin the rules
    choose, from embeddings already computed (no image work).

    Gallery sizes up to the enrolable people are measured, larger ones modelled; a size
    beyond :attr:`Verification.model_limit` raises :class:`DatasetError`
    (``gallery_too_large``). The margin is chosen at ``deployment_size``, or at the
    largest size this set can stand for if that is smaller.
    """
    labels = [dataset.photos[i].identity for i in embedded.photo_index]
    distances = distance_matrix(embedded.vectors, embedded.vectors)
    verification = Verification.of(distances, labels)
    if not len(verification.genuine) or not len(verification.impostor):
        raise DatasetError(
            "invalid_dataset",
            f"{spec.name}: need two usable photos of one person and photos of two people",
        )
    step = step if step is not None else THRESHOLD_STEPS.get(spec.name, 0.05)
    at_target = verification.threshold_for(target_fmr, step)
    enrolment = _enrolment_rows(embedded, labels)
    if len(enrolment) < 2:
        raise DatasetError("invalid_dataset", f"{spec.name}: fewer than 2 enrolable people")
    limit = max(len(enrolment), verification.model_limit)
    sizes = sorted(set(gallery_sizes or default_gallery_sizes(len(enrolment))))
    too_big = [s for s in sizes if s > limit or s < 1]
    if too_big:
        raise DatasetError(
            "gallery_too_large",
            f"{spec.name}: gallery size {too_big[0]:,} is beyond what {dataset.name} can "
            f"show: {len(enrolment)} enrolable people measured, up to {limit:,} modelled "
            f"({len(verification.impostor):,} impostor pairs, "
            f"{MODEL_PAIRS_PER_CUSTOMER} per customer)",
        )
    open_sets: dict[int, OpenSet] = {}
    for size in (s for s in sizes if s <= len(enrolment)):
        rng = np.random.default_rng([seed, size])
        open_sets[size] = open_set(distances, labels, enrolment, size, draws=draws, rng=rng)
    chosen_size = min(max(deployment_size, 1), limit)
    if chosen_size not in sizes and chosen_size > len(enrolment):
        sizes.append(chosen_size)

    def answers(size: int, threshold: float, margin: float) -> Identification:
        if size in open_sets:
            return open_sets[size].at(threshold, margin)
        if size <= len(enrolment):  # the margin's size among the measured ones
            rng = np.random.default_rng([seed, size])
            open_sets[size] = open_set(distances, labels, enrolment, size, draws=draws, rng=rng)
            return open_sets[size].at(threshold, margin)
        return modelled(verification, size, threshold, margin)

    margin = choose_margin(lambda m: answers(chosen_size, at_target, m), at_target)
    split_people, _ = first_photo_split(dataset)
    split_gallery = {who: [enrolment[who]] for who in split_people if who in enrolment}
    split = probe_gallery(distances, labels, split_gallery).at(spec.threshold, spec.margin)
    measured_sizes = [s for s in sizes if s <= len(enrolment)]
    return EngineEvaluation(
        spec=spec,
        embedded=embedded,
        photos=len(dataset.photos),
        people=len(dataset.people),
        enrolable_people=len(enrolment),
        verification=verification,
        target_fmr=target_fmr,
        step=step,
        threshold_at_target=at_target,
        identification=[answers(s, spec.threshold, spec.margin) for s in sizes],
        identification_no_margin=[answers(s, spec.threshold, 0.0) for s in sizes],
        model_check=[
            modelled(verification, s, spec.threshold, spec.margin) for s in measured_sizes
        ],
        open_sets=open_sets,
        split=split,
        margin=margin,
    )


@dataclass
class Evaluation:
    """One dataset, every engine asked for."""

    dataset: Dataset
    target_fmr: float
    draws: int
    seed: int
    deployment_size: int
    engines: list[EngineEvaluation]

    def to_json(self) -> dict[str, Any]:
        """The whole report as plain values."""
        return {
            "dataset": {
                "name": self.dataset.name,
                "path": str(self.dataset.root),
                "source": self.dataset.source,
                "photos": len(self.dataset.photos),
                "people": len(self.dataset.people),
                "unlabelled_skipped": self.dataset.unlabelled,
            },
            "target_fmr": self.target_fmr,
            "draws": self.draws,
            "seed": self.seed,
            "deployment_size": self.deployment_size,
            "engines": {e.spec.name: e.to_json() for e in self.engines},
        }


def evaluate(
    dataset: Dataset,
    embedders: Iterable[Embedder],
    *,
    target_fmr: float = DEFAULT_TARGET_FMR,
    gallery_sizes: Sequence[int] | None = None,
    deployment_size: int = DEFAULT_DEPLOYMENT_SIZE,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evaluation:
    """Embed the dataset once with each embedder (kept in memory) and evaluate each."""
    results = []
    for embedder in embedders:
        name = embedder.engine.name

        def tick(done: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, done, total)

        embedded = embed_dataset(dataset, embedder, progress=tick)
        results.append(
            evaluate_embeddings(
                dataset,
                embedded,
                ENGINES.get(name, embedder.engine),
                target_fmr=target_fmr,
                gallery_sizes=gallery_sizes,
                deployment_size=deployment_size,
                draws=draws,
                seed=seed,
            )
        )
    return Evaluation(dataset, target_fmr, draws, seed, deployment_size, results)
