"""What goes in and out of the match index: grants, batches of customers, queries, hits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

DIM = 128
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def as_rows(vectors: npt.ArrayLike, n: int = -1) -> F32:
    """``vectors`` as ``n`` float32 rows of :data:`DIM` (no copy if they already are)."""
    return np.asarray(vectors, dtype=np.float32).reshape(n, DIM)


def wipe(array: npt.NDArray[Any]) -> None:
    """Overwrite a buffer that held decrypted templates with zeros, as the index does
    with a leaving customer's rows and the key store with data keys (best effort: only
    copies the vault made itself can be found and overwritten)."""
    if array.flags.writeable:
        array.fill(0)


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


class Query(NamedTuple):
    """What a probe asks: the customer within ``threshold`` (and at least ``margin``
    nearer than the next customer) whose grant covers ``purpose`` at ``venue`` at ``now``."""

    purpose: str
    venue: str
    now: datetime
    threshold: float
    margin: float = 0.0

    @property
    def reach2(self) -> float:
        """Squared distance within which customers take part (threshold plus margin)."""
        return (self.threshold + self.margin) ** 2


@dataclass(frozen=True, slots=True)
class Hit:
    """The best eligible customer for a probe."""

    customer_id: str
    distance: float
    consent_id: str


@dataclass
class Batch:
    """Customers for a bulk load: ``vectors`` holds their templates one customer after
    another, ``counts[i]`` of them for ``customer_ids[i]``."""

    customer_ids: list[str]
    counts: list[int]
    vectors: F32
    grants: list[tuple[Grant, ...]]

    @classmethod
    def of(cls, entries: Sequence[tuple[str, F32, tuple[Grant, ...]]]) -> Batch:
        """From (customer id, templates, grants) triples."""
        blocks = [as_rows(v) for _, v, _ in entries]
        return cls(
            [customer_id for customer_id, _, _ in entries],
            [len(b) for b in blocks],
            np.concatenate(blocks) if blocks else np.empty((0, DIM), np.float32),
            [grants for _, _, grants in entries],
        )

    def starts(self) -> list[int]:
        """Where each customer's templates begin in ``vectors``, and the end after them."""
        return list(accumulate(self.counts, initial=0))

    def select(self, keep: list[int]) -> Batch:
        """The customers at positions ``keep`` (a copy of their templates)."""
        starts = self.starts()
        rows = [np.arange(starts[i], starts[i + 1]) for i in keep]
        return Batch(
            [self.customer_ids[i] for i in keep],
            [self.counts[i] for i in keep],
            self.vectors[np.concatenate(rows)] if rows else self.vectors[:0],
            [self.grants[i] for i in keep],
        )
