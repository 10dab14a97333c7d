"""Part ``search``: 1:N search in the in-memory index at each plan size, against
face_recognition.face_distance over all templates; its recall against exact search and
its memory per template."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.datadir import VENUE
from bench.faces import F32, face_recognition_module
from bench.plan import Context
from bench.report import Row, percentile_ms
from vault.index import Batch, Grant, MatchIndex, Query

THRESHOLD = 0.5


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _batches(vectors: F32, step: int = 10_000) -> Iterator[Batch]:
    for lo in range(0, len(vectors), step):
        hi = min(len(vectors), lo + step)
        yield Batch(
            [f"c{i}" for i in range(lo, hi)],
            [1] * (hi - lo),
            vectors[lo:hi],
            [(Grant(f"cs{i}", "checkin", frozenset({VENUE}), None),) for i in range(lo, hi)],
        )


def exact_top1(
    vectors: F32, probes: F32, name: Callable[[int], str] = lambda i: f"c{i}"
) -> list[str | None]:
    """Ground truth by brute force (float32 matrix products in batches)."""
    norms = np.einsum("ij,ij->i", vectors, vectors)
    out: list[str | None] = []
    for lo in range(0, len(probes), 100):
        block = probes[lo : lo + 100]
        d2 = norms[None, :] - 2.0 * (block @ vectors.T)
        best = d2.argmin(axis=1)
        q2 = np.einsum("ij,ij->i", block, block)
        for j, row in enumerate(best):
            within = d2[j, row] + q2[j] <= THRESHOLD * THRESHOLD
            out.append(name(int(row)) if within else None)
    return out


def search_rows(ctx: Context) -> list[Row]:
    """MatchIndex search per probe, against face_recognition.face_distance over all
    templates; recall@1 against exact search."""
    fr = face_recognition_module()
    rows: list[Row] = []
    now = datetime.now(UTC)
    rng = np.random.default_rng(11)
    for label, n in ctx.plan.search_sizes.items():
        ctx.say(f"search: N={n:,}")
        vectors = ctx.synth.templates(0, n)
        who = rng.integers(0, n, ctx.plan.probes)
        probes = np.concatenate(
            [ctx.synth.probes(who, rng), ctx.synth.strangers(ctx.plan.probes // 10, rng)]
        )
        before = _rss()
        index = MatchIndex()
        began = time.perf_counter()
        index.bulk_load(_batches(vectors), expected=n)
        build_s = time.perf_counter() - began
        rss_per = (_rss() - before) / n
        stats = index.stats()

        def search(probe: F32, exact: bool = False, index: MatchIndex = index) -> Any:
            return index.search(probe, Query("checkin", VENUE, now, THRESHOLD), exact=exact)

        for probe in probes[:50]:
            search(probe)
        times, found = [], []
        for probe in probes:
            began = time.perf_counter()
            hit = search(probe)
            times.append(time.perf_counter() - began)
            found.append(hit.customer_id if hit else None)
        truth = exact_top1(vectors, probes)
        recall = sum(a == b for a, b in zip(found, truth, strict=True)) / len(truth)
        known = vectors.astype(np.float64)
        base = []
        for probe in probes[: ctx.plan.baseline_probes[label]]:
            began = time.perf_counter()
            d = fr.face_distance(known, probe.astype(np.float64))
            best = int(np.argmin(d))
            _ = d[best] <= THRESHOLD
            base.append(time.perf_counter() - began)
        del known
        mode = f"{stats['mode']}" + (
            f", {stats['nlist']} cells, {stats['nprobe']} probed, {stats['candidates']} re-ranked"
            if stats["mode"] == "ann"
            else ""
        )
        n_note = ctx.n_of(label, n)
        fd = "face_distance over all"
        rows += [
            Row(
                f"search_p50_ms_{label}",
                percentile_ms(times, 50),
                "ms",
                percentile_ms(base, 50),
                fd,
                n=n_note,
                note=mode,
            ),
            Row(
                f"search_p99_ms_{label}",
                percentile_ms(times, 99),
                "ms",
                percentile_ms(base, 99),
                fd,
                target="<= 10" if label == "1m" else "",
                n=n_note,
                note=f"{mode}; index built in {build_s:.1f} s",
            ),
            Row(
                f"search_recall_at_1_{label}",
                recall,
                "fraction",
                1.0,
                "exact search",
                target=">= 0.995" if label == "1m" else "",
                n=n_note,
                note=f"{len(probes)} probes ({ctx.plan.probes} enrolled, the rest strangers)",
            ),
        ]
        if label == "1m":
            rows.append(
                Row(
                    "search_speedup_1m",
                    percentile_ms(base, 99) / percentile_ms(times, 99),
                    "x",
                    1.0,
                    "face_distance",
                    target=">= 100",
                    n=n_note,
                    note="p99 of face_distance over p99 of the index",
                )
            )
        memory = index.memory_bytes()
        rows.append(
            Row(
                f"search_bytes_per_template_{label}",
                (memory["matrix"] + memory["ann"]) / n,
                "B",
                512,
                "raw float32 (128 x 4 B)",
                target="ratio <= 1.3" if label == "1m" else "",
                n=n_note,
                note=f"matrix {memory['matrix'] / n:.0f} B + approximate index "
                f"{memory['ann'] / n:.0f} B; with per-customer bookkeeping (ids, grants) the "
                f"process grew {rss_per:.0f} B per template",
            )
        )
        if label == "100k":
            exact = []
            for probe in probes[:200]:
                began = time.perf_counter()
                search(probe, exact=True)
                exact.append(time.perf_counter() - began)
            rows.append(
                Row(
                    "search_exact_p50_ms_100k",
                    percentile_ms(exact, 50),
                    "ms",
                    percentile_ms(base, 50),
                    fd,
                    target="<= 5",
                    n=n_note,
                    note="exact scan of every template (used below 20k templates and as the "
                    "fallback)",
                )
            )
        del index, vectors
    return rows
