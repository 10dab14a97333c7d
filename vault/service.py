"""The vault: consented enrolment, consent-gated matching, revocation and crypto-shredding.

Every state change and its audit event are written in one transaction. An erase spans two
databases (templates here, keys in the key store), so it is written as a recoverable
sequence: mark the customer ``erasing`` and revoke everything, destroy the key, mark
``erased``; :meth:`Vault.recover` completes any erase a crash interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    Connection,
    Engine,
    String,
    bindparam,
    delete,
    exists,
    func,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError

from keys import DataKey, DecryptionFailed, KeyDestroyed, KeyNotFound, KeyStore, Rotation
from keys.db import checkpoint_truncate, insert_ignore, make_engine, writing
from keys.signing import AuditSigner
from vault import receipts as receipt_log
from vault.audit import SYSTEM, Actor, append_event
from vault.auditlog import AuditLog
from vault.auditqueue import REFUSED, AuditQueue, Claim
from vault.checkins import CheckinMatch
from vault.checkins import enqueue as enqueue_checkins
from vault.consent import Consent, ConsentRequest, PurposeState, check_id, notice_sha256
from vault.errors import (
    AuditInconsistent,
    CustomerErased,
    CustomerExists,
    CustomerNotFound,
    EnrolmentInterrupted,
    GalleryFull,
    InvalidRequest,
    ReenrolAtCounter,
)
from vault.index import Batch, Grant, Hit, wipe
from vault.likeness import require_one_person, require_same_person
from vault.loading import LoadProgress, prefetched
from vault.models import (
    audit_events,
    consent_purposes,
    consents,
    customers,
    enrolment_intents,
    metadata,
    templates,
)
from vault.partitions import PartitionedIndex
from vault.receipts import ReceiptPolicy, SignedReceipt
from vault.requests import ACTIONS as request_actions
from vault.templates import (
    check_embedding,
    check_embeddings,
    open_template,
    seal_template,
    template_context,
)

log = logging.getLogger("facekeep.vault")

Clock = Callable[[], datetime]
FaultHook = Callable[[str], None]

ACTIVE, ERASING, ERASED = "active", "erasing", "erased"
CHANNEL = "facekeep_changes"  # PostgreSQL NOTIFY channel: a customer's state changed
# Events that change nothing another replica's index depends on.
PASSIVE_ACTIONS = (
    frozenset({"match", "receipt.consent", "receipt.destruction", "compliance.dpia"})
    | request_actions
)
LOAD_CHUNK = 4_000  # customers decrypted per step of a cold start
_AUDIT_QUEUE_LOCK = threading.Lock()
# Which claimed consents are live (built once, so SQLAlchemy reuses its compiled form).
_CONFIRM = (
    select(
        consent_purposes.c.consent_id,
        consent_purposes.c.purpose,
        consents.c.customer_id,
        consents.c.expires_at,
    )
    .select_from(
        consent_purposes.join(consents).join(
            customers, customers.c.customer_id == consents.c.customer_id
        )
    )
    .where(consent_purposes.c.consent_id.in_(bindparam("consent_ids", expanding=True)))
    .where(consent_purposes.c.revoked_at.is_(None))
    .where(customers.c.status == ACTIVE)
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_fault(point: str) -> None:
    return None


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


@dataclass
class _KeyedPage:
    """One page of a cold start: live grants and sealed templates per customer, their
    data keys (wiped when ``stack`` closes) and how many template rows it read."""

    grants: dict[str, list[tuple[Any, Grant]]]
    sealed: dict[str, list[tuple[str, bytes]]]
    keys: dict[str, DataKey]
    stack: ExitStack
    rows: int

    def close(self) -> None:
        """Wipe the page's data keys (a page read ahead and never used)."""
        self.stack.close()


def _consent_details(consent_id: str, consent: ConsentRequest) -> dict[str, Any]:
    """What an ``enrol`` or ``consent.grant`` event records of the consent given: its
    scope and the notice shown (by version, digest and language, never its text)."""
    return {
        "consent": consent_id,
        "purposes": list(consent.purposes),
        "venues": list(consent.venues),
        "notice_version": consent.notice_version,
        "notice_sha256": notice_sha256(consent.notice_text),
        "lang": consent.lang,
    }


