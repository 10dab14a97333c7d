"""The vault: customers, consents, encrypted templates, the match index and the audit log."""

from vault.audit import SYSTEM, Actor, AuditEvent, canonical_json, read_events
from vault.consent import LANGUAGES, PURPOSES, Consent, ConsentRequest, PurposeState, notice_sha256
from vault.errors import (
    ConsentNotFound,
    CustomerErased,
    CustomerExists,
    CustomerNotFound,
    FacesDiffer,
    GalleryFull,
    InvalidEmbedding,
    InvalidRequest,
    ModelMismatch,
    ReenrolAtCounter,
    VaultError,
)
from vault.index import Grant, Hit, MatchIndex, PartitionedIndex
from vault.results import CustomerView, Enrolment, Erasure, Revocation, TemplateInfo
from vault.service import Vault

__all__ = [
    "LANGUAGES",
    "PURPOSES",
    "SYSTEM",
    "Actor",
    "AuditEvent",
    "Consent",
    "ConsentNotFound",
    "ConsentRequest",
    "CustomerErased",
    "CustomerExists",
    "CustomerNotFound",
    "CustomerView",
    "Enrolment",
    "Erasure",
    "FacesDiffer",
    "GalleryFull",
    "Grant",
    "Hit",
    "InvalidEmbedding",
    "InvalidRequest",
    "MatchIndex",
    "ModelMismatch",
    "PartitionedIndex",
    "PurposeState",
    "ReenrolAtCounter",
    "Revocation",
    "TemplateInfo",
    "Vault",
    "VaultError",
    "canonical_json",
    "notice_sha256",
    "read_events",
]
