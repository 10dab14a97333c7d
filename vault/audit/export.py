"""Write an auditor's export: the log, the signed tree heads, the receipts, the key states
and the public key, as plain files that :mod:`vault.audit.verify` checks offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from keys import KeyStore
from vault.audit.log import AuditLog
from vault.audit.receipts import read_receipts
from vault.errors import AuditInconsistent
from vault.models import audit_events

__all__ = [
    "HEADS",
    "KEY_STATES",
    "LIVE_KEYS",
    "LOG",
    "MANIFEST",
    "PUBKEY",
    "RECEIPTS",
    "export_audit",
]

LOG = "log.jsonl"
HEADS = "tree-heads.jsonl"
RECEIPTS = "receipts"
KEY_STATES = "key-states.jsonl"
LIVE_KEYS = "live-keys.jsonl"
PUBKEY = "audit-pubkey.pem"
MANIFEST = "manifest.json"


def export_audit(audit: AuditLog, keys: KeyStore, out: Path) -> dict[str, Any]:
    """Sign a fresh tree head and write everything an auditor needs into ``out``.

    When the signer refuses (the log no longer extends its signed heads), the export is
    still written, up to the newest stored head, so the auditor can see what changed:
    its check of that head's root then fails."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        head = audit.sign_head()
    except AuditInconsistent:
        stored = audit.latest_head()
        if stored is None:
            raise
        head = stored
    with audit.engine.connect() as conn:
        leaves = conn.execute(
            select(audit_events.c.leaf)
            .where(audit_events.c.seq < head.tree_size)
            .order_by(audit_events.c.seq)
        ).scalars()
        with (out / LOG).open("w", encoding="utf-8") as fh:
            for leaf in leaves:
                fh.write(leaf + "\n")
    with (out / HEADS).open("w", encoding="utf-8") as fh:
        for h in audit.heads():
            fh.write(json.dumps(h.to_json(), sort_keys=True) + "\n")
    receipt_dir = out / RECEIPTS
    receipt_dir.mkdir(exist_ok=True)
    receipts = read_receipts(audit.engine)
    for receipt in receipts:
        (receipt_dir / f"{receipt.receipt_id}.json").write_text(
            json.dumps(receipt.document(), sort_keys=True, indent=1, ensure_ascii=False),
            encoding="utf-8",
        )
    records = list(keys.records())
    with (out / KEY_STATES).open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(_key_state(r), sort_keys=True) + "\n")
    with (out / LIVE_KEYS).open("w", encoding="utf-8") as fh:
        for r in records:
            if r.state == "active":
                fh.write(json.dumps({"key_id": r.key_id, "kek_epoch": r.kek_epoch}) + "\n")
    (out / PUBKEY).write_text(audit.signer.public_pem(), encoding="utf-8")
    manifest = {
        "format": "facekeep-audit-export/1",
        "tree_size": head.tree_size,
        "root_hash": head.root_hash,
        "head": head.to_json(),
        "receipts": len(receipts),
        "keys": len(records),
        "audit_key_id": audit.signer.key_id,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, sort_keys=True, indent=1), encoding="utf-8")
    return manifest


def _key_state(record: Any) -> dict[str, Any]:
    return {
        "key_id": record.key_id,
        "customer": record.customer_id,
        "state": record.state,
        "kek_epoch": record.kek_epoch,
        "commitment": record.commitment,
        "destroyed_at": record.destroyed_at.isoformat() if record.destroyed_at else None,
        "destroy_reason": record.destroy_reason,
    }
