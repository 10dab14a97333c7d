"""A customer's record: enrolment, further consents, retakes, access codes, withdrawals,
and what the vault shows of it (never biometric data).

Every change and its audit event are written in one transaction; the match index is
brought up to date once it has committed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from dbkit import checkpoint_truncate, writing
from keys import DecryptionFailed, KeyDestroyed, KeyNotFound, KeyStore
from vault.audit.events import Actor
from vault.config import Clock, FaultHook, VaultConfig, new_id
from vault.consent import PURPOSES, ConsentRequest, check_id, notice_sha256
from vault.errors import (
    CustomerErased,
    CustomerExists,
    CustomerNotFound,
    EnrolmentInterrupted,
    GalleryFull,
    InvalidRequest,
    ReenrolAtCounter,
)
from vault.index import wipe
from vault.likeness import require_one_person, require_same_person
from vault.loading import IndexLoader
from vault.receipting import Receipts
from vault.replication import ChangeFeed
from vault.request_entries import RegisterEntry
from vault.results import CustomerView, Enrolment, Revocation, TemplateInfo
from vault.store import ACTIVE, ERASED, ERASING, VaultStore
from vault.templates import check_embeddings, seal_template, template_context

__all__ = ["Registrar"]


class Registrar:
    """Writes and reads customers' records."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        loader: IndexLoader,
        feed: ChangeFeed,
        receipts: Receipts,
        config: VaultConfig,
        clock: Clock,
        fault: FaultHook,
        lock: threading.RLock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.loader = loader
        self.feed = feed
        self.receipts = receipts
        self.config = config
        self._clock = clock
        self._fault = fault
        self._lock = lock

    # -- enrolment and consents ------------------------------------------------------------

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
        customer_id = check_id(customer_id, "customer") if customer_id else new_id("c")
        with self._lock:
            self._refuse_existing(customer_id)
            self.store.add_intent(customer_id, self._clock())
            try:
                record = self.keys.ensure_key(customer_id)
            except KeyDestroyed:
                raise CustomerErased(customer_id) from None
            sealed = self._seal(customer_id, vectors)
            self._fault("enroll.after_key")
            now = self._clock()
            consent_id = new_id("cs")
            try:
                with writing(self.store.engine) as conn:
                    if self.store.drop_intent(conn, customer_id) != 1:
                        if self.store.customer(conn, customer_id) is not None:
                            raise CustomerExists(customer_id)  # a concurrent enrolment won
                        # A restarting replica took this enrolment for a crashed one and
                        # discarded its key: refuse rather than store what cannot be opened.
                        raise EnrolmentInterrupted(customer_id)
                    self.store.insert_customer(
                        conn,
                        customer_id,
                        key_id=record.key_id,
                        now=now,
                        access_code_hash=access_code_hash,
                    )
                    self.store.insert_consent(conn, customer_id, consent_id, consent, now)
                    self._store_templates(conn, customer_id, record.key_id, sealed, now)
                    seq = self.feed.append(
                        conn,
                        ts=now,
                        actor=actor,
                        action="enrol",
                        customer_id=customer_id,
                        details=_consent_details(consent_id, consent)
                        | {"templates": len(sealed), "key_id": record.key_id},
                    )
                    receipt = self.receipts.consent(
                        conn, customer_id, consent_id, consent, at=now, actor=actor
                    )
                    self._fault("enroll.before_commit")
            except IntegrityError:
                raise CustomerExists(customer_id) from None
            self._fault("enroll.after_commit")
            self.loader.index_customer(customer_id, vectors)
        template_ids = tuple(tid for tid, _ in sealed)
        return Enrolment(customer_id, consent_id, template_ids, record.key_id, seq, receipt)

    def grant(self, customer_id: str, consent: ConsentRequest, *, actor: Actor) -> str:
        """Record an additional consent for an enrolled customer; returns its id."""
        consent = consent.validated()
        self._check_galleries(consent, customer_id)
        with self._lock:
            now = self._clock()
            consent_id = new_id("cs")
            with writing(self.store.engine) as conn:
                self.store.active_customer(conn, customer_id)
                self.store.insert_consent(conn, customer_id, consent_id, consent, now)
                self.feed.append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="consent.grant",
                    customer_id=customer_id,
                    details=_consent_details(consent_id, consent),
                )
                self.receipts.consent(conn, customer_id, consent_id, consent, at=now, actor=actor)
            self.loader.index_customer(customer_id)
        return consent_id

    def revoke(
        self,
        customer_id: str,
        *,
        actor: Actor,
        purpose: str | None = None,
        reason: str = "withdrawn",
        register_entry: RegisterEntry | None = None,
    ) -> Revocation:
        """Withdraw one purpose (or all) of every consent; effective before this returns.
        ``register_entry``: the data-subject request this carries out (the guest's own, or
        one staff carry out), recorded in the register in the same transaction."""
        if purpose is not None and purpose not in PURPOSES:
            raise InvalidRequest(f"unknown purpose {purpose!r}", code="invalid_purpose")
        with self._lock:
            now = self._clock()
            with writing(self.store.engine) as conn:
                self.store.active_customer(conn, customer_id)
                revoked = self.store.revoke(conn, customer_id, purpose, reason, now)
                seq = self.feed.append(
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
                if register_entry is not None:
                    register_entry.record(conn, customer_id=customer_id, actor=actor, now=now)
                self._fault("revoke.before_commit")
            self._fault("revoke.after_commit")
            self.loader.refresh_grants(customer_id)
        return Revocation(customer_id, revoked, seq)

    # -- templates and access codes ----------------------------------------------------------

    def replace_templates(
        self,
        customer_id: str,
        embeddings: Sequence[object],
        *,
        actor: Actor,
        unverified_ok: bool = False,
        register_entry: RegisterEntry | None = None,
    ) -> tuple[str, ...]:
        """Replace a customer's templates with new photos of the same person (a retake).

        The new embeddings must show one person, and the person enrolled: the nearest pair
        of a new embedding and a current template lies within the match threshold.
        Otherwise :class:`FacesDiffer`, and nothing changes. Without a template of the
        vault's current model (the vault changed engine) nothing can be compared:
        :class:`ReenrolAtCounter`, unless ``unverified_ok`` (staff, who see the person);
        the audit event records whether the new face was ``verified``. ``register_entry``:
        the guest's request this carries out, recorded in the register in the same
        transaction.
        """
        vectors = check_embeddings(embeddings)
        require_one_person(vectors, self.config.threshold)
        with self._lock:
            now = self._clock()
            with writing(self.store.engine) as conn:
                row = self.store.active_customer(conn, customer_id)
                verified = self._retake_verified(customer_id, vectors, unverified_ok)
                sealed = self._seal(customer_id, vectors)
                old = self.store.delete_templates(conn, customer_id)
                self._store_templates(conn, customer_id, row.key_id, sealed, now)
                self.feed.append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="templates.replace",
                    customer_id=customer_id,
                    details={"removed": old, "added": len(sealed), "verified": verified},
                )
                if register_entry is not None:
                    register_entry.record(conn, customer_id=customer_id, actor=actor, now=now)
            checkpoint_truncate(self.store.engine)
            self.loader.index_customer(customer_id, vectors)
        return tuple(tid for tid, _ in sealed)

    def replace_access_code(self, customer_id: str, code_hash: str | None, *, actor: Actor) -> int:
        """Give an active customer a new access code (its hash): the old code stops
        working at once, on every replica; None disables the code without a new one.
        Returns the audit event's seq."""
        with self._lock:
            now = self._clock()
            with writing(self.store.engine) as conn:
                self.store.active_customer(conn, customer_id)
                self.store.update_customer(conn, customer_id, access_code_hash=code_hash)
                return self.feed.append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="access_code.replace" if code_hash else "access_code.disable",
                    customer_id=customer_id,
                    details={},
                )

    # -- reading -----------------------------------------------------------------------------

    def show(self, customer_id: str, *, check_templates: bool = False) -> CustomerView:
        """Everything held about a customer except biometric data; ``check_templates``
        also says of each template of an active customer whether it still decrypts (a
        tampered one is marked ``readable=False``)."""
        with self.store.engine.connect() as conn:
            row = self.store.customer(conn, customer_id)
            if row is None:
                raise CustomerNotFound(customer_id)
            consent_list = self.store.consents(conn, customer_id)
            template_rows = self.store.template_rows(conn, customer_id)
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

    # -- helpers -----------------------------------------------------------------------------

    def _seal(
        self, customer_id: str, vectors: Sequence[npt.NDArray[np.float32]]
    ) -> list[tuple[str, bytes]]:
        """(new template id, ciphertext) of each vector, under the customer's key."""
        template_ids = [new_id("t") for _ in vectors]
        version = self.config.model_version
        return [
            (tid, seal_template(self.keys, customer_id, tid, version, vector))
            for tid, vector in zip(template_ids, vectors, strict=True)
        ]

    def _store_templates(
        self,
        conn: Connection,
        customer_id: str,
        key_id: str,
        sealed: Sequence[tuple[str, bytes]],
        now: datetime,
    ) -> None:
        self.store.insert_templates(
            conn,
            customer_id,
            key_id,
            sealed,
            now,
            model_name=self.config.model_name,
            model_version=self.config.model_version,
        )

    def _retake_verified(
        self, customer_id: str, vectors: Sequence[npt.NDArray[np.float32]], unverified_ok: bool
    ) -> bool:
        """Whether new photos were checked against the customer's current templates (raises
        when they differ, or when they cannot be checked and ``unverified_ok`` is false).
        Called with the customer's row locked, so no other retake or erase interleaves."""
        try:
            enrolled = [
                v for v in self.loader.open_templates(customer_id) if v.shape == vectors[0].shape
            ]
        except (KeyDestroyed, KeyNotFound):
            raise CustomerErased(customer_id) from None
        if not enrolled:
            if unverified_ok:
                return False
            raise ReenrolAtCounter(customer_id)
        try:
            require_same_person(vectors, enrolled, self.config.threshold)
        finally:
            for template in enrolled:  # decrypted only for this comparison
                wipe(template)
        return True

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

    def _check_galleries(self, consent: ConsentRequest, customer_id: str | None = None) -> None:
        """Refuse a consent that would add a customer to a gallery at its cap."""
        cap = self.config.max_gallery
        if cap is None:
            return
        index = self.loader.index
        sizes = index.partitions()
        already = index.partitions_of(customer_id) if customer_id else frozenset()
        for venue in consent.venues:
            for purpose in consent.purposes:
                key = (venue, purpose)
                if key not in already and sizes.get(key, 0) >= cap:
                    raise GalleryFull(venue, purpose, cap)

    def _refuse_existing(self, customer_id: str) -> None:
        status = self.store.status(customer_id)
        if status in (ERASING, ERASED):
            raise CustomerErased(customer_id)
        if status is not None:
            raise CustomerExists(customer_id)


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
