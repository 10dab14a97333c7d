"""Verification (one photo against one photo): genuine and impostor pair distances,
FMR and FNMR at a threshold, the DET curve and the threshold for a target FMR."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from enroll.evaluation.arrays import F64

DEFAULT_TARGET_FMR = 1e-4
#: Threshold grid per engine. SFace's distances spread over 0-1.4 and one 0.05 step
#: moves FNMR by a few points near its threshold; dlib's genuine and impostor distances
#: overlap within 0.35-0.60, where one 0.05 step moves FNMR by about 10 points.
THRESHOLD_STEPS: Mapping[str, float] = {"sface": 0.05, "dlib": 0.01}
#: Modelled galleries need this many impostor pairs per customer.
MODEL_PAIRS_PER_CUSTOMER = 10


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
