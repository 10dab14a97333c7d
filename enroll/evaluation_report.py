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

import base64
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from enroll.evaluation import (
    DEFAULT_DEPLOYMENT_SIZE,
    DEFAULT_TARGET_FMR,
    F64,
    MARGIN_BUDGET,
    EngineEvaluation,
    Evaluation,
    Identification,
    evaluate,
    load_dataset,
    modelled,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["FIGURES", "blocks", "markdown", "page", "run", "summary", "terminal", "write_report"]

#: Figure files and what they show.
FIGURES = {
    "det.png": "DET: same-person pairs refused (FNMR) against different-person pairs "
    "accepted (FMR)",
    "identification_fnir_fpir.png": "Open-set identification: FNIR against FPIR",
    "identification_gallery.png": "The kiosk's answers against gallery size",
}
_COLOURS = {"sface": "#1f6fb4", "dlib": "#d2691e"}


def _pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or math.isnan(x) else f"{100 * x:.{digits}f} %"


def _rate(x: float) -> str:
    if math.isnan(x):
        return "-"
    return "0" if x == 0 else f"{x:.1e}"


def _dataset_line(ev: Evaluation) -> str:
    d = ev.dataset
    return f"{d.name} ({len(d.photos)} photos of {len(d.people)} people; {d.source})"


# -- the blocks both documents are made of ----------------------------------------------


@dataclass(frozen=True)
class Block:
    """A heading, a paragraph, a table or a figure."""

    kind: str  # "h1", "h2", "p", "table", "figure"
    text: str = ""
    head: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> Block:
    return Block("table", head=tuple(head), rows=tuple(tuple(r) for r in rows))


def _summary_rows(ev: Evaluation) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(label: str, get: Callable[[EngineEvaluation], str]) -> None:
        rows.append([label, *(get(e) for e in ev.engines)])

    add("photos embedded / no face found", lambda e: f"{_embedded(e)} / {_failed(e)}")
    add("photos with several faces (largest used)", lambda e: str(_multi(e)))
    add("people enrolable (a photo with exactly one face)", lambda e: str(e.enrolable_people))
    add("ms per photo (decode, detect, embed; model load included)", lambda e: f"{_ms(e):.0f}")
    add("same-person / different-person pairs", lambda e: _pairs(e))
    add("configured threshold, margin", lambda e: f"{e.spec.threshold:.2f}, {e.spec.margin:.2f}")
    add("FMR at the configured threshold", lambda e: _fmr_at(e, e.spec.threshold))
    add("FNMR at the configured threshold", lambda e: _pct(e.verification.fnmr(e.spec.threshold)))
    add(
        f"threshold at FMR <= {ev.target_fmr:g} (grid step)",
        lambda e: f"{e.threshold_at_target:.2f} ({e.step:.2f})",
    )
    add("FMR there", lambda e: _fmr_at(e, e.threshold_at_target))
    add("FNMR there", lambda e: _pct(e.verification.fnmr(e.threshold_at_target)))
    add(
        "margin chosen by the rule (gallery size)",
        lambda e: (
            f"{e.margin.margin:.2f} ({e.margin.gallery_size:,}"
            f"{', modelled' if e.margin.modelled else ''})"
        ),
    )
    return rows


def _resolution_notes(ev: Evaluation) -> list[str]:
    """Warnings for sets too small to measure the target FMR."""
    notes = []
    for e in ev.engines:
        pairs = len(e.verification.impostor)
        if 1 / pairs > ev.target_fmr:
            notes.append(
                f"{e.spec.name}: {ev.dataset.name} has {pairs:,} different-person pairs, so one "
                f"accepted pair is an FMR of {_rate(1 / pairs)}: an FMR of {ev.target_fmr:g} "
                "cannot be measured here, and the threshold shown only says that none of them "
                f"was accepted (about {math.ceil(1 / ev.target_fmr):,} pairs are needed)."
            )
    return notes


def _embedded(e: EngineEvaluation) -> int:
    return len(e.embedded.photo_index)


def _failed(e: EngineEvaluation) -> int:
    return len(e.embedded.failures)


def _multi(e: EngineEvaluation) -> int:
    return int((e.embedded.faces > 1).sum())


def _ms(e: EngineEvaluation) -> float:
    return 1e3 * e.embedded.seconds / max(1, e.photos)


def _pairs(e: EngineEvaluation) -> str:
    return f"{len(e.verification.genuine):,} / {len(e.verification.impostor):,}"


def _fmr_at(e: EngineEvaluation, threshold: float) -> str:
    v = e.verification
    return f"{_rate(v.fmr(threshold))} ({v.accepted_impostors(threshold)} pairs)"


def _answer_row(e: EngineEvaluation, r: Identification) -> list[str]:
    kind = "modelled" if r.modelled else f"measured, {r.draws} draw{'s' * (r.draws > 1)}"
    if r.modelled:
        wrong = _pct(r.wrong_rate, 2)
        strangers = f"FPIR {_pct(r.fpir, 2)}"
    else:
        wrong = f"{r.wrong} ({_pct(r.wrong_rate, 2)})"
        strangers = (
            f"{r.strangers_matched} of {r.strangers} ({_pct(r.fpir, 2)})" if r.strangers else "-"
        )
    return [
        e.spec.name,
        f"{r.gallery_size:,}",
        kind,
        f"{r.threshold:.2f} / {r.margin:.2f}",
        _pct(r.genuine_acceptance),
        wrong,
        _pct(r.missed_rate),
        strangers,
    ]


_ANSWER_HEAD = (
    "engine",
    "gallery",
    "how",
    "threshold / margin",
    "right customer",
    "wrong person",
    "missed",
    "strangers matched",
)


def blocks(ev: Evaluation, figures: Sequence[str] = ()) -> list[Block]:
    """The report as blocks (rendered by :func:`markdown` and :func:`page`)."""
    names = [e.spec.name for e in ev.engines]
    out = [
        Block("h1", f"Face engine evaluation: {ev.dataset.name}"),
        Block(
            "p",
            f"Dataset {_dataset_line(ev)}"
            + (
                f"; {ev.dataset.unlabelled} unlabelled manifest rows skipped"
                if ev.dataset.unlabelled
                else ""
            )
            + f". Target FMR {ev.target_fmr:g}. Engines: {', '.join(names)}. Distances are "
            "Euclidean; a pair or a probe is accepted at distance <= threshold.",
        ),
        Block("h2", "Summary"),
        _table(["", *names], _summary_rows(ev)),
        *(Block("p", note) for note in _resolution_notes(ev)),
    ]
    for e in ev.engines:
        if e.embedded.failures:
            listed = ", ".join(f"{f} ({c})" for f, c in sorted(e.embedded.failures.items()))
            out.append(Block("p", f"{e.spec.name}: photos left out: {listed}."))
    if "det.png" in figures:
        out.append(Block("figure", "det.png"))
    out.append(Block("h2", "Verification: FMR and FNMR per threshold"))
    for e in ev.engines:
        v = e.verification
        out.append(
            Block(
                "p",
                f"{e.spec.name} on {ev.dataset.name}: {len(v.genuine):,} same-person and "
                f"{len(v.impostor):,} different-person pairs (one accepted pair is an FMR of "
                f"{_rate(1 / len(v.impostor))}). Same-person distances: median "
                f"{np.median(v.genuine):.3f}, 99th percentile {np.percentile(v.genuine, 99):.3f}"
                f"; different-person: 1st percentile {np.percentile(v.impostor, 1):.3f}, "
                f"smallest {v.impostor[0]:.3f}.",
            )
        )
        out.append(
            _table(
                [f"{e.spec.name} threshold", "FMR (pairs accepted)", "FNMR"],
                [
                    [
                        f"{p['threshold']:.2f}"
                        + (" (configured)" if p["threshold"] == e.spec.threshold else ""),
                        f"{_rate(p['fmr'])} ({p['impostor_pairs_accepted']})",
                        _pct(p["fnmr"]),
                    ]
                    for p in e.threshold_table()
                ],
            )
        )
    out += [
        Block("h2", "Open-set identification at the configured threshold and margin"),
        Block(
            "p",
            f"{ev.dataset.name}: measured galleries are {ev.draws} random draws (seed "
            f"{ev.seed}) of that many people, each enrolled with their first photo showing "
            "exactly one face; every other photo is a probe, of an enrolled person (genuine) "
            "or of someone else (a stranger). Modelled rows stand for larger galleries: "
            "the other customers are independent draws from the different-person distances. "
            "A probe is answered only if its best customer is within the threshold and the "
            "second best is at least the margin farther.",
        ),
        _table(_ANSWER_HEAD, [_answer_row(e, r) for e in ev.engines for r in e.identification]),
        Block("p", "The same without a margin (threshold only):"),
        _table(
            _ANSWER_HEAD,
            [_answer_row(e, r) for e in ev.engines for r in e.identification_no_margin],
        ),
    ]
    check = [(e, r) for e in ev.engines for r in e.model_check]
    if check:
        out += [
            Block("p", "The model at the measured sizes (to compare with the measured rows):"),
            _table(_ANSWER_HEAD, [_answer_row(e, r) for e, r in check]),
        ]
    splits = [(e, e.split) for e in ev.engines if e.split is not None]
    if splits:
        out += [
            Block("h2", "Fixed split (as the HTTP acceptance test)"),
            Block(
                "p",
                "Everyone with several photos and every other single-photo person (1st, "
                "3rd, ... in dataset order) enrolled with their first photo showing exactly "
                "one face; every other photo probed.",
            ),
            _table(_ANSWER_HEAD, [_answer_row(e, s) for e, s in splits if s is not None]),
        ]
    out += [Block("figure", name) for name in figures if name != "det.png"]
    out.append(Block("h2", "Choosing the threshold and the margin"))
    out.append(
        Block(
            "p",
            f"Threshold: the largest multiple of the engine's step at which at most "
            f"{ev.target_fmr:g} of different-person pairs are accepted. Margin: among "
            f"margins 0-0.15 (step 0.01) costing at most {100 * MARGIN_BUDGET:.0f} point of "
            "genuine acceptance, the smallest with the fewest false answers (wrong-person "
            "answers plus strangers matched), at that threshold and at the deployment's "
            f"gallery size ({ev.deployment_size:,} asked; modelled when the set has fewer "
            "people, and capped at one customer per ten different-person pairs).",
        )
    )
    for e in ev.engines:
        m = e.margin
        out.append(Block("p", f"{e.spec.name}: {m.reason}."))
        out.append(
            _table(
                [
                    f"{e.spec.name} margin",
                    f"right customer (t={m.threshold:.2f}, G={m.gallery_size:,})",
                    "wrong person",
                    "strangers matched (FPIR)",
                ],
                [
                    [
                        f"{r.margin:.2f}" + (" (chosen)" if r.margin == m.margin else ""),
                        _pct(r.genuine_acceptance, 2),
                        _pct(r.wrong_rate, 3),
                        _pct(r.fpir, 3),
                    ]
                    for r in m.rows
                ],
            )
        )
    return out


def markdown(parts: Sequence[Block]) -> str:
    """The blocks as Markdown (figures as relative image links)."""
    lines: list[str] = []
    for b in parts:
        if b.kind == "h1":
            lines += [f"# {b.text}", ""]
        elif b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "figure":
            lines += [f"![{FIGURES.get(b.text, b.text)}]({b.text})", ""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(b.head) + " |")
            lines.append("|" + "---|" * len(b.head))
            lines += ["| " + " | ".join(r) + " |" for r in b.rows]
            lines.append("")
    return "\n".join(lines)


_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;"
    "padding:.25em .6em;text-align:left}th{background:#f1f1f1}img{max-width:100%}"
    "figcaption{color:#555;font-size:90%}"
)


