"""The approximate index: FAISS IVF-PQ fast scan, whose ids are rows of the matrix.

An inverted file over k-means cells with 4-bit product-quantised codes scanned with SIMD
("IVF-PQ fast scan") proposes rows near a probe; the matrix re-ranks them exactly. It
adds about 25 bytes per template to the 520 of the matrix (vector, squared norm, owner).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from vault.index.records import DIM, F32, I64

_PQ_SUBQUANTIZERS = 32  # 32 x 4 bits = 16 bytes per template


def _faiss() -> Any:
    import faiss

    return faiss


def ann_shape(n: int) -> tuple[int, int]:
    """(cells, cells probed per search) for an index of about ``n`` templates."""
    target = max(1.0, math.sqrt(max(n, 1)) / 2)
    nlist = int(min(1024, max(16, 2 ** round(math.log2(target)))))
    return nlist, max(8, nlist // 8)


class SharedLock:
    """Many readers or one writer (writers first). FAISS searches are safe in parallel
    but not alongside an add or a removal on the same index."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writing = False
        self._waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock as one of many readers."""
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
        """Hold the lock alone."""
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


class Ann:
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
        self._index = index
        self._packer = index.get_CodePacker()
        self._lock = SharedLock()

    def train_size(self) -> int:
        """How many templates to train the cells and codes on."""
        return min(self.built_for, max(50 * self.nlist, 20_000), 65_536)

    def train(self, x: F32, threads: int) -> None:
        """Learn the cells and the codes from a sample of templates."""
        _faiss().omp_set_num_threads(threads)
        self._index.train(np.ascontiguousarray(x, dtype=np.float32))

    def add(self, x: F32, rows: I64, threads: int) -> None:
        """Add templates ``x`` under the ids ``rows``."""
        _faiss().omp_set_num_threads(threads)
        with self._lock.exclusive():
            self._index.add_with_ids(np.ascontiguousarray(x, dtype=np.float32), rows)

    def remove(self, rows: I64) -> None:
        """Forget the ids ``rows``."""
        with self._lock.exclusive():
            self._remove(rows)

    def _remove(self, rows: I64) -> None:
        faiss = _faiss()
        faiss.omp_set_num_threads(1)
        lists = faiss.downcast_InvertedLists(self._index.invlists)
        before = [lists.list_size(i) for i in range(self.nlist)]
        if not self._index.remove_ids(np.ascontiguousarray(rows, dtype=np.int64)):
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
        """Up to ``k`` rows near ``q`` (-1 pads a short answer)."""
        _faiss().omp_set_num_threads(1)  # per calling thread: no idle OpenMP team spinning
        with self._lock.shared():
            _, ids = self._index.search(q.reshape(1, DIM), k)
        found: I64 = ids[0]
        return found

    def nbytes(self) -> int:
        """Bytes of the index as FAISS would serialise it."""
        return int(_faiss().serialize_index(self._index).size)
