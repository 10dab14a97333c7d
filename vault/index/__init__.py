"""The in-memory match index: decrypted templates of customers with an active consent.

:class:`PartitionedIndex` is what the vault holds: one :class:`MatchIndex` per (venue,
purpose) gallery, so a probe is compared only with the customers whose consent covers
its kiosk. Inside, the package is layered, each part used only through its methods:

- ``records``: what goes in and out (:class:`Grant`, :class:`Batch`, :class:`Query`,
  :class:`Hit`) and :func:`wipe`;
- ``matrix``: the truth, a float32 matrix with one row per template, its owners, slots
  and free lists and each customer's grants; exact distances and who matches come
  from it;
- ``ann``: the approximate index (FAISS IVF-PQ fast scan, with the workaround for its
  removals), which only ever proposes rows for the matrix to re-rank;
- ``builder``: trains and fills an approximate index on a background thread, fed while
  a cold start is still decrypting;
- ``match``: :class:`MatchIndex`, one gallery's search, exact below ``ann_min``
  templates and approximate with exact re-ranking above;
- ``partitions``: :class:`PartitionedIndex`.
"""

from vault.index.ann import ann_shape
from vault.index.match import ANN_MIN, CANDIDATES, Loader, MatchIndex
from vault.index.partitions import Partition, PartitionedIndex
from vault.index.records import DIM, F32, Batch, Grant, Hit, Query, wipe

__all__ = [
    "ANN_MIN",
    "CANDIDATES",
    "DIM",
    "F32",
    "Batch",
    "Grant",
    "Hit",
    "Loader",
    "MatchIndex",
    "Partition",
    "PartitionedIndex",
    "Query",
    "ann_shape",
    "wipe",
]
