"""A destruction receipt verified end to end by an outsider who has only the public key
and a copy of the export folder (the data directory is gone by then).

Nothing from ``vault`` or ``keys`` is used on the auditor's side: plain ``json``,
``hashlib``, ``cryptography`` and the RFC 9162 code written in conftest.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_destruction_receipt_verifies_from_the_export_and_the_public_key_alone(
    busy, tmp_path, rfc, auditor
) -> None:
    d = busy
    d.enroll("kim")
    erased_by_cli = d.cli("erase", "--customer", "kim", "--reason", "asked at the desk")
    assert erased_by_cli.exit_code == 0, erased_by_cli.stdout
    cli_receipt = erased_by_cli.json["receipt"]

    pubkey = d.cli("audit", "pubkey").json
    assert pubkey["alg"] == "Ed25519"
    pem = pubkey["public_key_pem"]
    exported = d.cli("audit", "export", "--out", str(tmp_path / "export"))
    assert exported.exit_code == 0, exported.stdout

    # The auditor's machine: only the export folder and the public key.
    mine = tmp_path / "auditor" / "export"
    shutil.copytree(tmp_path / "export", mine)
    shutil.rmtree(tmp_path / "export")
    shutil.rmtree(d.data_dir)

    lines = (mine / "log.jsonl").read_text(encoding="utf-8").splitlines()
    leaves = [line.encode("utf-8") for line in lines]
    events = [json.loads(line) for line in lines]
    heads = _read_jsonl(mine / "tree-heads.jsonl")
    key_states = {k["key_id"]: k for k in _read_jsonl(mine / "key-states.jsonl")}
    live = {k["key_id"] for k in _read_jsonl(mine / "live-keys.jsonl")}

    # The signed head covers the whole log.
    head = max(heads, key=lambda h: h["tree_size"])
    assert auditor.head_ok(pem, head)
    assert head["tree_size"] == len(leaves)
    root = bytes.fromhex(head["root_hash"])
    assert rfc.mth(leaves) == root

    receipts = sorted((mine / "receipts").glob("dr_*.json"))
    assert len(receipts) == 3  # ana and chi (busy log), kim (command line)
    seen_customers = set()
    for path in receipts:
        doc = json.loads(path.read_text(encoding="utf-8"))
        body = doc["receipt"]
        message = auditor.canonical(body)

        # 1. Its signature, under the pinned public key.
        assert doc["alg"] == "Ed25519"
        assert auditor.signature_ok(pem, doc["signature"], message)
        assert body["version"] == "facekeep-destruction-receipt/1"
        assert path.stem == body["receipt_id"]
        customer = body["pii_principal_id"]
        seen_customers.add(customer)

        # 2. log_index points at this customer's erase.complete event, same keys.
        erase = events[body["log_index"]]
        assert erase["seq"] == body["log_index"]
        assert erase["action"] == "erase.complete"
        assert erase["customer"] == customer
        key_ids = [k["key_id"] for k in body["destroyed_keys"]]
        assert erase["details"]["key_ids"] == key_ids
        assert erase["details"]["key_commitments"] == [
            k["commitment"] for k in body["destroyed_keys"]
        ]
        assert erase["details"]["reason"] == body["reason"]

        # 3. Its hash is in the log, in the receipt.destruction event right after.
        digest = hashlib.sha256(message).hexdigest()
        (logged,) = [
            i
            for i, e in enumerate(events)
            if e["action"] == "receipt.destruction"
            and e["details"]["receipt_id"] == body["receipt_id"]
        ]
        assert events[logged]["details"]["sha256"] == digest
        assert logged == body["log_index"] + 1

        # 4. Both events are included under the signed head (proofs built here).
        for index in (body["log_index"], logged):
            proof = rfc.path(index, leaves)
            assert rfc.verify_inclusion(rfc.leaf(leaves[index]), index, len(leaves), proof, root)

        # 5. Each destroyed key's commitment is the one published in key-states.jsonl.
        assert key_ids
        for key in body["destroyed_keys"]:
            state = key_states[key["key_id"]]
            assert state["commitment"] == key["commitment"]
            assert state["state"] == "destroyed"
            assert state["customer"] == customer
            assert key["key_id"] not in live

    assert seen_customers == {"ana", "chi", "kim"}
    kim = json.loads(
        (mine / "receipts" / f"{cli_receipt['receipt']['receipt_id']}.json").read_text()
    )
    assert kim == cli_receipt  # what the operator handed the customer is what the auditor sees
    assert kim["receipt"]["reason"] == "asked at the desk"
    assert kim["receipt"]["method"] == "crypto-shred AES-256-GCM data key"


def test_the_auditor_side_checks_can_fail(sample_export, auditor, rfc, tmp_path) -> None:
    """Control: the same checks refuse a receipt signed by another key or edited."""
    pem = sample_export["pubkey"].read_text(encoding="utf-8")
    path = sorted((sample_export["dir"] / "receipts").glob("dr_*.json"))[0]
    doc = json.loads(path.read_text(encoding="utf-8"))
    message = auditor.canonical(doc["receipt"])
    assert auditor.signature_ok(pem, doc["signature"], message)
    edited = dict(doc["receipt"], log_index=doc["receipt"]["log_index"] - 1)
    assert not auditor.signature_ok(pem, doc["signature"], auditor.canonical(edited))
    rogue = base64.b64encode(Ed25519PrivateKey.generate().sign(message)).decode()
    assert not auditor.signature_ok(pem, rogue, message)

    lines = (sample_export["dir"] / "log.jsonl").read_text(encoding="utf-8").splitlines()
    leaves = [line.encode("utf-8") for line in lines]
    index = doc["receipt"]["log_index"]
    proof = rfc.path(index, leaves)
    root = rfc.mth(leaves)
    assert rfc.verify_inclusion(rfc.leaf(leaves[index]), index, len(leaves), proof, root)
    assert not rfc.verify_inclusion(rfc.leaf(leaves[index - 1]), index, len(leaves), proof, root)
