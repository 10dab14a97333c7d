"""Roots and proofs of the real audit log against independent recomputations.

Roots are compared with pymerkle (an independent RFC 6962 implementation: leaves hashed
as SHA-256(0x00 || canonical JSON line)) and with the RFC's recursive MTH written in
conftest; inclusion and consistency proofs served by the vault, the command line and the
HTTP API are checked with the RFC 9162 verification algorithms written in conftest.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymerkle import InmemoryTree

from api.app import create_app
from api.runtime import open_runtime


@pytest.fixture(scope="module")
def _source(tmp_path_factory, make_deployment, build_busy, clock_at) -> dict[str, Any]:
    """A busy log grown to a size that is not a power of two, with an auditor key; built
    once per module, each test gets its own copy of the data directory."""
    root = tmp_path_factory.mktemp("proofs")
    d = make_deployment(root / "data", clock_at(datetime(2025, 3, 1, 9, 0, tzinfo=UTC)))
    try:
        build_busy(d)
        for name in ("gia", "hai", "ivy"):
            d.enroll(name)
            d.match(name)
        d.erase("hai")
        made = d.cli("keys", "create-auditor", "--label", "external auditor")
        assert made.exit_code == 0, made.stdout
        d.vault.audit.sign_head()
        audit = d.vault.audit
        leaves = [audit.leaf(i)[0].encode("utf-8") for i in range(audit.size())]
    finally:
        d.close()
    tree = InmemoryTree(algorithm="sha256")
    for leaf in leaves:
        tree.append_entry(leaf)
    n = len(leaves)
    assert n & (n - 1) and n > 32
    return {
        "data": root / "data",
        "now": d.clock(),
        "leaves": leaves,
        "pymerkle": tree,
        "auditor_key": made.json["key"],
    }


@pytest.fixture
def log(_source, tmp_path, make_deployment, clock_at) -> Iterator[dict[str, Any]]:
    shutil.copytree(_source["data"], tmp_path / "data")
    d = make_deployment(tmp_path / "data", clock_at(_source["now"]))
    yield {**_source, "deployment": d}
    d.close()


def _bytes(hex_list: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hex_list]


def _sizes(n: int) -> list[int]:
    return sorted({1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, n - 1, n})


# --------------------------------------------------------------------------- roots


def test_leaves_are_canonical_json_hashed_with_the_leaf_prefix(log, rfc) -> None:
    audit = log["deployment"].vault.audit
    tree = log["pymerkle"]
    for i, leaf in enumerate(log["leaves"]):
        event = json.loads(leaf)
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert leaf == canonical.encode("utf-8")
        assert event["seq"] == i
        stored = bytes.fromhex(audit.leaf(i)[1])
        assert stored == rfc.leaf(leaf) == tree.get_leaf(i + 1)
        assert audit.tree().leaf(i) == stored


def test_roots_at_every_size_agree_with_pymerkle_and_the_rfc(log, rfc, auditor) -> None:
    d = log["deployment"]
    audit = d.vault.audit
    tree, leaves = log["pymerkle"], log["leaves"]
    assert audit.tree().root(0) == rfc.mth([])
    for size in range(1, len(leaves) + 1):
        expected = tree.get_root(size)
        assert audit.tree().root(size) == expected, size
        assert rfc.mth(leaves[:size]) == expected, size

    # Every signed head's root is pymerkle's root at that size, under a valid signature.
    pem = d.pubkey_pem()
    heads = [h.to_json() for h in audit.heads()]
    assert len(heads) >= 3
    assert heads[-1]["tree_size"] == len(leaves)
    for head in heads:
        assert auditor.head_ok(pem, head)
        assert bytes.fromhex(head["root_hash"]) == tree.get_root(head["tree_size"])


def test_root_recomputation_notices_a_changed_leaf(log, rfc) -> None:
    """Control: the comparison above can fail — one changed byte changes every later root."""
    leaves = list(log["leaves"])
    leaves[5] = leaves[5].replace(b'"v":1', b'"v":2')
    tree = log["pymerkle"]
    assert rfc.mth(leaves[:5]) == tree.get_root(5)
    for size in range(6, len(leaves) + 1):
        assert rfc.mth(leaves[:size]) != tree.get_root(size)


# --------------------------------------------------------------------------- inclusion


def test_inclusion_proofs_from_the_vault(log, rfc) -> None:
    audit = log["deployment"].vault.audit
    tree, leaves = log["pymerkle"], log["leaves"]
    checked = 0
    for size in _sizes(len(leaves)):
        root = tree.get_root(size)
        for index in range(size):
            proof = _bytes(audit.inclusion_proof(index, size))
            leaf_hash = rfc.leaf(leaves[index])
            assert rfc.verify_inclusion(leaf_hash, index, size, proof, root), (index, size)
            assert proof == rfc.path(index, leaves[:size])
            # pymerkle's path is the base leaf followed by the same audit path.
            theirs = tree.prove_inclusion(index + 1, size).serialize()["path"]
            assert _bytes(theirs) == [leaf_hash, *proof]
            checked += 1
    assert checked > 100


def test_the_independent_verifier_rejects_bad_inclusion_proofs(log, rfc) -> None:
    """Control: the verifier used above does reject wrong proofs, leaves and positions."""
    audit = log["deployment"].vault.audit
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    index = 11
    proof = _bytes(audit.inclusion_proof(index, n))
    root = tree.get_root(n)
    leaf_hash = rfc.leaf(leaves[index])
    assert rfc.verify_inclusion(leaf_hash, index, n, proof, root)
    bent = [*proof]
    bent[1] = bytes([bent[1][0] ^ 1]) + bent[1][1:]
    assert not rfc.verify_inclusion(leaf_hash, index, n, bent, root)
    assert not rfc.verify_inclusion(rfc.leaf(leaves[index + 1]), index, n, proof, root)
    assert not rfc.verify_inclusion(leaf_hash, index + 1, n, proof, root)
    assert not rfc.verify_inclusion(leaf_hash, index, n, proof[:-1], root)
    assert not rfc.verify_inclusion(leaf_hash, index, n, proof, tree.get_root(n - 1))


def test_inclusion_proofs_from_the_cli(log, rfc, auditor) -> None:
    d = log["deployment"]
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    pem = d.cli("audit", "pubkey").json["public_key_pem"]
    destruction = max(i for i, leaf in enumerate(leaves) if b'"receipt.destruction"' in leaf)
    for index, size in ((0, None), (destruction, None), (n - 1, None), (3, 13), (12, 13)):
        args = ["audit", "prove-inclusion", "--index", str(index)]
        if size is not None:
            args += ["--size", str(size)]
        result = d.cli(*args)
        assert result.exit_code == 0, result.stdout
        out = result.json
        size = size or n
        assert out["index"] == index and out["tree_size"] == size
        assert out["leaf"].encode("utf-8") == leaves[index]
        assert bytes.fromhex(out["leaf_hash"]) == rfc.leaf(leaves[index])
        root = tree.get_root(size)
        assert bytes.fromhex(out["root_hash"]) == root
        assert rfc.verify_inclusion(
            rfc.leaf(out["leaf"].encode("utf-8")), index, size, _bytes(out["proof"]), root
        )
        if size == n:  # the latest head comes along, signed by the audit key
            assert out["head"]["tree_size"] == n
            assert bytes.fromhex(out["head"]["root_hash"]) == root
            assert auditor.head_ok(pem, out["head"])
        else:
            assert out["head"] is None

    bad = d.cli("audit", "prove-inclusion", "--index", str(n), "--size", str(n))
    assert bad.exit_code != 0
    assert bad.json["error"] == "invalid_request"


def _client(log) -> TestClient:
    d = log["deployment"]
    d.close()
    runtime = open_runtime(d.settings, clock=d.clock)
    return TestClient(create_app(d.settings, runtime=runtime))


def test_inclusion_and_consistency_proofs_over_http(log, rfc, auditor) -> None:
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    auth = {"Authorization": f"Bearer {log['auditor_key']}"}
    with _client(log) as client:
        assert client.get("/v1/audit/proofs/inclusion", params={"index": 0}).status_code == 401
        key = client.get("/.well-known/facekeep-audit-key").json()
        head = client.get("/v1/audit/head", headers=auth).json()
        assert head["tree_size"] == n
        assert auditor.head_ok(key["public_key_pem"], head)
        assert bytes.fromhex(head["root_hash"]) == tree.get_root(n)

        for index, size in ((0, None), (7, None), (n - 1, None), (4, 5), (16, 17), (9, n - 1)):
            params = {"index": index} | ({"tree_size": size} if size else {})
            response = client.get("/v1/audit/proofs/inclusion", params=params, headers=auth)
            assert response.status_code == 200, response.text
            out = response.json()
            size = size or n
            assert out["tree_size"] == size
            assert out["leaf"].encode("utf-8") == leaves[index]
            root = tree.get_root(size)
            assert bytes.fromhex(out["root_hash"]) == root
            assert rfc.verify_inclusion(
                rfc.leaf(out["leaf"].encode("utf-8")), index, size, _bytes(out["proof"]), root
            )

        for first, second in ((1, None), (5, 13), (8, 16), (13, n)):
            params = {"first": first} | ({"second": second} if second else {})
            response = client.get("/v1/audit/proofs/consistency", params=params, headers=auth)
            assert response.status_code == 200, response.text
            out = response.json()
            second = second or n
            old, new = tree.get_root(first), tree.get_root(second)
            assert bytes.fromhex(out["first_root"]) == old
            assert bytes.fromhex(out["second_root"]) == new
            assert rfc.verify_consistency(first, second, old, new, _bytes(out["proof"]))

        bad = client.get(
            "/v1/audit/proofs/inclusion", params={"index": n, "tree_size": n}, headers=auth
        )
        assert bad.status_code >= 400


# --------------------------------------------------------------------------- consistency


def _pairs(n: int) -> list[tuple[int, int]]:
    pairs = [(0, n), (1, n), (2, n), (3, 7), (4, 8), (5, 13), (7, 8), (8, n), (n - 1, n), (n, n)]
    pairs += [(m, k) for m in range(1, 18) for k in (m + 1, 2 * m + 3) if k <= n]
    return sorted(set(pairs))


def test_consistency_proofs_from_the_vault(log, rfc) -> None:
    audit = log["deployment"].vault.audit
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    for first, second in _pairs(n):
        old = tree.get_root(first) if first else rfc.mth([])
        new = tree.get_root(second)
        proof = _bytes(audit.consistency_proof(first, second))
        assert rfc.verify_consistency(first, second, old, new, proof), (first, second)
        assert proof == rfc.proof(first, leaves[:second])


def test_the_independent_verifier_rejects_bad_consistency_proofs(log, rfc) -> None:
    """Control: a rewritten old tree, a wrong size or a bent proof element fail."""
    audit = log["deployment"].vault.audit
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    first = 13
    proof = _bytes(audit.consistency_proof(first, n))
    old, new = tree.get_root(first), tree.get_root(n)
    assert rfc.verify_consistency(first, n, old, new, proof)
    rewritten = list(leaves[:first])
    rewritten[2] = rewritten[2].replace(b'"v":1', b'"v":9')
    assert not rfc.verify_consistency(first, n, rfc.mth(rewritten), new, proof)
    assert not rfc.verify_consistency(first + 1, n, tree.get_root(first + 1), new, proof)
    bent = [*proof]
    bent[0] = bytes([bent[0][0] ^ 1]) + bent[0][1:]
    assert not rfc.verify_consistency(first, n, old, new, bent)
    assert not rfc.verify_consistency(first, n - 1, old, tree.get_root(n - 1), proof)


def test_consistency_proofs_from_the_cli(log, rfc) -> None:
    d = log["deployment"]
    tree, leaves = log["pymerkle"], log["leaves"]
    n = len(leaves)
    for first, second in ((1, None), (6, 11), (16, None), (n - 1, n)):
        args = ["audit", "prove-consistency", "--first", str(first)]
        if second is not None:
            args += ["--second", str(second)]
        result = d.cli(*args)
        assert result.exit_code == 0, result.stdout
        out = result.json
        second = second or n
        assert (out["first"], out["second"]) == (first, second)
        old, new = tree.get_root(first), tree.get_root(second)
        assert bytes.fromhex(out["first_root"]) == old
        assert bytes.fromhex(out["second_root"]) == new
        assert rfc.verify_consistency(first, second, old, new, _bytes(out["proof"]))
        assert _bytes(out["proof"]) == rfc.proof(first, leaves[:second])
