"""The in-memory match index: decrypted templates of customers with an active consent.

A float32 matrix with one row per template; removing a customer zeroes their rows at
once and puts them on a free list. Consent grants are kept beside the rows, so a match
checks purpose, venue and expiry at the moment of the probe (no expiry job needed).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

DIM = 128
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Grant:
    """One purpose of one consent, at a set of venues, until an optional expiry."""

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


@dataclass(frozen=True)
class Hit:
    """The best eligible customer for a probe."""

    customer_id: str
    distance: float
    consent_id: str


class MatchIndex:
    """Exact 1:N search over float32 templates, with per-customer grants."""

    def __init__(self, capacity: int = 1024) -> None:
        self._lock = threading.RLock()
        self._vectors: F32 = np.zeros((capacity, DIM), dtype=np.float32)
        self._norms: F32 = np.zeros(capacity, dtype=np.float32)
        self._owner = np.full(capacity, -1, dtype=np.int64)  # customer slot, -1 = free
        self._free: list[int] = list(range(capacity - 1, -1, -1))
        self._slot_of: dict[str, int] = {}
        self._customer_of: list[str | None] = []
        self._rows_of: dict[str, list[int]] = {}
        self._grants: dict[str, tuple[Grant, ...]] = {}

    def __len__(self) -> int:
        """Number of templates in the index."""
        with self._lock:
            return sum(len(rows) for rows in self._rows_of.values())

    def customers(self) -> int:
        """Number of customers in the index."""
        with self._lock:
            return len(self._rows_of)

    def __contains__(self, customer_id: object) -> bool:
        with self._lock:
            return customer_id in self._rows_of

    def _grow(self) -> None:
        old = len(self._owner)
        new = max(1024, old * 2)
        self._vectors = np.vstack([self._vectors, np.zeros((new - old, DIM), np.float32)])
        self._norms = np.concatenate([self._norms, np.zeros(new - old, np.float32)])
        self._owner = np.concatenate([self._owner, np.full(new - old, -1, np.int64)])
        self._free.extend(range(new - 1, old - 1, -1))

    def put(self, customer_id: str, vectors: F32, grants: tuple[Grant, ...]) -> None:
        """Add or replace a customer's templates and grants."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, DIM)
        with self._lock:
            self.remove(customer_id)
            if not grants:
                return
            slot = self._slot_of.get(customer_id)
            if slot is None:
                slot = len(self._customer_of)
                self._customer_of.append(customer_id)
                self._slot_of[customer_id] = slot
            rows = []
            for vector in vectors:
                if not self._free:
                    self._grow()
                row = self._free.pop()
                self._vectors[row] = vector
                self._norms[row] = float(np.dot(vector, vector))
                self._owner[row] = slot
                rows.append(row)
            self._rows_of[customer_id] = rows
            self._grants[customer_id] = grants

    def set_grants(self, customer_id: str, grants: tuple[Grant, ...]) -> None:
        """Replace a customer's grants; with none left the customer leaves the index."""
        with self._lock:
            if not grants:
                self.remove(customer_id)
            elif customer_id in self._rows_of:
                self._grants[customer_id] = grants

    def grants(self, customer_id: str) -> tuple[Grant, ...]:
        """The grants the index holds for a customer (empty if absent)."""
        with self._lock:
            return self._grants.get(customer_id, ())

    def remove(self, customer_id: str) -> bool:
        """Remove a customer at once, zeroing their rows. Returns whether they were present."""
        with self._lock:
            rows = self._rows_of.pop(customer_id, None)
            self._grants.pop(customer_id, None)
            if rows is None:
                return False
            for row in rows:
                self._vectors[row] = 0.0
                self._norms[row] = 0.0
                self._owner[row] = -1
                self._free.append(row)
            return True

    def search(
        self,
        probe: npt.NDArray[np.floating],
        *,
        purpose: str,
        venue: str,
        now: datetime,
        threshold: float,
    ) -> Hit | None:
        """Best customer within ``threshold`` whose grant covers purpose and venue at ``now``."""
        q = np.asarray(probe, dtype=np.float32).reshape(DIM)
        with self._lock:
            live = self._owner >= 0
            if not live.any():
                return None
            d2 = self._norms - 2.0 * (self._vectors @ q) + float(np.dot(q, q))
            d2[~live] = np.inf
            candidates = np.flatnonzero(d2 <= threshold * threshold)
            if candidates.size == 0:
                return None
            order = candidates[np.argsort(d2[candidates], kind="stable")]
            seen: set[int] = set()
            for row in order:
                slot = int(self._owner[row])
                if slot in seen:
                    continue
                seen.add(slot)
                customer_id = self._customer_of[slot]
                assert customer_id is not None
                for grant in self._grants.get(customer_id, ()):
                    if grant.allows(purpose, venue, now):
                        distance = float(np.linalg.norm(self._vectors[row] - q))
                        return Hit(customer_id, distance, grant.consent_id)
            return None
