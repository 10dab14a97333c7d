"""The in-memory match index: decrypted templates of customers with an active consent.

A float32 matrix with one row per template is the truth: exact distances, removals and
consent grants all come from it. Removing a customer marks their rows free at once
(their squared norm becomes +inf, so no distance to them is ever finite) and puts them on
a free list. Consent grants are kept beside the rows, so a match checks purpose, venue
and expiry at the moment of the probe (no expiry job needed).

Up to ``ann_min`` templates a probe is compared with every row (exact search). From
there an approximate index (FAISS: an inverted file over k-means cells with 4-bit
product-quantised codes scanned with SIMD, "IVF-PQ fast scan") proposes ``candidates``
rows, which are re-ranked with exact float32 distances from the matrix. The approximate
index only ever *proposes* rows: a removed row is refused by the matrix even before
FAISS forgets it, and if every nearby candidate is ineligible (purpose, venue, expiry)
the search falls back to an exact scan, so ANN can only cost recall, never a wrong
answer. The approximate index adds about 25 bytes per template to the 520 of the matrix
(vector, squared norm, owner).

Building the approximate index (k-means training, then encoding every row) runs on a
background thread: while it runs, searches stay exact, enrolments and removals are
recorded and replayed, and the finished index is swapped in under the lock.
:meth:`MatchIndex.bulk_load` feeds that thread while the caller is still decrypting, so a
cold start uses both cores.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

DIM = 128
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: Live templates from which searches use the approximate index.
ANN_MIN = 20_000
#: Rows the approximate index proposes for exact re-ranking.
CANDIDATES = 32
#: Rebuild the approximate index (more cells) once the index has grown this many times.
REBUILD_GROWTH = 4
_PQ_SUBQUANTIZERS = 32  # 32 x 4 bits = 16 bytes per template
_ADD_BATCH = 65_536

log = logging.getLogger("facekeep.index")


class Grant(NamedTuple):
    """One purpose of one consent, at a set of venues, until an optional expiry.

    (Immutable; a named tuple because a cold start makes a million of them.)
    """

    consent_id: str
    purpose: str
    venues: frozenset[str]
    expires_at: datetime | None

    def allows(self, purpose: str, venue: str, now: datetime) -> bool:
        """True if this grant covers the purpose and venue at ``now``."""
        return (
            self.purpose == purpose
            and venue in self.venues
            and (self.expires_at is None or now < self.expires_at)
        )


@dataclass(frozen=True, slots=True)
class Hit:
    """The best eligible customer for a probe."""

    customer_id: str
    distance: float
    consent_id: str


@dataclass
class Batch:
    """Customers for :meth:`MatchIndex.bulk_load`: ``vectors`` holds their templates one
    customer after another, ``counts[i]`` of them for ``customer_ids[i]``."""

    customer_ids: list[str]
    counts: list[int]
    vectors: F32
    grants: list[tuple[Grant, ...]]

    @classmethod
    def of(cls, entries: Sequence[tuple[str, F32, tuple[Grant, ...]]]) -> Batch:
        """From (customer id, templates, grants) triples."""
        blocks = [np.asarray(v, dtype=np.float32).reshape(-1, DIM) for _, v, _ in entries]
        return cls(
            [customer_id for customer_id, _, _ in entries],
            [len(b) for b in blocks],
            np.concatenate(blocks) if blocks else np.empty((0, DIM), np.float32),
            [grants for _, _, grants in entries],
        )


class _Entry:
    """One customer in the index: a slot number, their rows and their grants."""

    __slots__ = ("grants", "rows", "slot")

    def __init__(self, slot: int, rows: tuple[int, ...], grants: tuple[Grant, ...]) -> None:
        self.slot = slot
        self.rows = rows
        self.grants = grants


def _faiss() -> Any:
    import faiss

    return faiss


def ann_shape(n: int) -> tuple[int, int]:
    """(cells, cells probed per search) for an index of about ``n`` templates."""
    target = max(1.0, math.sqrt(max(n, 1)) / 2)
    nlist = int(min(1024, max(16, 2 ** round(math.log2(target)))))
    return nlist, max(8, nlist // 8)


class _SharedLock:
    """Many readers or one writer (writers first). FAISS searches are safe in parallel
    but not alongside an add or a removal on the same index."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


