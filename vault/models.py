"""Tables of the template and consent database (never holds keys)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from dbkit import UTCDateTime
from dbkit.schema import settings_table

metadata = MetaData()

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    # active -> erasing -> erased; "erasing" is the crash-recovery marker of an erase.
    Column("status", String(16), nullable=False),
    Column("key_id", String(64), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("erased_at", UTCDateTime(), nullable=True),
    Column("erase_reason", Text, nullable=True),
    Column("access_code_hash", String(128), nullable=True, unique=True),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", String(64), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customers.customer_id"), nullable=False),
    Column("venues", Text, nullable=False),  # JSON list of venue ids
    Column("notice_version", String(64), nullable=False),
    Column("notice_lang", String(8), nullable=False),
    Column("notice_text", Text, nullable=False),
    Column("notice_sha256", String(64), nullable=False),
    Column("method", String(64), nullable=False),
    Column("device", String(128), nullable=False),
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=True),
    Index("ix_consents_customer", "customer_id"),
)

consent_purposes = Table(
    "consent_purposes",
    metadata,
    Column("consent_id", String(64), ForeignKey("consents.consent_id"), primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("revoke_reason", String(32), nullable=True),
)

templates = Table(
    "templates",
    metadata,
    Column("template_id", String(64), primary_key=True),
    Column("customer_id", String(64), ForeignKey("customers.customer_id"), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("model_name", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_templates_customer", "customer_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("leaf", Text, nullable=False),  # canonical JSON of the event, the Merkle leaf
    Column("leaf_hash", LargeBinary, nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("action", String(48), nullable=False),
    Column("customer_id", String(64), nullable=True),
    Index("ix_audit_customer", "customer_id"),
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("tree_size", Integer, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("timestamp", UTCDateTime(), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", String(128), nullable=False),  # base64 Ed25519
)

receipts = Table(
    "receipts",
    metadata,
    Column("receipt_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # consent | destruction
    Column("customer_id", String(64), nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON, exactly what was signed
    Column("signature", String(128), nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_receipts_customer", "customer_id"),
)

# Venues and hashed API credentials (admin, kiosk, auditor); the API layer manages them.
venues = Table(
    "venues",
    metadata,
    Column("venue_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("venue", String(64), nullable=True),
    Column("purposes", Text, nullable=False, default="[]"),
    Column("label", String(128), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime(), nullable=True),
    # Kiosk keys of trusted edge devices may send embeddings; every other key images only.
    Column("allow_embeddings", Boolean, nullable=False, default=False, server_default=false()),
    # A key stops working at its expiry; rotation gives the same key id a new secret.
    Column("expires_at", UTCDateTime(), nullable=True),
    Column("rotated_at", UTCDateTime(), nullable=True),
)

# Staff accounts: people at the counter, scoped to venues, who sign in with a short PIN or
# password. Only its argon2id hash is stored (the encoded form carries its parameters).
# Repeated wrong PINs lock the account for a while, on every replica alike.
staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("staff_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False, default=""),
    Column("venues", Text, nullable=False),  # JSON list of venue ids
    Column("secret_hash", String(255), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rotated_at", UTCDateTime(), nullable=True),
    Column("disabled_at", UTCDateTime(), nullable=True),
    Column("failed_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("locked_until", UTCDateTime(), nullable=True),
)

# Staff sessions, by the SHA-256 of their token: they end after an idle time, at a
# maximum age, at sign-out, and when the account is disabled or its PIN rotated.
staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("staff_id", String(64), ForeignKey("staff_accounts.staff_id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    Index("ix_staff_sessions_staff", "staff_id"),
)

# One row per serving process: /readyz commits a write here (at most once a second) to
# prove the vault database still accepts writes.
health_probes = Table(
    "health_probes",
    metadata,
    Column("probe_id", String(64), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
)

# An enrolment in progress: written before the customer's data key is made (the key store is
# another database), removed in the transaction that creates the customer. One left behind
# by a crash tells recovery which unused key to discard.
enrolment_intents = Table(
    "enrolment_intents",
    metadata,
    Column("customer_id", String(64), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Facts about the deployment that every process must agree on, such as the face model
# whose templates this vault serves ("model_version"), recorded at `facekeep init`.
vault_settings = settings_table("vault_settings", metadata)

# The register of data-subject requests (access, correction, withdrawal, objection,
# erasure, restriction), with the deadlines the configured rules gave them when received.
subject_requests = Table(
    "subject_requests",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("customer_id", String(64), nullable=True),  # unknown until staff identify them
    Column("purpose", String(32), nullable=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("ack_due", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),
    Column("status", String(16), nullable=False),  # open | acknowledged | completed | refused
    Column("outcome", Text, nullable=True),
    Column("note", Text, nullable=True),
    Column("recorded_by", String(80), nullable=False),
    Index("ix_subject_requests_status", "status"),
    Index("ix_subject_requests_customer", "customer_id"),
)

# The breach register: one file per breach, kept for years after it closes.
breaches = Table(
    "breaches",
    metadata,
    Column("breach_id", String(32), primary_key=True),
    Column("discovered_at", UTCDateTime(), nullable=False),
    Column("occurred_from", UTCDateTime(), nullable=True),
    Column("occurred_to", UTCDateTime(), nullable=True),
    Column("scope", Text, nullable=False),  # canonical JSON: {"kind": ..., "values": [...]}
    Column("description", Text, nullable=False),
    Column("notify_due", UTCDateTime(), nullable=False),
    Column("retain_until", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # open | closed
    Column("contained_at", UTCDateTime(), nullable=True),
    Column("authority_notified_at", UTCDateTime(), nullable=True),
    Column("subjects_notified_at", UTCDateTime(), nullable=True),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("recorded_by", String(80), nullable=False),
)

breach_subjects = Table(
    "breach_subjects",
    metadata,
    Column("breach_id", String(32), ForeignKey("breaches.breach_id"), primary_key=True),
    Column("customer_id", String(64), primary_key=True),
)

breach_steps = Table(
    "breach_steps",
    metadata,
    Column("breach_id", String(32), ForeignKey("breaches.breach_id"), primary_key=True),
    Column("step_no", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("step", String(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("recorded_by", String(80), nullable=False),
)

# Where each venue's check-ins are handed off (its own system's webhook). The signing
# secret is sealed under a key-store data key of its own (``secret_owner``), so it follows
# KEK rotations and is never stored in clear; FACEKEEP_CHECKIN_WEBHOOK_URL serves venues
# without a row here.
checkin_webhooks = Table(
    "checkin_webhooks",
    metadata,
    Column("venue_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret_owner", String(128), nullable=False),
    Column("secret_sealed", LargeBinary, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The durable outbox of check-ins to hand off: one row per confirmed check-in match,
# written in the same transaction as the match's audit event (``audit_seq``), delivered
# by a background worker and retried with backoff until delivered, given up, or
# cancelled because the guest withdrew meanwhile.
checkin_outbox = Table(
    "checkin_outbox",
    metadata,
    Column("checkin_id", String(40), primary_key=True),
    Column("audit_seq", Integer, nullable=False, unique=True),
    Column("customer_id", String(64), nullable=False),
    Column("consent_id", String(64), nullable=False),
    Column("venue", String(64), nullable=False),
    Column("kiosk", String(64), nullable=False),
    Column("occurred_at", UTCDateTime(), nullable=False),
    # pending | delivered | failed (given up) | cancelled (consent withdrawn, no endpoint)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("lease_until", UTCDateTime(), nullable=True),
    Column("last_error", String(64), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("ix_checkin_outbox_due", "status", "next_attempt_at"),
)
