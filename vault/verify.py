"""Offline verification of an audit export, trusting only the audit public key.

Each check has a name, so a failure says what was caught: a flipped byte changes a leaf
hash (``log.roots``), a dropped or reordered entry breaks ``log.sequence`` and the roots,
a swapped receipt fails ``receipts.signatures`` or ``receipts.logged``, a rewritten or
truncated history since a saved head fails ``consistency.since_head``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keys.signing import SignatureInvalid, load_public_key, public_key_id, verify_signature
from vault.audit import canonical_json
from vault.auditlog import head_body, head_message
from vault.export import HEADS, KEY_STATES, LIVE_KEYS, LOG, PUBKEY, RECEIPTS
from vault.merkle import (
    MerkleTree,
    ProofError,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)


@dataclass
class Report:
    """Named checks and their outcomes."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        """Record one check."""
        self.checks.append({"check": name, "ok": ok, "detail": detail})

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return bool(self.checks) and all(c["ok"] for c in self.checks)

    def failed(self) -> list[str]:
        """Names of the failed checks."""
        return [c["check"] for c in self.checks if not c["ok"]]

    def to_json(self) -> dict[str, Any]:
        """The verdict as JSON."""
        return {
            "verdict": "PASS" if self.ok else "FAIL",
            "ok": self.ok,
            "failed": self.failed(),
            "checks": self.checks,
        }


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def _check_head(pub: bytes, head: dict[str, Any]) -> None:
    body = head_body(
        int(head["tree_size"]), str(head["root_hash"]), _ts(head["timestamp"]), head["key_id"]
    )
    if canonical_json(body) != canonical_json({k: head[k] for k in body}):
        raise SignatureInvalid("tree head fields are malformed")
    verify_signature(pub, base64.b64decode(head["signature"]), head_message(body))


def _ts(value: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(value)


def verify_export(
    directory: Path, *, pubkey: bytes | None = None, since_head: dict[str, Any] | None = None
) -> Report:
    """Run every check over an export directory."""
    report = Report()
    if pubkey is None:
        pubkey = load_public_key((directory / PUBKEY).read_text(encoding="utf-8"))
        report.add("pubkey", True, "using the export's own public key (pass --pubkey to pin it)")
    else:
        report.add("pubkey", True, f"pinned key {public_key_id(pubkey)}")

    # The log: order, leaf hashes, and roots against every signed head.
    lines = _read_lines(directory / LOG)
    events: list[dict[str, Any]] = []
    tree = MerkleTree()
    parse_ok, seq_ok = True, True
    for position, line in enumerate(lines):
        tree.append(leaf_hash(line.encode("utf-8")))
        try:
            event = json.loads(line)
        except ValueError:
            parse_ok = False
            events.append({})
            continue
        events.append(event)
        if event.get("seq") != position:
            seq_ok = False
    report.add("log.parse", parse_ok, f"{len(lines)} entries")
    report.add(
        "log.sequence",
        seq_ok,
        "entries are numbered 0..n-1 in order" if seq_ok else "entries missing or out of order",
    )

    heads: list[dict[str, Any]] = []
    sig_fail: list[Any] = []
    for line in _read_lines(directory / HEADS):
        try:
            head = json.loads(line)
            if not isinstance(head, dict):
                raise ValueError("not an object")
            heads.append(head)
        except ValueError:
            sig_fail.append("unparseable line")
    for head in heads:
        try:
            _check_head(pubkey, head)
        except (SignatureInvalid, KeyError, ValueError, TypeError):
            sig_fail.append(head.get("tree_size"))
    report.add(
        "signatures.tree_heads",
        bool(heads) and not sig_fail,
        f"{len(heads)} heads" + (f"; bad signatures at sizes {sig_fail}" if sig_fail else ""),
    )
    root_fail = []
    for head in heads:
        size = int(head.get("tree_size", -1))
        if size > tree.size or size < 0 or tree.root(size).hex() != head.get("root_hash"):
            root_fail.append(size)
    report.add(
        "log.roots",
        bool(heads) and not root_fail,
        "every signed root recomputed from the log"
        if not root_fail
        else f"roots differ from the log at sizes {root_fail}",
    )
    latest = max(heads, key=lambda h: int(h["tree_size"])) if heads else None
    covered = latest is not None and int(latest["tree_size"]) == len(lines)
    report.add(
        "log.coverage",
        covered,
        "the latest signed head covers the whole log"
        if covered
        else "the log length differs from the latest signed head",
    )

    # Consistency with a head saved earlier: no truncation or rewrite since then.
    if since_head is not None and latest is not None:
        detail = ""
        try:
            _check_head(pubkey, since_head)
            old_size, new_size = int(since_head["tree_size"]), int(latest["tree_size"])
            if old_size > tree.size:
                raise ProofError("the log is shorter than the saved head")
            proof = tree.consistency_proof(old_size, new_size)
            verify_consistency(
                old_size,
                new_size,
                bytes.fromhex(since_head["root_hash"]),
                bytes.fromhex(latest["root_hash"]),
                proof,
            )
            ok = True
            detail = f"size {old_size} -> {new_size} is an append-only extension"
        except (ProofError, SignatureInvalid, KeyError, ValueError) as exc:
            ok = False
            detail = f"not consistent with the saved head: {exc}"
        report.add("consistency.since_head", ok, detail)

    # Receipts: signatures, logged by hash, included under the latest head.
    logged = {
        (e.get("details") or {}).get("receipt_id"): (i, (e.get("details") or {}).get("sha256"))
        for i, e in enumerate(events)
        if str(e.get("action", "")).startswith("receipt.")
    }
    sig_bad: list[Any] = []
    not_logged: list[Any] = []
    not_included: list[Any] = []
    bad_index: list[Any] = []
    destroyed: dict[str, str | None] = {}  # key id -> commitment in its receipt
    seen: set[str] = set()
    receipt_files = sorted((directory / RECEIPTS).glob("*.json"))
    for path in receipt_files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            body = doc.get("receipt", {})
            if not isinstance(body, dict):
                raise ValueError("no receipt object")
        except (ValueError, AttributeError, UnicodeDecodeError):
            sig_bad.append(path.name)
            continue
        text = canonical_json(body)
        rid = body.get("receipt_id")
        if path.name != f"{rid}.json" or rid in seen:
            not_logged.append(path.name)  # a file under another receipt's name, or a copy
        seen.add(str(rid))
        try:
            verify_signature(pubkey, base64.b64decode(doc["signature"]), text.encode("utf-8"))
        except (SignatureInvalid, KeyError, ValueError, TypeError):
            sig_bad.append(rid)
        entry = logged.get(rid)
        if entry is None or entry[1] != hashlib.sha256(text.encode("utf-8")).hexdigest():
            not_logged.append(rid)
        elif latest is not None:
            index = entry[0]
            size = int(latest["tree_size"])
            try:
                verify_inclusion(
                    leaf_hash(lines[index].encode("utf-8")),
                    index,
                    size,
                    tree.inclusion_proof(index, size),
                    bytes.fromhex(latest["root_hash"]),
                )
            except (ProofError, IndexError):
                not_included.append(rid)
        if body.get("version", "").startswith("facekeep-destruction-receipt"):
            keys = [k.get("key_id") for k in body.get("destroyed_keys", [])]
            for k in body.get("destroyed_keys", []):
                if k.get("key_id"):
                    destroyed[k["key_id"]] = k.get("commitment")
            at = body.get("log_index")
            event = events[at] if isinstance(at, int) and 0 <= at < len(events) else {}
            if (
                event.get("action") != "erase.complete"
                or event.get("customer") != body.get("pii_principal_id")
                or (event.get("details") or {}).get("key_ids") != keys
            ):
                bad_index.append(rid)
    missing = sorted(str(rid) for rid in logged if rid not in seen)
    report.add(
        "receipts.present",
        not missing,
        "every receipt recorded in the log is in the export"
        if not missing
        else f"recorded in the log but missing: {missing}",
    )
    report.add(
        "receipts.signatures",
        not sig_bad,
        f"{len(receipt_files)} receipts" + (f"; bad: {sig_bad}" if sig_bad else ""),
    )
    report.add(
        "receipts.logged",
        not not_logged,
        "each receipt's hash is in the log" if not not_logged else f"not in the log: {not_logged}",
    )
    report.add(
        "receipts.inclusion",
        not not_included,
        "inclusion proofs verify against the latest head"
        if not not_included
        else f"not included: {not_included}",
    )
    report.add(
        "receipts.destruction_events",
        not bad_index,
        "each destruction receipt points at its erase event"
        if not bad_index
        else f"mismatched: {bad_index}",
    )

    # Destroyed keys must not be among the keys that still exist, and the key-state
    # listing must agree with the receipts (state and commitment).
    states: dict[str, dict[str, Any]] = {}
    live: set[str] = set()
    listing_ok = (directory / KEY_STATES).exists() and (directory / LIVE_KEYS).exists()
    try:
        for line in _read_lines(directory / KEY_STATES):
            row = json.loads(line)
            states[row["key_id"]] = row
        live = {json.loads(line)["key_id"] for line in _read_lines(directory / LIVE_KEYS)}
    except (ValueError, KeyError, TypeError):
        listing_ok = False
    report.add(
        "keys.listing",
        listing_ok and live == {k for k, r in states.items() if r.get("state") == "active"},
        "key states and live keys agree"
        if listing_ok
        else "the key-state listing is missing or unreadable",
    )
    resurrected = sorted(set(destroyed) & live)
    contradicted = sorted(
        k
        for k, commitment in destroyed.items()
        if states.get(k, {}).get("state") != "destroyed"
        or states.get(k, {}).get("commitment") != commitment
    )
    report.add(
        "keys.destroyed_absent",
        listing_ok and not resurrected and not contradicted,
        f"{len(destroyed)} destroyed keys, none live, states and commitments agree"
        if listing_ok and not resurrected and not contradicted
        else f"still live: {resurrected}; state or commitment contradicts receipt: {contradicted}",
    )
    return report
