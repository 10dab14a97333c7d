"""Signed receipts: a consent receipt at enrolment and a destruction receipt at erasure.

Fields follow the Kantara Consent Receipt and ISO/IEC TS 27560. Each receipt is signed
with the audit key over its canonical JSON, stored, and recorded in the audit log by its
SHA-256 in the same transaction as the change it documents.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from vault.audit.events import Actor, append_event, canonical_json
from vault.audit.signing import ALG, AuditSigner, sign_text
from vault.consent import ConsentRequest, notice_sha256
from vault.models import receipts

__all__ = [
    "DESTRUCTION_METHOD",
    "ReceiptPolicy",
    "SignedReceipt",
    "consent_receipt_body",
    "destruction_receipt_body",
    "issue",
    "read_receipts",
]

DESTRUCTION_METHOD = "crypto-shred AES-256-GCM data key"


@dataclass(frozen=True)
class ReceiptPolicy:
    """Who the controller is and which law applies, printed on every receipt."""

    controller: str = "facekeep operator"
    jurisdiction: str = "VN"
    policy_url: str = ""


@dataclass(frozen=True)
class SignedReceipt:
    """A receipt body, its signature and the key that made it."""

    receipt_id: str
    kind: str
    customer_id: str
    body: str  # canonical JSON
    signature: str  # base64
    key_id: str

    def document(self) -> dict[str, Any]:
        """The receipt as a self-contained JSON document."""
        return {
            "receipt": json.loads(self.body),
            "signature": self.signature,
            "key_id": self.key_id,
            "alg": ALG,
        }

    def sha256(self) -> str:
        """Hash of the signed body, as recorded in the audit log."""
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()


def _header(
    version: str, id_prefix: str, policy: ReceiptPolicy, customer_id: str, at: datetime
) -> dict[str, Any]:
    """The fields every receipt starts with: its format, id and time, and who is
    accountable to whom (the controller, under which law, to the customer)."""
    return {
        "version": version,
        "receipt_id": _receipt_id(id_prefix),
        "timestamp": at.isoformat(),
        "jurisdiction": policy.jurisdiction,
        "controller": {"name": policy.controller, "policy_url": policy.policy_url},
        "pii_principal_id": customer_id,
    }


def consent_receipt_body(
    *,
    policy: ReceiptPolicy,
    customer_id: str,
    consent_id: str,
    consent: ConsentRequest,
    at: datetime,
) -> dict[str, Any]:
    """The consent receipt's fields."""
    return _header("facekeep-consent-receipt/1", "cr", policy, customer_id, at) | {
        "consent_id": consent_id,
        "collection_method": consent.method,
        "collection_device": consent.device,
        "language": consent.lang,
        "notice": {
            "version": consent.notice_version,
            "sha256": notice_sha256(consent.notice_text),
        },
        "services": [
            {
                "purpose": purpose,
                "venues": sorted(set(consent.venues)),
                "termination": consent.expires_at.isoformat()
                if consent.expires_at
                else "until withdrawn",
                "consent_type": "explicit",
            }
            for purpose in sorted(set(consent.purposes))
        ],
        "sensitive": True,
        "sensitive_data_category": ["biometric"],
        "third_party_disclosure": "none",
    }


def destruction_receipt_body(
    *,
    policy: ReceiptPolicy,
    customer_id: str,
    key_ids: list[str],
    commitments: list[str],
    kek_epoch: int | None,
    reason: str,
    at: datetime,
    log_index: int,
) -> dict[str, Any]:
    """The destruction receipt's fields."""
    return _header("facekeep-destruction-receipt/1", "dr", policy, customer_id, at) | {
        "destroyed_keys": [
            {"key_id": k, "commitment": c} for k, c in zip(key_ids, commitments, strict=True)
        ],
        "method": DESTRUCTION_METHOD,
        "kek_epoch": kek_epoch,
        "reason": reason,
        "log_index": log_index,
    }


def issue(
    conn: Connection,
    signer: AuditSigner,
    *,
    kind: str,
    body: dict[str, Any],
    at: datetime,
    actor: Actor,
) -> tuple[SignedReceipt, int]:
    """Sign, store and log a receipt inside the caller's transaction."""
    text = canonical_json(body)
    signature = sign_text(signer, text)
    receipt = SignedReceipt(
        receipt_id=body["receipt_id"],
        kind=kind,
        customer_id=body["pii_principal_id"],
        body=text,
        signature=signature,
        key_id=signer.key_id,
    )
    conn.execute(
        receipts.insert().values(
            receipt_id=receipt.receipt_id,
            kind=kind,
            customer_id=receipt.customer_id,
            body=text,
            signature=signature,
            key_id=signer.key_id,
            created_at=at,
        )
    )
    seq = append_event(
        conn,
        ts=at,
        actor=actor,
        action=f"receipt.{kind}",
        customer_id=receipt.customer_id,
        details={"receipt_id": receipt.receipt_id, "sha256": receipt.sha256()},
    )
    return receipt, seq


def read_receipts(
    engine: Engine, *, customer_id: str | None = None, receipt_id: str | None = None
) -> list[SignedReceipt]:
    """Stored receipts, oldest first."""
    query = select(receipts).order_by(receipts.c.created_at, receipts.c.receipt_id)
    if customer_id is not None:
        query = query.where(receipts.c.customer_id == customer_id)
    if receipt_id is not None:
        query = query.where(receipts.c.receipt_id == receipt_id)
    with engine.connect() as conn:
        return [
            SignedReceipt(r.receipt_id, r.kind, r.customer_id, r.body, r.signature, r.key_id)
            for r in conn.execute(query)
        ]


def _receipt_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"
