"""The truth of the match index: a float32 matrix with one row per template.

Each row has its squared norm and its owner (a customer's slot). Removing a customer
marks their rows free at once: their squared norm becomes +inf, so no distance to them is
ever finite, their owner -1, and the rows and the slot go on free lists to be reused
first. Consent grants are kept beside each customer's rows, so a match checks purpose,
venue and expiry at the moment of the probe (no expiry job needed). Exact distances and
the decision of who matches come from here, whoever proposed the rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from vault.index.records import DIM, F32, I64, Batch, Grant, Hit, Query, as_rows

_Rows = npt.NDArray[np.integer]
_Dists = npt.NDArray[np.floating]


class _Entry:
    """One customer: a slot number, their rows and their grants."""

    __slots__ = ("grants", "rows", "slot")

    def __init__(self, slot: int, rows: tuple[int, ...], grants: tuple[Grant, ...]) -> None:
        self.slot = slot
        self.rows = rows
        self.grants = grants


class Matrix:
    """Rows of templates, their owners, the free lists and each customer's grants.

    Not thread-safe: :class:`~vault.index.match.MatchIndex` calls it under its lock.
    """

    def __init__(self, capacity: int) -> None:
        self._vectors: F32 = np.zeros((capacity, DIM), dtype=np.float32)
        self._norms: F32 = np.full(capacity, np.inf, dtype=np.float32)  # inf = free row
        self._owner = np.full(capacity, -1, dtype=np.int32)  # customer slot, -1 = free
        self._top = 0  # rows at and above are free and were never used
        self._free: list[int] = []  # freed rows below _top
        self._customer_of: list[str | None] = []  # slot -> customer id
        self._free_slots: list[int] = []
        self._entries: dict[str, _Entry] = {}
        self._live = 0

    def __len__(self) -> int:
        """Rows in use (templates held)."""
        return self._live

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self._entries

    def customers(self) -> int:
        """Customers held."""
        return len(self._entries)

    def customer_ids(self) -> list[str]:
        """The customers held."""
        return list(self._entries)

    @property
    def top(self) -> int:
        """Rows ever used: an exact scan reads this many."""
        return self._top

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return len(self._owner)

    @property
    def vectors(self) -> F32:
        """The matrix itself (for inspection: tests check that it is wiped)."""
        return self._vectors

    def nbytes(self) -> int:
        """Bytes of the vectors, norms and owners."""
        return int(self._vectors.nbytes + self._norms.nbytes + self._owner.nbytes)

    # -- storage ----------------------------------------------------------------------

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` rows in one allocation."""
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

    def place(self, batch: Batch) -> tuple[I64, F32]:
        """Store customers absent from the matrix, with their templates, in one go;
        returns the rows taken and the templates as float32 rows."""
        counts = batch.counts
        total = sum(counts)
        vectors = as_rows(batch.vectors, total)
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
        return rows, vectors

    def release(self, customer_id: str) -> I64 | None:
        """Take a customer out, zeroing their rows; returns the rows, None if absent."""
        entry = self._entries.pop(customer_id, None)
        if entry is None:
            return None
        rows = np.array(entry.rows, dtype=np.int64)
        self._vectors[rows] = 0.0
        self._norms[rows] = np.inf
        self._owner[rows] = -1
        self._free.extend(entry.rows)
        self._customer_of[entry.slot] = None
        self._free_slots.append(entry.slot)
        self._live -= len(rows)
        return rows

    def grants(self, customer_id: str) -> tuple[Grant, ...]:
        """A customer's grants (empty if absent)."""
        entry = self._entries.get(customer_id)
        return entry.grants if entry is not None else ()

    def set_grants(self, customer_id: str, grants: tuple[Grant, ...]) -> None:
        """Replace the grants of a customer held (nothing if absent)."""
        entry = self._entries.get(customer_id)
        if entry is not None:
            entry.grants = grants

    def rows_of(self, customer_id: str) -> tuple[int, ...]:
        """A customer's rows (empty if absent)."""
        entry = self._entries.get(customer_id)
        return entry.rows if entry is not None else ()

    def copy_of(self, customer_id: str) -> F32 | None:
        """A copy of a customer's templates, or None if absent."""
        entry = self._entries.get(customer_id)
        if entry is None:
            return None
        return self._vectors[np.array(entry.rows, dtype=np.int64)].copy()

    def used_rows(self) -> I64:
        """Every row in use."""
        return np.flatnonzero(self._owner[: self._top] >= 0).astype(np.int64)

    def in_use(self, rows: I64) -> npt.NDArray[np.bool_]:
        """Which of ``rows`` are in use."""
        return self._owner[rows] >= 0

    def gather(self, rows: I64) -> F32:
        """A copy of the templates in ``rows``."""
        return self._vectors[rows]

    # -- deciding ---------------------------------------------------------------------

    def scan(self, q: F32, reach2: float) -> tuple[_Rows, _Dists]:
        """Every row within squared distance ``reach2`` of ``q``, with that distance
        (the expanded form: good for ranking, not for reporting)."""
        top = self._top
        d2 = self._norms[:top] - 2.0 * (self._vectors[:top] @ q) + float(np.dot(q, q))
        rows = np.flatnonzero(d2 <= reach2)
        return rows, d2[rows]

    def rank(self, proposed: I64, q: F32) -> tuple[_Rows, _Dists]:
        """The proposed rows still in use, with their squared distances to ``q``."""
        rows = proposed[(proposed >= 0) & (proposed < self._top)]
        rows = rows[self._owner[rows] >= 0]
        diff = self._vectors[rows] - q
        return rows, np.einsum("ij,ij->i", diff, diff)

    def best(
        self,
        rows: _Rows,
        d2: _Dists,
        q: F32,
        query: Query,
        nearest_only: bool,
    ) -> tuple[Hit | None, bool]:
        """The match among ``rows`` (at squared distances ``d2``) for ``query``, and
        whether a customer within the threshold was skipped for their grants (only when
        not ``nearest_only``)."""
        near = d2 <= query.reach2
        if not near.any():
            return None, False
        rows, d2 = rows[near], d2[near]
        # Customers in order of their nearest row: the first two decide the margin.
        seen: list[int] = []
        for i in np.argsort(d2, kind="stable"):
            slot = int(self._owner[int(rows[i])])
            if slot >= 0 and slot not in seen:
                seen.append(slot)
                if nearest_only and len(seen) == 2:
                    break
        if not seen:
            return None, False
        best_d = self._nearest(rows, q, seen)
        refused = False
        for place, slot in enumerate(seen):
            if best_d[place] > query.threshold:
                break
            alike = place + 1 < len(seen) and best_d[place + 1] - best_d[place] < query.margin
            if query.margin > 0 and alike:
                return None, False  # two customers alike: naming either could be wrong
            customer_id = self._customer_of[slot]
            assert customer_id is not None
            for grant in self._entries[customer_id].grants:
                if grant.allows(query.purpose, query.venue, query.now):
                    return Hit(customer_id, best_d[place], grant.consent_id), False
            if nearest_only:
                return None, False  # expired: exactly what a stranger gets
            refused = True
        return None, refused

    def _nearest(self, rows: _Rows, q: F32, slots: list[int]) -> list[float]:
        """Each slot's nearest distance to ``q`` among ``rows``, computed exactly (the
        scan's expanded form is only good for ranking)."""
        owners = self._owner[rows]
        out = []
        for slot in slots:
            diff = self._vectors[rows[owners == slot]] - q
            out.append(float(np.sqrt(np.min(np.einsum("ij,ij->i", diff, diff)))))
        return out
