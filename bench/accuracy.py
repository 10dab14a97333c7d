"""Accuracy rows: both engines on ``../shared/faces-asia``, and the default thresholds and
margins re-derived from it by the rules of :mod:`enroll.evaluation`.

Every photo is embedded once per engine in this process (about 45 ms a photo with SFace,
270 ms with dlib; nothing is cached on disk). The rows:

- ``eval_asia_fnmr_at_fmr_1e-4_<engine>``: same-person pairs refused at the threshold the
  rule derives (the largest step with at most 1 in 10,000 different-person pairs
  accepted); the baseline is the other engine's figure from the same run.
- ``eval_asia_strangers_matched_<engine>``, ``eval_asia_wrong_person_<engine>``,
  ``eval_asia_genuine_accepted_<engine>``: the HTTP acceptance test's fixed split
  (tests/eval/test_asia_http.py) decided in memory at the engine's configured threshold
  and margin, with the test's bounds as targets.
- ``eval_asia_threshold_<engine>``, ``eval_asia_margin_<engine>``: the rules' choices
  against the values in ``enroll/engines.py``; a ratio other than 1 means the defaults no
  longer follow from the measurement.

When the folder is absent the rows are left out and the run says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.faces import ROOT
from bench.plan import Context
from bench.report import Row
from enroll import ENGINES, make_embedder
from enroll.evaluation import (
    DEFAULT_TARGET_FMR,
    EngineEvaluation,
    embed_dataset,
    evaluate_embeddings,
    load_dataset,
)

ASIA = ROOT.parent / "shared" / "faces-asia"


def eval_rows(ctx: Context, folder: Path = ASIA) -> list[Row]:
    """The accuracy rows of both engines (none, with a note, without the folder)."""
    if not (folder / "manifest.csv").is_file():
        ctx.notes.append(f"eval_asia_* rows skipped: {folder} is not there")
        ctx.say(ctx.notes[-1])
        return []
    dataset = load_dataset(folder)
    if ctx.plan.eval_people is not None:  # the smoke run: rows made, figures meaningless
        people = set(dataset.people[: ctx.plan.eval_people])
        dataset = replace(dataset, photos=tuple(p for p in dataset.photos if p.identity in people))
        ctx.notes.append(f"eval_asia_* rows from the first {len(people)} people only")
    results: dict[str, EngineEvaluation] = {}
    for name in ("sface", "dlib"):
        ctx.say(f"eval: embedding {len(dataset.photos)} photos of {folder.name} with {name}")
        embedded = embed_dataset(dataset, make_embedder(name))
        results[name] = evaluate_embeddings(dataset, embedded, ENGINES[name])
    rows: list[Row] = []
    for name, e in results.items():
        other_name = "dlib" if name == "sface" else "sface"
        other = results[other_name]
        v, t = e.verification, e.threshold_at_target
        split = e.split
        assert split is not None
        rule = (
            f"at {name}'s configured threshold {e.spec.threshold:.2f}, margin {e.spec.margin:.2f}"
        )
        where = (
            f"{folder.name}: {split.gallery_size} enrolled, {split.genuine} genuine probes, "
            f"{split.strangers} stranger probes; {rule}"
        )
        acceptance_target = ">= 0.9" if name == "sface" else ""
        rows += [
            Row(
                f"eval_asia_fnmr_at_fmr_1e-4_{name}",
                v.fnmr(t),
                "fraction",
                other.verification.fnmr(other.threshold_at_target),
                f"{other_name}, same photos",
                target="<= 0.1" if name == "sface" else "",
                note=f"threshold {t:.2f} (step {e.step:.2f}): {v.accepted_impostors(t)} of "
                f"{len(v.impostor):,} different-person pairs accepted, "
                f"{len(v.genuine):,} same-person pairs",
            ),
            Row(
                f"eval_asia_strangers_matched_{name}",
                split.strangers_matched,
                "probes",
                split.strangers,
                "stranger probes",
                target="<= 1",
                note=where,
            ),
            Row(
                f"eval_asia_wrong_person_{name}",
                split.wrong,
                "probes",
                split.genuine,
                "genuine probes",
                target="== 0",
                note=where,
            ),
            Row(
                f"eval_asia_genuine_accepted_{name}",
                split.genuine_acceptance,
                "fraction",
                1.0,
                "every genuine probe",
                target=acceptance_target,
                note=where,
            ),
            Row(
                f"eval_asia_threshold_{name}",
                t,
                "distance",
                e.spec.threshold,
                "configured (enroll/engines.py)",
                target="ratio == 1",
                note=f"largest multiple of {e.step:.2f} with FMR <= {DEFAULT_TARGET_FMR:g}",
            ),
            Row(
                f"eval_asia_margin_{name}",
                e.margin.margin,
                "distance",
                e.spec.margin,
                "configured (enroll/engines.py)",
                target="ratio == 1",
                note=e.margin.reason,
            ),
        ]
    return rows
