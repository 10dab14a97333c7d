"""What the vault's operations answer: plain records, never biometric data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from vault.audit.receipts import SignedReceipt
from vault.consent import Consent

__all__ = ["CustomerView", "Enrolment", "Erasure", "Revocation", "TemplateInfo"]


@dataclass(frozen=True)
class Enrolment:
    """The result of enrolling a customer."""

    customer_id: str
    consent_id: str
    template_ids: tuple[str, ...]
    key_id: str
    audit_seq: int
    receipt: SignedReceipt | None = None


@dataclass(frozen=True)
class Revocation:
    """The result of a revocation: which purposes of which consents were withdrawn."""

    customer_id: str
    revoked: tuple[tuple[str, str], ...]  # (consent_id, purpose)
    audit_seq: int | None


@dataclass(frozen=True)
class Erasure:
    """The result of an erase."""

    customer_id: str
    key_ids: tuple[str, ...]
    commitments: tuple[str, ...]
    kek_epoch: int | None
    reason: str
    erased_at: datetime
    already_erased: bool
    audit_seq: int | None
    receipt: SignedReceipt | None = None


@dataclass(frozen=True)
class TemplateInfo:
    """Template metadata (never the embedding); ``readable`` says whether it decrypts
    (None: not checked, or the customer was erased)."""

    template_id: str
    model_name: str
    model_version: str
    created_at: datetime
    readable: bool | None = None


@dataclass(frozen=True)
class CustomerView:
    """What the vault holds about a customer, without any biometric data."""

    customer_id: str
    status: str
    created_at: datetime
    key_id: str | None
    key_state: str | None
    erased_at: datetime | None
    erase_reason: str | None
    consents: tuple[Consent, ...]
    templates: tuple[TemplateInfo, ...]
