"""From embeddings to one engine's evaluation (the threshold and margin the rules choose),
and from embedders to the evaluation of a whole set."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from enroll.embedder import Embedder
from enroll.engines import ENGINES, EngineSpec
from enroll.evaluation.arrays import distance_matrix
from enroll.evaluation.dataset import Dataset, DatasetError, first_photo_split
from enroll.evaluation.embedding import EmbeddedSet, embed_dataset
from enroll.evaluation.gallery_model import modelled
from enroll.evaluation.identification import (
    Identification,
    OpenSet,
    default_gallery_sizes,
    open_set,
    probe_gallery,
)
from enroll.evaluation.margin import choose_margin
from enroll.evaluation.results import EngineEvaluation, Evaluation
from enroll.evaluation.verification import (
    DEFAULT_TARGET_FMR,
    MODEL_PAIRS_PER_CUSTOMER,
    THRESHOLD_STEPS,
    Verification,
)

#: The gallery size the margin is chosen for: a venue's enrolled customers.
DEFAULT_DEPLOYMENT_SIZE = 1000
DEFAULT_DRAWS = 20
DEFAULT_SEED = 20261130


def _enrolment_rows(embedded: EmbeddedSet, labels: Sequence[str]) -> dict[str, int]:
    """Per person, the row of their first photo showing exactly one face."""
    chosen: dict[str, int] = {}
    for row, who in enumerate(labels):
        if who not in chosen and embedded.faces[row] == 1:
            chosen[who] = row
    return chosen


def evaluate_embeddings(
    dataset: Dataset,
    embedded: EmbeddedSet,
    spec: EngineSpec,
    *,
    target_fmr: float = DEFAULT_TARGET_FMR,
    gallery_sizes: Sequence[int] | None = None,
    deployment_size: int = DEFAULT_DEPLOYMENT_SIZE,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    step: float | None = None,
) -> EngineEvaluation:
    """Verification, open-set identification, and the threshold and margin the rules
    choose, from embeddings already computed (no image work).

    Gallery sizes up to the enrolable people are measured, larger ones modelled; a size
    beyond :attr:`Verification.model_limit` raises :class:`DatasetError`
    (``gallery_too_large``). The margin is chosen at ``deployment_size``, or at the
    largest size this set can stand for if that is smaller.
    """
    labels = [dataset.photos[i].identity for i in embedded.photo_index]
    distances = distance_matrix(embedded.vectors, embedded.vectors)
    verification = Verification.of(distances, labels)
    if not len(verification.genuine) or not len(verification.impostor):
        raise DatasetError(
            "invalid_dataset",
            f"{spec.name}: need two usable photos of one person and photos of two people",
        )
    step = step if step is not None else THRESHOLD_STEPS.get(spec.name, 0.05)
    at_target = verification.threshold_for(target_fmr, step)
    enrolment = _enrolment_rows(embedded, labels)
    if len(enrolment) < 2:
        raise DatasetError("invalid_dataset", f"{spec.name}: fewer than 2 enrolable people")
    limit = max(len(enrolment), verification.model_limit)
    sizes = sorted(set(gallery_sizes or default_gallery_sizes(len(enrolment))))
    too_big = [s for s in sizes if s > limit or s < 1]
    if too_big:
        raise DatasetError(
            "gallery_too_large",
            f"{spec.name}: gallery size {too_big[0]:,} is beyond what {dataset.name} can "
            f"show: {len(enrolment)} enrolable people measured, up to {limit:,} modelled "
            f"({len(verification.impostor):,} impostor pairs, "
            f"{MODEL_PAIRS_PER_CUSTOMER} per customer)",
        )
    open_sets: dict[int, OpenSet] = {}
    for size in (s for s in sizes if s <= len(enrolment)):
        rng = np.random.default_rng([seed, size])
        open_sets[size] = open_set(distances, labels, enrolment, size, draws=draws, rng=rng)
    chosen_size = min(max(deployment_size, 1), limit)
    if chosen_size not in sizes and chosen_size > len(enrolment):
        sizes.append(chosen_size)

    def answers(size: int, threshold: float, margin: float) -> Identification:
        if size in open_sets:
            return open_sets[size].at(threshold, margin)
        if size <= len(enrolment):  # the margin's size among the measured ones
            rng = np.random.default_rng([seed, size])
            open_sets[size] = open_set(distances, labels, enrolment, size, draws=draws, rng=rng)
            return open_sets[size].at(threshold, margin)
        return modelled(verification, size, threshold, margin)

    margin = choose_margin(lambda m: answers(chosen_size, at_target, m), at_target)
    split_people, _ = first_photo_split(dataset)
    split_gallery = {who: [enrolment[who]] for who in split_people if who in enrolment}
    split = probe_gallery(distances, labels, split_gallery).at(spec.threshold, spec.margin)
    measured_sizes = [s for s in sizes if s <= len(enrolment)]
    return EngineEvaluation(
        spec=spec,
        embedded=embedded,
        photos=len(dataset.photos),
        people=len(dataset.people),
        enrolable_people=len(enrolment),
        verification=verification,
        target_fmr=target_fmr,
        step=step,
        threshold_at_target=at_target,
        identification=[answers(s, spec.threshold, spec.margin) for s in sizes],
        identification_no_margin=[answers(s, spec.threshold, 0.0) for s in sizes],
        model_check=[
            modelled(verification, s, spec.threshold, spec.margin) for s in measured_sizes
        ],
        open_sets=open_sets,
        split=split,
        margin=margin,
    )


def evaluate(
    dataset: Dataset,
    embedders: Iterable[Embedder],
    *,
    target_fmr: float = DEFAULT_TARGET_FMR,
    gallery_sizes: Sequence[int] | None = None,
    deployment_size: int = DEFAULT_DEPLOYMENT_SIZE,
    draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str, int, int], None] | None = None,
) -> Evaluation:
    """Embed the dataset once with each embedder (kept in memory) and evaluate each."""
    results = []
    for embedder in embedders:
        name = embedder.engine.name

        def tick(done: int, total: int, name: str = name) -> None:
            if progress is not None:
                progress(name, done, total)

        embedded = embed_dataset(dataset, embedder, progress=tick)
        results.append(
            evaluate_embeddings(
                dataset,
                embedded,
                ENGINES.get(name, embedder.engine),
                target_fmr=target_fmr,
                gallery_sizes=gallery_sizes,
                deployment_size=deployment_size,
                draws=draws,
                seed=seed,
            )
        )
    return Evaluation(dataset, target_fmr, draws, seed, deployment_size, results)
