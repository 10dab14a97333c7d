"""RFC 6962 / RFC 9162 (section 2.1) Merkle tree for a CT-style audit log.

Pure functions work over a sequence of already-hashed leaves (``leaf_hash(entry)``);
``MerkleTree`` keeps an append-only list of leaf hashes plus a cache of every complete,
aligned power-of-two subtree, so roots and proofs at any size cost O(log n) hashes
(inclusion/consistency proofs O(log^2 n) at worst). Indices are zero-based.

Verification functions return ``None`` on success and raise ``ProofError`` (a
:class:`vault.errors.AuditError`, also a ``ValueError``) otherwise. Only the standard
library is used, besides the vault's error tree.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

from vault.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Length in bytes of every hash (SHA-256)."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) — the root of the empty tree: SHA-256 of the empty string."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

_RangeHash = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """Return SHA-256(0x00 || data), the RFC 6962 leaf hash."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return SHA-256(0x01 || left || right), the RFC 6962 interior node hash."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """Return MTH over already-hashed leaves (``EMPTY_ROOT`` for no leaves)."""
    if not leaf_hashes:
        return EMPTY_ROOT
    # Pairing level by level and promoting an odd last node builds exactly the
    # RFC 6962 tree (left subtree = largest power of two smaller than n).
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# --------------------------------------------------------------------------- proof shapes


def _path(index: int, size: int, subtree: _RangeHash) -> list[bytes]:
    """RFC 9162 2.1.3.1 PATH(index, D[0:size]); ``subtree(a, b)`` returns MTH(D[a:b])."""
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
    proof.reverse()  # PATH lists the deepest sibling first
    return proof


