"""The match index split by gallery: one :class:`MatchIndex` per (venue, purpose).

A kiosk's probe is compared only with the customers whose consent covers that kiosk's
venue and purpose: the filter comes before the nearest-neighbour search, never after it.
So the gallery that drives false matches is one venue's, not the whole chain's, and a face
whose consent names another venue or another purpose is simply not in the searched
gallery, exactly like a stranger's. Inside a partition only the nearest customer is
judged (``nearest_only``): an expired consent gives "no match" by the same path and work
as a stranger. Revoked and erased customers leave every partition before the call that
revoked them returns.

A customer whose consents name several venues or purposes is held once per partition
(about 0.55 KB per template and partition).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from vault.index.match import ANN_MIN, CANDIDATES, Loader, MatchIndex
from vault.index.records import F32, Batch, Grant, Hit, Query, as_rows, wipe

__all__ = ["Partition", "PartitionedIndex"]

#: A gallery: (venue, purpose).
Partition = tuple[str, str]


def _split(grants: tuple[Grant, ...]) -> dict[Partition, tuple[Grant, ...]]:
    """Each partition a customer belongs to, with the grants that put them there."""
    if len(grants) == 1 and len(grants[0].venues) == 1:
        (grant,) = grants  # most customers: one consent, one purpose, one venue
        return {(next(iter(grant.venues)), grant.purpose): grants}
    out: dict[Partition, list[Grant]] = {}
    for grant in grants:
        for venue in sorted(grant.venues):
            out.setdefault((venue, grant.purpose), []).append(grant)
    return {key: tuple(listed) for key, listed in out.items()}


class PartitionedIndex:
    """The vault's match index: one gallery per (venue, purpose), each a
    :class:`MatchIndex` (exact, or approximate with exact re-ranking when large)."""

    def __init__(self, *, ann_min: int = ANN_MIN, candidates: int = CANDIDATES) -> None:
        self._lock = threading.RLock()
        self.ann_min = ann_min
        self.candidates = candidates
        self._parts: dict[Partition, MatchIndex] = {}
        # customer -> their partitions (a single one stored bare: the usual case)
        self._where: dict[str, Partition | frozenset[Partition]] = {}

    def __len__(self) -> int:
        """Template rows held, over every partition."""
        with self._lock:
            return sum(len(part) for part in self._parts.values())

    def __contains__(self, customer_id: object) -> bool:
        with self._lock:
            return customer_id in self._where

    def customers(self) -> int:
        """Customers held in at least one partition."""
        with self._lock:
            return len(self._where)

    def customer_ids(self) -> list[str]:
        """The customers held."""
        with self._lock:
            return list(self._where)

    def partitions(self) -> dict[Partition, int]:
        """Customers per partition."""
        with self._lock:
            return {key: part.customers() for key, part in self._parts.items() if part.customers()}

    def partitions_of(self, customer_id: str) -> frozenset[Partition]:
        """The galleries a customer is in."""
        with self._lock:
            return self._keys(customer_id)

    def _keys(self, customer_id: str) -> frozenset[Partition]:
        where = self._where.get(customer_id)
        if where is None:
            return frozenset()
        return where if isinstance(where, frozenset) else frozenset((where,))

    def _remember(self, customer_id: str, keys: Iterable[Partition]) -> None:
        keys = frozenset(keys)
        if not keys:
            self._where.pop(customer_id, None)
        elif len(keys) == 1:
            (self._where[customer_id],) = keys
        else:
            self._where[customer_id] = keys

    def gallery(self, key: Partition) -> MatchIndex | None:
        """The index of one (venue, purpose) gallery, None if nobody was ever in it."""
        return self._parts.get(key)

    def _part(self, key: Partition) -> MatchIndex:
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = MatchIndex(ann_min=self.ann_min, candidates=self.candidates)
        return part

    # -- changes ----------------------------------------------------------------------

    def put(self, customer_id: str, vectors: F32, grants: tuple[Grant, ...]) -> None:
        """Add or replace a customer's templates and grants."""
        vectors = as_rows(vectors)
        split = _split(grants)
        with self._lock:
            for key in self._keys(customer_id) - split.keys():
                self._parts[key].remove(customer_id)
            for key, sub in split.items():
                self._part(key).put(customer_id, vectors, sub)
            self._remember(customer_id, split)

    def set_grants(self, customer_id: str, grants: tuple[Grant, ...]) -> None:
        """Replace a customer's grants: they leave the partitions no grant covers any
        more; with none left they leave the index."""
        split = _split(grants)
        with self._lock:
            before = self._keys(customer_id)
            if not before:
                return
            vectors = None
            if split.keys() - before:
                vectors = self._parts[next(iter(before))].vectors_of(customer_id)
            for key in before - split.keys():
                self._parts[key].remove(customer_id)
            for key, sub in split.items():
                if key in before:
                    self._parts[key].set_grants(customer_id, sub)
                elif vectors is not None:
                    self._part(key).put(customer_id, vectors, sub)
            if vectors is not None:
                wipe(vectors)  # the copy taken to fill the new partitions
            self._remember(customer_id, split)

    def grants(self, customer_id: str) -> tuple[Grant, ...]:
        """The grants held for a customer, over every partition (empty if absent)."""
        with self._lock:
            out: list[Grant] = []
            for key in sorted(self._keys(customer_id)):
                out += [g for g in self._parts[key].grants(customer_id) if g not in out]
            return tuple(out)

    def remove(self, customer_id: str) -> bool:
        """Remove a customer from every partition at once (their rows are zeroed)."""
        with self._lock:
            keys = self._keys(customer_id)
            self._where.pop(customer_id, None)
            for key in keys:
                self._parts[key].remove(customer_id)
            return bool(keys)

    def bulk_load(self, batches: Iterable[Batch], expected: int = 0) -> int:
        """Put many customers, each into their partitions; a partition's approximate
        index is built on another thread while batches still come. ``expected`` is about
        how many template rows will come (to size things)."""
        loaders: dict[Partition, Loader] = {}
        try:
            for batch in batches:
                with self._lock:
                    for customer_id in batch.customer_ids:
                        if customer_id in self._where:
                            self.remove(customer_id)
                for key, sub in self._by_partition(batch).items():
                    loader = loaders.get(key)
                    if loader is None:
                        # Its share of what is expected, judged from the first batch.
                        share = len(sub.vectors) / max(1, len(batch.vectors))
                        loader = loaders[key] = self._part(key).start_load(int(expected * share))
                    loader.feed(sub)
                    if sub.vectors is not batch.vectors:
                        wipe(sub.vectors)  # a partition's copy of decrypted templates
                with self._lock:
                    for customer_id, grants in zip(batch.customer_ids, batch.grants, strict=True):
                        if grants:
                            self._remember(customer_id, _split(grants))
        finally:
            for loader in loaders.values():
                loader.finish()
        return sum(loader.loaded for loader in loaders.values())

    def _by_partition(self, batch: Batch) -> dict[Partition, Batch]:
        splits = [_split(grants) for grants in batch.grants]
        keys = {key for split in splits for key in split}
        if len(keys) == 1 and all(len(split) == 1 for split in splits):
            return {next(iter(keys)): batch}  # one gallery: the whole batch as it is
        starts = batch.starts()
        out: dict[Partition, Batch] = {}
        blocks: dict[Partition, list[F32]] = {}
        for i, split in enumerate(splits):
            rows = batch.vectors[starts[i] : starts[i + 1]]
            for key, sub in split.items():
                part = out.get(key)
                if part is None:
                    part = out[key] = Batch([], [], batch.vectors[:0], [])
                    blocks[key] = []
                part.customer_ids.append(batch.customer_ids[i])
                part.counts.append(batch.counts[i])
                part.grants.append(sub)
                blocks[key].append(rows)
        for key, part in out.items():
            part.vectors = np.concatenate(blocks[key])
        return out

    # -- searching ----------------------------------------------------------------------

    def search(
        self,
        probe: npt.NDArray[np.floating],
        *,
        purpose: str,
        venue: str,
        now: datetime,
        threshold: float,
        margin: float = 0.0,
        exact: bool = False,
    ) -> Hit | None:
        """The customer of the (venue, purpose) gallery that ``probe`` shows: the nearest
        one, if within ``threshold``, at least ``margin`` nearer than the second nearest,
        and their consent still unexpired at ``now``; else None."""
        part = self.gallery((venue, purpose))
        if part is None:
            return None
        query = Query(purpose, venue, now, threshold, margin)
        return part.search(probe, query, nearest_only=True, exact=exact)

    def quick(self, *, purpose: str, venue: str) -> bool:
        """True if a search of that gallery costs well under a millisecond."""
        part = self.gallery((venue, purpose))
        return part is None or part.quick()

    def wait_for_ann(self, timeout: float | None = None) -> bool:
        """Wait for background builds of approximate indexes; True if none is left."""
        with self._lock:
            parts = list(self._parts.values())
        return all([part.wait_for_ann(timeout) for part in parts])

    def stats(self) -> dict[str, Any]:
        """What the index holds, per partition (for metrics, readiness and benchmarks)."""
        with self._lock:
            parts = {key: part.stats() for key, part in self._parts.items()}
        return {
            "templates": sum(p["templates"] for p in parts.values()),
            "customers": len(self._where),
            "partitions": [
                {"venue": venue, "purpose": purpose} | stats
                for (venue, purpose), stats in sorted(parts.items())
                if stats["customers"]
            ],
        }

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held by the matrices and the approximate indexes, over every partition."""
        with self._lock:
            parts = list(self._parts.values())
        out = {"matrix": 0, "ann": 0}
        for part in parts:
            for name, value in part.memory_bytes().items():
                out[name] += value
        return out