def page(parts: Sequence[Block], images: dict[str, bytes]) -> str:
    """The blocks as one HTML page with every figure inlined as a data URI (it loads
    nothing from anywhere)."""
    e = html.escape
    body: list[str] = []
    title = next((b.text for b in parts if b.kind == "h1"), "Face engine evaluation")
    for b in parts:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "figure" and b.text in images:
            data = base64.b64encode(images[b.text]).decode("ascii")
            caption = e(FIGURES.get(b.text, b.text))
            body.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.head)
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def terminal(ev: Evaluation) -> str:
    """A readable table for the terminal: the summary and the kiosk's answers."""
    names = [e.spec.name for e in ev.engines]
    rows = [["", *names], *_summary_rows(ev)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"facekeep evaluate: {_dataset_line(ev)}; target FMR {ev.target_fmr:g}",
        *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows),
        *(f"note: {note}" for note in _resolution_notes(ev)),
        "",
        f"Open-set identification on {ev.dataset.name} at each engine's configured "
        "threshold / margin:",
    ]
    answers = [list(_ANSWER_HEAD)]
    for e in ev.engines:
        answers += [_answer_row(e, r) for r in e.identification]
        if e.split is not None:
            row = _answer_row(e, e.split)
            answers.append([row[0], row[1], "fixed split", *row[3:]])
    widths = [max(len(r[i]) for r in answers) for i in range(len(answers[0]))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in answers]
    return "\n".join(line.rstrip() for line in lines)


