"""Building an approximate index on a background thread (at cold start, and as the
index grows).

While the build runs, searches stay exact; rows placed meanwhile are fed to the builder
and rows removed are remembered, and the finished index forgets those and is swapped in
under the match index's lock. During a bulk load the builder trains on the first rows
while the caller is still decrypting the rest, so a cold start uses both cores.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

import numpy as np

from vault.index.ann import Ann
from vault.index.matrix import Matrix
from vault.index.records import I64

_ADD_BATCH = 65_536

log = logging.getLogger("facekeep.index")


class Builder:
    """Trains and fills a new :class:`Ann` on a background thread.

    Rows to add are queued under the index lock (:meth:`feed`); rows removed meanwhile
    are remembered (:meth:`forget`). When the queue is empty and no more rows are
    expected (:meth:`close`), the builder takes the lock, removes the rows that died
    from its index and calls ``done`` with itself; on failure it sets ``error`` and
    calls ``done`` too (the match index keeps working exactly without it).
    """

    def __init__(
        self,
        matrix: Matrix,
        lock: threading.RLock,
        expected: int,
        *,
        closed: bool,
        done: Callable[[Builder], None],
    ) -> None:
        self.ann = Ann(expected)
        self.error: BaseException | None = None
        self._matrix = matrix
        self._done = done
        self._queue: list[I64] = []
        self._queued = 0
        self._dead: list[I64] = []
        self._closed = closed
        self._cond = threading.Condition(lock)
        self._thread = threading.Thread(target=self._run, name="facekeep-ann", daemon=True)

    def start(self) -> None:
        """Start the background thread."""
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background thread to end."""
        self._thread.join(timeout)

    def feed(self, rows: I64) -> None:
        """Queue rows to add (the caller holds the index lock)."""
        if rows.size:
            self._queue.append(rows)
            self._queued += int(rows.size)
            self._cond.notify()

    def forget(self, rows: I64) -> None:
        """Rows removed from the matrix meanwhile (the caller holds the index lock)."""
        self._dead.append(rows)

    def close(self) -> None:
        """No more rows will be fed: finish with what is queued."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _threads(self) -> int:
        # While the caller still feeds rows it is busy on one core: take the other only.
        return (os.cpu_count() or 1) if self._closed else 1

    def _take(self, limit: int) -> I64:  # caller holds the lock
        rows = np.concatenate(self._queue) if self._queue else np.empty(0, np.int64)
        taken, rest = rows[:limit], rows[limit:]
        self._queue = [rest] if rest.size else []
        self._queued = int(rest.size)
        return taken

    def _run(self) -> None:
        matrix = self._matrix
        try:
            need = self.ann.train_size()
            with self._cond:
                while not self._closed and self._queued < need:
                    self._cond.wait()
                pool = np.concatenate(self._queue) if self._queue else np.empty(0, np.int64)
                pool = pool[matrix.in_use(pool)]
                if pool.size < self.ann.nlist * 8:
                    raise RuntimeError("too few templates to train an approximate index")
                rng = np.random.default_rng(len(pool))
                sample = np.sort(rng.choice(pool, min(need, pool.size), replace=False))
                x = matrix.gather(sample)
                threads = self._threads()
            self.ann.train(x, threads)
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if not self._queue:
                        self._install()
                        return
                    rows = self._take(_ADD_BATCH)
                    x = matrix.gather(rows)
                    threads = self._threads()
                self.ann.add(x, rows, threads)
        except BaseException as exc:  # the index keeps working exactly without it
            log.warning("approximate index not built: %s: %s", type(exc).__name__, exc)
            with self._cond:
                self.error = exc
                self._done(self)

    def _install(self) -> None:  # caller holds the lock
        if self._dead:
            dead = np.unique(np.concatenate(self._dead))
            dead = dead[~self._matrix.in_use(dead)]
            if dead.size:
                self.ann.remove(dead)
        self._done(self)
