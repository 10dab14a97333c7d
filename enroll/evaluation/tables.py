"""The report's content: the blocks both documents (Markdown and HTML) are made of, and
the table printed on the terminal."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from enroll.evaluation.formatting import dataset_line, fmr_text, pct
from enroll.evaluation.identification import Identification
from enroll.evaluation.margin import MARGIN_BUDGET
from enroll.evaluation.results import EngineEvaluation, Evaluation


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
    add("photos with several faces (largest used)", lambda e: str(e.embedded.multiple_faces))
    add("people enrolable (a photo with exactly one face)", lambda e: str(e.enrolable_people))
    add(
        "ms per photo (decode, detect, embed; model load included)",
        lambda e: f"{e.ms_per_photo:.0f}",
    )
    add("same-person / different-person pairs", lambda e: _pairs(e))
    add("configured threshold, margin", lambda e: f"{e.spec.threshold:.2f}, {e.spec.margin:.2f}")
    add("FMR at the configured threshold", lambda e: _fmr_at(e, e.spec.threshold))
    add("FNMR at the configured threshold", lambda e: pct(e.verification.fnmr(e.spec.threshold)))
    add(
        f"threshold at FMR <= {ev.target_fmr:g} (grid step)",
        lambda e: f"{e.threshold_at_target:.2f} ({e.step:.2f})",
    )
    add("FMR there", lambda e: _fmr_at(e, e.threshold_at_target))
    add("FNMR there", lambda e: pct(e.verification.fnmr(e.threshold_at_target)))
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
                f"accepted pair is an FMR of {fmr_text(1 / pairs)}: an FMR of {ev.target_fmr:g} "
                "cannot be measured here, and the threshold shown only says that none of them "
                f"was accepted (about {math.ceil(1 / ev.target_fmr):,} pairs are needed)."
            )
    return notes


def _embedded(e: EngineEvaluation) -> int:
    return len(e.embedded.photo_index)


def _failed(e: EngineEvaluation) -> int:
    return len(e.embedded.failures)


def _pairs(e: EngineEvaluation) -> str:
    return f"{len(e.verification.genuine):,} / {len(e.verification.impostor):,}"


def _fmr_at(e: EngineEvaluation, threshold: float) -> str:
    v = e.verification
    return f"{fmr_text(v.fmr(threshold))} ({v.accepted_impostors(threshold)} pairs)"


def _answer_row(e: EngineEvaluation, r: Identification) -> list[str]:
    kind = "modelled" if r.modelled else f"measured, {r.draws} draw{'s' * (r.draws > 1)}"
    if r.modelled:
        wrong = pct(r.wrong_rate, 2)
        strangers = f"FPIR {pct(r.fpir, 2)}"
    else:
        wrong = f"{r.wrong} ({pct(r.wrong_rate, 2)})"
        strangers = (
            f"{r.strangers_matched} of {r.strangers} ({pct(r.fpir, 2)})" if r.strangers else "-"
        )
    return [
        e.spec.name,
        f"{r.gallery_size:,}",
        kind,
        f"{r.threshold:.2f} / {r.margin:.2f}",
        pct(r.genuine_acceptance),
        wrong,
        pct(r.missed_rate),
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
            f"Dataset {dataset_line(ev)}"
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
                f"{fmr_text(1 / len(v.impostor))}). Same-person distances: median "
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
                        f"{fmr_text(p['fmr'])} ({p['impostor_pairs_accepted']})",
                        pct(p["fnmr"]),
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
                        pct(r.genuine_acceptance, 2),
                        pct(r.wrong_rate, 3),
                        pct(r.fpir, 3),
                    ]
                    for r in m.rows
                ],
            )
        )
    return out


def terminal(ev: Evaluation) -> str:
    """A readable table for the terminal: the summary and the kiosk's answers."""
    names = [e.spec.name for e in ev.engines]
    rows = [["", *names], *_summary_rows(ev)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        f"facekeep evaluate: {dataset_line(ev)}; target FMR {ev.target_fmr:g}",
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
