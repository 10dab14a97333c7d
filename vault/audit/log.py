"""The audit log as a Merkle tree with signed tree heads (RFC 6962 / RFC 9162 style).

Leaves are the canonical JSON events of ``audit_events``; the tree is rebuilt from their
stored leaf hashes and follows appends made by any process sharing the database.

The signer never signs over a rewritten history. Before each new head it proves that the
tree is consistent with every signed head it can trust: the last one this process signed,
the one kept in the signer's own anchor file (outside the database, so dropping the
``tree_heads`` rows does not erase it), and the newest stored head whose signature
verifies. It also checks that each leaf added since then hashes to its stored leaf hash.
If anything fails it refuses (:class:`AuditInconsistent`), logs an alarm and counts it in
``alarms``. Auditors' witnesses (``facekeep audit witness``) make the same check from
outside, against the heads they kept.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from dbkit import writing
from vault.audit.events import canonical_json
from vault.audit.merkle import MerkleTree, leaf_hash, verify_consistency
from vault.audit.signing import ALG, AuditSigner, check_signature, sign_text
from vault.errors import AuditInconsistent, ProofError, SignatureInvalid
from vault.models import audit_events, tree_heads

__all__ = [
    "AuditLog",
    "HeadAnchor",
    "TreeHead",
    "check_extends",
    "check_head_signature",
    "head_body",
    "head_from_json",
    "head_message",
]

log = logging.getLogger("facekeep.audit")


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the log's size and root at a time."""

    tree_size: int
    root_hash: str  # hex
    timestamp: datetime
    key_id: str
    signature: str  # base64

    def signed_body(self) -> dict[str, Any]:
        """The fields the signature covers."""
        return head_body(self.tree_size, self.root_hash, self.timestamp, self.key_id)

    def to_json(self) -> dict[str, Any]:
        """JSON form, as exported and served."""
        return {**self.signed_body(), "signature": self.signature, "alg": ALG}


def head_body(size: int, root_hex: str, at: datetime, key_id: str) -> dict[str, Any]:
    """The canonical content of a tree head."""
    return {
        "v": 1,
        "log": "facekeep-audit",
        "tree_size": size,
        "root_hash": root_hex,
        "timestamp": at.isoformat(),
        "key_id": key_id,
    }


def head_message(body: dict[str, Any]) -> bytes:
    """The bytes a tree head signature covers."""
    return canonical_json(body).encode("utf-8")


def head_from_json(value: dict[str, Any]) -> TreeHead:
    """A tree head from its JSON form (as served, exported or kept by a witness)."""
    return TreeHead(
        tree_size=int(value["tree_size"]),
        root_hash=str(value["root_hash"]),
        timestamp=datetime.fromisoformat(value["timestamp"]),
        key_id=str(value["key_id"]),
        signature=str(value["signature"]),
    )


def check_head_signature(head: TreeHead, public_bytes: bytes) -> None:
    """Raise :class:`vault.errors.SignatureInvalid` unless ``head`` is signed by the key
    (``ValueError`` if its signature is not base64)."""
    check_signature(public_bytes, head.signature, head_message(head.signed_body()))


def check_extends(old: TreeHead, tree: MerkleTree, size: int) -> None:
    """Raise :class:`vault.errors.ProofError` unless the first ``size`` leaves of ``tree``
    extend the tree ``old`` was signed over (a consistency proof, verified)."""
    if old.tree_size > size:
        raise ProofError(f"the log has {size} entries, fewer than a signed {old.tree_size}")
    proof = tree.consistency_proof(old.tree_size, size)
    verify_consistency(old.tree_size, size, bytes.fromhex(old.root_hash), tree.root(size), proof)


class HeadAnchor:
    """The last head this signer signed, in a 0600 file beside the signing key: outside
    the database, so someone who rewrites the log and drops its heads there still meets
    it at the next signature."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> TreeHead | None:
        """The kept head, or None before the first signature."""
        try:
            return head_from_json(json.loads(self.path.read_text()))
        except FileNotFoundError:
            return None

    def save(self, head: TreeHead) -> None:
        """Keep ``head`` (written whole, then renamed into place)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(head.to_json()))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)

    def retire(self, why: str) -> Path | None:
        """Set the kept head aside (renamed, kept as evidence) when the deployment
        deliberately goes back to an older log: a restored backup. Auditors' witnesses
        still see the log shrink; that is what a restore is. Returns the new name."""
        if not self.path.exists():
            return None
        retired = self.path.with_name(f"{self.path.stem}.retired-{why}-{os.getpid()}.json")
        os.replace(self.path, retired)
        return retired


