"""What every part of the benchmark is given: the run's sizes (:class:`Plan`) and the
shared state of one run (:class:`Context`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.faces import ROW1_PHOTOS, Synth

T = TypeVar("T")


@dataclass
class Plan:
    """Sizes and durations of a full or a quick (CI) run."""

    quick: bool
    search_sizes: dict[str, int]
    http_n: int
    cold_sizes: dict[str, int]
    image_reps: int
    row1_photos: tuple[str, ...]
    probes: int
    baseline_probes: dict[str, int]
    healthz_s: float
    match_s: float
    image_single: int
    image_pair: int
    image_many_s: float
    enrol_s: float
    erase_trials: int
    hostile_reps: int
    eval_people: int | None  # of faces-asia's people, the first this many (None: all)

    @classmethod
    def make(cls, quick: bool, smoke: bool = False) -> Plan:
        """The sizes of a full, a quick or a smoke run. The smoke run is the test suite's
        check that every row is still produced: the smallest sizes that make each one
        (its figures mean nothing)."""
        column = 0 if smoke else 1 if quick else 2

        def pick(smoke_size: T, quick_size: T, full_size: T) -> T:
            return (smoke_size, quick_size, full_size)[column]

        return cls(
            quick=quick or smoke,
            search_sizes=pick(
                {"10k": 1_000, "100k": 2_000, "1m": 4_000},
                {"10k": 2_000, "100k": 10_000, "1m": 30_000},
                {"10k": 10_000, "100k": 100_000, "1m": 1_000_000},
            ),
            http_n=pick(1_000, 10_000, 100_000),
            cold_sizes=pick(
                {"100k": 1_000, "1m": 2_000},
                {"100k": 10_000, "1m": 30_000},
                {"100k": 100_000, "1m": 1_000_000},
            ),
            image_reps=pick(1, 1, 5),
            row1_photos=pick(ROW1_PHOTOS[:1], ROW1_PHOTOS[:1], ROW1_PHOTOS),
            probes=pick(100, 300, 2_000),
            baseline_probes=pick(
                {"10k": 3, "100k": 2, "1m": 1},
                {"10k": 10, "100k": 5, "1m": 3},
                {"10k": 50, "100k": 20, "1m": 5},
            ),
            healthz_s=pick(1.0, 2.0, 10.0),
            match_s=pick(2.0, 5.0, 30.0),
            image_single=pick(2, 4, 25),
            image_pair=pick(1, 3, 20),
            image_many_s=pick(2.0, 4.0, 30.0),
            enrol_s=pick(2.0, 4.0, 20.0),
            erase_trials=pick(5, 15, 150),
            hostile_reps=pick(1, 1, 3),
            eval_people=pick(24, None, None),
        )


@dataclass
class Context:
    """One run's plan, folders and synthetic faces, and what parts hand to later parts."""

    plan: Plan
    cache: Path
    work: Path
    synth: Synth
    say: Callable[[str], None]
    raw_640_ms: float = math.nan  # row 1: raw detect-and-encode of the 640 px probe
    raw_enrol_ms: float = math.nan  # row 1: the same for the enrolment photos
    notes: list[str] = field(default_factory=list)  # printed under the table

    def n_of(self, label: str, n: int) -> int | None:
        """Record N beside a row when a quick run stands in a smaller N for ``label``."""
        full = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}.get(label)
        return n if full != n else None
