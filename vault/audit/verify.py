"""Offline verification of an audit export, trusting only the audit public key.

Each check is a function of its own with a name, so a failure says what was caught: a
flipped byte changes a leaf hash (``log.roots``), a dropped or reordered entry breaks
``log.sequence`` and the roots, a swapped receipt fails ``receipts.signatures`` or
``receipts.logged``, a rewritten or truncated history since a saved head fails
``consistency.since_head``. :func:`read_export` reads the directory once; each check
reads what it needs from that and returns ``(ok, detail)``; :func:`verify_export` runs
them all, in the order of :data:`CHECKS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vault.audit.events import canonical_json
from vault.audit.export import HEADS, KEY_STATES, LIVE_KEYS, LOG, PUBKEY, RECEIPTS
from vault.audit.log import head_body, head_message
from vault.audit.merkle import MerkleTree, leaf_hash, verify_consistency, verify_inclusion
from vault.audit.signing import check_signature, load_public_key, public_key_id
from vault.errors import ProofError, SignatureInvalid

__all__ = [
    "CHECKS",
    "Export",
    "Report",
    "check_destroyed_absent",
    "check_head_signatures",
    "check_key_listing",
    "check_log_coverage",
    "check_log_parse",
    "check_log_roots",
    "check_log_sequence",
    "check_receipt_destruction_events",
    "check_receipt_inclusion",
    "check_receipt_signatures",
    "check_receipts_logged",
    "check_receipts_present",
    "check_since_head",
    "read_export",
    "verify_export",
]


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


@dataclass
class ReceiptFile:
    """One file of the export's receipts folder; ``body`` is None if it is unreadable."""

    path: Path
    body: dict[str, Any] | None = None
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def receipt_id(self) -> Any:
        """The id the receipt names (of any type: the file is untrusted)."""
        return None if self.body is None else self.body.get("receipt_id")

    def text(self) -> str:
        """The canonical JSON its signature and its logged hash cover."""
        return canonical_json(self.body)


@dataclass
class Export:
    """An export directory as read once: what every check works from."""

    directory: Path
    pubkey: bytes
    lines: list[str]  # the log's entries, as written
    events: list[dict[str, Any]]  # each entry parsed ({} where it does not parse)
    unparsed: frozenset[int]  # positions of the entries that do not parse
    tree: MerkleTree  # over the entries' leaf hashes
    heads: list[dict[str, Any]]
    unparseable_heads: int
    receipts: list[ReceiptFile]
    since_head: dict[str, Any] | None = None
    _logged: dict[Any, tuple[int, Any]] | None = field(default=None, repr=False)

    @property
    def latest(self) -> dict[str, Any] | None:
        """The signed head of the largest tree."""
        return max(self.heads, key=lambda h: int(h["tree_size"])) if self.heads else None

    def logged_receipts(self) -> dict[Any, tuple[int, Any]]:
        """Receipt id -> (log index, SHA-256 recorded) for each receipt event in the log."""
        if self._logged is None:
            self._logged = {
                (e.get("details") or {}).get("receipt_id"): (
                    i,
                    (e.get("details") or {}).get("sha256"),
                )
                for i, e in enumerate(self.events)
                if str(e.get("action", "")).startswith("receipt.")
            }
        return self._logged

    def destruction_receipts(self) -> list[ReceiptFile]:
        """The readable destruction receipts."""
        return [
            r
            for r in self.receipts
            if r.body is not None
            and r.body.get("version", "").startswith("facekeep-destruction-receipt")
        ]


