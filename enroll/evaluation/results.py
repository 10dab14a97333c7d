"""What an evaluation found, per engine and for the whole set, as plain JSON values."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from enroll.engines import EngineSpec
from enroll.evaluation.arrays import F64
from enroll.evaluation.dataset import Dataset
from enroll.evaluation.embedding import EmbeddedSet
from enroll.evaluation.gallery_model import modelled
from enroll.evaluation.identification import Identification, OpenSet
from enroll.evaluation.margin import MarginChoice
from enroll.evaluation.verification import Verification


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

    @property
    def ms_per_photo(self) -> float:
        """Embedding time per photo of the set (decode, detect, embed; model load included)."""
        return 1e3 * self.embedded.seconds / max(1, self.photos)

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
            "multiple_faces": self.embedded.multiple_faces,
            "people": self.people,
            "enrolable_people": self.enrolable_people,
            "ms_per_photo": self.ms_per_photo,
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