# -- figures ---------------------------------------------------------------------------------


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
            label=f"{e.spec.name} configured t={t:.2f}: FMR {_rate(x)}, FNMR {_pct(y)}",
            linestyle="none",
        )
    ax.axvline(ev.target_fmr, color="grey", linestyle="--", linewidth=1)
    ax.text(ev.target_fmr, 1.1e-3, f" target FMR {ev.target_fmr:g}", color="grey", fontsize=8)
    _log_axes(ax, (floor, 1.0), (1e-3, 1.0))
    ax.set_xlabel("FMR: different-person pairs accepted")
    ax.set_ylabel("FNMR: same-person pairs refused")
    ax.set_title(f"DET, {_dataset_line(ev)}", fontsize=10)
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
                label=f"  at t={e.spec.threshold:.2f}: FPIR {_pct(here.fpir, 2)}, "
                f"FNIR {_pct(here.fnir)}",
            )
    _log_axes(ax, (1e-4, 1.0), (1e-3, 1.0))
    ax.set_xlabel("FPIR: strangers answered with a customer")
    ax.set_ylabel("FNIR: enrolled people not answered with themselves")
    ax.set_title(f"Open-set identification, {_dataset_line(ev)}", fontsize=10)
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
    fig.suptitle(f"Answers against gallery size, {_dataset_line(ev)}", fontsize=10)
    return _png(fig, path)


# -- files and the command -------------------------------------------------------------------


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
            "multiple_faces": _multi(e),
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
