"""Tests for vault.audit.merkle against RFC 6962 vectors, a naive RFC model and pymerkle."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pymerkle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vault.audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --------------------------------------------------------------------------- naive RFC model
# Written straight from RFC 6962 section 2.1 over raw entries, recursion on slices.


def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _k(n: int) -> int:
    """Largest power of two strictly smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(d: Sequence[bytes]) -> bytes:
    if len(d) == 0:
        return _sha(b"")
    if len(d) == 1:
        return _sha(b"\x00" + d[0])
    k = _k(len(d))
    return _sha(b"\x01" + naive_mth(d[:k]) + naive_mth(d[k:]))


def naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*naive_path(m, d[:k]), naive_mth(d[k:])]
    return [*naive_path(m - k, d[k:]), naive_mth(d[:k])]


def naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [naive_mth(d)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, d[:k], b), naive_mth(d[k:])]
    return [*naive_subproof(m - k, d[k:], False), naive_mth(d[:k])]


def naive_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return naive_subproof(m, d, True)


# --------------------------------------------------------------------------- fixtures

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

# certificate-transparency(-go) testonly RootHashes: MTH of the first n CT_LEAVES.
CT_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

# Reference inclusion proofs: (zero-based leaf index, tree size) -> path.
CT_INCLUSION = {
    (0, 1): [],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}

# Reference consistency proofs: (old size, new size) -> proof.
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}

MAX_N = 33
ENTRIES = [f"audit entry {i}".encode() for i in range(MAX_N + 2)]
HASHES = [leaf_hash(e) for e in ENTRIES]
ROOTS = [naive_mth(ENTRIES[:n]) for n in range(len(ENTRIES) + 1)]