class AuditLog:
    """Tree heads, inclusion and consistency proofs over the audit events."""

    def __init__(
        self, engine: Engine, *, signer: AuditSigner, clock: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self.signer = signer
        self._clock = clock
        self._tree = MerkleTree()
        self._lock = threading.Lock()
        self._sign_lock = threading.Lock()
        #: Where the signer keeps its last head outside the database (None: memory only).
        self.anchor: HeadAnchor | None = None
        self._signed: TreeHead | None = None  # the last head this process signed
        #: Times a signature was refused because the log did not extend a signed head.
        self.alarms = 0

    def tree(self) -> MerkleTree:
        """The Merkle tree, caught up with every committed event."""
        with self._lock:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(audit_events.c.seq, audit_events.c.leaf_hash)
                    .where(audit_events.c.seq >= self._tree.size)
                    .order_by(audit_events.c.seq)
                ).all()
            for seq, leaf in rows:
                if seq != self._tree.size:
                    raise RuntimeError("the audit log has a gap")
                self._tree.append(bytes(leaf))
            return self._tree

    def size(self) -> int:
        """Number of events."""
        return self.tree().size

    def latest_head(self) -> TreeHead | None:
        """The newest stored tree head."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tree_heads).order_by(tree_heads.c.tree_size.desc()).limit(1)
            ).first()
        return None if row is None else TreeHead(**row._asdict())

    def sign_head(self) -> TreeHead:
        """Sign the current tree (or return the latest head if the log has not grown),
        after proving that it extends every signed head this signer can trust; raises
        :class:`AuditInconsistent` (and raises an alarm) if it does not."""
        with self._sign_lock:
            tree = self.tree()
            size = tree.size
            anchors = self._anchors()
            for anchor in anchors:
                try:
                    check_extends(anchor, tree, size)
                except ProofError as exc:
                    self._alarm(
                        f"it does not extend the head signed at size {anchor.tree_size}: {exc}"
                    )
            newest = max(anchors, key=lambda h: h.tree_size, default=None)
            if newest is not None and newest.tree_size == size:
                self._store(newest)  # puts back a head dropped from the database
                return newest
            self._check_leaves(newest.tree_size if newest is not None else 0, size)
            root = tree.root(size).hex()
            at = self._clock()
            body = head_body(size, root, at, self.signer.key_id)
            signature = sign_text(self.signer, canonical_json(body))
            head = TreeHead(size, root, at, self.signer.key_id, signature)
            self._store(head)
            if self.anchor is not None:
                self.anchor.save(head)
            self._signed = head
            stored = self.latest_head()
            return stored if stored is not None and stored.tree_size == size else head

    def _anchors(self) -> list[TreeHead]:
        """The signed heads the log must extend: the last this process signed, the
        anchor file's, and the newest stored one if its signature verifies."""
        found = [self._signed] if self._signed is not None else []
        kept = self.anchor.load() if self.anchor is not None else None
        for head, where in ((kept, "kept"), (self.latest_head(), "stored")):
            if head is None or head.key_id != self.signer.key_id:
                continue  # none, or signed by an earlier key: nothing this key can check
            try:
                check_head_signature(head, self.signer.public_bytes)
            except (SignatureInvalid, ValueError):
                self._alarm(f"the {where} head at size {head.tree_size} is not signed by this key")
            found.append(head)
        return found

    def _check_leaves(self, start: int, end: int) -> None:
        """Check that each event about to be signed over hashes to its leaf hash."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_events.c.seq, audit_events.c.leaf, audit_events.c.leaf_hash)
                .where(audit_events.c.seq >= start)
                .where(audit_events.c.seq < end)
            ).all()
        for seq, leaf, stored in rows:
            if leaf_hash(leaf.encode("utf-8")) != bytes(stored):
                self._alarm(f"event {seq} does not hash to its stored leaf hash")

    def _store(self, head: TreeHead) -> None:
        with writing(self.engine) as conn:
            exists = conn.execute(
                select(tree_heads.c.tree_size).where(tree_heads.c.tree_size == head.tree_size)
            ).first()
            if exists is None:
                conn.execute(tree_heads.insert().values(**head.__dict__))

    def _alarm(self, why: str) -> None:
        self.alarms += 1
        message = f"ALARM: the audit log was altered; refusing to sign a new tree head: {why}"
        log.critical(message)
        raise AuditInconsistent(message)

    def heads(self) -> list[TreeHead]:
        """Every stored tree head, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(tree_heads).order_by(tree_heads.c.tree_size)).all()
        return [TreeHead(**r._asdict()) for r in rows]

    def inclusion_proof(self, index: int, size: int) -> list[str]:
        """Hex audit path of leaf ``index`` in the tree of ``size`` leaves."""
        return [h.hex() for h in self.tree().inclusion_proof(index, size)]

    def consistency_proof(self, first: int, second: int) -> list[str]:
        """Hex consistency proof between two tree sizes."""
        return [h.hex() for h in self.tree().consistency_proof(first, second)]

    def leaf(self, index: int) -> tuple[str, str]:
        """The canonical JSON and leaf hash (hex) of one event."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_events.c.leaf, audit_events.c.leaf_hash).where(
                    audit_events.c.seq == index
                )
            ).first()
        if row is None:
            raise IndexError(index)
        return row.leaf, bytes(row.leaf_hash).hex()