class _Ann:
    """A FAISS IVF-PQ fast-scan index whose ids are rows of the matrix.

    Searches run in parallel with each other (and outside the match index's lock, so
    that a thread waiting for the GIL inside FAISS never holds up the others); adds and
    removals exclude them.
    """

    def __init__(self, expected: int) -> None:
        faiss = _faiss()
        self.built_for = max(expected, 1)
        self.nlist, self.nprobe = ann_shape(expected)
        self._quantizer = faiss.IndexFlatL2(DIM)  # referenced here: FAISS does not own it
        index = faiss.IndexIVFPQFastScan(
            self._quantizer, DIM, self.nlist, _PQ_SUBQUANTIZERS, 4, faiss.METRIC_L2
        )
        index.by_residual = False
        index.cp.niter = 10
        index.verbose = False
        index.nprobe = self.nprobe
        self.index = index
        self._packer = index.get_CodePacker()
        self.lock = _SharedLock()

    def train_size(self) -> int:
        return min(self.built_for, max(50 * self.nlist, 20_000), 65_536)

    def train(self, x: F32, threads: int) -> None:
        _faiss().omp_set_num_threads(threads)
        self.index.train(np.ascontiguousarray(x, dtype=np.float32))

    def add(self, x: F32, rows: I64, threads: int) -> None:
        _faiss().omp_set_num_threads(threads)
        with self.lock.exclusive():
            self.index.add_with_ids(np.ascontiguousarray(x, dtype=np.float32), rows)

    def remove(self, rows: I64) -> None:
        with self.lock.exclusive():
            self._remove(rows)

    def _remove(self, rows: I64) -> None:
        faiss = _faiss()
        faiss.omp_set_num_threads(1)
        lists = faiss.downcast_InvertedLists(self.index.invlists)
        before = [lists.list_size(i) for i in range(self.nlist)]
        if not self.index.remove_ids(np.ascontiguousarray(rows, dtype=np.int64)):
            return
        # FAISS (1.15) packs 4-bit codes into 32-vector blocks by OR-ing them into memory
        # it assumes is zero; remove_ids moves the last entries into the holes but leaves
        # their old nibbles behind, which would corrupt codes added later at those places.
        # Clear the vacated places of every list that shrank.
        packer = self._packer
        zero = np.zeros(packer.code_size, dtype=np.uint8)
        for i, size in enumerate(before):
            now = lists.list_size(i)
            if now == size:
                continue
            codes = lists.get_codes(i)
            end = min(size, -(-now // packer.nvec) * packer.nvec)
            for place in range(now, end):
                packer.pack_1_c(faiss.swig_ptr(zero), place, codes)

    def search(self, q: F32, k: int) -> I64:
        _faiss().omp_set_num_threads(1)  # per calling thread: no idle OpenMP team spinning
        with self.lock.shared():
            _, ids = self.index.search(q.reshape(1, DIM), k)
        found: I64 = ids[0]
        return found

    def nbytes(self) -> int:
        return int(_faiss().serialize_index(self.index).size)


class _Builder:
    """Trains and fills a new approximate index on a background thread.

    Rows to add are queued under the index lock (``feed``); rows removed meanwhile are
    remembered (``dead``). When the queue is empty and no more rows are expected, the
    builder takes the lock, forgets rows that died, and swaps its index in.
    """

    def __init__(self, owner: MatchIndex, expected: int, *, closed: bool) -> None:
        self.owner = owner
        self.ann = _Ann(expected)
        self.queue: list[I64] = []
        self.queued = 0
        self.dead: list[I64] = []
        self.closed = closed
        self.error: BaseException | None = None
        self.cond = threading.Condition(owner._lock)
        self.thread = threading.Thread(target=self._run, name="facekeep-ann", daemon=True)

    def feed(self, rows: I64) -> None:  # caller holds the lock
        if rows.size:
            self.queue.append(rows)
            self.queued += int(rows.size)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify()

    def _threads(self) -> int:
        # While the caller still feeds rows it is busy on one core: take the other only.
        return (os.cpu_count() or 1) if self.closed else 1

    def _take(self, limit: int) -> I64:  # caller holds the lock
        rows = np.concatenate(self.queue) if self.queue else np.empty(0, np.int64)
        taken, rest = rows[:limit], rows[limit:]
        self.queue = [rest] if rest.size else []
        self.queued = int(rest.size)
        return taken

    def _run(self) -> None:
        index = self.owner
        try:
            need = self.ann.train_size()
            with self.cond:
                while not self.closed and self.queued < need:
                    self.cond.wait()
                pool = np.concatenate(self.queue) if self.queue else np.empty(0, np.int64)
                pool = pool[index._owner[pool] >= 0]
                if pool.size < self.ann.nlist * 8:
                    raise RuntimeError("too few templates to train an approximate index")
                rng = np.random.default_rng(len(pool))
                sample = np.sort(rng.choice(pool, min(need, pool.size), replace=False))
                x = index._vectors[sample]
                threads = self._threads()
            self.ann.train(x, threads)
            while True:
                with self.cond:
                    while not self.queue and not self.closed:
                        self.cond.wait()
                    if not self.queue:
                        self._install()
                        return
                    rows = self._take(_ADD_BATCH)
                    x = index._vectors[rows]
                    threads = self._threads()
                self.ann.add(x, rows, threads)
        except BaseException as exc:  # the index keeps working exactly without it
            log.warning("approximate index not built: %s: %s", type(exc).__name__, exc)
            with self.cond:
                self.error = exc
                if index._build is self:
                    index._build = None

    def _install(self) -> None:  # caller holds the lock
        index = self.owner
        if self.dead:
            dead = np.unique(np.concatenate(self.dead))
            dead = dead[index._owner[dead] < 0]
            if dead.size:
                self.ann.remove(dead)
        index._ann = self.ann
        index._build = None


def _select(batch: Batch, keep: list[int]) -> Batch:
    starts = np.concatenate([[0], np.cumsum(batch.counts)]).astype(int)
    rows = [np.arange(starts[i], starts[i + 1]) for i in keep]
    return Batch(
        [batch.customer_ids[i] for i in keep],
        [batch.counts[i] for i in keep],
        batch.vectors[np.concatenate(rows)] if rows else batch.vectors[:0],
        [batch.grants[i] for i in keep],
    )


def wipe(array: npt.NDArray[Any]) -> None:
    """Overwrite a buffer that held decrypted templates with zeros, as the index does
    with a leaving customer's rows and the key store with data keys (best effort: only
    copies the vault made itself can be found and overwritten)."""
    if array.flags.writeable:
        array.fill(0)


class Loader:
    """One bulk load in progress (see :meth:`MatchIndex.start_load`)."""

    def __init__(self, index: MatchIndex, builder: _Builder | None) -> None:
        self.index = index
        self.builder = builder
        self.loaded = 0
        self.began = time.perf_counter()

    def feed(self, batch: Batch) -> int:
        """Put a batch of customers; returns how many templates it added."""
        index = self.index
        with index._lock:
            if index._entries:
                for customer_id in batch.customer_ids:
                    if customer_id in index._entries:
                        index.remove(customer_id)
            keep = [i for i, grants in enumerate(batch.grants) if grants]
            if len(set(batch.customer_ids)) != len(batch.customer_ids):
                raise ValueError("a customer appears twice in one batch")
            if len(keep) < len(batch.grants):
                batch = _select(batch, keep)
            added = index._place(batch)
        self.loaded += added
        return added

    def finish(self) -> None:
        """Wait for the approximate index being built alongside, and put it in place."""
        fed = time.perf_counter()
        if self.builder is not None:
            self.builder.close()
            self.builder.thread.join()
        log.info(
            "bulk load: %d templates in %.1f s, then %.1f s finishing the approximate index",
            self.loaded,
            fed - self.began,
            time.perf_counter() - fed,
        )
        with self.index._lock:
            self.index._maybe_build()


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
        self._vectors: F32 = np.zeros((capacity, DIM), dtype=np.float32)
        self._norms: F32 = np.full(capacity, np.inf, dtype=np.float32)  # inf = free row
        self._owner = np.full(capacity, -1, dtype=np.int32)  # customer slot, -1 = free
        self._top = 0  # rows at and above are free and were never used
        self._free: list[int] = []  # freed rows below _top
        self._customer_of: list[str | None] = []  # slot -> customer id
        self._free_slots: list[int] = []
        self._entries: dict[str, _Entry] = {}
        self._live = 0
        self._ann: _Ann | None = None
        self._build: _Builder | None = None
        #: Searches the approximate index could not settle and the exact scan did.
        self.fallbacks = 0

    def __len__(self) -> int:
        """Number of templates in the index."""
        with self._lock:
            return self._live

    def customers(self) -> int:
        """Number of customers in the index."""
        with self._lock:
            return len(self._entries)

    def __contains__(self, customer_id: object) -> bool:
        with self._lock:
            return customer_id in self._entries

    def customer_ids(self) -> list[str]:
        """The customers in the index."""
        with self._lock:
            return list(self._entries)

    # -- storage --------------------------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows in one allocation (before a bulk load)."""
        with self._lock:
            if capacity > len(self._owner):
                self._resize(capacity)

    def _resize(self, new: int) -> None:
        old = len(self._owner)
        vectors = np.zeros((new, DIM), dtype=np.float32)
        vectors[:old] = self._vectors
        # The old matrix holds decrypted templates: overwrite it before letting it go.
        self._vectors.fill(0.0)
        norms = np.full(new, np.inf, dtype=np.float32)
        norms[:old] = self._norms
        owner = np.full(new, -1, dtype=np.int32)
        owner[:old] = self._owner
        self._vectors, self._norms, self._owner = vectors, norms, owner

    def _rows(self, n: int) -> I64:
        reused = [self._free.pop() for _ in range(min(n, len(self._free)))]
        fresh = n - len(reused)
        if self._top + fresh > len(self._owner):
            self._resize(max(self._top + fresh, len(self._owner) * 3 // 2, 1024))
        rows = np.concatenate(
            [np.array(reused, dtype=np.int64), np.arange(self._top, self._top + fresh)]
        ).astype(np.int64)
        self._top += fresh
        return rows

    def _slots(self, customer_ids: Sequence[str]) -> list[int]:
        slots = []
        for customer_id in customer_ids:
            if self._free_slots:
                slot = self._free_slots.pop()
                self._customer_of[slot] = customer_id
            else:
                slot = len(self._customer_of)
                self._customer_of.append(customer_id)
            slots.append(slot)
        return slots

    def _place(self, batch: Batch) -> int:
        """Store customers absent from the index, with their templates, in one go."""
        counts = batch.counts
        total = sum(counts)
        vectors = np.asarray(batch.vectors, dtype=np.float32).reshape(total, DIM)
        rows = self._rows(total)
        slots = self._slots(batch.customer_ids)
        self._vectors[rows] = vectors
        self._norms[rows] = np.einsum("ij,ij->i", vectors, vectors)
        self._owner[rows] = np.repeat(np.array(slots, dtype=np.int32), counts)
        listed = rows.tolist()
        at = 0
        entries = self._entries
        for customer_id, slot, count, grants in zip(
            batch.customer_ids, slots, counts, batch.grants, strict=True
        ):
            entries[customer_id] = _Entry(slot, tuple(listed[at : at + count]), grants)
            at += count
        self._live += total
        if total:
            if self._ann is not None:
                self._ann.add(vectors, rows, 1)
            if self._build is not None:
                self._build.feed(rows)
        return total

    def put(self, customer_id: str, vectors: F32, grants: tuple[Grant, ...]) -> None:
        """Add or replace a customer's templates and grants."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
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
            elif customer_id in self._entries:
                self._entries[customer_id].grants = grants

    def grants(self, customer_id: str) -> tuple[Grant, ...]:
        """The grants the index holds for a customer (empty if absent)."""
        with self._lock:
            entry = self._entries.get(customer_id)
            return entry.grants if entry is not None else ()

    def remove(self, customer_id: str) -> bool:
        """Remove a customer at once, zeroing their rows. Returns whether they were present.

        Their rows can never match again from this moment (exact and approximate search
        both check the matrix); they also leave the approximate index before this returns.
        """
        with self._lock:
            entry = self._entries.pop(customer_id, None)
            if entry is None:
                return False
            rows = np.array(entry.rows, dtype=np.int64)
            self._vectors[rows] = 0.0
            self._norms[rows] = np.inf
            self._owner[rows] = -1
            self._free.extend(entry.rows)
            self._customer_of[entry.slot] = None
            self._free_slots.append(entry.slot)
            self._live -= len(rows)
            if rows.size:
                if self._ann is not None:
                    self._ann.remove(rows)
                if self._build is not None:
                    self._build.dead.append(rows)
            return True

    # -- the approximate index -----------------------------------------------------------

    def _start_build(self, expected: int, *, closed: bool) -> _Builder:  # lock held
        builder = _Builder(self, expected, closed=closed)
        self._build = builder
        builder.feed(np.flatnonzero(self._owner[: self._top] >= 0).astype(np.int64))
        builder.thread.start()
        return builder

    def _maybe_build(self) -> None:  # lock held
        if self._build is not None:
            return
        if self._ann is None:
            if self._live >= self.ann_min:
                self._start_build(self._live, closed=True)
        elif self._live > REBUILD_GROWTH * self._ann.built_for:
            self._start_build(self._live, closed=True)

    def wait_for_ann(self, timeout: float | None = None) -> bool:
        """Wait for a background build of the approximate index; True if none is left."""
        with self._lock:
            build = self._build
        if build is not None:
            build.thread.join(timeout)
        with self._lock:
            return self._build is None

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
            self.reserve(self._top + expected)
            total = self._live + expected
            builder = self._start_build(total, closed=False) if total >= self.ann_min else None
        return Loader(self, builder)

    def vectors_of(self, customer_id: str) -> F32 | None:
        """A copy of a customer's templates, or None if absent."""
        with self._lock:
            entry = self._entries.get(customer_id)
            if entry is None:
                return None
            return self._vectors[np.array(entry.rows, dtype=np.int64)].copy()

    def stats(self) -> dict[str, Any]:
        """What the index holds and how it searches (for metrics and benchmarks)."""
        with self._lock:
            ann = self._ann
            return {
                "templates": self._live,
                "customers": len(self._entries),
                "capacity": len(self._owner),
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
            matrix = self._vectors.nbytes + self._norms.nbytes + self._owner.nbytes
            return {"matrix": int(matrix), "ann": self._ann.nbytes() if self._ann else 0}

    def quick(self) -> bool:
        """True if a search costs well under a millisecond: the approximate index serves
        it, or the exact scan is small (an event loop may then search inline)."""
        with self._lock:
            return self._uses_ann() or self._top <= self.ann_min

    def _uses_ann(self) -> bool:
        return self._ann is not None and self._live >= self.ann_min // 2

    # -- searching -----------------------------------------------------------------------

    def search(
        self,
        probe: npt.NDArray[np.floating],
        *,
        purpose: str,
        venue: str,
        now: datetime,
        threshold: float,
        margin: float = 0.0,
        nearest_only: bool = False,
        exact: bool = False,
    ) -> Hit | None:
        """Best customer within ``threshold`` whose grant covers purpose and venue at ``now``.

        With ``margin``, the best customer must also be at least ``margin`` nearer than the
        second-best customer, or nothing matches (two people alike). With
        ``nearest_only`` (an index that holds one venue and purpose), only the nearest
        customer is judged: if their grant has expired nothing matches, by the same path
        and work as a stranger's probe. Otherwise customers whose grants do not cover the
        probe are skipped, and if every nearby candidate is skipped the search scans
        every row. ``exact`` forces a scan of every row (otherwise used below ``ann_min``
        templates).
        """
        q = np.asarray(probe, dtype=np.float32).reshape(DIM)
        rule = _Rule(float(threshold), float(margin), nearest_only, purpose, venue, now)
        with self._lock:
            ann = self._ann if not exact and self._uses_ann() else None
        # FAISS only proposes rows; everything it says is checked against the matrix below,
        # so it may run outside the lock while a customer is being removed.
        proposed = ann.search(q, self.candidates) if ann is not None else None
        with self._lock:
            if self._live == 0:
                return None
            if proposed is not None:
                # (A row proposed twice, by a stale code, is skipped by _best's slot check.)
                rows = proposed[(proposed >= 0) & (proposed < self._top)]
                rows = rows[self._owner[rows] >= 0]
                if rows.size:
                    diff = self._vectors[rows] - q
                    d2 = np.einsum("ij,ij->i", diff, diff)
                    hit, refused = self._best(rows, d2, q, rule)
                    if hit is not None or not refused:
                        return hit
                # Nothing proposed, or every nearby candidate is ineligible: scan all.
                self.fallbacks += 1
            return self._exact(q, rule)

    def _exact(self, q: F32, rule: _Rule) -> Hit | None:
        top = self._top
        d2 = self._norms[:top] - 2.0 * (self._vectors[:top] @ q) + float(np.dot(q, q))
        rows = np.flatnonzero(d2 <= rule.reach2)
        return self._best(rows, d2[rows], q, rule)[0]

    def _best(
        self,
        rows: npt.NDArray[np.integer],
        d2: npt.NDArray[np.floating],
        q: F32,
        rule: _Rule,
    ) -> tuple[Hit | None, bool]:
        """The match among ``rows`` under ``rule``, and whether a customer within the
        threshold was skipped for their grants (only when not ``nearest_only``)."""
        near = d2 <= rule.reach2
        if not near.any():
            return None, False
        rows, d2 = rows[near], d2[near]
        # Customers in order of their nearest row: the first two decide the margin.
        seen: list[int] = []
        for i in np.argsort(d2, kind="stable"):
            slot = int(self._owner[int(rows[i])])
            if slot >= 0 and slot not in seen:
                seen.append(slot)
                if rule.nearest_only and len(seen) == 2:
                    break
        if not seen:
            return None, False
        best_d = _nearest(self, rows, q, seen)
        refused = False
        for place, slot in enumerate(seen):
            if best_d[place] > rule.threshold:
                break
            alike = place + 1 < len(seen) and best_d[place + 1] - best_d[place] < rule.margin
            if rule.margin > 0 and alike:
                return None, False  # two customers alike: naming either could be wrong
            customer_id = self._customer_of[slot]
            assert customer_id is not None
            for grant in self._entries[customer_id].grants:
                if grant.allows(rule.purpose, rule.venue, rule.now):
                    return Hit(customer_id, best_d[place], grant.consent_id), False
            if rule.nearest_only:
                return None, False  # expired: exactly what a stranger gets
            refused = True
        return None, refused


class _Rule(NamedTuple):
    """How a search decides: distances, margin, and whose grants count."""

    threshold: float
    margin: float
    nearest_only: bool
    purpose: str
    venue: str
    now: datetime

    @property
    def reach2(self) -> float:
        """Squared distance within which customers take part (threshold plus margin)."""
        return (self.threshold + self.margin) ** 2


def _nearest(
    index: MatchIndex, rows: npt.NDArray[np.integer], q: F32, slots: list[int]
) -> list[float]:
    """Each slot's nearest distance to ``q`` among ``rows``, computed exactly (the
    scan's expanded form is only good for ranking)."""
    owners = index._owner[rows]
    out = []
    for slot in slots:
        diff = index._vectors[rows[owners == slot]] - q
        out.append(float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff)))))
    return out