def _subproof(old_size: int, new_size: int, subtree: _RangeHash) -> list[bytes]:
    """RFC 9162 2.1.4.1 SUBPROOF(old_size, D[0:new_size], true), 0 < old < new."""
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            proof.append(subtree(start + k, end))
            end = start + k
        else:
            proof.append(subtree(start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        proof.append(subtree(start, end))
    proof.reverse()
    return proof


def _check_index(index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} out of range for tree size {size}")


def _check_sizes(old_size: int, new_size: int) -> None:
    if old_size < 0 or new_size < 0:
        raise ProofError("tree sizes must be non-negative")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} exceeds new size {new_size}")


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path for ``leaf_hashes[index]`` in the tree of all leaves."""
    _check_index(index, len(leaf_hashes))
    return _path(index, len(leaf_hashes), lambda a, b: root_hash(leaf_hashes[a:b]))


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return PROOF(old_size, D[n]) between the first ``old_size`` leaves and all of them.

    Empty when ``old_size`` is 0 or equal to the current size.
    """
    new_size = len(leaf_hashes)
    _check_sizes(old_size, new_size)
    if old_size in (0, new_size):
        return []
    return _subproof(old_size, new_size, lambda a, b: root_hash(leaf_hashes[a:b]))


# --------------------------------------------------------------------------- verification


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def _inclusion_proof_len(index: int, size: int) -> int:
    """Length of the audit path for ``index`` in a tree of ``size`` leaves."""
    inner = (index ^ (size - 1)).bit_length()  # levels below the split from the right edge
    border = (index >> inner).bit_count()  # levels where the path runs along the right edge
    return inner + border


def _hashes_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check ``proof`` that ``leaf_hash`` is leaf ``index`` of the tree ``root`` of size
    ``tree_size`` (RFC 9162 2.1.3.2). Raises ``ProofError`` on failure."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_index(index, tree_size)
    if len(proof) != _inclusion_proof_len(index, tree_size):
        raise ProofError("inclusion proof has the wrong length")
    fn, sn = index, tree_size - 1
    r = leaf_hash
    for p in proof:
        _check_hash(p, "proof element")
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if not _hashes_equal(r, root):
        raise ProofError("inclusion proof does not lead to the root")


def _consistency_proof_len(old_size: int, new_size: int) -> int:
    """Length of PROOF(old_size, D[new_size]) for 0 < old_size < new_size."""
    level = (old_size & -old_size).bit_length() - 1  # trailing zero bits of old_size
    index = (old_size - 1) >> level
    size = ((new_size - 1) >> level) + 1
    seed = 0 if index == 0 else 1  # old root is implied (not sent) when old_size is 2^k
    return seed + _inclusion_proof_len(index, size)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``new_root`` (``new_size`` leaves) extends the tree ``old_root``
    (``old_size`` leaves) (RFC 9162 2.1.4.2). Raises ``ProofError`` on failure.

    Equal sizes need an empty proof and equal roots; ``old_size == 0`` needs an empty
    proof and ``old_root == EMPTY_ROOT`` (every tree extends the empty one).
    """
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    _check_sizes(old_size, new_size)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if not _hashes_equal(old_root, new_root):
            raise ProofError("roots differ for equal tree sizes")
        if old_size == 0 and not _hashes_equal(old_root, EMPTY_ROOT):
            raise ProofError("root of the empty tree must be EMPTY_ROOT")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency proof from the empty tree must be empty")
        if not _hashes_equal(old_root, EMPTY_ROOT):
            raise ProofError("root of the empty tree must be EMPTY_ROOT")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    if len(proof) != _consistency_proof_len(old_size, new_size):
        raise ProofError("consistency proof has the wrong length")
    for p in proof:
        _check_hash(p, "proof element")

    path = list(proof)
    if old_size & (old_size - 1) == 0:  # power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if not _hashes_equal(fr, old_root):
        raise ProofError("consistency proof does not lead to the old root")
    if not _hashes_equal(sr, new_root):
        raise ProofError("consistency proof does not lead to the new root")


# --------------------------------------------------------------------------- tree


class MerkleTree:
    """Append-only Merkle tree over leaf hashes with cached perfect subtrees.

    ``_levels[h][i]`` is the hash of leaves ``[i * 2**h, (i + 1) * 2**h)``; level ``h``
    holds ``size >> h`` entries, so about ``2 * size`` hashes are kept in memory.
    Appending costs amortised O(1) hashes; ``root``/proofs at any size O(log n)
    (proofs O(log^2 n) at worst). Not thread-safe: serialise access externally.
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        """Create an empty tree."""
        self._levels: list[list[bytes]] = [[]]

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MerkleTree:
        """Build a tree from already-hashed leaves, in order."""
        tree = cls()
        for h in leaf_hashes:
            tree.append(h)
        return tree

    def append(self, leaf_hash: bytes) -> int:
        """Append a leaf hash; return its zero-based index."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(leaf_hash)
        h, node = 0, index
        while node & 1:  # completed a perfect subtree at level h + 1
            row = levels[h]
            if h + 1 == len(levels):
                levels.append([])
            levels[h + 1].append(node_hash(row[-2], row[-1]))
            h += 1
            node >>= 1
        return index

    @property
    def size(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def __len__(self) -> int:
        """Number of leaves."""
        return len(self._levels[0])

    def leaf(self, index: int) -> bytes:
        """Return the leaf hash at ``index``."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf index {index} out of range")
        return self._levels[0][index]

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) using cached aligned power-of-two subtrees."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            h = n.bit_length() - 1
            return self._levels[h][start >> h]
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def _resolve_size(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not 0 <= size <= self.size:
            raise ProofError(f"tree size {size} out of range (current size {self.size})")
        return size

    def root(self, size: int | None = None) -> bytes:
        """Root hash of the first ``size`` leaves (default: all)."""
        return self._subtree(0, self._resolve_size(size))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Audit path for leaf ``index`` in the tree of the first ``size`` leaves."""
        size = self._resolve_size(size)
        _check_index(index, size)
        return _path(index, size, self._subtree)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Consistency proof from size ``old_size`` to ``new_size`` (default: current)."""
        new_size = self._resolve_size(new_size)
        _check_sizes(old_size, new_size)
        if old_size in (0, new_size):
            return []
        return _subproof(old_size, new_size, self._subtree)
