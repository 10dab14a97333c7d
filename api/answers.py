"""Response shapes of the JSON routes, for the OpenAPI document and for validation.

Models refuse unknown fields (a route answering more than its model fails its tests
rather than silently losing a field), keep the order the answers always had, and mark
fields left out when empty with :func:`omitted_when_none`. Signed bodies (receipts,
audit events) stay plain JSON objects, as signed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: A JSON object whose members the API passes on as they are (a signed body, an event).
Document = dict[str, Any]


class Answer(BaseModel):
    """A JSON answer: exactly these fields."""

    model_config = ConfigDict(extra="forbid")


def _is_none(value: object) -> bool:
    return value is None


def omitted_when_none(description: str) -> Any:
    """A field left out of the answer, not ``null``, when it has no value."""
    return Field(default=None, exclude_if=_is_none, description=description)


# -- kiosks ---------------------------------------------------------------------------


class MatchAnswer(Answer):
    """Either a consenting customer or only ``match: false``. Never a distance or score:
    how close a face came would help someone probe the vault for a look-alike."""

    match: bool
    customer: str | None = None
    consent: str | None = None


# -- health ----------------------------------------------------------------------------


class Health(Answer):
    status: str


class GalleryRisk(Answer):
    venue: str
    purpose: str
    customers: int
    false_match_risk: float
    warning: bool


class Readiness(Answer):
    status: str
    index_templates: int
    progress: Document
    kek: Document | None
    follower: Document | None
    engine: str | None
    galleries: list[GalleryRisk]
    warnings: list[str]


# -- venues, keys and staff ----------------------------------------------------------


class VenueCreated(Answer):
    id: str
    name: str


class Venue(VenueCreated):
    created_at: str
    disabled: bool


class Venues(Answer):
    venues: list[Venue]


class ApiKey(Answer):
    """An API key as listed (never its secret)."""

    id: str
    role: str
    venue: str | None
    purposes: list[str]
    label: str
    created_at: str
    disabled: bool
    allow_embeddings: bool
    expires_at: str | None
    rotated_at: str | None


class _Secret(Answer):
    key: str = Field(description="The key's secret, shown this once.")


class NewApiKey(ApiKey, _Secret):
    """A key just made or rotated, with its secret (shown once)."""


class Kiosks(Answer):
    kiosks: list[ApiKey]


class Staff(Answer):
    """A staff account (never its PIN)."""

    id: str
    role: str
    name: str
    venues: list[str]
    created_at: str
    rotated_at: str | None
    disabled: bool
    locked_until: str | None


class NewStaff(Staff):
    pin: str | None = Field(description="The PIN made here, shown once (null when given).")


class Credentials(Answer):
    keys: list[ApiKey]
    staff: list[Staff]


class StaffSession(Answer):
    token: str
    staff: str
    name: str
    venues: list[str]
    idle_seconds: int


class StaffMe(Answer):
    staff: str
    venues: list[str]


class SignedOut(Answer):
    signed_out: bool


class AccessCode(Answer):
    customer: str
    access_code: str | None = Field(description="The new code, shown this once (or null).")


# -- receipts and the audit log ------------------------------------------------------


class Receipt(Answer):
    """A signed receipt: the body as signed, its Ed25519 signature and key."""

    receipt: Document
    signature: str
    key_id: str
    alg: str


class Receipts(Answer):
    receipts: list[Receipt]


class AuditEvents(Answer):
    events: list[Document]
    next_after: int


class KeyState(Answer):
    key_id: str
    customer: str
    state: str
    kek_epoch: int
    commitment: str
    created_at: str
    destroyed_at: str | None
    destroy_reason: str | None


class KeyStates(Answer):
    keys: list[KeyState]


class AuditKey(Answer):
    key_id: str
    alg: str
    public_key_pem: str


class TreeHead(Answer):
    v: int
    log: str
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str
    alg: str


class TreeHeads(Answer):
    heads: list[TreeHead]


class InclusionProof(Answer):
    index: int
    tree_size: int
    leaf: str
    leaf_hash: str
    proof: list[str]
    root_hash: str


class ConsistencyProof(Answer):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str]


# -- customers -------------------------------------------------------------------------


class PurposeState(Answer):
    purpose: str
    active: bool
    revoked_at: str | None
    revoke_reason: str | None


class ConsentState(Answer):
    consent: str
    status: str
    purposes: list[PurposeState]
    active_purposes: list[str]
    venues: list[str]
    notice_version: str
    notice_lang: str
    notice_sha256: str
    method: str
    device: str
    granted_at: str
    expires_at: str | None


class KeyRef(Answer):
    id: str | None
    state: str | None


class Template(Answer):
    id: str
    model: str
    model_version: str
    created_at: str
    readable: bool | None = omitted_when_none(
        "Operators' views only: false marks a template that no longer decrypts."
    )


class Templates(Answer):
    count: int
    items: list[Template]


class CustomerData(Answer):
    """What is held about a customer: consents, template metadata, key state."""

    customer: str
    status: str
    created_at: str
    key: KeyRef
    erased_at: str | None
    erase_reason: str | None
    consents: list[ConsentState]
    templates: Templates


class MatchRecord(Answer):
    at: str
    venue: str | None
    purpose: str | None
    kiosk: str | None


class MyData(CustomerData):
    """Everything held about the customer, and where and when their face was matched."""

    matches: list[MatchRecord]
    erase_after: str | None
    receipts: list[Receipt]


class Enrolled(Answer):
    customer: str
    consent: str
    templates: int
    access_code: str = Field(description="The customer's access code, shown this once.")
    key_id: str
    purposes: list[str]
    venues: list[str]
    notice_version: str
    lang: str
    expires_at: str | None
    receipt: Receipt | None


class TemplatesReplaced(Answer):
    customer: str
    templates: int


class Revocation(Answer):
    consent: str
    purpose: str


class Revoked(Answer):
    customer: str
    purpose: str = Field(description="The purpose withdrawn, or 'all'.")
    revoked: list[Revocation]


class Objected(Answer):
    customer: str
    objection: str
    revoked: list[Revocation]


class Erased(Answer):
    """What an erase did: the data key destroyed (crypto-shred), with its receipt."""

    customer: str
    erased: bool
    already_erased: bool
    destroyed_key_ids: list[str]
    key_commitments: list[str]
    kek_epoch: int | None
    method: str
    reason: str
    erased_at: str | None
    receipt: Receipt | None


# -- check-in kiosks and webhooks ----------------------------------------------------


class KioskSession(Answer):
    venue: str | None
    venue_name: str | None
    purposes: list[str]
    checkin: bool


class FaceBox(Answer):
    """The largest face, as shares of the frame's width and height."""

    x: float
    y: float
    w: float
    h: float


