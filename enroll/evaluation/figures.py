"""The report's figures, as NIST FRTE draws them: a DET curve (FNMR against FMR, both on
log axes, every engine on one plot) and open-set identification (FNIR against FPIR, and
the kiosk's answers against gallery size). matplotlib is driven through its object
interface on the Agg canvas (no pyplot, no global backend), imported only when figures
are drawn."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from enroll.evaluation.arrays import F64
from enroll.evaluation.formatting import dataset_line, fmr_text, pct
from enroll.evaluation.gallery_model import modelled
from enroll.evaluation.results import EngineEvaluation, Evaluation

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Figure files and what they show.
FIGURES = {
    "det.png": "DET: same-person pairs refused (FNMR) against different-person pairs "
    "accepted (FMR)",
    "identification_fnir_fpir.png": "Open-set identification: FNIR against FPIR",
    "identification_gallery.png": "The kiosk's answers against gallery size",
}
_COLOURS = {"sface": "#1f6fb4", "dlib": "#d2691e"}


def _figure() -> tuple[Any, Axes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.6), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Any, path: Path) -> bytes:
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path.read_bytes()


def plot_det(ev: Evaluation, path: Path) -> bytes:
    """FNMR against FMR on log axes, every engine on one plot, each engine's configured
    threshold marked; returns the PNG's bytes."""
    fig, ax = _figure()
    # FMR 0 cannot sit on a log axis: such a point is drawn at half the finest FMR.
    floor = min(0.5 / len(e.verification.impostor) for e in ev.engines)
    floor = min(floor, ev.target_fmr / 2)
    for e in ev.engines:
        _, fmr, fnmr = e.verification.det()
        keep = (fmr > 0) & (fnmr > 0)
        colour = _COLOURS.get(e.spec.name)
        ax.plot(fmr[keep], fnmr[keep], color=colour, label=e.spec.name, drawstyle="steps-post")
        t = e.spec.threshold
        x, y = e.verification.fmr(t), e.verification.fnmr(t)
        ax.plot(
            [max(x, floor)],
            [max(y, 1e-3)],
            marker="o",
            color=colour,
            label=f"{e.spec.name} configured t={t:.2f}: FMR {fmr_text(x)}, FNMR {pct(y)}",
            linestyle="none",
        )
    ax.axvline(ev.target_fmr, color="grey", linestyle="--", linewidth=1)
    ax.text(ev.target_fmr, 1.1e-3, f" target FMR {ev.target_fmr:g}", color="grey", fontsize=8)
    _log_axes(ax, (floor, 1.0), (1e-3, 1.0))
    ax.set_xlabel("FMR: different-person pairs accepted")
    ax.set_ylabel("FNMR: same-person pairs refused")
    ax.set_title(f"DET, {dataset_line(ev)}", fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig, path)


def _sweep(e: EngineEvaluation, size: int, margin: float) -> tuple[F64, F64]:
    """FPIR and FNIR over a sweep of thresholds at one gallery size (measured if it was,
    else modelled), at ``margin``."""
    v = e.verification
    measured = e.open_sets.get(size)
    if measured is not None:
        thresholds = np.unique(np.quantile(measured.best, np.linspace(0, 1, 3000)))
        fnir, fpir = measured.fnir_fpir(margin, thresholds)
        return fpir, fnir
    top = float(np.quantile(v.impostor, 0.5))
    rows = [modelled(v, size, float(t), margin) for t in np.linspace(v.genuine[0], top, 240)]
    return np.array([r.fpir for r in rows]), np.array([r.fnir for r in rows])


def _curve_sizes(e: EngineEvaluation) -> list[int]:
    """The measured gallery whose probes are most balanced between genuine and strangers
    (the largest smaller count of the two), and the modelled deployment size."""

    def balance(size: int) -> int:
        mated = e.open_sets[size].mated
        return min(int(mated.sum()), int((~mated).sum()))

    measured = [s for s in e.open_sets if balance(s) > 0]
    chosen = [max(measured, key=lambda s: (balance(s), s))] if measured else []
    return chosen + [r.gallery_size for r in e.identification if r.modelled][-1:]


def plot_fnir_fpir(ev: Evaluation, path: Path) -> bytes:
    """FNIR against FPIR on log axes (threshold swept, configured margin) at a measured
    gallery and at the deployment's size (modelled), each engine's threshold marked."""
    fig, ax = _figure()
    for e in ev.engines:
        colour = _COLOURS.get(e.spec.name)
        for size in _curve_sizes(e):
            fpir, fnir = _sweep(e, size, e.spec.margin)
            kind = "measured" if size in e.open_sets else "modelled"
            keep = (fpir > 0) & (fnir > 0)
            ax.plot(
                fpir[keep],
                fnir[keep],
                color=colour,
                linestyle="-" if kind == "measured" else "--",
                label=f"{e.spec.name}, G={size:,} ({kind}), margin {e.spec.margin:.2f}",
            )
            here = e.answers(size, e.spec.threshold, e.spec.margin)
            ax.plot(
                [max(here.fpir, 1e-4)],
                [max(here.fnir, 1e-3)],
                marker="o" if kind == "measured" else "s",
                color=colour,
                linestyle="none",
                label=f"  at t={e.spec.threshold:.2f}: FPIR {pct(here.fpir, 2)}, "
                f"FNIR {pct(here.fnir)}",
            )
    _log_axes(ax, (1e-4, 1.0), (1e-3, 1.0))
    ax.set_xlabel("FPIR: strangers answered with a customer")
    ax.set_ylabel("FNIR: enrolled people not answered with themselves")
    ax.set_title(f"Open-set identification, {dataset_line(ev)}", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig, path)


def _log_axes(ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def plot_gallery(ev: Evaluation, path: Path) -> bytes:
    """The kiosk's answers against gallery size at each engine's configured threshold
    and margin: genuine probes missed (left); wrong-person answers and strangers
    matched (right). Measured points filled, modelled hollow."""
    from matplotlib.ticker import FuncFormatter

    fig, _ = _figure()
    fig.clear()
    fig.set_size_inches(10, 4.8)
    left, right = fig.subplots(1, 2)
    for e in ev.engines:
        colour = _COLOURS.get(e.spec.name)
        rows = e.identification
        rule = f"t={e.spec.threshold:.2f}, m={e.spec.margin:.2f}"
        panels = (
            (left, "missed", [r.missed_rate for r in rows], "-"),
            (right, "wrong person", [r.wrong_rate for r in rows], ":"),
            (right, "strangers matched", [r.fpir for r in rows], "--"),
        )
        for ax, metric, ys, style in panels:
            xs = [r.gallery_size for r in rows]
            ax.plot(xs, ys, color=colour, linestyle=style, label=f"{e.spec.name} {metric} ({rule})")
            for x, y, r in zip(xs, ys, rows, strict=True):
                ax.plot(
                    [x],
                    [y],
                    marker="o",
                    color=colour,
                    markerfacecolor="none" if r.modelled else colour,
                )
    left.set_ylim(0, 1)
    right.set_yscale("symlog", linthresh=1e-3)
    right.set_ylim(0, 1)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{100 * y:g} %"))
        ax.set_xlabel("gallery size (customers enrolled; hollow = modelled)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    left.set_ylabel("share of genuine probes missed")
    right.set_ylabel("share of genuine probes / of strangers")
    fig.suptitle(f"Answers against gallery size, {dataset_line(ev)}", fontsize=10)
    return _png(fig, path)