def _hx(values: Sequence[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def _flip(b: bytes, pos: int, mask: int = 0x01) -> bytes:
    return b[:pos] + bytes([b[pos] ^ mask]) + b[pos + 1 :]


def incl_refused(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError:
        return True
    return False


def cons_refused(old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    try:
        verify_consistency(old, new, old_root, new_root, proof)
    except ProofError:
        return True
    return False


# --------------------------------------------------------------------------- primitives


def test_primitives() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    left, right = b"L" * 32, b"R" * 32
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert issubclass(ProofError, ValueError)
    assert root_hash([]) == EMPTY_ROOT
    assert MerkleTree().root() == EMPTY_ROOT


# --------------------------------------------------------------------------- known answers


def test_ct_reference_roots() -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES]
    tree = MerkleTree()
    for n in range(len(CT_LEAVES) + 1):
        expected = bytes.fromhex(CT_ROOTS[n])
        assert naive_mth(CT_LEAVES[:n]) == expected
        assert root_hash(hashes[:n]) == expected
        if n:
            tree.append(hashes[n - 1])
        assert tree.root() == expected
    for n in range(len(CT_LEAVES) + 1):
        assert tree.root(n) == bytes.fromhex(CT_ROOTS[n])


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_ct_reference_inclusion_proofs(index: int, size: int) -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES[:size]]
    expected = _hx(CT_INCLUSION[(index, size)])
    assert inclusion_proof(hashes, index) == expected
    assert MerkleTree.from_leaf_hashes(hashes).inclusion_proof(index) == expected
    verify_inclusion(hashes[index], index, size, expected, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_ct_reference_consistency_proofs(old: int, new: int) -> None:
    hashes = [leaf_hash(x) for x in CT_LEAVES[:new]]
    expected = _hx(CT_CONSISTENCY[(old, new)])
    assert consistency_proof(hashes, old) == expected
    assert MerkleTree.from_leaf_hashes(hashes).consistency_proof(old) == expected
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    verify_consistency(old, new, old_root, new_root, expected)


def test_roots_match_pymerkle() -> None:
    """pymerkle (independent implementation, same 0x00/0x01 prefixes) agrees on every size."""
    entries = [*CT_LEAVES, *ENTRIES]
    reference = pymerkle.InmemoryTree(algorithm="sha256")
    ours = MerkleTree()
    assert reference.get_root() == root_hash([]) == ours.root()
    for n, entry in enumerate(entries, start=1):
        reference.append_entry(entry)
        # pymerkle hashes appended entries as SHA-256(0x00 || entry): same leaf encoding.
        assert reference.get_leaf(n) == leaf_hash(entry)
        ours.append(leaf_hash(entry))
        assert reference.get_root() == ours.root() == root_hash([leaf_hash(e) for e in entries[:n]])
    for n in range(len(entries) + 1):
        assert reference.get_root(n) == ours.root(n) == naive_mth(entries[:n])
        if n:
            for i in range(n):
                # pymerkle's path lists the base leaf first, then the RFC audit path.
                proof = reference.prove_inclusion(i + 1, n)
                assert proof.path[1:] == ours.inclusion_proof(i, n)


# --------------------------------------------------------------------------- inclusion


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_inclusion_every_index(n: int) -> None:
    hashes = HASHES[:n]
    root = ROOTS[n]
    assert root_hash(hashes) == root
    for i in range(n):
        proof = inclusion_proof(hashes, i)
        assert proof == naive_path(i, ENTRIES[:n])
        verify_inclusion(hashes[i], i, n, proof, root)

        # any single flipped byte in any proof element
        for j, element in enumerate(proof):
            for pos in range(32):
                bad = [*proof[:j], _flip(element, pos), *proof[j + 1 :]]
                assert incl_refused(hashes[i], i, n, bad, root)
        # tampered leaf, truncated / extended / reordered proof
        assert incl_refused(_flip(hashes[i], 0), i, n, proof, root)
        if proof:
            assert incl_refused(hashes[i], i, n, proof[:-1], root)
            assert incl_refused(hashes[i], i, n, proof[1:], root)
        assert incl_refused(hashes[i], i, n, [*proof, root], root)
        assert incl_refused(hashes[i], i, n, [*proof, b"\x00" * 32], root)
        if len(proof) > 1:
            assert incl_refused(hashes[i], i, n, proof[::-1], root)
        # wrong index (in and out of range), also with the other leaf's hash
        for j in [*range(-1, i), *range(i + 1, n + 2)]:
            assert incl_refused(hashes[i], j, n, proof, root)
            if 0 <= j < n:
                assert incl_refused(hashes[j], j, n, proof, root)
        # wrong size, paired with the genuine root of that size.  (A size/root pair that
        # never existed is out of scope: e.g. PATH(0, D[3]) checks out against "size 4 with
        # root MTH(D[3])" -- the verifier must get size and root from the same signed head.)
        for m in range(0, len(ROOTS)):
            if m != n:
                assert incl_refused(hashes[i], i, m, proof, ROOTS[m])
        for m in (-1, 0, i):  # index no longer inside the tree
            assert incl_refused(hashes[i], i, m, proof, root)
        # wrong root
        for m in range(len(ROOTS)):
            if m != n:
                assert incl_refused(hashes[i], i, n, proof, ROOTS[m])
        assert incl_refused(hashes[i], i, n, proof, _flip(root, 31))


def test_inclusion_bad_parameters() -> None:
    with pytest.raises(ProofError):
        inclusion_proof([], 0)
    with pytest.raises(ProofError):
        inclusion_proof(HASHES[:4], 4)
    with pytest.raises(ProofError):
        inclusion_proof(HASHES[:4], -1)
    proof = inclusion_proof(HASHES[:4], 1)
    with pytest.raises(ProofError):
        verify_inclusion(HASHES[1], 1, 0, proof, ROOTS[4])
    with pytest.raises(ProofError):  # short proof element
        verify_inclusion(HASHES[1], 1, 4, [proof[0][:31], proof[1]], ROOTS[4])
    with pytest.raises(ProofError):  # malformed root / leaf
        verify_inclusion(HASHES[1], 1, 4, proof, ROOTS[4][:16])
    with pytest.raises(ProofError):
        verify_inclusion(HASHES[1] + b"\x00", 1, 4, proof, ROOTS[4])
    # a single-leaf tree: the root is the leaf hash and the proof is empty
    verify_inclusion(HASHES[0], 0, 1, [], HASHES[0])
    with pytest.raises(ProofError):
        verify_inclusion(HASHES[0], 0, 1, [HASHES[1]], HASHES[0])


# --------------------------------------------------------------------------- consistency


def test_consistency_every_pair() -> None:
    for n in range(1, MAX_N + 1):
        hashes = HASHES[:n]
        new_root = ROOTS[n]
        for m in range(1, n + 1):
            old_root = ROOTS[m]
            proof = consistency_proof(hashes, m)
            assert proof == (naive_proof(m, ENTRIES[:n]) if m < n else [])
            verify_consistency(m, n, old_root, new_root, proof)

            for j, element in enumerate(proof):
                for pos in (0, 13, 31):
                    bad = [*proof[:j], _flip(element, pos, 0x80), *proof[j + 1 :]]
                    assert cons_refused(m, n, old_root, new_root, bad)
            if proof:
                assert cons_refused(m, n, old_root, new_root, proof[:-1])
                assert cons_refused(m, n, old_root, new_root, proof[1:])
                if len(proof) > 1:
                    assert cons_refused(m, n, old_root, new_root, proof[::-1])
            assert cons_refused(m, n, old_root, new_root, [*proof, old_root])
            assert cons_refused(m, n, _flip(old_root, 0), new_root, proof)
            assert cons_refused(m, n, old_root, _flip(new_root, 0), proof)
            # wrong sizes, each paired with the genuine root of that size
            for m2 in range(1, n + 1):
                if m2 != m:
                    assert cons_refused(m2, n, ROOTS[m2], new_root, proof)
            for n2 in range(m, len(ROOTS)):
                if n2 != n:
                    assert cons_refused(m, n2, old_root, ROOTS[n2], proof)
            # swapped roots and a reversed claim
            if m != n:
                assert cons_refused(m, n, new_root, old_root, proof)
                assert cons_refused(n, m, new_root, old_root, proof)


def test_consistency_every_byte_flip() -> None:
    """Every single-byte flip of every consistency-proof element is refused."""
    for n in range(2, MAX_N + 1):
        for m in range(1, n):
            proof = consistency_proof(HASHES[:n], m)
            for j, element in enumerate(proof):
                for pos in range(32):
                    bad = [*proof[:j], _flip(element, pos), *proof[j + 1 :]]
                    assert cons_refused(m, n, ROOTS[m], ROOTS[n], bad)


def test_consistency_rewritten_history_fails() -> None:
    for n in range(2, MAX_N + 1):
        for m in range(1, n):
            for changed in {0, m // 2, m - 1}:
                forged = list(HASHES[:n])
                forged[changed] = leaf_hash(b"rewritten " + ENTRIES[changed])
                forged_root = root_hash(forged)
                assert forged_root != ROOTS[n]
                # proof taken from the rewritten log, against the honest old root
                proof = consistency_proof(forged, m)
                verify_consistency(m, n, root_hash(forged[:m]), forged_root, proof)
                assert cons_refused(m, n, ROOTS[m], forged_root, proof)
                # honest proof cannot vouch for the rewritten head either
                honest = consistency_proof(HASHES[:n], m)
                assert cons_refused(m, n, ROOTS[m], forged_root, honest)


def test_consistency_edge_cases() -> None:
    # empty old tree: nothing to prove
    for n in range(0, 6):
        assert consistency_proof(HASHES[:n], 0) == []
        verify_consistency(0, n, EMPTY_ROOT, ROOTS[n], [])
        assert cons_refused(0, n, EMPTY_ROOT, ROOTS[n], [ROOTS[n]])
        assert cons_refused(0, n, ROOTS[1], ROOTS[n], [])
    # equal sizes: empty proof and equal roots
    for n in range(1, 6):
        verify_consistency(n, n, ROOTS[n], ROOTS[n], [])
        assert cons_refused(n, n, ROOTS[n], ROOTS[n], [ROOTS[n]])
        assert cons_refused(n, n, ROOTS[n], ROOTS[n + 1], [])
    # old > new, negative sizes
    with pytest.raises(ProofError):
        consistency_proof(HASHES[:3], 4)
    with pytest.raises(ProofError):
        consistency_proof(HASHES[:3], -1)
    with pytest.raises(ProofError):
        verify_consistency(4, 3, ROOTS[4], ROOTS[3], consistency_proof(HASHES[:4], 3))
    with pytest.raises(ProofError):
        verify_consistency(-1, 3, ROOTS[0], ROOTS[3], [])
    # a non-empty claim with an empty proof
    with pytest.raises(ProofError):
        verify_consistency(3, 7, ROOTS[3], ROOTS[7], [])
    # malformed proof element
    proof = consistency_proof(HASHES[:7], 3)
    with pytest.raises(ProofError):
        verify_consistency(3, 7, ROOTS[3], ROOTS[7], [proof[0][:-1], *proof[1:]])


# --------------------------------------------------------------------------- property test


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(st.binary(max_size=12), min_size=1, max_size=80),
    data=st.data(),
)
def test_property_random_logs(entries: list[bytes], data: st.DataObject) -> None:
    n = len(entries)
    hashes = [leaf_hash(e) for e in entries]
    root = root_hash(hashes)
    assert root == naive_mth(entries)
    tree = MerkleTree.from_leaf_hashes(hashes)
    assert tree.root() == root

    index = data.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(hashes, index)
    assert proof == naive_path(index, entries) == tree.inclusion_proof(index)
    verify_inclusion(hashes[index], index, n, proof, root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != index), label="other")
        if hashes[other] != hashes[index]:
            assert incl_refused(hashes[other], index, n, proof, root)

    old = data.draw(st.integers(0, n), label="old")
    old_root = naive_mth(entries[:old])
    assert tree.root(old) == old_root
    cproof = consistency_proof(hashes, old)
    assert cproof == tree.consistency_proof(old)
    if 0 < old < n:
        assert cproof == naive_proof(old, entries)
    verify_consistency(old, n, old_root, root, cproof)
    if cproof:
        j = data.draw(st.integers(0, len(cproof) - 1), label="element")
        pos = data.draw(st.integers(0, 31), label="byte")
        bad = [*cproof[:j], _flip(cproof[j], pos), *cproof[j + 1 :]]
        assert cons_refused(old, n, old_root, root, bad)


# --------------------------------------------------------------------------- MerkleTree


def test_tree_agrees_with_pure_functions() -> None:
    tree = MerkleTree()
    size = 70  # crosses 64 so several cache levels and ragged right edges are exercised
    entries = [f"leaf-{i}".encode() for i in range(size)]
    hashes = [leaf_hash(e) for e in entries]
    for i, h in enumerate(hashes):
        assert tree.append(h) == i
        assert tree.size == len(tree) == i + 1
        assert tree.root() == root_hash(hashes[: i + 1])
    assert tree.leaf(5) == hashes[5]
    assert MerkleTree.from_leaf_hashes(iter(hashes)).root() == tree.root()
    for s in range(size + 1):
        assert tree.root(s) == root_hash(hashes[:s]) == naive_mth(entries[:s])
        for i in range(s):
            assert tree.inclusion_proof(i, s) == inclusion_proof(hashes[:s], i)
        for m in range(s + 1):
            assert tree.consistency_proof(m, s) == consistency_proof(hashes[:s], m)
    assert tree.inclusion_proof(3) == inclusion_proof(hashes, 3)
    assert tree.consistency_proof(17) == consistency_proof(hashes, 17)


def test_tree_bad_parameters() -> None:
    tree = MerkleTree.from_leaf_hashes(HASHES[:5])
    with pytest.raises(ValueError):
        tree.append(b"short")
    with pytest.raises(ValueError):
        tree.root(6)
    with pytest.raises(ValueError):
        tree.root(-1)
    with pytest.raises(ProofError):
        tree.inclusion_proof(5)
    with pytest.raises(ProofError):
        tree.inclusion_proof(3, 3)
    with pytest.raises(ProofError):
        tree.inclusion_proof(0, 6)
    with pytest.raises(ProofError):
        tree.consistency_proof(4, 3)
    with pytest.raises(ProofError):
        tree.consistency_proof(1, 6)
    with pytest.raises(IndexError):
        tree.leaf(5)
    assert tree.size == 5


def test_tree_100k_appends() -> None:
    """Appending 100k leaves and taking the root after each append stays fast."""
    n = 100_000
    tree = MerkleTree()
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    roots = []
    for h in hashes:
        tree.append(h)
        roots.append(tree.root())
    assert tree.size == n
    assert roots[-1] == root_hash(hashes)
    for s in (1, 2, 3, 1000, 65_536, 65_537, 99_999):
        assert roots[s - 1] == tree.root(s)
    assert tree.root(4097) == root_hash(hashes[:4097])
    for i in (0, 1, 12_345, 65_535, 65_536, n - 1):
        verify_inclusion(hashes[i], i, n, tree.inclusion_proof(i), roots[-1])
    for m in (1, 2, 4096, 65_536, 70_001, n - 1, n):
        verify_consistency(m, n, roots[m - 1], roots[-1], tree.consistency_proof(m))
    verify_consistency(
        65_537, 99_000, roots[65_536], roots[98_999], tree.consistency_proof(65_537, 99_000)
    )