class FrameCheck(Answer):
    faces: int
    face: FaceBox | None
    big_enough: bool


class Webhook(Answer):
    venue: str
    url: str | None
    updated_at: str | None = omitted_when_none("When the venue's own endpoint was set.")
    source: str | None = Field(description="'venue', 'default', or null (nowhere).")
    secret: str | None = omitted_when_none("The signing secret made here, shown this once.")


class WebhookRemoved(Answer):
    venue: str
    removed: bool


class OutboxRow(Answer):
    checkin_id: str
    audit_seq: int
    venue: str
    kiosk: str
    occurred_at: str
    status: str
    attempts: int
    last_error: str | None


class OutboxPage(Answer):
    counts: dict[str, int]
    rows: list[OutboxRow]


# -- the compliance registers ----------------------------------------------------------


class SubjectRequest(Answer):
    request: str
    kind: str
    channel: str
    customer: str | None
    purpose: str | None
    status: str
    received_at: str
    acknowledge_by: str
    complete_by: str
    acknowledged_at: str | None
    completed_at: str | None
    outcome: str | None
    note: str | None
    recorded_by: str
    late: list[str] = Field(description="The deadlines missed: acknowledge, complete.")
    next_deadline: str | None
    hours_left: float | None


class CompletedRequest(SubjectRequest):
    result: Document


class RequestSummary(Answer):
    open: int
    late: int
    completed: int
    refused: int


class SubjectRequests(Answer):
    now: str
    summary: RequestSummary
    requests: list[SubjectRequest]


class BreachScope(Answer):
    kind: str
    values: list[str]


class BreachStep(Answer):
    at: str
    step: str
    note: str
    by: str


class Breach(Answer):
    breach: str
    status: str
    discovered_at: str
    occurred_from: str | None
    occurred_to: str | None
    scope: BreachScope
    description: str
    notify_by: str
    hours_left: float | None
    late: list[str] = Field(description="The notifications late: authority, subjects.")
    keep_until: str
    affected_customers: int
    contained_at: str | None
    authority_notified_at: str | None
    subjects_notified_at: str | None
    closed_at: str | None
    recorded_by: str
    steps: list[BreachStep]


class BreachFile(Breach):
    affected: list[str] = Field(description="The affected pseudonymous customer ids.")


class Breaches(Answer):
    now: str
    breaches: list[Breach]


class BreachDrafts(Answer):
    breach: str
    lang: str
    authority: str
    guests: str
    affected: list[str]
