"""Open-set identification modelled for galleries larger than the set: the other
customers are independent draws from the impostor distances."""

from __future__ import annotations

import numpy as np

from enroll.evaluation.arrays import F64
from enroll.evaluation.identification import Identification
from enroll.evaluation.verification import Verification


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
