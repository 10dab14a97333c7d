"""Every state change and its audit trail go together: an enrolment is an ``enrol`` event
plus a ``receipt.consent`` event, an erasure ``erase.begin``, ``erase.complete`` and
``receipt.destruction``, with consecutive sequence numbers and the stored receipt's
SHA-256 in the log. The audit signing key is its own 0600 file, not a KEK."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from keys.signing import Ed25519Signer
from vault import Actor

OPERATOR = Actor(role="operator", id="test")


def _receipts(d) -> dict[str, dict]:
    rows = d.sql("SELECT receipt_id, kind, customer_id, body FROM receipts")
    return {r[0]: {"kind": r[1], "customer": r[2], "body": r[3]} for r in rows}


def _check_pairs(d) -> dict[str, int]:
    """Walk the whole log and check every operation's events; return counts."""
    events = d.events()
    receipts = _receipts(d)
    assert [e["seq"] for e in events] == list(range(len(events)))
    referenced: list[str] = []
    counts = {"enrol": 0, "grant": 0, "erase": 0}

    def receipt_event(e: dict, kind: str, customer: str) -> dict:
        assert e["action"] == f"receipt.{kind}"
        assert e["customer"] == customer
        rid = e["details"]["receipt_id"]
        stored = receipts[rid]
        assert stored["kind"] == kind and stored["customer"] == customer
        assert e["details"]["sha256"] == hashlib.sha256(stored["body"].encode()).hexdigest()
        referenced.append(rid)
        return json.loads(stored["body"])

    for i, e in enumerate(events):
        if e["action"] == "enrol":
            body = receipt_event(events[i + 1], "consent", e["customer"])
            assert body["consent_id"] == e["details"]["consent"]
            assert events[i + 1]["ts"] == e["ts"] and events[i + 1]["actor"] == e["actor"]
            counts["enrol"] += 1
        elif e["action"] == "consent.grant":
            body = receipt_event(events[i + 1], "consent", e["customer"])
            assert body["consent_id"] == e["details"]["consent"]
            counts["grant"] += 1
        elif e["action"] == "erase.begin":
            complete = events[i + 1]
            assert complete["action"] == "erase.complete"
            assert complete["customer"] == e["customer"]
            assert complete["details"]["reason"] == e["details"]["reason"]
            body = receipt_event(events[i + 2], "destruction", e["customer"])
            assert body["log_index"] == complete["seq"] == e["seq"] + 1
            assert [k["key_id"] for k in body["destroyed_keys"]] == complete["details"]["key_ids"]
            counts["erase"] += 1
        elif e["action"] in ("erase.complete", "receipt.destruction", "receipt.consent"):
            prev = {"erase.complete": ("erase.begin",), "receipt.destruction": ("erase.complete",)}
            expected = prev.get(e["action"], ("enrol", "consent.grant"))
            assert events[i - 1]["action"] in expected, (i, e["action"])
    # Every stored receipt is logged exactly once, and nothing else is.
    assert sorted(referenced) == sorted(receipts)
    return counts


def test_every_operation_logs_its_events_and_receipts_together(busy) -> None:
    busy.enroll("gia", photos=3)
    busy.erase("gia", reason="moved away")
    busy.erase("gia", reason="again")  # idempotent: nothing new in the log
    counts = _check_pairs(busy)
    assert counts == {"enrol": 6, "grant": 1, "erase": 3}
    actions = [e["action"] for e in busy.events()]
    assert actions.count("receipt.consent") == 7
    assert actions.count("receipt.destruction") == 3
    assert actions.count("erase.begin") == actions.count("erase.complete") == 3


def test_a_crash_between_erase_begin_and_complete_is_finished_with_its_receipt(
    deployment,
) -> None:
    """The ``facekeep erase`` process is killed right after ``erase.begin`` is committed;
    the next start completes the erase, logs erase.complete and the destruction receipt."""
    d = deployment
    d.enroll("ana")
    d.enroll("bao")
    d.close()
    script = Path(sys.executable).with_name("facekeep")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env["FACEKEEP_FAULT_POINT"] = "erase.after_begin"
    proc = subprocess.run(
        [
            str(script),
            "erase",
            "--customer",
            "ana",
            "--reason",
            "asked",
            "--data-dir",
            str(d.data_dir),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
    assert [e["action"] for e in d.events()][-1] == "erase.begin"
    assert d.sql("SELECT status FROM customers WHERE customer_id = 'ana'") == [("erasing",)]

    d.reopen()  # start() recovers the interrupted erase
    tail = d.events()[-3:]
    assert [e["action"] for e in tail] == ["erase.begin", "erase.complete", "receipt.destruction"]
    assert tail[0]["actor"] == {"role": "operator", "id": "cli"}
    assert tail[1]["actor"] == tail[2]["actor"] == {"role": "system", "id": "facekeep"}
    assert d.sql("SELECT status FROM customers WHERE customer_id = 'ana'") == [("erased",)]
    assert _check_pairs(d) == {"enrol": 2, "grant": 0, "erase": 1}


def test_audit_signing_key_is_its_own_0600_file_not_a_kek(busy, tmp_path) -> None:
    d = busy
    d.vault.rotate_kek(actor=OPERATOR)
    signing = d.settings.signing_key_path()
    kek_files = sorted((d.data_dir / "kek").glob("*.kek"))
    assert signing.is_file() and kek_files
    assert signing.parent != kek_files[0].parent
    seed = signing.read_bytes()
    assert len(seed) == 32
    for path in [signing, *kek_files]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for kek in kek_files:
        assert kek.read_bytes() != seed
    # The public key that verifies exports is derived from this file and nothing else.
    manifest = d.export(tmp_path / "export")
    signer = Ed25519Signer.load(signing)
    assert manifest["audit_key_id"] == signer.key_id
    assert (tmp_path / "export" / "audit-pubkey.pem").read_text() == signer.public_pem()
    # The private seed is in no other file of the deployment or of the export.
    d.close()
    others = [
        p
        for p in [*d.data_dir.rglob("*"), *(tmp_path / "export").rglob("*")]
        if p.is_file() and p != signing
    ]
    assert others
    for path in others:
        assert seed not in path.read_bytes(), path
