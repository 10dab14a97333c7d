"""Facts every replica of one deployment must agree on, recorded in ``vault_settings``.

- The audit signing key. Auditors pin one public key; a replica signing with another key
  would publish tree heads and receipts that fail verification. The first process to
  open the vault with a signer records its public key; every later one must hold the same
  key, or is refused with the instruction to copy it (or to use the HSM's key).
- A pending restore. A restored backup may hold customers erased after it was taken; the
  vault refuses to serve until those erasures are applied again (``facekeep
  restore-check``), which clears the mark.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import Engine, delete

from dbkit import writing
from dbkit.settings import read_setting, record_setting_once, replace_setting
from vault.errors import RestoreIncomplete, SigningKeyMismatch
from vault.models import vault_settings

__all__ = [
    "AUDIT_KEY_SETTING",
    "RESTORE_SETTING",
    "clear_restore_pending",
    "mark_restore_pending",
    "missing_audit_key",
    "recorded_audit_key",
    "require_audit_key",
    "require_no_restore_pending",
    "restore_pending",
]

AUDIT_KEY_SETTING = "audit_public_key"
RESTORE_SETTING = "restore_pending"


def recorded_audit_key(engine: Engine) -> bytes | None:
    """The deployment's audit public key (raw Ed25519), or None before it is recorded."""
    value = read_setting(engine, vault_settings, AUDIT_KEY_SETTING)
    return None if value is None else base64.b64decode(value)


def require_audit_key(engine: Engine, public_bytes: bytes, *, where: str) -> None:
    """Record ``public_bytes`` as the deployment's audit key if none is yet; otherwise
    raise :class:`SigningKeyMismatch` unless it is the recorded one. ``where`` says where
    this process keeps its key (for the instruction)."""
    encoded = base64.b64encode(public_bytes).decode()
    recorded = record_setting_once(engine, vault_settings, AUDIT_KEY_SETTING, encoded)
    if base64.b64decode(recorded) != public_bytes:
        raise SigningKeyMismatch(
            f"this process's audit signing key ({where}) is not the one this deployment "
            "signs with: every replica must sign with the same key. Copy the key file from "
            "a replica that runs (DATA_DIR/audit/signing-ed25519.key, mode 0600) or, with "
            "FACEKEEP_KEK_PROVIDER=pkcs11, use the deployment's token"
        )


def missing_audit_key(engine: Engine, where: str) -> SigningKeyMismatch | None:
    """The error to raise instead of making a new signing key when the deployment
    already has one (a replica joining it); None when making one is right."""
    if recorded_audit_key(engine) is None:
        return None
    return SigningKeyMismatch(
        f"this deployment already signs its audit log with a key, and none is at {where}: "
        "copy DATA_DIR/audit/signing-ed25519.key (mode 0600) from a replica that runs, "
        "then run `facekeep init` again; never make a second key for one deployment"
    )


def mark_restore_pending(engine: Engine, details: dict[str, Any]) -> None:
    """Mark the vault as a restored backup that must re-apply later erasures."""
    with writing(engine) as conn:
        replace_setting(conn, vault_settings, RESTORE_SETTING, json.dumps(details, sort_keys=True))


def restore_pending(engine: Engine) -> dict[str, Any] | None:
    """The restore mark's details, or None when the vault may serve."""
    value = read_setting(engine, vault_settings, RESTORE_SETTING)
    return None if value is None else dict(json.loads(value))


def clear_restore_pending(engine: Engine) -> None:
    """Erasures were re-applied: the vault may serve."""
    with writing(engine) as conn:
        conn.execute(delete(vault_settings).where(vault_settings.c.name == RESTORE_SETTING))


def require_no_restore_pending(engine: Engine) -> None:
    """Raise :class:`RestoreIncomplete` while a restored backup awaits ``restore-check``."""
    pending = restore_pending(engine)
    if pending is not None:
        raise RestoreIncomplete(
            f"this vault was restored from the backup of {pending.get('taken_at', '?')} and "
            "has not yet re-applied the erasures recorded after it: run `facekeep "
            "restore-check --witness DIR` with an audit export (or an auditor's witness copy) "
            "taken after the backup; it refuses to serve until then"
        )