class Vault:
    """Templates, consents, the match index and the audit log of one deployment."""

    def __init__(
        self,
        engine: Engine,
        *,
        keys: KeyStore,
        model_name: str,
        model_version: str,
        clock: Clock = _utcnow,
        threshold: float = 0.5,
        margin: float = 0.0,
        max_gallery: int | None = None,
        fault: FaultHook = _no_fault,
        signer: AuditSigner | None = None,
        receipt_policy: ReceiptPolicy | None = None,
        authoritative: bool = True,
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.receipt_policy = receipt_policy or ReceiptPolicy()
        self.audit = AuditLog(engine, signer=signer, clock=clock) if signer else None
        self.keys = keys
        self.model_name = model_name
        self.model_version = model_version
        self.threshold = threshold
        self.margin = margin
        self.max_gallery = max_gallery
        self.index = PartitionedIndex()
        self.progress = LoadProgress()
        self._clock = clock
        self._fault = fault
        #: Templates found not to decrypt, by customer (logged once; a metric reads it).
        self.unreadable: dict[str, set[str]] = {}
        self._lock = threading.RLock()
        self._own_seqs: set[int] = set()
        self._seen_seq = -1
        self.authoritative = authoritative
        # Hand every venue's check-ins off (a default webhook is configured), or only
        # those of venues with their own webhook.
        self.checkin_every_venue = False

    @classmethod
    def open_url(
        cls, url: str, *, keys: KeyStore, create_schema: bool = True, **kwargs: Any
    ) -> Vault:
        """Open the vault database at a URL; ``create_schema`` makes missing tables
        directly (library use and tests; deployments migrate with Alembic instead)."""
        vault = cls(make_engine(url, secure_delete=True), keys=keys, **kwargs)
        if create_schema:
            metadata.create_all(vault.engine)
        return vault

    def start(self) -> list[Erasure]:
        """Finish interrupted erasures, then build the match index. Call once at start."""
        self.progress.begin("recovering")
        completed = self.recover()
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(audit_events.c.seq))).scalar()
        self._seen_seq = -1 if last is None else int(last)
        self.load_index()
        return completed

    def close(self) -> None:
        """Release the database (the key store is closed by its owner)."""
        self.engine.dispose()

    def now(self) -> datetime:
        """The vault's clock."""
        return self._clock()

    # -- the change feed ------------------------------------------------------------------

    def _append(self, conn: Connection, **event: Any) -> int:
        """Append an audit event in ``conn``'s transaction, remembering it as our own and
        telling other replicas (PostgreSQL NOTIFY, delivered at commit)."""
        seq = append_event(conn, ts=event.pop("ts"), **event)
        self._own_seqs.add(seq)
        customer_id = event.get("customer_id")
        if customer_id and conn.dialect.name == "postgresql" and event["action"] != "match":
            conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": customer_id},
            )
        return seq

    def _issue(
        self, conn: Connection, signer: AuditSigner, **kwargs: Any
    ) -> tuple[SignedReceipt, int]:
        receipt, seq = receipt_log.issue(conn, signer, **kwargs)
        self._own_seqs.add(seq)
        return receipt, seq

    def follow_changes(self) -> int:
        """Apply state changes made by other processes sharing the database: re-index the
        customers they touched and drop cached keys of erased ones. Returns how many."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_events.c.seq, audit_events.c.action, audit_events.c.customer_id)
                .where(audit_events.c.seq > self._seen_seq)
                .where(audit_events.c.customer_id.is_not(None))
                .where(audit_events.c.action.not_in(sorted(PASSIVE_ACTIONS)))
                .order_by(audit_events.c.seq)
            ).all()
            last = conn.execute(select(func.max(audit_events.c.seq))).scalar()
        touched: dict[str, str] = {}
        for seq, action, customer_id in rows:
            if seq in self._own_seqs or action in PASSIVE_ACTIONS:
                continue
            touched[customer_id] = action
        for customer_id, action in touched.items():
            if action.startswith("erase"):
                self.index.remove(customer_id)
                self.keys.forget(customer_id)
            else:
                with self._lock:
                    self._index_customer(customer_id)
        if last is not None:
            self._seen_seq = max(self._seen_seq, int(last))
        self._own_seqs = {s for s in self._own_seqs if s > self._seen_seq}
        return len(touched)

    # -- enrolment -----------------------------------------------------------------------

    def enroll(
        self,
        embeddings: Sequence[object],
        consent: ConsentRequest,
        *,
        actor: Actor,
        customer_id: str | None = None,
        access_code_hash: str | None = None,
    ) -> Enrolment:
        """Enrol a new customer with their consent and 1 to 5 templates."""
        consent = consent.validated()
        self._check_galleries(consent)
        vectors = check_embeddings(embeddings)
        customer_id = check_id(customer_id, "customer") if customer_id else _new_id("c")
        with self._lock:
            self._refuse_existing(customer_id)
            with writing(self.engine) as conn:
                insert_ignore(
                    conn,
                    enrolment_intents,
                    {"customer_id": customer_id, "created_at": self._clock()},
                    ["customer_id"],
                )
            try:
                record = self.keys.ensure_key(customer_id)
            except KeyDestroyed:
                raise CustomerErased(customer_id) from None
            template_ids = tuple(_new_id("t") for _ in vectors)
            sealed = [
                seal_template(self.keys, customer_id, tid, self.model_version, vector)
                for tid, vector in zip(template_ids, vectors, strict=True)
            ]
            self._fault("enroll.after_key")
            now = self._clock()
            consent_id = _new_id("cs")
            try:
                with writing(self.engine) as conn:
                    fenced = conn.execute(
                        delete(enrolment_intents).where(
                            enrolment_intents.c.customer_id == customer_id
                        )
                    ).rowcount
                    if fenced != 1:
                        taken = conn.execute(
                            select(customers.c.customer_id).where(
                                customers.c.customer_id == customer_id
                            )
                        ).first()
                        if taken is not None:
                            raise CustomerExists(customer_id)  # a concurrent enrolment won
                        # A restarting replica took this enrolment for a crashed one and
                        # discarded its key: refuse rather than store what cannot be opened.
                        raise EnrolmentInterrupted(customer_id)
                    conn.execute(
                        customers.insert().values(
                            customer_id=customer_id,
                            status=ACTIVE,
                            key_id=record.key_id,
                            created_at=now,
                            access_code_hash=access_code_hash,
                        )
                    )
                    self._insert_consent(conn, customer_id, consent_id, consent, now)
                    self._insert_templates(
                        conn, customer_id, record.key_id, template_ids, sealed, now
                    )
                    seq = self._append(
                        conn,
                        ts=now,
                        actor=actor,
                        action="enrol",
                        customer_id=customer_id,
                        details=_consent_details(consent_id, consent)
                        | {"templates": len(template_ids), "key_id": record.key_id},
                    )
                    receipt = self._consent_receipt(
                        conn, customer_id, consent_id, consent, now, actor
                    )
                    self._fault("enroll.before_commit")
            except IntegrityError:
                raise CustomerExists(customer_id) from None
            self._fault("enroll.after_commit")
            self._index_customer(customer_id, vectors)
        return Enrolment(customer_id, consent_id, template_ids, record.key_id, seq, receipt)

    def grant(self, customer_id: str, consent: ConsentRequest, *, actor: Actor) -> str:
        """Record an additional consent for an enrolled customer; returns its id."""
        consent = consent.validated()
        self._check_galleries(consent, customer_id)
        with self._lock:
            now = self._clock()
            consent_id = _new_id("cs")
            with writing(self.engine) as conn:
                self._active_customer(conn, customer_id)
                self._insert_consent(conn, customer_id, consent_id, consent, now)
                self._append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="consent.grant",
                    customer_id=customer_id,
                    details=_consent_details(consent_id, consent),
                )
                self._consent_receipt(conn, customer_id, consent_id, consent, now, actor)
            self._index_customer(customer_id)
        return consent_id

    def _consent_receipt(
        self,
        conn: Connection,
        customer_id: str,
        consent_id: str,
        consent: ConsentRequest,
        now: datetime,
        actor: Actor,
    ) -> SignedReceipt | None:
        if self.signer is None:
            return None
        body = receipt_log.consent_receipt_body(
            policy=self.receipt_policy,
            customer_id=customer_id,
            consent_id=consent_id,
            consent=consent,
            at=now,
        )
        receipt, _ = self._issue(conn, self.signer, kind="consent", body=body, at=now, actor=actor)
        return receipt

    def replace_templates(
        self,
        customer_id: str,
        embeddings: Sequence[object],
        *,
        actor: Actor,
        unverified_ok: bool = False,
    ) -> tuple[str, ...]:
        """Replace a customer's templates with new photos of the same person (a retake).

        The new embeddings must show one person, and the person enrolled: the nearest pair
        of a new embedding and a current template lies within the match threshold.
        Otherwise :class:`FacesDiffer`, and nothing changes. Without a template of the
        vault's current model (the vault changed engine) nothing can be compared:
        :class:`ReenrolAtCounter`, unless ``unverified_ok`` (staff, who see the person);
        the audit event records whether the new face was ``verified``.
        """
        vectors = check_embeddings(embeddings)
        require_one_person(vectors, self.threshold)
        with self._lock:
            now = self._clock()
            template_ids = tuple(_new_id("t") for _ in vectors)
            with writing(self.engine) as conn:
                row = self._active_customer(conn, customer_id)
                verified = self._retake_verified(customer_id, vectors, unverified_ok)
                sealed = [
                    seal_template(self.keys, customer_id, tid, self.model_version, v)
                    for tid, v in zip(template_ids, vectors, strict=True)
                ]
                old = conn.execute(
                    delete(templates).where(templates.c.customer_id == customer_id)
                ).rowcount
                self._insert_templates(conn, customer_id, row.key_id, template_ids, sealed, now)
                self._append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="templates.replace",
                    customer_id=customer_id,
                    details={"removed": old, "added": len(template_ids), "verified": verified},
                )
            checkpoint_truncate(self.engine)
            self._index_customer(customer_id, vectors)
        return template_ids

    def _retake_verified(
        self, customer_id: str, vectors: Sequence[npt.NDArray[np.float32]], unverified_ok: bool
    ) -> bool:
        """Whether new photos were checked against the customer's current templates (raises
        when they differ, or when they cannot be checked and ``unverified_ok`` is false).
        Called with the customer's row locked, so no other retake or erase interleaves."""
        try:
            enrolled = [v for v in self.open_templates(customer_id) if v.shape == vectors[0].shape]
        except (KeyDestroyed, KeyNotFound):
            raise CustomerErased(customer_id) from None
        if not enrolled:
            if unverified_ok:
                return False
            raise ReenrolAtCounter(customer_id)
        try:
            require_same_person(vectors, enrolled, self.threshold)
        finally:
            for template in enrolled:  # decrypted only for this comparison
                wipe(template)
        return True

    # -- matching ------------------------------------------------------------------------

    def match(
        self,
        probe: object,
        *,
        purpose: str,
        venue: str,
        actor: Actor,
        audit: bool = True,
    ) -> Hit | None:
        """The consenting customer closest to ``probe``, or None; revoked, expired, erased
        and unknown faces are all None."""
        vector = check_embedding(probe)
        now = self._clock()
        hit = self._search(vector, purpose, venue, now)
        if not audit:
            for _ in range(3):
                if hit is None or not self.authoritative or self._still_allowed(hit, purpose, now):
                    return hit
                hit = self._look_again(hit, vector, purpose, venue, now)
            return None
        # The event is group-committed with concurrent matches, and a reported match is
        # first confirmed against the database (the authority every replica shares) in the
        # same transaction; the call returns once the event is durable. A match event is
        # passive (other replicas ignore it), so no NOTIFY is sent for it.
        for _ in range(3):
            if hit is None:
                break
            claim = Claim(hit.customer_id, hit.consent_id, purpose, now)
            seq = self._match_audit().append(
                claim if self.authoritative else None,
                **self._match_event(hit, purpose, venue, now, actor),
            )
            if seq != REFUSED:
                return hit
            # Another process revoked or erased since our index learnt of it: catch up.
            hit = self._look_again(hit, vector, purpose, venue, now)
        self._match_audit().append(**self._match_event(None, purpose, venue, now, actor))
        return None

    async def match_async(
        self, probe: object, *, purpose: str, venue: str, actor: Actor
    ) -> Hit | None:
        """:meth:`match` (audited) for an event loop: the search runs inline when the
        approximate index serves it (well under a millisecond), in a thread otherwise, and
        the wait for the durable audit event holds no thread."""
        vector = check_embedding(probe)
        now = self._clock()
        if self.index.quick(purpose=purpose, venue=venue):
            hit = self._search(vector, purpose, venue, now)
        else:
            hit = await asyncio.to_thread(self._search, vector, purpose, venue, now)
        for _ in range(3):
            if hit is None:
                break
            claim = Claim(hit.customer_id, hit.consent_id, purpose, now)
            seq = await self._match_audit().append_async(
                claim if self.authoritative else None,
                **self._match_event(hit, purpose, venue, now, actor),
            )
            if seq != REFUSED:
                return hit
            hit = await asyncio.to_thread(self._look_again, hit, vector, purpose, venue, now)
        await self._match_audit().append_async(
            **self._match_event(None, purpose, venue, now, actor)
        )
        return None

    def _look_again(
        self, hit: Hit, vector: npt.NDArray[np.float32], purpose: str, venue: str, now: datetime
    ) -> Hit | None:
        with self._lock:
            self._index_customer(hit.customer_id)
        return self._search(vector, purpose, venue, now)

    def _search(
        self, vector: npt.NDArray[np.float32], purpose: str, venue: str, now: datetime
    ) -> Hit | None:
        """The one search every match path makes: the (venue, purpose) gallery, the
        vault's threshold and margin."""
        return self.index.search(
            vector,
            purpose=purpose,
            venue=venue,
            now=now,
            threshold=self.threshold,
            margin=self.margin,
        )

    def _match_event(
        self, hit: Hit | None, purpose: str, venue: str, now: datetime, actor: Actor
    ) -> dict[str, Any]:
        details: dict[str, Any] = {"purpose": purpose, "venue": venue}
        if hit is not None:
            details |= {"consent": hit.consent_id, "distance": round(hit.distance, 4)}
        return {
            "ts": now,
            "actor": actor,
            "action": "match",
            "outcome": "match" if hit else "no_match",
            "customer_id": hit.customer_id if hit else None,
            "details": details,
        }

    def _match_audit(self) -> AuditQueue:
        queue: AuditQueue | None = self.__dict__.get("_audit_queue")
        if queue is None:
            with _AUDIT_QUEUE_LOCK:
                queue = self.__dict__.get("_audit_queue")
                if queue is None:
                    queue = AuditQueue(
                        self.engine, confirm=self._confirm_claims, record=self._record_checkins
                    )
                    self.__dict__["_audit_queue"] = queue
        return queue

    def _confirm_claims(self, conn: Connection, claims: Sequence[Claim]) -> list[bool]:
        """For each claim, whether its consent still allows the purpose for that customer
        at the claim's time: :meth:`_still_allowed` for a whole batch, in one query."""
        ids = sorted({c.consent_id for c in claims})
        rows = conn.execute(_CONFIRM, {"consent_ids": ids}).all()
        live = {(r.consent_id, r.purpose, r.customer_id): r.expires_at for r in rows}
        out = []
        for claim in claims:
            key = (claim.consent_id, claim.purpose, claim.customer_id)
            expires = live.get(key)
            out.append(key in live and (expires is None or claim.at < expires))
        return out

    def _record_checkins(
        self, conn: Connection, written: Sequence[tuple[dict[str, Any], int]]
    ) -> None:
        """In the audit writer's transaction: an outbox row for each confirmed check-in
        match, so the hand-off to the venue's system commits with the match's event."""
        matches = [
            CheckinMatch(
                audit_seq=seq,
                customer_id=event["customer_id"],
                consent_id=event["details"]["consent"],
                venue=event["details"]["venue"],
                kiosk=event["actor"].id,
                at=event["ts"],
            )
            for event, seq in written
            if event["action"] == "match"
            and event.get("outcome") == "match"
            and event["details"].get("purpose") == "checkin"
        ]
        if matches:
            enqueue_checkins(conn, matches, every_venue=self.checkin_every_venue)

    def consent_allows(self, customer_id: str, consent_id: str, purpose: str, at: datetime) -> bool:
        """Whether the consent still allows ``purpose`` for the customer at ``at`` (the
        rule every reported match is confirmed by; a check-in waiting to be handed off
        is dropped once it no longer holds)."""
        with self.engine.connect() as conn:
            claim = Claim(customer_id, consent_id, purpose, at)
            return self._confirm_claims(conn, [claim])[0]

    def _still_allowed(self, hit: Hit, purpose: str, now: datetime) -> bool:
        """Ask the database (the authority shared by every replica) whether the consent
        that allowed a hit is still active."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(consents.c.expires_at)
                .select_from(
                    consent_purposes.join(consents).join(
                        customers, customers.c.customer_id == consents.c.customer_id
                    )
                )
                .where(consent_purposes.c.consent_id == hit.consent_id)
                .where(consent_purposes.c.purpose == purpose)
                .where(consent_purposes.c.revoked_at.is_(None))
                .where(consents.c.customer_id == hit.customer_id)
                .where(customers.c.status == ACTIVE)
            ).first()
        return row is not None and (row.expires_at is None or now < row.expires_at)

    # -- access codes --------------------------------------------------------------------

    def replace_access_code(self, customer_id: str, code_hash: str | None, *, actor: Actor) -> int:
        """Give an active customer a new access code (its hash): the old code stops
        working at once, on every replica; None disables the code without a new one.
        Returns the audit event's seq."""
        with self._lock:
            now = self._clock()
            with writing(self.engine) as conn:
                self._active_customer(conn, customer_id)
                conn.execute(
                    update(customers)
                    .where(customers.c.customer_id == customer_id)
                    .values(access_code_hash=code_hash)
                )
                return self._append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="access_code.replace" if code_hash else "access_code.disable",
                    customer_id=customer_id,
                    details={},
                )

    # -- revocation ----------------------------------------------------------------------

    def revoke(
        self,
        customer_id: str,
        *,
        actor: Actor,
        purpose: str | None = None,
        reason: str = "withdrawn",
    ) -> Revocation:
        """Withdraw one purpose (or all) of every consent; effective before this returns."""
        if purpose is not None and purpose not in {"checkin", "marketing"}:
            raise InvalidRequest(f"unknown purpose {purpose!r}", code="invalid_purpose")
        with self._lock:
            now = self._clock()
            with writing(self.engine) as conn:
                self._active_customer(conn, customer_id)
                revoked = self._revoke_in(conn, customer_id, purpose, reason, now)
                seq = self._append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="consent.revoke",
                    customer_id=customer_id,
                    details={
                        "purpose": purpose or "all",
                        "reason": reason,
                        "revoked": [list(r) for r in revoked],
                    },
                )
                self._fault("revoke.before_commit")
            self._fault("revoke.after_commit")
            self._refresh_grants(customer_id)
        return Revocation(customer_id, revoked, seq)

    def _revoke_in(
        self, conn: Connection, customer_id: str, purpose: str | None, reason: str, now: datetime
    ) -> tuple[tuple[str, str], ...]:
        ids = select(consents.c.consent_id).where(consents.c.customer_id == customer_id)
        cond = consent_purposes.c.consent_id.in_(ids) & consent_purposes.c.revoked_at.is_(None)
        if purpose is not None:
            cond = cond & (consent_purposes.c.purpose == purpose)
        rows = conn.execute(
            select(consent_purposes.c.consent_id, consent_purposes.c.purpose).where(cond)
        ).all()
        conn.execute(
            update(consent_purposes).where(cond).values(revoked_at=now, revoke_reason=reason)
        )
        return tuple((r.consent_id, r.purpose) for r in rows)

    # -- erasure -------------------------------------------------------------------------

    def erase(self, customer_id: str, *, reason: str, actor: Actor) -> Erasure:
        """Revoke everything and destroy the customer's key. Idempotent."""
        reason = (reason or "").strip()
        if not reason or len(reason) > 200:
            raise InvalidRequest("a reason (1-200 characters) is required", code="invalid_reason")
        with self._lock:
            now = self._clock()
            with writing(self.engine) as conn:
                row = conn.execute(
                    select(customers)
                    .where(customers.c.customer_id == customer_id)
                    .with_for_update()
                ).first()
                if row is None:
                    raise CustomerNotFound(customer_id)
                if row.status == ERASED:
                    return self._erasure_of(row, already=True)
                if row.status == ACTIVE:
                    self._revoke_in(conn, customer_id, None, "erasure", now)
                    conn.execute(
                        update(customers)
                        .where(customers.c.customer_id == customer_id)
                        .values(status=ERASING, erase_reason=reason, access_code_hash=None)
                    )
                    self._append(
                        conn,
                        ts=now,
                        actor=actor,
                        action="erase.begin",
                        customer_id=customer_id,
                        details={"reason": reason},
                    )
            self.index.remove(customer_id)
            self.unreadable.pop(customer_id, None)
            self._fault("erase.after_begin")
            return self._finish_erase(customer_id, actor)

    def _finish_erase(self, customer_id: str, actor: Actor) -> Erasure:
        try:
            destruction = self.keys.destroy(customer_id, reason="erasure")
            key_ids: tuple[str, ...] = (destruction.record.key_id,)
            commitments: tuple[str, ...] = (destruction.record.commitment,)
            epoch: int | None = destruction.record.kek_epoch
        except KeyNotFound:
            key_ids, commitments, epoch = (), (), None
        self._fault("erase.after_destroy")
        now = self._clock()
        with writing(self.engine) as conn:
            row = conn.execute(
                select(customers).where(customers.c.customer_id == customer_id).with_for_update()
            ).one()
            if row.status == ERASED:
                # Another replica (or a recovery) completed this erase meanwhile.
                return self._erasure_of(row, already=True)
            conn.execute(
                update(customers)
                .where(customers.c.customer_id == customer_id)
                .values(status=ERASED, erased_at=now)
            )
            seq = self._append(
                conn,
                ts=now,
                actor=actor,
                action="erase.complete",
                customer_id=customer_id,
                details={
                    "reason": row.erase_reason,
                    "key_ids": list(key_ids),
                    "key_commitments": list(commitments),
                    "kek_epoch": epoch,
                    "method": receipt_log.DESTRUCTION_METHOD,
                },
            )
            receipt = None
            if self.signer is not None:
                body = receipt_log.destruction_receipt_body(
                    policy=self.receipt_policy,
                    customer_id=customer_id,
                    key_ids=list(key_ids),
                    commitments=list(commitments),
                    kek_epoch=epoch,
                    reason=row.erase_reason,
                    at=now,
                    log_index=seq,
                )
                receipt, _ = self._issue(
                    conn, self.signer, kind="destruction", body=body, at=now, actor=actor
                )
        self._sign_head_after_change()
        return Erasure(
            customer_id, key_ids, commitments, epoch, row.erase_reason, now, False, seq, receipt
        )

    def _sign_head_after_change(self) -> None:
        """Sign a head after an erasure, a rotation or a restore check. A log that does not
        extend its last signed head is refused and alarmed by the audit log itself; the
        change, already committed, still stands and is answered."""
        if self.audit is not None:
            with contextlib.suppress(AuditInconsistent):
                self.audit.sign_head()

    def _erasure_of(self, row: Any, *, already: bool) -> Erasure:
        record = self.keys.record(row.customer_id)
        found = receipt_log.read_receipts(self.engine, customer_id=row.customer_id)
        destruction = [r for r in found if r.kind == "destruction"]
        return Erasure(
            customer_id=row.customer_id,
            key_ids=(record.key_id,) if record else (),
            commitments=(record.commitment,) if record else (),
            kek_epoch=record.kek_epoch if record else None,
            reason=row.erase_reason,
            erased_at=row.erased_at,
            already_erased=already,
            audit_seq=None,
            receipt=destruction[-1] if destruction else None,
        )

    def _abandon_enrolments(self) -> None:
        """Discard the data keys of enrolments a crash interrupted before their customer
        existed (nothing was ever stored under them), with an audit event each."""
        with self.engine.connect() as conn:
            pending = (
                conn.execute(
                    select(enrolment_intents.c.customer_id).where(
                        ~exists().where(customers.c.customer_id == enrolment_intents.c.customer_id)
                    )
                )
                .scalars()
                .all()
            )
        for customer_id in pending:
            record = self.keys.record(customer_id)
            with writing(self.engine) as conn:
                gone = conn.execute(
                    delete(enrolment_intents).where(enrolment_intents.c.customer_id == customer_id)
                ).rowcount
                if gone != 1:
                    continue  # it completed or was handled meanwhile
                self._append(
                    conn,
                    ts=self._clock(),
                    actor=SYSTEM,
                    action="enrol.abandoned",
                    customer_id=customer_id,
                    details={"key_id": record.key_id if record else None},
                )
            self.keys.discard_unused(customer_id)

    def recover(self) -> list[Erasure]:
        """Discard keys of interrupted enrolments; complete every interrupted erase."""
        self._abandon_enrolments()
        with self.engine.connect() as conn:
            pending = (
                conn.execute(select(customers.c.customer_id).where(customers.c.status == ERASING))
                .scalars()
                .all()
            )

        done = []
        with self._lock:
            for customer_id in pending:
                self.index.remove(customer_id)
                done.append(self._finish_erase(customer_id, SYSTEM))
        return done

    # -- key rotation ----------------------------------------------------------------------

    def rotate_kek(
        self,
        *,
        actor: Actor,
        resume: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rotation:
        """Rotate the KEK: re-wrap live data keys, destroy old epochs, record it in the log.

        ``resume`` finishes a rotation a crash interrupted (several epochs exist) instead
        of starting a new one; it is logged the same way, marked as resumed.
        """
        with self._lock:
            before = self.keys.kek.epochs()
            rotation = (
                self.keys.finish_rotation(progress=progress)
                if resume
                else self.keys.rotate(progress=progress)
            )
            now = self._clock()
            with writing(self.engine) as conn:
                self._append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="kek.rotate",
                    details={
                        "provider": self.keys.kek.name,
                        "previous_epochs": before,
                        "new_epoch": rotation.new_epoch,
                        "destroyed_epochs": rotation.destroyed_epochs,
                        "rewrapped": rotation.rewrapped,
                        "resumed": resume,
                    },
                )
        self._sign_head_after_change()
        return rotation

    def record_restore_check(self, details: dict[str, Any]) -> int:
        """Record in the audit log that a restored backup re-applied what happened after
        it (``details``: sizes, erasures and withdrawals re-applied), and sign a head."""
        with writing(self.engine) as conn:
            seq = self._append(
                conn,
                ts=self._clock(),
                actor=Actor(role="system", id="restore-check"),
                action="restore.check",
                details=details,
            )
        self._sign_head_after_change()
        return seq

    # -- retention -----------------------------------------------------------------------

    def retention_deadlines(self, grace: timedelta) -> list[tuple[str, datetime | None]]:
        """For each active customer: when they fall due for erasure (None: a consent has no
        end yet). Due means every consent expired or was fully revoked, plus ``grace``."""
        with self.engine.connect() as conn:
            ids = (
                conn.execute(select(customers.c.customer_id).where(customers.c.status == ACTIVE))
                .scalars()
                .all()
            )
            return [(c, _deadline(self._consents(conn, c), grace)) for c in ids]

    def retention_deadline(self, customer_id: str, grace: timedelta) -> datetime | None:
        """When one customer falls due for erasure (None: a consent has no end yet)."""
        with self.engine.connect() as conn:
            return _deadline(self._consents(conn, customer_id), grace)

    def retention_sweep(self, grace: timedelta, *, actor: Actor = SYSTEM) -> list[Erasure]:
        """Erase, with reason ``retention``, every customer past their retention deadline."""
        now = self._clock()
        due = [c for c, deadline in self.retention_deadlines(grace) if deadline and deadline <= now]
        return [self.erase(c, reason="retention", actor=actor) for c in due]

    # -- reading -------------------------------------------------------------------------

    def show(self, customer_id: str, *, check_templates: bool = False) -> CustomerView:
        """Everything held about a customer except biometric data; ``check_templates``
        also says of each template of an active customer whether it still decrypts (a
        tampered one is marked ``readable=False``)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(customers).where(customers.c.customer_id == customer_id)
            ).first()
            if row is None:
                raise CustomerNotFound(customer_id)
            consent_list = self._consents(conn, customer_id)
            template_rows = conn.execute(
                select(templates)
                .where(templates.c.customer_id == customer_id)
                .order_by(templates.c.created_at, templates.c.template_id)
            ).all()
        record = self.keys.record(customer_id)
        readable = (
            self._readable(customer_id, template_rows)
            if check_templates and row.status == ACTIVE
            else {}
        )
        return CustomerView(
            customer_id=customer_id,
            status=row.status,
            created_at=row.created_at,
            key_id=row.key_id,
            key_state=record.state if record else None,
            erased_at=row.erased_at,
            erase_reason=row.erase_reason,
            consents=consent_list,
            templates=tuple(
                TemplateInfo(
                    t.template_id,
                    t.model_name,
                    t.model_version,
                    t.created_at,
                    readable.get(t.template_id),
                )
                for t in template_rows
            ),
        )

    def _readable(self, customer_id: str, rows: Sequence[Any]) -> dict[str, bool]:
        """Whether each stored template decrypts under the customer's key (the plaintext
        is dropped at once); empty when the key is gone."""
        out: dict[str, bool] = {}
        for t in rows:
            context = template_context(customer_id, t.template_id, t.model_version)
            try:
                self.keys.open(customer_id, t.sealed, context)
                out[t.template_id] = True
            except DecryptionFailed:
                out[t.template_id] = False
            except (KeyDestroyed, KeyNotFound):
                return {}
        return out

    def customer_by_code_hash(self, code_hash: str) -> str | None:
        """The active customer whose access code hashes to ``code_hash``."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(customers.c.customer_id).where(
                    (customers.c.access_code_hash == code_hash) & (customers.c.status == ACTIVE)
                )
            ).scalar_one_or_none()

    def sealed_templates(self, customer_id: str) -> list[tuple[str, bytes]]:
        """The stored ciphertexts of a customer's templates of the vault's face model
        (templates of another model never compare with its probes)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(templates.c.template_id, templates.c.sealed)
                .where(templates.c.customer_id == customer_id)
                .where(templates.c.model_version == self.model_version)
            ).all()
        return [(r.template_id, r.sealed) for r in rows]

    def open_templates(self, customer_id: str) -> list[npt.NDArray[np.float32]]:
        """Decrypt a customer's templates; raises keys.KeyDestroyed after an erase."""
        return [
            open_template(self.keys, customer_id, tid, self.model_version, sealed)
            for tid, sealed in self.sealed_templates(customer_id)
        ]

    # -- index maintenance ---------------------------------------------------------------

    def load_index(self) -> int:
        """Rebuild the match index from the encrypted templates of consenting customers.

        Built for a cold start with a million customers. Active customers are read a few
        thousand at a time (their consents and templates by id range) and their data keys
        unwrapped through the KEK provider's batch calls on one thread, while this thread
        decrypts the page before (each template under its customer's own key) and the
        index builds its approximate search structure on a third. A customer whose key is
        gone or whose stored template does not decrypt stays out; everyone else is served.
        ``self.progress`` says how far it got.
        """
        self._fault("index.load")  # testing: prove which commands build the index
        now = self._clock()
        with self.engine.connect() as conn:
            expected = conn.execute(
                select(func.count())
                .select_from(templates.join(customers))
                .where(customers.c.status == ACTIVE)
                .where(templates.c.model_version == self.model_version)
            ).scalar_one()
        self.progress.begin("loading", int(expected))
        consenting: set[str] = set()
        self.index.bulk_load(self._opened_batches(now, consenting), expected=int(expected))
        for customer_id in self.index.customer_ids():
            if customer_id not in consenting:
                self.index.remove(customer_id)
        self.progress.finish()
        return len(self.index)

    def _load_pages(self) -> Iterator[tuple[list[str], Sequence[Any], Sequence[Any]]]:
        """(active customer ids, their template rows, their live consent rows), page by
        page in id order; ranges of ids, not IN (...) lists, keep the queries cheap."""
        after = ""
        while True:
            with self.engine.connect() as conn:
                ids = list(
                    conn.execute(
                        select(customers.c.customer_id)
                        .where(customers.c.status == ACTIVE)
                        .where(customers.c.customer_id > after)
                        .order_by(customers.c.customer_id)
                        .limit(LOAD_CHUNK)
                    )
                    .scalars()
                    .all()
                )
                if not ids:
                    return
                in_range = (ids[0], ids[-1])
                template_rows = conn.execute(
                    select(templates.c.customer_id, templates.c.template_id, templates.c.sealed)
                    .where(templates.c.customer_id.between(*in_range))
                    .where(templates.c.model_version == self.model_version)
                ).all()
                consent_rows = conn.execute(
                    select(
                        consents.c.customer_id,
                        consents.c.consent_id,
                        consents.c.venues,
                        consents.c.expires_at,
                        consent_purposes.c.purpose,
                        # Only compared with the same customer's other consents (rarely
                        # needed): as stored it orders like the time, so it is not parsed.
                        type_coerce(consents.c.granted_at, String),
                    )
                    .select_from(consents.join(consent_purposes))
                    .where(consents.c.customer_id.between(*in_range))
                    .where(consent_purposes.c.revoked_at.is_(None))
                ).all()
            yield ids, template_rows, consent_rows
            after = ids[-1]

    def _keyed_pages(self, now: datetime) -> Iterator[_KeyedPage]:
        """Pages of grants and sealed templates with their customers' data keys unwrapped
        (the KEK calls of a cold start); the keys are wiped when the page's stack closes."""
        venue_sets: dict[str, frozenset[str]] = {}  # a chain shares a few venue lists
        for ids, template_rows, consent_rows in self._load_pages():
            members = set(ids)
            grants: dict[str, list[tuple[Any, Grant]]] = {}
            for customer_id, consent_id, venues, expires_at, purpose, granted in consent_rows:
                if customer_id not in members:
                    continue
                if expires_at is not None and now >= expires_at:
                    continue
                venue_set = venue_sets.get(venues)
                if venue_set is None:
                    venue_set = venue_sets[venues] = frozenset(json.loads(venues))
                grant = (granted, Grant(consent_id, purpose, venue_set, expires_at))
                listed = grants.get(customer_id)
                if listed is None:
                    grants[customer_id] = [grant]
                else:
                    listed.append(grant)
            sealed: dict[str, list[tuple[str, bytes]]] = {}
            for customer_id, template_id, blob in template_rows:
                if customer_id in grants:
                    listed_blobs = sealed.get(customer_id)
                    if listed_blobs is None:
                        sealed[customer_id] = [(template_id, blob)]
                    else:
                        listed_blobs.append((template_id, blob))
            stack = ExitStack()
            try:
                keys = stack.enter_context(self.keys.data_keys_for(list(sealed)))
            except BaseException:
                stack.close()
                raise
            read = sum(1 for row in template_rows if row[0] in members)
            yield _KeyedPage(grants, sealed, keys, stack, read)

    def _opened_batches(self, now: datetime, consenting: set[str]) -> Iterator[Batch]:
        """Decrypted templates of the active customers with a live grant, page by page;
        adds every customer with a live grant to ``consenting``. With an HSM or a KMS the
        next pages are read and their keys unwrapped on another thread meanwhile."""
        pages = self._keyed_pages(now)
        if self.keys.kek.name != "local":
            # An HSM or a KMS call releases the interpreter lock while it waits, so reading
            # ahead overlaps it with decryption; with the local KEK every step holds the
            # lock and a second thread only adds switching.
            pages = prefetched(pages, depth=2)
        for page in pages:
            with page.stack:
                grants, sealed, keys = page.grants, page.sealed, page.keys
                consenting.update(grants)
                batch = Batch([], [], np.empty((0, 128), np.float32), [])
                plain: list[bytes] = []
                for customer_id, stored in sealed.items():
                    key = keys.get(customer_id)
                    if key is None:  # erased meanwhile, or the wrapped key is damaged
                        self.index.remove(customer_id)
                        continue
                    opened = self._open_readable(customer_id, stored, key.open)
                    if opened:
                        batch.customer_ids.append(customer_id)
                        batch.counts.append(len(opened))
                        batch.grants.append(_ordered(grants[customer_id]))
                        plain += opened
            self.progress.advance(page.rows)
            if plain:
                flat = np.frombuffer(b"".join(plain), dtype="<f4").astype(np.float32)
                batch.vectors = flat.reshape(-1, 128)
                yield batch
                wipe(batch.vectors)  # the index copied them; this copy is not kept

    def _grants(self, conn: Connection, customer_id: str) -> tuple[Grant, ...]:
        now = self._clock()
        grants = []
        for consent in self._consents(conn, customer_id):
            for purpose in consent.active_purposes(now):
                grants.append(
                    Grant(
                        consent.consent_id, purpose, frozenset(consent.venues), consent.expires_at
                    )
                )
        return tuple(grants)

    def _index_customer(
        self, customer_id: str, vectors: list[npt.NDArray[np.float32]] | None = None
    ) -> None:
        with self.engine.connect() as conn:
            grants = self._grants(conn, customer_id)
        if not grants:
            self.index.remove(customer_id)
            for buffer in vectors or ():
                wipe(buffer)
            return
        if vectors is not None:
            self.unreadable.pop(customer_id, None)  # a new set of templates replaced them
        else:
            try:
                opened = self._open_readable(
                    customer_id,
                    self.sealed_templates(customer_id),
                    lambda blob, context: self.keys.open(customer_id, blob, context),
                )
            except (KeyDestroyed, KeyNotFound):
                self.index.remove(customer_id)  # erased
                return
            vectors = [np.frombuffer(p, dtype="<f4").astype(np.float32) for p in opened]
        if vectors:
            stacked = np.stack(vectors)
            self.index.put(customer_id, stacked, grants)
            # The index keeps its own copy: overwrite the vault's (the embeddings of an
            # enrolment or retake, or templates just decrypted).
            for buffer in (stacked, *vectors):
                wipe(buffer)
        else:
            self.index.remove(customer_id)

    def _open_readable(
        self,
        customer_id: str,
        stored: Sequence[tuple[str, bytes]],
        open_: Callable[[bytes, tuple[str, ...]], bytes],
    ) -> list[bytes]:
        """The plaintexts of a customer's templates that decrypt. One that does not (its
        ciphertext was altered or damaged) is logged, counted in ``unreadable`` and left
        out, while the customer's other templates still serve: a tampered row neither
        vanishes silently nor takes the customer's readable templates with it."""
        opened: list[bytes] = []
        for template_id, blob in stored:
            try:
                plain = open_(blob, template_context(customer_id, template_id, self.model_version))
            except DecryptionFailed:
                if template_id not in self.unreadable.setdefault(customer_id, set()):
                    log.warning(
                        f"template {template_id} of customer {customer_id} does not decrypt "
                        "(altered or damaged): left out of matching"
                    )
                self.unreadable[customer_id].add(template_id)
                continue
            if len(plain) == 4 * 128:
                opened.append(plain)
        return opened

    def _refresh_grants(self, customer_id: str) -> None:
        with self.engine.connect() as conn:
            grants = self._grants(conn, customer_id)
        self.index.set_grants(customer_id, grants)

    # -- helpers -------------------------------------------------------------------------

    def _check_galleries(self, consent: ConsentRequest, customer_id: str | None = None) -> None:
        """Refuse a consent that would add a customer to a gallery at its cap."""
        if self.max_gallery is None:
            return
        sizes = self.index.partitions()
        already = self.index.partitions_of(customer_id) if customer_id else frozenset()
        for venue in consent.venues:
            for purpose in consent.purposes:
                key = (venue, purpose)
                if key not in already and sizes.get(key, 0) >= self.max_gallery:
                    raise GalleryFull(venue, purpose, self.max_gallery)

    def _refuse_existing(self, customer_id: str) -> None:
        with self.engine.connect() as conn:
            status = conn.execute(
                select(customers.c.status).where(customers.c.customer_id == customer_id)
            ).scalar_one_or_none()
        if status in (ERASING, ERASED):
            raise CustomerErased(customer_id)
        if status is not None:
            raise CustomerExists(customer_id)

    def _active_customer(self, conn: Connection, customer_id: str) -> Any:
        # FOR UPDATE: a change racing an erase on another replica waits for it, then sees
        # the customer erased (SQLite serialises writers anyway).
        row = conn.execute(
            select(customers).where(customers.c.customer_id == customer_id).with_for_update()
        ).first()
        if row is None:
            raise CustomerNotFound(customer_id)
        if row.status != ACTIVE:
            raise CustomerErased(customer_id)
        return row

    def _insert_consent(
        self,
        conn: Connection,
        customer_id: str,
        consent_id: str,
        consent: ConsentRequest,
        now: datetime,
    ) -> None:
        if consent.expires_at is not None and consent.expires_at <= now:
            raise InvalidRequest("the consent would already be expired", code="invalid_expiry")
        conn.execute(
            consents.insert().values(
                consent_id=consent_id,
                customer_id=customer_id,
                venues=json.dumps(sorted(set(consent.venues))),
                notice_version=consent.notice_version,
                notice_lang=consent.lang,
                notice_text=consent.notice_text,
                notice_sha256=notice_sha256(consent.notice_text),
                method=consent.method,
                device=consent.device,
                granted_at=now,
                expires_at=consent.expires_at,
            )
        )
        conn.execute(
            consent_purposes.insert(),
            [{"consent_id": consent_id, "purpose": p} for p in sorted(set(consent.purposes))],
        )

    def _insert_templates(
        self,
        conn: Connection,
        customer_id: str,
        key_id: str,
        template_ids: Sequence[str],
        sealed: Sequence[bytes],
        now: datetime,
    ) -> None:
        conn.execute(
            templates.insert(),
            [
                {
                    "template_id": tid,
                    "customer_id": customer_id,
                    "key_id": key_id,
                    "model_name": self.model_name,
                    "model_version": self.model_version,
                    "sealed": blob,
                    "created_at": now,
                }
                for tid, blob in zip(template_ids, sealed, strict=True)
            ],
        )

    def _consents(self, conn: Connection, customer_id: str) -> tuple[Consent, ...]:
        rows = conn.execute(
            select(consents)
            .where(consents.c.customer_id == customer_id)
            .order_by(consents.c.granted_at, consents.c.consent_id)
        ).all()
        if not rows:
            return ()
        purpose_rows = conn.execute(
            select(consent_purposes).where(
                consent_purposes.c.consent_id.in_([r.consent_id for r in rows])
            )
        ).all()
        by_consent: dict[str, list[PurposeState]] = {}
        for p in purpose_rows:
            by_consent.setdefault(p.consent_id, []).append(
                PurposeState(p.purpose, p.revoked_at, p.revoke_reason)
            )
        return tuple(
            Consent(
                consent_id=r.consent_id,
                customer_id=r.customer_id,
                venues=tuple(json.loads(r.venues)),
                notice_version=r.notice_version,
                notice_lang=r.notice_lang,
                notice_text=r.notice_text,
                notice_sha256=r.notice_sha256,
                method=r.method,
                device=r.device,
                granted_at=r.granted_at,
                expires_at=r.expires_at,
                purposes=tuple(sorted(by_consent.get(r.consent_id, []), key=lambda s: s.purpose)),
            )
            for r in rows
        )


def _deadline(consent_list: Sequence[Consent], grace: timedelta) -> datetime | None:
    """The retention deadline of a customer with these consents: the end of the last one
    to end, plus ``grace``; None while a consent has no end or there is none."""
    ends: list[datetime | None] = []
    for consent in consent_list:
        revoked = [p.revoked_at for p in consent.purposes]
        if all(r is not None for r in revoked):
            # Fully withdrawn: it ended at the last withdrawal, or at its expiry if that
            # came first.
            end = max(r for r in revoked if r is not None)
            if consent.expires_at is not None:
                end = min(end, consent.expires_at)
            ends.append(end)
        else:
            ends.append(consent.expires_at)
    if ends and all(e is not None for e in ends):
        return max(e for e in ends if e is not None) + grace
    return None


def _ordered(grants: list[tuple[Any, Grant]]) -> tuple[Grant, ...]:
    """Grants as :meth:`Vault._grants` orders them: consents by grant time then id,
    purposes by name (each item is (granted_at, grant))."""
    if len(grants) == 1:
        return (grants[0][1],)  # most customers: one consent, one purpose
    grants = sorted(grants, key=lambda g: (g[0], g[1].consent_id, g[1].purpose))
    return tuple(g for _, g in grants)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
