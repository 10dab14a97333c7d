"""The audit log as a Merkle tree with signed tree heads (RFC 6962 / RFC 9162 style).

Leaves are the canonical JSON events of ``audit_events``; the tree is rebuilt from their
stored leaf hashes and follows appends made by any process sharing the database.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from keys.db import writing
from keys.signing import AuditSigner
from vault.audit import canonical_json
from vault.merkle import MerkleTree
from vault.models import audit_events, tree_heads


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
        return {**self.signed_body(), "signature": self.signature, "alg": "Ed25519"}


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
        """Sign the current tree (or return the latest head if the log has not grown)."""
        tree = self.tree()
        latest = self.latest_head()
        if latest is not None and latest.tree_size >= tree.size:
            return latest
        size = tree.size
        root = tree.root(size).hex()
        at = self._clock()
        body = head_body(size, root, at, self.signer.key_id)
        signature = base64.b64encode(self.signer.sign(head_message(body))).decode()
        head = TreeHead(size, root, at, self.signer.key_id, signature)
        with writing(self.engine) as conn:
            exists = conn.execute(
                select(tree_heads.c.tree_size).where(tree_heads.c.tree_size == size)
            ).first()
            if exists is None:
                conn.execute(tree_heads.insert().values(**head.__dict__))
        return self.latest_head() or head

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
