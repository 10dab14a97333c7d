"""Temporary shim: the partitioned index now lives in :mod:`vault.index.partitions`
(import it from :mod:`vault.index`). Removed once no caller imports this path."""

from vault.index.partitions import Partition, PartitionedIndex

__all__ = ["Partition", "PartitionedIndex"]
