"""The audit subsystem: one log of canonical-JSON events, a Merkle tree over them with
signed tree heads, signed receipts, an auditor's export and its offline verification.

- :mod:`vault.audit.events`: the one leaf builder; appending and reading events.
- :mod:`vault.audit.queue`: group commit of match events (many requests, one transaction).
- :mod:`vault.audit.merkle`: the RFC 6962 / RFC 9162 tree and proofs.
- :mod:`vault.audit.log`: tree heads, signed only over a log that extends the last ones.
- :mod:`vault.audit.signing`: what the audit key signs and how signatures are checked.
- :mod:`vault.audit.receipts`: consent and destruction receipts.
- :mod:`vault.audit.export` and :mod:`vault.audit.verify`: the auditor's export, and one
  function per check over it.

Errors are part of the vault's tree: :class:`vault.errors.AuditError` and its children.
"""

from vault.audit.events import (
    AUDIT_LOCK,
    SYSTEM,
    Actor,
    AuditEvent,
    append_event,
    append_events,
    canonical_json,
    leaf,
    read_events,
)
from vault.audit.export import export_audit
from vault.audit.log import AuditLog, HeadAnchor, TreeHead
from vault.audit.queue import REFUSED, AuditQueue, Claim
from vault.audit.receipts import ReceiptPolicy, SignedReceipt, read_receipts
from vault.audit.signing import AuditSigner
from vault.audit.verify import Report, verify_export
from vault.errors import AuditError, AuditInconsistent, ProofError, SignatureInvalid

__all__ = [
    "AUDIT_LOCK",
    "REFUSED",
    "SYSTEM",
    "Actor",
    "AuditError",
    "AuditEvent",
    "AuditInconsistent",
    "AuditLog",
    "AuditQueue",
    "AuditSigner",
    "Claim",
    "HeadAnchor",
    "ProofError",
    "ReceiptPolicy",
    "Report",
    "SignatureInvalid",
    "SignedReceipt",
    "TreeHead",
    "append_event",
    "append_events",
    "canonical_json",
    "export_audit",
    "leaf",
    "read_events",
    "read_receipts",
    "verify_export",
]
