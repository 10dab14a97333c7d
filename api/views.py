"""JSON views shared by the command line and the HTTP service (never biometric data)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vault import Consent, CustomerView, Erasure, Revocation, Vault, read_events


def consent_json(consent: Consent, now: datetime) -> dict[str, Any]:
    """A consent with its computed status."""
    return {
        "consent": consent.consent_id,
        "status": consent.status(now),
        "purposes": [
            {
                "purpose": p.purpose,
                "active": p.purpose in consent.active_purposes(now),
                "revoked_at": p.revoked_at.isoformat() if p.revoked_at else None,
                "revoke_reason": p.revoke_reason,
            }
            for p in consent.purposes
        ],
        "active_purposes": list(consent.active_purposes(now)),
        "venues": list(consent.venues),
        "notice_version": consent.notice_version,
        "notice_lang": consent.notice_lang,
        "notice_sha256": consent.notice_sha256,
        "method": consent.method,
        "device": consent.device,
        "granted_at": consent.granted_at.isoformat(),
        "expires_at": consent.expires_at.isoformat() if consent.expires_at else None,
    }


def customer_json(view: CustomerView, now: datetime) -> dict[str, Any]:
    """What is held about a customer: consents, template metadata, key state."""
    return {
        "customer": view.customer_id,
        "status": view.status,
        "created_at": view.created_at.isoformat(),
        "key": {"id": view.key_id, "state": view.key_state},
        "erased_at": view.erased_at.isoformat() if view.erased_at else None,
        "erase_reason": view.erase_reason,
        "consents": [consent_json(c, now) for c in view.consents],
        "templates": {
            "count": len(view.templates),
            "items": [
                {
                    "id": t.template_id,
                    "model": t.model_name,
                    "model_version": t.model_version,
                    "created_at": t.created_at.isoformat(),
                    # Only where checked (operators' views): false marks a template that
                    # no longer decrypts, altered or damaged where it is stored.
                    **({"readable": t.readable} if t.readable is not None else {}),
                }
                for t in view.templates
            ],
        },
    }


def match_history(vault: Vault, customer_id: str, limit: int = 200) -> list[dict[str, Any]]:
    """When and where the customer's face was matched (from the audit log)."""
    out = []
    for event in read_events(vault.engine, customer_id=customer_id, action="match"):
        details = event.body.get("details", {})
        out.append(
            {
                "at": event.ts.isoformat(),
                "venue": details.get("venue"),
                "purpose": details.get("purpose"),
                "kiosk": event.body.get("actor", {}).get("id"),
            }
        )
    return out[-limit:]


def revocations(result: Revocation) -> list[dict[str, str]]:
    """Which purposes of which consents a revocation withdrew."""
    return [{"consent": consent, "purpose": purpose} for consent, purpose in result.revoked]


def revoke_json(result: Revocation, purpose: str | None) -> dict[str, Any]:
    """What a revocation did: for one purpose, or for ``"all"``."""
    return {
        "customer": result.customer_id,
        "purpose": purpose or "all",
        "revoked": revocations(result),
    }


def erasure_json(result: Erasure, *, with_receipt: bool = False) -> dict[str, Any]:
    """What an erase did (``with_receipt``: and its signed destruction receipt, or None)."""
    out: dict[str, Any] = {
        "customer": result.customer_id,
        "erased": True,
        "already_erased": result.already_erased,
        "destroyed_key_ids": list(result.key_ids),
        "key_commitments": list(result.commitments),
        "kek_epoch": result.kek_epoch,
        "method": "crypto-shred AES-256-GCM data key",
        "reason": result.reason,
        "erased_at": result.erased_at.isoformat() if result.erased_at else None,
    }
    if with_receipt:
        out["receipt"] = result.receipt.document() if result.receipt else None
    return out
