"""How the report writes numbers and names the dataset (shared by tables and figures)."""

from __future__ import annotations

import math

from enroll.evaluation.results import Evaluation


def pct(x: float | None, digits: int = 1) -> str:
    """A share as a percentage (``-`` when undefined)."""
    return "-" if x is None or math.isnan(x) else f"{100 * x:.{digits}f} %"


def fmr_text(x: float) -> str:
    """A small rate such as an FMR in scientific notation (``0`` and ``-`` spelled out)."""
    if math.isnan(x):
        return "-"
    return "0" if x == 0 else f"{x:.1e}"


def dataset_line(ev: Evaluation) -> str:
    """The dataset as every table and figure names it."""
    d = ev.dataset
    return f"{d.name} ({len(d.photos)} photos of {len(d.people)} people; {d.source})"
