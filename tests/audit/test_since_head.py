"""``--since-head``: a tree head an auditor saved earlier pins the log's history.

Appending is fine; an operator who rewrites or truncates the log and re-signs (they hold
the signing key) produces an export that verifies on its own, but not against the saved
head (check ``consistency.since_head``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from vault.audit.verify import verify_export


def _saved_head(deployment, tmp_path: Path) -> dict[str, Any]:
    """An auditor's export now; keep its manifest.json and its head as files."""
    out = tmp_path / "export-1"
    manifest = deployment.export(out)
    head_file = tmp_path / "saved-head.json"
    head_file.write_text(json.dumps(manifest["head"]), encoding="utf-8")
    report = verify_export(out).to_json()
    assert report["verdict"] == "PASS", report["failed"]
    return {"head": manifest["head"], "head_file": head_file, "manifest": out / "manifest.json"}


def _more_events(deployment) -> None:
    deployment.enroll("fay")
    assert deployment.match("fay") is not None
    deployment.revoke("duc", "checkin")
    deployment.erase("em")


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["check"] == name)


def test_saved_head_passes_after_more_events(busy, tmp_path, cli_run) -> None:
    saved = _saved_head(busy, tmp_path)
    _more_events(busy)
    out = tmp_path / "export-2"
    manifest = busy.export(out)
    assert manifest["tree_size"] > saved["head"]["tree_size"]

    report = verify_export(out, since_head=saved["head"]).to_json()
    assert report["verdict"] == "PASS", report["failed"]
    assert _check(report, "consistency.since_head")["ok"] is True

    pem = tmp_path / "pub.pem"
    pem.write_text(busy.pubkey_pem(), encoding="utf-8")
    result = cli_run(
        "audit", "verify", str(out), "--pubkey", str(pem), "--since-head", str(saved["head_file"])
    )
    assert result.exit_code == 0, result.stdout
    assert _check(result.json, "consistency.since_head")["ok"] is True


def test_saved_manifest_works_as_since_head(busy, tmp_path, cli_run) -> None:
    """The CLI help promises a manifest.json from an earlier export is accepted."""
    saved = _saved_head(busy, tmp_path)
    _more_events(busy)
    out = tmp_path / "export-2"
    busy.export(out)
    result = cli_run("audit", "verify", str(out), "--since-head", str(saved["manifest"]))
    assert result.exit_code == 0, _check(result.json, "consistency.since_head")


def _rewrite_leaf(deployment, seq: int) -> None:
    """What a dishonest operator can do with sqlite3: change an old event, keep the DB
    self-consistent (leaf hash recomputed), drop the old signed heads so they get re-signed."""
    deployment.close()
    ((leaf,),) = deployment.sql("SELECT leaf FROM audit_events WHERE seq = ?", [seq])
    event = json.loads(leaf)
    assert event["action"] == "enrol"
    event["details"]["purposes"] = ["checkin"]  # pretend marketing was never agreed to
    new_leaf = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert new_leaf != leaf
    new_hash = hashlib.sha256(b"\x00" + new_leaf.encode("utf-8")).digest()
    deployment.sql(
        "UPDATE audit_events SET leaf = ?, leaf_hash = ? WHERE seq = ?", [new_leaf, new_hash, seq]
    )
    _forget_signed_heads(deployment)


def _forget_signed_heads(deployment) -> None:
    """Drop the stored heads and the signer's own anchor file: an operator who holds the
    data directory too can make the signer forget what it signed (the signer alone then
    re-signs; tests/audit/test_signed_history.py shows it refusing while either is left)."""
    deployment.sql("DELETE FROM tree_heads")
    deployment.settings.audit_anchor_path().unlink(missing_ok=True)


def _truncate(deployment, keep: int) -> None:
    """Drop every event from ``keep`` on, with their receipts and the old signed heads."""
    deployment.close()
    gone = [
        json.loads(r[0])
        for r in deployment.sql("SELECT leaf FROM audit_events WHERE seq >= ?", [keep])
    ]
    for event in gone:
        receipt_id = event["details"].get("receipt_id")
        if event["action"].startswith("receipt.") and receipt_id:
            deployment.sql("DELETE FROM receipts WHERE receipt_id = ?", [receipt_id])
    deployment.sql("DELETE FROM audit_events WHERE seq >= ?", [keep])
    _forget_signed_heads(deployment)


@pytest.mark.parametrize("history", ["rewritten", "truncated", "truncated then regrown"])
def test_saved_head_catches_a_rewritten_or_truncated_history(
    busy, tmp_path, cli_run, history
) -> None:
    saved = _saved_head(busy, tmp_path)
    size = saved["head"]["tree_size"]
    if history == "rewritten":
        _rewrite_leaf(busy, 2)  # the second enrolment, long before the saved head
        _more_events(busy)
    else:
        _truncate(busy, size - 4)
        if history == "truncated then regrown":
            _more_events(busy)
            busy.enroll("gia")
    out = tmp_path / "export-2"
    busy.reopen()  # a new process: the Merkle tree is rebuilt from the database
    manifest = busy.export(out)
    if history == "truncated":
        assert manifest["tree_size"] < size
    else:
        assert manifest["tree_size"] > size

    # On its own the re-signed export is self-consistent: every other check passes ...
    alone = verify_export(out).to_json()
    assert alone["verdict"] == "PASS", alone["failed"]
    # ... only the head saved earlier shows the history changed.
    report = verify_export(out, since_head=saved["head"]).to_json()
    assert report["failed"] == ["consistency.since_head"]
    detail = _check(report, "consistency.since_head")["detail"]
    assert detail.startswith("not consistent with the saved head: ")
    if history == "truncated":
        assert "shorter than the saved head" in detail
    else:
        assert "does not lead to the old root" in detail

    pem = tmp_path / "pub.pem"
    pem.write_text(busy.pubkey_pem(), encoding="utf-8")
    result = cli_run(
        "audit", "verify", str(out), "--pubkey", str(pem), "--since-head", str(saved["head_file"])
    )
    assert result.exit_code != 0
    assert result.json["failed"] == ["consistency.since_head"]
    assert _check(result.json, "consistency.since_head")["detail"] == detail


def test_saved_head_signed_by_another_key_is_refused(busy, tmp_path) -> None:
    saved = _saved_head(busy, tmp_path)
    _more_events(busy)
    out = tmp_path / "export-2"
    busy.export(out)
    forged = dict(saved["head"])
    sig = forged["signature"]
    forged["signature"] = sig[:10] + ("B" if sig[10] != "B" else "C") + sig[11:]
    report = verify_export(out, since_head=forged).to_json()
    assert report["failed"] == ["consistency.since_head"]
