"""The partitioned match index: a probe is compared only with the gallery of its kiosk's
venue and purpose, the best customer must beat the second by the margin, and an expired
consent gives what a stranger gets, by the same path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest

from vault.index import Batch, Grant, PartitionedIndex

# No database: one pass (SQLite) proves it.
pytestmark = pytest.mark.engine_neutral

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
T = 1.0  # threshold
M = 0.05  # margin


def unit(seed: int) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: npt.NDArray[np.float32], distance: float, seed: int) -> npt.NDArray[np.float32]:
    """A point at exactly ``distance`` from ``v``."""
    d = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    d -= d.dot(v) * v
    return (v + distance * d / np.linalg.norm(d)).astype(np.float32)


def grant(
    venues: tuple[str, ...] = ("v1",), purpose: str = "checkin", expires: datetime | None = None
) -> Grant:
    return Grant(f"cs-{'-'.join(venues)}-{purpose}", purpose, frozenset(venues), expires)


def search(
    index: PartitionedIndex,
    probe: npt.NDArray[np.float32],
    *,
    venue: str = "v1",
    purpose: str = "checkin",
    now: datetime = NOW,
    margin: float = M,
    exact: bool = False,
) -> str | None:
    hit = index.search(
        probe, purpose=purpose, venue=venue, now=now, threshold=T, margin=margin, exact=exact
    )
    return hit.customer_id if hit else None


def test_a_probe_sees_only_its_venue_and_purpose() -> None:
    index = PartitionedIndex()
    a, b = unit(1), unit(2)
    index.put("a", a[None], (grant(("v1",)),))
    index.put("b", b[None], (grant(("v2",), "marketing"),))
    assert search(index, near(a, 0.3, 9)) == "a"
    assert search(index, near(a, 0.3, 9), venue="v2") is None
    assert search(index, near(b, 0.3, 9), venue="v2") is None  # b consented to marketing only
    assert search(index, near(b, 0.3, 9), venue="v2", purpose="marketing") == "b"
    assert search(index, near(b, 0.3, 9), venue="v1", purpose="marketing") is None
    assert index.partitions() == {("v1", "checkin"): 1, ("v2", "marketing"): 1}


def test_a_customer_of_several_venues_is_in_each_gallery() -> None:
    index = PartitionedIndex()
    a = unit(1)
    index.put("a", np.stack([a, near(a, 0.2, 3)]), (grant(("v1", "v2")),))
    for venue in ("v1", "v2"):
        assert search(index, near(a, 0.3, 9), venue=venue) == "a"
    assert search(index, near(a, 0.3, 9), venue="v3") is None
    assert index.customers() == 1
    assert len(index) == 4  # two templates in each of two galleries


def test_two_customers_alike_within_the_margin_give_no_match() -> None:
    index = PartitionedIndex()
    a = unit(1)
    twin = near(a, 0.6, 5)
    index.put("a", a[None], (grant(),))
    index.put("twin", twin[None], (grant(),))
    towards = (twin - a) / np.linalg.norm(twin - a)
    torn = a + 0.28 * towards  # 0.28 from a, 0.32 from the twin: 0.04 apart, under M
    assert search(index, torn) is None
    assert search(index, torn, margin=0.0) == "a"
    clear = a + 0.2 * towards  # 0.2 against 0.4
    assert search(index, clear) == "a"
    assert search(index, twin + 0.2 * -towards) == "twin"


def test_margin_counts_customers_not_templates() -> None:
    """Two templates of the same customer close together never count as 'alike'."""
    index = PartitionedIndex()
    a = unit(1)
    index.put("a", np.stack([a, near(a, 0.01, 2)]), (grant(),))
    assert search(index, near(a, 0.3, 9)) == "a"


def test_expired_nearest_customer_is_no_match_even_with_another_eligible() -> None:
    index = PartitionedIndex()
    a = unit(1)
    index.put("a", a[None], (grant(expires=NOW + timedelta(days=1)),))
    index.put("far", near(a, 0.9, 4)[None], (grant(),))
    probe = near(a, 0.2, 6)
    assert search(index, probe) == "a"
    later = NOW + timedelta(days=2)
    assert search(index, probe, now=later) is None  # not the farther customer


def test_revoking_one_venue_leaves_only_that_gallery() -> None:
    index = PartitionedIndex()
    a = unit(1)
    index.put("a", a[None], (grant(("v1", "v2")),))
    index.set_grants("a", (grant(("v2",)),))
    assert search(index, near(a, 0.3, 9), venue="v1") is None
    assert search(index, near(a, 0.3, 9), venue="v2") == "a"
    # A new consent for another venue takes the templates the index already holds.
    index.set_grants("a", (grant(("v2",)), grant(("v3",))))
    assert search(index, near(a, 0.3, 9), venue="v3") == "a"
    index.set_grants("a", ())
    assert "a" not in index
    assert search(index, near(a, 0.3, 9), venue="v2") is None


def test_remove_takes_a_customer_out_of_every_gallery() -> None:
    index = PartitionedIndex()
    a = unit(1)
    index.put("a", a[None], (grant(("v1", "v2")), grant(("v1",), "marketing")))
    assert index.remove("a")
    assert not index.remove("a")
    for venue, purpose in (("v1", "checkin"), ("v2", "checkin"), ("v1", "marketing")):
        assert search(index, a, venue=venue, purpose=purpose) is None
    assert index.partitions() == {}


def test_bulk_load_routes_each_customer_to_its_galleries() -> None:
    index = PartitionedIndex()
    people = [unit(i) for i in range(60)]
    entries = []
    for i, v in enumerate(people):
        venues = ("v1",) if i % 3 == 0 else ("v2",) if i % 3 == 1 else ("v1", "v2")
        entries.append((f"c{i}", v[None], (grant(venues),)))
    loaded = index.bulk_load([Batch.of(entries[:30]), Batch.of(entries[30:])], expected=80)
    assert loaded == 80  # 40 single-venue + 20 two-venue customers
    assert index.partitions() == {("v1", "checkin"): 40, ("v2", "checkin"): 40}
    for i, v in enumerate(people):
        in_v1 = i % 3 != 1
        assert search(index, near(v, 0.3, 100 + i), venue="v1") == (f"c{i}" if in_v1 else None)


@pytest.mark.parametrize("margin", [0.0, M])
def test_approximate_galleries_agree_with_exact_search(margin: float) -> None:
    """Galleries large enough for the approximate index answer as an exact scan does."""
    index = PartitionedIndex(ann_min=2_000)
    n = 3_000
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    entries = [(f"c{i}", vectors[i : i + 1], (grant(),)) for i in range(n)]
    index.bulk_load([Batch.of(entries[i : i + 1000]) for i in range(0, n, 1000)], expected=n)
    assert index.wait_for_ann(60)
    assert index.stats()["partitions"][0]["mode"] == "ann"
    for i in range(0, n, 97):
        probe = near(vectors[i], 0.4, i)
        assert search(index, probe, margin=margin) == search(
            index, probe, margin=margin, exact=True
        )
        assert search(index, probe, margin=margin) == f"c{i}"
