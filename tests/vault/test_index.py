"""The match index: exact semantics, and the approximate index (FAISS IVF-PQ with exact
re-ranking) agreeing with exact search on synthetic faces drawn around real embeddings,
with removal taking effect at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from bench.faces import Synth
from vault.index import Batch, Grant, MatchIndex, Query, ann_shape

# No database: one pass (SQLite) proves it.
pytestmark = pytest.mark.engine_neutral

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
THRESHOLD = 0.5
REAL_PHOTOS = (
    "obama_1",
    "biden_1",
    "kit_harington_1",
    "rose_leslie_1",
    "alex_lacamoire_1",
    "lin_manuel_miranda_1",
)


def grant(venue: str = "v1", purpose: str = "checkin", expires: datetime | None = None) -> Grant:
    return Grant(f"consent-{venue}-{purpose}", purpose, frozenset({venue}), expires)


def search(index: MatchIndex, probe, *, venue: str = "v1", exact: bool = False, now=NOW):
    return index.search(probe, Query("checkin", venue, now, THRESHOLD), exact=exact)


@pytest.fixture(scope="module")
def synth(face_embedding: Callable[[str], npt.NDArray[np.float64]]) -> Synth:
    """Synthetic identities around real embeddings of the sample photos."""
    real = np.stack([face_embedding(name) for name in REAL_PHOTOS]).astype(np.float32)
    return Synth(real, seed=7)


def ann_index(synth: Synth, n: int, *, ann_min: int = 4_000) -> MatchIndex:
    index = MatchIndex(ann_min=ann_min)
    vectors = synth.templates(0, n)
    batches = [
        Batch.of([(f"c{i}", vectors[i : i + 1], (grant(),)) for i in range(lo, min(n, lo + 2_000))])
        for lo in range(0, n, 2_000)
    ]
    assert index.bulk_load(batches, expected=n) == n
    assert index.stats()["mode"] == "ann"
    return index


def probed(
    synth: Synth, n: int, count: int, *, seed: int
) -> tuple[MatchIndex, npt.NDArray[np.int64], npt.NDArray[np.float32], np.random.Generator]:
    """An approximate index of ``n`` customers, ``count`` of them drawn at random, a
    genuine probe of each, and the generator that drew them (to draw more)."""
    index = ann_index(synth, n)
    rng = np.random.default_rng(seed)
    who = rng.integers(0, n, count)
    return index, who, synth.probes(who, rng), rng


# -- exact semantics ---------------------------------------------------------------------


def test_exact_search_checks_purpose_venue_and_expiry() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 0.09, (2, 128)).astype(np.float32)
    index = MatchIndex()
    index.put("alice", np.stack([a, a + 0.01]), (grant("v1", expires=NOW + timedelta(hours=1)),))
    index.put("bob", b[None], (grant("v2"),))
    assert len(index) == 3 and index.customers() == 2 and "alice" in index
    hit = search(index, a + 0.005)
    assert hit is not None and hit.customer_id == "alice" and hit.distance < 0.1
    assert search(index, b, venue="v1") is None  # bob consented at v2 only
    assert search(index, b, venue="v2").customer_id == "bob"
    assert search(index, a, now=NOW + timedelta(hours=2)) is None  # expired
    index.set_grants("alice", ())
    assert "alice" not in index and search(index, a) is None
    assert index.remove("bob") and not index.remove("bob") and len(index) == 0


def test_rows_are_reused_and_replacing_keeps_one_copy() -> None:
    rng = np.random.default_rng(2)
    index = MatchIndex(capacity=4)
    for round_ in range(3):
        for i in range(10):
            index.put(f"c{i}", rng.normal(0, 0.09, (2, 128)), (grant(),))
        assert len(index) == 20 and index.customers() == 10, round_
    assert index.stats()["capacity"] <= 1024  # one growth step, rows reused


# -- the approximate index ---------------------------------------------------------------


def test_ann_shape_grows_with_the_index() -> None:
    assert ann_shape(20_000)[0] < ann_shape(100_000)[0] < ann_shape(1_000_000)[0] <= 1024
    for n in (20_000, 1_000_000):
        nlist, nprobe = ann_shape(n)
        assert 8 <= nprobe <= nlist


@pytest.mark.faces
def test_ann_agrees_with_exact_search(synth: Synth) -> None:
    n = 20_000
    index, who, genuine, rng = probed(synth, n, 400, seed=3)
    probes = np.concatenate([genuine, synth.strangers(100, rng)])
    agree = 0
    for probe in probes:
        ann, exact = search(index, probe), search(index, probe, exact=True)
        if ann is None or exact is None:
            agree += ann is exact
        else:
            agree += ann.customer_id == exact.customer_id
            if ann.customer_id == exact.customer_id:
                assert ann.distance == pytest.approx(exact.distance, abs=1e-5)
    assert agree / len(probes) >= 0.99
    # Genuine probes find their own identity; distances are those of real faces.
    found = [search(index, p) for p in synth.probes(who[:100], rng)]
    own = sum(h is not None and h.customer_id == f"c{i}" for h, i in zip(found, who[:100]))
    assert own >= 95
    assert index.memory_bytes()["ann"] < 128 * n  # well under a quarter of the matrix


@pytest.mark.faces
def test_removal_takes_effect_at_once_in_ann_mode(synth: Synth) -> None:
    index, who, probes, _ = probed(synth, 12_000, 50, seed=4)
    before = [search(index, p) for p in probes]
    targets = {h.customer_id for h in before if h is not None}
    assert len(targets) >= 40
    for customer in targets:
        assert index.remove(customer)
    for probe in probes:
        hit = search(index, probe)
        assert hit is None or hit.customer_id not in targets
    # A revoked customer who comes back is found again (their rows were reused).
    back = sorted(targets)[0]
    index.put(back, synth.templates(int(back[1:]), int(back[1:]) + 1), (grant(),))
    i = list(who).index(int(back[1:]))
    assert search(index, probes[i]).customer_id == back


@pytest.mark.faces
def test_ineligible_candidates_fall_back_to_exact_search(synth: Synth) -> None:
    n = 10_000
    index = ann_index(synth, n)
    rng = np.random.default_rng(5)
    probe = synth.probes(np.array([17]), rng)[0]
    # Crowd the probe's neighbourhood with customers consenting at another venue only.
    crowd = probe + rng.normal(0, 0.01, (index.candidates + 8, 128)).astype(np.float32)
    for j, vector in enumerate(crowd):
        index.put(f"elsewhere{j}", vector[None], (grant("v2"),))
    hit = search(index, probe)
    assert hit is not None and hit.customer_id == "c17"
    assert search(index, probe, venue="v2").customer_id.startswith("elsewhere")


@pytest.mark.faces
def test_background_build_keeps_answers_exact_and_replays_changes(synth: Synth) -> None:
    n = 6_000
    vectors = synth.templates(0, n)
    index = MatchIndex(ann_min=5_000)
    for i in range(n):
        index.put(f"c{i}", vectors[i : i + 1], (grant(),))
        if i == 5_100:
            index.remove("c10")  # while the background build may be running
    assert index.wait_for_ann(timeout=60)
    assert index.stats()["mode"] == "ann"
    rng = np.random.default_rng(6)
    probes = synth.probes(np.array([10, 11, 5_999]), rng)
    assert search(index, probes[0]) is None or search(index, probes[0]).customer_id != "c10"
    assert search(index, probes[1]).customer_id == "c11"
    assert search(index, probes[2]).customer_id == "c5999"


@pytest.mark.faces
def test_searches_and_removals_from_many_threads(synth: Synth) -> None:
    n = 8_000
    index = ann_index(synth, n)
    rng = np.random.default_rng(8)
    probes = synth.probes(np.arange(0, 400), rng)
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            for probe in probes:
                search(index, probe)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(0, 400, 2):
        index.remove(f"c{i}")
    for t in threads:
        t.join()
    assert not errors
    for i in range(0, 400, 2):
        hit = search(index, probes[i])
        assert hit is None or hit.customer_id != f"c{i}"
    assert len(index) == n - 200
