"""One gallery's 1:N search: the matrix, with an approximate index once it is large.

Up to ``ann_min`` templates a probe is compared with every row (exact search). From
there the approximate index proposes ``candidates`` rows, which are re-ranked with exact
float32 distances from the matrix. The approximate index only ever *proposes* rows: a
removed row is refused by the matrix even before FAISS forgets it, and if every nearby
candidate is ineligible (purpose, venue, expiry) the search falls back to an exact scan,
so ANN can only cost recall, never a wrong answer.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from vault.index.ann import Ann
from vault.index.builder import Builder
from vault.index.matrix import Matrix
from vault.index.records import F32, Batch, Grant, Hit, Query, as_rows

#: Live templates from which searches use the approximate index.
ANN_MIN = 20_000
#: Rows the approximate index proposes for exact re-ranking.
CANDIDATES = 32
#: Rebuild the approximate index (more cells) once the index has grown this many times.
REBUILD_GROWTH = 4

log = logging.getLogger("facekeep.index")


class Loader:
    """One bulk load in progress (see :meth:`MatchIndex.start_load`)."""

    def __init__(self, index: MatchIndex, builder: Builder | None) -> None:
        self._index = index
        self._builder = builder
        self.loaded = 0
        self._began = time.perf_counter()

    def feed(self, batch: Batch) -> int:
        """Put a batch of customers; returns how many templates it added."""
        added = self._index._load(batch)
        self.loaded += added
        return added

    def finish(self) -> None:
        """Wait for the approximate index being built alongside, and put it in place."""
        fed = time.perf_counter()
        if self._builder is not None:
            self._builder.close()
            self._builder.join()
        log.info(
            "bulk load: %d templates in %.1f s, then %.1f s finishing the approximate index",
            self.loaded,
            fed - self._began,
            time.perf_counter() - fed,
        )
        self._index._loaded()


class MatchIndex:
    """1:N search over float32 templates, with per-customer grants.

    Exact up to ``ann_min`` live templates; above, an approximate index proposes
    ``candidates`` rows that are re-ranked exactly (see the module documentation).
    """

    def __init__(
        self, capacity: int = 1024, *, ann_min: int = ANN_MIN, candidates: int = CANDIDATES
    ) -> None:
        self._lock = threading.RLock()
        self.ann_min = ann_min
        self.candidates = candidates
        self._matrix = Matrix(capacity)
        self._ann: Ann | None = None
        self._build: Builder | None = None
        #: Searches the approximate index could not settle and the exact scan did.
        self.fallbacks = 0

    def __len__(self) -> int:
        """Number of templates in the index."""
        with self._lock:
            return len(self._matrix)

    def customers(self) -> int:
        """Number of customers in the index."""
        with self._lock:
            return self._matrix.customers()

    def __contains__(self, customer_id: object) -> bool:
        with self._lock:
            return customer_id in self._matrix

    def customer_ids(self) -> list[str]:
        """The customers in the index."""
        with self._lock:
            return self._matrix.customer_ids()

    @property
    def matrix(self) -> Matrix:
        """The rows themselves, for inspection (tests check what is wiped); change the
        index through its own methods only."""
        return self._matrix

    # -- storage --------------------------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows in one allocation (before a bulk load)."""
        with self._lock:
            self._matrix.reserve(capacity)

    def _place(self, batch: Batch) -> int:  # lock held
        """Store customers absent from the index, with their templates, in one go."""
        rows, vectors = self._matrix.place(batch)
        if rows.size:
            if self._ann is not None:
                self._ann.add(vectors, rows, 1)
            if self._build is not None:
                self._build.feed(rows)
        return int(rows.size)

    def put(self, customer_id: str, vectors: F32, grants: tuple[Grant, ...]) -> None:
        """Add or replace a customer's templates and grants."""
        vectors = as_rows(vectors)
        with self._lock:
            self.remove(customer_id)
            if not grants:
                return
            self._place(Batch([customer_id], [len(vectors)], vectors, [grants]))
            self._maybe_build()

    def set_grants(self, customer_id: str, grants: tuple[Grant, ...]) -> None:
        """Replace a customer's grants; with none left the customer leaves the index."""
        with self._lock:
            if not grants:
                self.remove(customer_id)
            else:
                self._matrix.set_grants(customer_id, grants)

    def grants(self, customer_id: str) -> tuple[Grant, ...]:
        """The grants the index holds for a customer (empty if absent)."""
        with self._lock:
            return self._matrix.grants(customer_id)

    def remove(self, customer_id: str) -> bool:
        """Remove a customer at once, zeroing their rows. Returns whether they were present.

        Their rows can never match again from this moment (exact and approximate search
        both check the matrix); they also leave the approximate index before this returns.
        """
        with self._lock:
            rows = self._matrix.release(customer_id)
            if rows is None:
                return False
            if rows.size:
                if self._ann is not None:
                    self._ann.remove(rows)
                if self._build is not None:
                    self._build.forget(rows)
            return True

    def vectors_of(self, customer_id: str) -> F32 | None:
        """A copy of a customer's templates, or None if absent."""
        with self._lock:
            return self._matrix.copy_of(customer_id)

    # -- bulk loads -----------------------------------------------------------------------

    def bulk_load(self, batches: Iterable[Batch], expected: int = 0) -> int:
        """Put many customers (each like :meth:`put`), building the approximate index on
        another thread while ``batches`` is still being produced; returns when it is in
        place. ``expected`` is about how many templates will come (to size things)."""
        loader = self.start_load(expected)
        try:
            for batch in batches:
                loader.feed(batch)
        finally:
            loader.finish()
        return loader.loaded

    def start_load(self, expected: int = 0) -> Loader:
        """Begin a bulk load fed batch by batch (:meth:`bulk_load` in steps, so a caller
        can feed several indexes from one pass over the data)."""
        self.wait_for_ann()
        with self._lock:
            self._matrix.reserve(self._matrix.top + expected)
            total = len(self._matrix) + expected
            builder = self._start_build(total, closed=False) if total >= self.ann_min else None
        return Loader(self, builder)

    def _load(self, batch: Batch) -> int:
        """One batch of a bulk load: customers already held are replaced, those without
        grants left out."""
        with self._lock:
            if self._matrix.customers():
                for customer_id in batch.customer_ids:
                    if customer_id in self._matrix:
                        self.remove(customer_id)
            keep = [i for i, grants in enumerate(batch.grants) if grants]
            if len(set(batch.customer_ids)) != len(batch.customer_ids):
                raise ValueError("a customer appears twice in one batch")
            if len(keep) < len(batch.grants):
                batch = batch.select(keep)
            return self._place(batch)

    def _loaded(self) -> None:
        """A bulk load is over: build the approximate index if none covers the rows."""
        with self._lock:
            self._maybe_build()

    # -- the approximate index -----------------------------------------------------------

    def _start_build(self, expected: int, *, closed: bool) -> Builder:  # lock held
        builder = Builder(self._matrix, self._lock, expected, closed=closed, done=self._built)
        self._build = builder
        builder.feed(self._matrix.used_rows())
        builder.start()
        return builder

    def _built(self, builder: Builder) -> None:  # lock held
        if builder.error is None:
            self._ann = builder.ann
            self._build = None
        elif self._build is builder:
            self._build = None

    def _maybe_build(self) -> None:  # lock held
        if self._build is not None:
            return
        live = len(self._matrix)
        if self._ann is None:
            if live >= self.ann_min:
                self._start_build(live, closed=True)
        elif live > REBUILD_GROWTH * self._ann.built_for:
            self._start_build(live, closed=True)

    def wait_for_ann(self, timeout: float | None = None) -> bool:
        """Wait for a background build of the approximate index; True if none is left."""
        with self._lock:
            build = self._build
        if build is not None:
            build.join(timeout)
        with self._lock:
            return self._build is None

    def _uses_ann(self) -> bool:
        return self._ann is not None and len(self._matrix) >= self.ann_min // 2

    def quick(self) -> bool:
        """True if a search costs well under a millisecond: the approximate index serves
        it, or the exact scan is small (an event loop may then search inline)."""
        with self._lock:
            return self._uses_ann() or self._matrix.top <= self.ann_min

    def stats(self) -> dict[str, Any]:
        """What the index holds and how it searches (for metrics and benchmarks)."""
        with self._lock:
            ann = self._ann
            return {
                "templates": len(self._matrix),
                "customers": self._matrix.customers(),
                "capacity": self._matrix.capacity,
                "mode": "ann" if self._uses_ann() else "exact",
                "nlist": ann.nlist if ann else None,
                "nprobe": ann.nprobe if ann else None,
                "candidates": self.candidates,
                "building": self._build is not None,
                "fallbacks": self.fallbacks,
            }

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held by the matrix (vectors, norms, owners) and the approximate index."""
        with self._lock:
            return {
                "matrix": self._matrix.nbytes(),
                "ann": self._ann.nbytes() if self._ann else 0,
            }

    # -- searching -----------------------------------------------------------------------

    def search(
        self,
        probe: npt.NDArray[np.floating],
        query: Query,
        *,
        nearest_only: bool = False,
        exact: bool = False,
    ) -> Hit | None:
        """Best customer for ``query``: within its threshold, with a grant that covers its
        purpose and venue at its time.

        With a ``margin``, the best customer must also be at least that much nearer than
        the second-best customer, or nothing matches (two people alike). With
        ``nearest_only`` (an index that holds one venue and purpose), only the nearest
        customer is judged: if their grant has expired nothing matches, by the same path
        and work as a stranger's probe. Otherwise customers whose grants do not cover the
        probe are skipped, and if every nearby candidate is skipped the search scans
        every row. ``exact`` forces a scan of every row (otherwise used below ``ann_min``
        templates).
        """
        q = as_rows(probe, 1)[0]
        if type(query.threshold) is not float or type(query.margin) is not float:
            # (A NumPy scalar would carry its own precision into the comparisons.)
            query = query._replace(threshold=float(query.threshold), margin=float(query.margin))
        with self._lock:
            ann = self._ann if not exact and self._uses_ann() else None
        # FAISS only proposes rows; everything it says is checked against the matrix below,
        # so it may run outside the lock while a customer is being removed.
        proposed = ann.search(q, self.candidates) if ann is not None else None
        matrix = self._matrix
        with self._lock:
            if not len(matrix):
                return None
            if proposed is not None:
                # (A row proposed twice, by a stale code, is skipped by best's slot check.)
                rows, d2 = matrix.rank(proposed, q)
                if rows.size:
                    hit, refused = matrix.best(rows, d2, q, query, nearest_only)
                    if hit is not None or not refused:
                        return hit
                # Nothing proposed, or every nearby candidate is ineligible: scan all.
                self.fallbacks += 1
            rows, d2 = matrix.scan(q, query.reach2)
            return matrix.best(rows, d2, q, query, nearest_only)[0]
