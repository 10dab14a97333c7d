"""The report of ``facekeep evaluate``: a terminal table, report.json, report.md, the
figures (PNG) and a self-contained report.html.

The Markdown and HTML files are rendered from one list of blocks, so they never
disagree. Figures follow NIST FRTE: a DET curve (FNMR against FMR, both on log axes,
every engine on one plot) and open-set identification (FNIR against FPIR, and the
kiosk's answers against gallery size). Every figure and table names the dataset and the
threshold its numbers belong to. matplotlib is driven through its object interface on
the Agg canvas (no pyplot, no global backend), imported only when figures are drawn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from enroll.evaluation.dataset import load_dataset
from enroll.evaluation.documents import markdown, page
from enroll.evaluation.figures import FIGURES, plot_det, plot_fnir_fpir, plot_gallery
from enroll.evaluation.pipeline import DEFAULT_DEPLOYMENT_SIZE, evaluate
from enroll.evaluation.results import Evaluation
from enroll.evaluation.tables import blocks, terminal
from enroll.evaluation.verification import DEFAULT_TARGET_FMR

__all__ = ["FIGURES", "blocks", "markdown", "page", "run", "summary", "terminal", "write_report"]


def write_report(ev: Evaluation, out: Path) -> dict[str, Path]:
    """Write report.json, the figures, report.md and report.html into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"report.json": out / "report.json"}
    files["report.json"].write_text(json.dumps(ev.to_json(), indent=2) + "\n")
    images = {
        "det.png": plot_det(ev, out / "det.png"),
        "identification_fnir_fpir.png": plot_fnir_fpir(ev, out / "identification_fnir_fpir.png"),
        "identification_gallery.png": plot_gallery(ev, out / "identification_gallery.png"),
    }
    files.update({name: out / name for name in images})
    parts = blocks(ev, list(images))
    files["report.md"] = out / "report.md"
    files["report.md"].write_text(markdown(parts))
    files["report.html"] = out / "report.html"
    files["report.html"].write_text(page(parts, images))
    return files


def summary(ev: Evaluation) -> dict[str, Any]:
    """The command's one JSON object: per engine the headline figures, each beside its
    threshold and the dataset."""
    engines: dict[str, Any] = {}
    for e in ev.engines:
        v = e.verification
        measured = [r for r in e.identification if not r.modelled]
        engines[e.spec.name] = {
            "configured": {"threshold": e.spec.threshold, "margin": e.spec.margin},
            "embedded": len(e.embedded.photo_index),
            "no_face": len(e.embedded.failures),
            "multiple_faces": e.embedded.multiple_faces,
            "at_configured_threshold": {
                "threshold": e.spec.threshold,
                "fmr": v.fmr(e.spec.threshold),
                "fnmr": v.fnmr(e.spec.threshold),
            },
            "at_target_fmr": {
                "threshold": e.threshold_at_target,
                "fmr": v.fmr(e.threshold_at_target),
                "fnmr": v.fnmr(e.threshold_at_target),
            },
            "recommended": {"threshold": e.threshold_at_target, "margin": e.margin.margin},
            "identification": measured[-1].to_json() if measured else None,
            "deployment": next((r.to_json() for r in e.identification if r.modelled), None),
            "fixed_split": e.split.to_json() if e.split else None,
        }
    d = ev.dataset
    return {
        "dataset": d.name,
        "photos": len(d.photos),
        "people": len(d.people),
        "target_fmr": ev.target_fmr,
        "engines": engines,
    }


def run(
    directory: Path,
    engines: Sequence[str],
    *,
    out: Path | None = None,
    gallery_sizes: Sequence[int] = (),
    deployment_size: int = DEFAULT_DEPLOYMENT_SIZE,
    target_fmr: float = DEFAULT_TARGET_FMR,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``facekeep evaluate``: load, embed with each engine, evaluate, print the table
    through ``say``, write the report files if ``out``; returns the JSON summary."""
    from enroll.engines import make_embedder

    dataset = load_dataset(directory)
    shown: set[tuple[str, int]] = set()

    def progress(name: str, done: int, total: int) -> None:
        step = (10 * done) // max(1, total)
        if say is not None and (name, step) not in shown:
            shown.add((name, step))
            say(f"[evaluate] {name}: {done}/{total} photos")

    embedders = [make_embedder(name) for name in dict.fromkeys(engines)]
    ev = evaluate(
        dataset,
        embedders,
        target_fmr=target_fmr,
        gallery_sizes=list(gallery_sizes) or None,
        deployment_size=deployment_size,
        progress=progress,
    )
    if say is not None:
        say(terminal(ev))
    result = summary(ev)
    if out is not None:
        result["out"] = {name: str(path) for name, path in write_report(ev, out).items()}
    return result
