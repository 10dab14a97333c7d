"""The margin rule: the fewest false answers for at most a point of genuine acceptance,
at the deployment's gallery size."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from enroll.evaluation.identification import Identification

#: Margins tried when choosing one (see :func:`choose_margin`).
MARGIN_GRID = tuple(round(0.01 * i, 2) for i in range(16))
#: A margin may cost at most this much genuine acceptance (1 point).
MARGIN_BUDGET = 0.01


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
