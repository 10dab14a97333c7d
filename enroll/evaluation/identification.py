"""Measured open-set identification: random galleries of the set's people, every other
photo a probe, and the kiosk's answers (right, wrong person, missed, stranger matched)
at any threshold and margin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from enroll.evaluation.arrays import F64, Bools, Ints


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


def default_gallery_sizes(enrolable: int) -> list[int]:
    """10, 20, 30, ... below ``enrolable``, then ``enrolable`` (small sets: half, all)."""
    if enrolable <= 10:
        return sorted({max(1, enrolable // 2), enrolable})
    return [*range(10, enrolable, 10), enrolable]