Check = Callable[[Export], tuple[bool, str]]


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def read_export(
    directory: Path, pubkey: bytes, *, since_head: dict[str, Any] | None = None
) -> Export:
    """Read the log, the heads and the receipts of an export directory."""
    lines = _read_lines(directory / LOG)
    events: list[dict[str, Any]] = []
    unparsed = set()
    tree = MerkleTree()
    for position, line in enumerate(lines):
        tree.append(leaf_hash(line.encode("utf-8")))
        try:
            events.append(json.loads(line))
        except ValueError:
            unparsed.add(position)
            events.append({})
    heads: list[dict[str, Any]] = []
    unparseable = 0
    for line in _read_lines(directory / HEADS):
        try:
            head = json.loads(line)
            if not isinstance(head, dict):
                raise ValueError("not an object")
            heads.append(head)
        except ValueError:
            unparseable += 1
    receipts = []
    for path in sorted((directory / RECEIPTS).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            body = doc.get("receipt", {})
            if not isinstance(body, dict):
                raise ValueError("no receipt object")
        except (ValueError, AttributeError, UnicodeDecodeError):
            receipts.append(ReceiptFile(path))
            continue
        receipts.append(ReceiptFile(path, body, doc))
    return Export(
        directory,
        pubkey,
        lines,
        events,
        frozenset(unparsed),
        tree,
        heads,
        unparseable,
        receipts,
        since_head,
    )


def _check_head(pub: bytes, head: dict[str, Any]) -> None:
    body = head_body(
        int(head["tree_size"]),
        str(head["root_hash"]),
        datetime.fromisoformat(head["timestamp"]),
        head["key_id"],
    )
    if canonical_json(body) != canonical_json({k: head[k] for k in body}):
        raise SignatureInvalid("tree head fields are malformed")
    check_signature(pub, head["signature"], head_message(body), validate=False)


# -- the log ---------------------------------------------------------------------------


def check_log_parse(export: Export) -> tuple[bool, str]:
    """``log.parse``: every entry is JSON."""
    return not export.unparsed, f"{len(export.lines)} entries"


def check_log_sequence(export: Export) -> tuple[bool, str]:
    """``log.sequence``: entries are numbered 0..n-1 in order."""
    ok = all(
        event.get("seq") == position
        for position, event in enumerate(export.events)
        if position not in export.unparsed
    )
    return ok, "entries are numbered 0..n-1 in order" if ok else "entries missing or out of order"


def check_head_signatures(export: Export) -> tuple[bool, str]:
    """``signatures.tree_heads``: every tree head is signed by the key."""
    bad: list[Any] = ["unparseable line"] * export.unparseable_heads
    for head in export.heads:
        try:
            _check_head(export.pubkey, head)
        except (SignatureInvalid, KeyError, ValueError, TypeError):
            bad.append(head.get("tree_size"))
    detail = f"{len(export.heads)} heads" + (f"; bad signatures at sizes {bad}" if bad else "")
    return bool(export.heads) and not bad, detail


def check_log_roots(export: Export) -> tuple[bool, str]:
    """``log.roots``: each signed root is recomputed from the log."""
    bad = []
    for head in export.heads:
        size = int(head.get("tree_size", -1))
        out_of_range = size > export.tree.size or size < 0
        if out_of_range or export.tree.root(size).hex() != head.get("root_hash"):
            bad.append(size)
    if bad:
        return False, f"roots differ from the log at sizes {bad}"
    return bool(export.heads), "every signed root recomputed from the log"


def check_log_coverage(export: Export) -> tuple[bool, str]:
    """``log.coverage``: the latest signed head covers the whole log."""
    latest = export.latest
    covered = latest is not None and int(latest["tree_size"]) == len(export.lines)
    if covered:
        return True, "the latest signed head covers the whole log"
    return False, "the log length differs from the latest signed head"


def check_since_head(export: Export) -> tuple[bool, str]:
    """``consistency.since_head``: the log extends a head saved earlier (no truncation or
    rewrite since then)."""
    saved, latest = export.since_head, export.latest
    assert saved is not None and latest is not None
    try:
        _check_head(export.pubkey, saved)
        old_size, new_size = int(saved["tree_size"]), int(latest["tree_size"])
        if old_size > export.tree.size:
            raise ProofError("the log is shorter than the saved head")
        verify_consistency(
            old_size,
            new_size,
            bytes.fromhex(saved["root_hash"]),
            bytes.fromhex(latest["root_hash"]),
            export.tree.consistency_proof(old_size, new_size),
        )
    except (ProofError, SignatureInvalid, KeyError, ValueError) as exc:
        return False, f"not consistent with the saved head: {exc}"
    return True, f"size {old_size} -> {new_size} is an append-only extension"


# -- receipts --------------------------------------------------------------------------


def check_receipts_present(export: Export) -> tuple[bool, str]:
    """``receipts.present``: every receipt recorded in the log is in the export."""
    seen = {str(r.receipt_id) for r in export.receipts if r.body is not None}
    missing = sorted(str(rid) for rid in export.logged_receipts() if rid not in seen)
    if missing:
        return False, f"recorded in the log but missing: {missing}"
    return True, "every receipt recorded in the log is in the export"


def check_receipt_signatures(export: Export) -> tuple[bool, str]:
    """``receipts.signatures``: each receipt is readable and signed by the key."""
    bad: list[Any] = []
    for receipt in export.receipts:
        if receipt.body is None:
            bad.append(receipt.path.name)
            continue
        try:
            check_signature(
                export.pubkey,
                receipt.doc["signature"],
                receipt.text().encode("utf-8"),
                validate=False,
            )
        except (SignatureInvalid, KeyError, ValueError, TypeError):
            bad.append(receipt.receipt_id)
    return not bad, f"{len(export.receipts)} receipts" + (f"; bad: {bad}" if bad else "")


def _logged_entry(export: Export, receipt: ReceiptFile) -> tuple[int, Any] | None:
    """The log entry recording ``receipt`` under its own hash, or None."""
    entry = export.logged_receipts().get(receipt.receipt_id)
    digest = hashlib.sha256(receipt.text().encode("utf-8")).hexdigest()
    return entry if entry is not None and entry[1] == digest else None


def check_receipts_logged(export: Export) -> tuple[bool, str]:
    """``receipts.logged``: each receipt is filed under its own id, once, and its hash is
    in the log."""
    bad: list[Any] = []
    seen: set[str] = set()
    for receipt in export.receipts:
        if receipt.body is None:
            continue
        rid = receipt.receipt_id
        if receipt.path.name != f"{rid}.json" or rid in seen:
            bad.append(receipt.path.name)  # a file under another receipt's name, or a copy
        seen.add(str(rid))
        if _logged_entry(export, receipt) is None:
            bad.append(rid)
    return not bad, "each receipt's hash is in the log" if not bad else f"not in the log: {bad}"


def check_receipt_inclusion(export: Export) -> tuple[bool, str]:
    """``receipts.inclusion``: each logged receipt's entry is included under the latest
    signed head."""
    latest = export.latest
    bad: list[Any] = []
    for receipt in export.receipts:
        entry = None if receipt.body is None else _logged_entry(export, receipt)
        if entry is None or latest is None:
            continue
        index, size = entry[0], int(latest["tree_size"])
        try:
            verify_inclusion(
                leaf_hash(export.lines[index].encode("utf-8")),
                index,
                size,
                export.tree.inclusion_proof(index, size),
                bytes.fromhex(latest["root_hash"]),
            )
        except (ProofError, IndexError):
            bad.append(receipt.receipt_id)
    if bad:
        return False, f"not included: {bad}"
    return True, "inclusion proofs verify against the latest head"


def check_receipt_destruction_events(export: Export) -> tuple[bool, str]:
    """``receipts.destruction_events``: each destruction receipt points at the erase event
    of its customer and keys."""
    bad: list[Any] = []
    for receipt in export.destruction_receipts():
        body = receipt.body
        assert body is not None
        keys = [k.get("key_id") for k in body.get("destroyed_keys", [])]
        at = body.get("log_index")
        events = export.events
        event = events[at] if isinstance(at, int) and 0 <= at < len(events) else {}
        if (
            event.get("action") != "erase.complete"
            or event.get("customer") != body.get("pii_principal_id")
            or (event.get("details") or {}).get("key_ids") != keys
        ):
            bad.append(receipt.receipt_id)
    if bad:
        return False, f"mismatched: {bad}"
    return True, "each destruction receipt points at its erase event"


# -- key states ------------------------------------------------------------------------


def _key_listing(export: Export) -> tuple[bool, dict[str, dict[str, Any]], set[str]]:
    """(readable, key id -> state row, live key ids) from the key-state listing."""
    directory = export.directory
    states: dict[str, dict[str, Any]] = {}
    live: set[str] = set()
    readable = (directory / KEY_STATES).exists() and (directory / LIVE_KEYS).exists()
    try:
        for line in _read_lines(directory / KEY_STATES):
            row = json.loads(line)
            states[row["key_id"]] = row
        live = {json.loads(line)["key_id"] for line in _read_lines(directory / LIVE_KEYS)}
    except (ValueError, KeyError, TypeError):
        readable = False
    return readable, states, live


def check_key_listing(export: Export) -> tuple[bool, str]:
    """``keys.listing``: the key states and the live keys agree."""
    readable, states, live = _key_listing(export)
    active = {k for k, r in states.items() if r.get("state") == "active"}
    if not readable:
        return False, "the key-state listing is missing or unreadable"
    return live == active, "key states and live keys agree"


def check_destroyed_absent(export: Export) -> tuple[bool, str]:
    """``keys.destroyed_absent``: no key a destruction receipt names is live, and the
    key-state listing agrees with the receipts (state and commitment)."""
    readable, states, live = _key_listing(export)
    destroyed: dict[str, str | None] = {}  # key id -> commitment in its receipt
    for receipt in export.destruction_receipts():
        assert receipt.body is not None
        for k in receipt.body.get("destroyed_keys", []):
            if k.get("key_id"):
                destroyed[k["key_id"]] = k.get("commitment")
    resurrected = sorted(set(destroyed) & live)
    contradicted = sorted(
        k
        for k, commitment in destroyed.items()
        if states.get(k, {}).get("state") != "destroyed"
        or states.get(k, {}).get("commitment") != commitment
    )
    if readable and not resurrected and not contradicted:
        return True, f"{len(destroyed)} destroyed keys, none live, states and commitments agree"
    return (
        False,
        f"still live: {resurrected}; state or commitment contradicts receipt: {contradicted}",
    )


#: Every check after the key's, by name, in the order a report lists them.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("log.parse", check_log_parse),
    ("log.sequence", check_log_sequence),
    ("signatures.tree_heads", check_head_signatures),
    ("log.roots", check_log_roots),
    ("log.coverage", check_log_coverage),
    ("consistency.since_head", check_since_head),
    ("receipts.present", check_receipts_present),
    ("receipts.signatures", check_receipt_signatures),
    ("receipts.logged", check_receipts_logged),
    ("receipts.inclusion", check_receipt_inclusion),
    ("receipts.destruction_events", check_receipt_destruction_events),
    ("keys.listing", check_key_listing),
    ("keys.destroyed_absent", check_destroyed_absent),
)


def verify_export(
    directory: Path, *, pubkey: bytes | None = None, since_head: dict[str, Any] | None = None
) -> Report:
    """Run every check over an export directory (``consistency.since_head`` only when a
    saved head is given and the export has a head)."""
    report = Report()
    if pubkey is None:
        pubkey = load_public_key((directory / PUBKEY).read_text(encoding="utf-8"))
        report.add("pubkey", True, "using the export's own public key (pass --pubkey to pin it)")
    else:
        report.add("pubkey", True, f"pinned key {public_key_id(pubkey)}")
    export = read_export(directory, pubkey, since_head=since_head)
    for name, check in CHECKS:
        if check is check_since_head and (since_head is None or export.latest is None):
            continue
        ok, detail = check(export)
        report.add(name, ok, detail)
    return report
