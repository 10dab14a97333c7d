"""Erasure by crypto-shredding, and recovery of what a crash interrupted.

An erase spans two databases (templates here, keys in the key store), so it is written
as a recoverable sequence: mark the customer ``erasing`` and revoke everything, destroy
the key, mark ``erased``; :meth:`Eraser.recover` completes any erase a crash interrupted
and discards the keys of enrolments that never stored their customer.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from dbkit import writing
from keys import KeyNotFound, KeyStore
from vault.audit import receipts as receipt_log
from vault.audit.events import SYSTEM, Actor
from vault.audit.log import AuditLog
from vault.config import Clock, FaultHook
from vault.errors import AuditInconsistent, CustomerNotFound, InvalidRequest
from vault.loading import IndexLoader
from vault.receipting import Receipts
from vault.replication import ChangeFeed
from vault.request_entries import RegisterEntry
from vault.results import Erasure
from vault.store import ACTIVE, ERASED, ERASING, VaultStore

__all__ = ["Eraser", "sign_head_after_change"]


def sign_head_after_change(audit: AuditLog | None) -> None:
    """Sign a head after an erasure, a rotation or a restore check. A log that does not
    extend its last signed head is refused and alarmed by the audit log itself; the
    change, already committed, still stands and is answered."""
    if audit is not None:
        with contextlib.suppress(AuditInconsistent):
            audit.sign_head()


class Eraser:
    """Erases customers (revoke everything, destroy the key) and finishes interrupted
    erasures and enrolments."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        loader: IndexLoader,
        feed: ChangeFeed,
        audit: AuditLog | None,
        receipts: Receipts,
        clock: Clock,
        fault: FaultHook,
        lock: threading.RLock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.loader = loader
        self.feed = feed
        self.audit = audit
        self.receipts = receipts
        self._clock = clock
        self._fault = fault
        self._lock = lock

    def erase(
        self,
        customer_id: str,
        *,
        reason: str,
        actor: Actor,
        register_entry: RegisterEntry | None = None,
    ) -> Erasure:
        """Revoke everything and destroy the customer's key. Idempotent.

        ``register_entry``: the data-subject request this carries out (the guest's own, or
        one staff carry out), recorded in the register in the transaction from which the
        erasure is sure to finish: the one marking the customer ``erasing`` (every start
        finishes an erasure left so, and so does erasing again), or, when an erasure was
        under way already, the one that takes it over, before the key is destroyed. If
        the register refuses the entry, nothing is done. Not recorded when the customer
        was erased already."""
        reason = (reason or "").strip()
        if not reason or len(reason) > 200:
            raise InvalidRequest("a reason (1-200 characters) is required", code="invalid_reason")
        with self._lock:
            now = self._clock()
            with writing(self.store.engine) as conn:
                row = self.store.lock_customer(conn, customer_id)
                if row is None:
                    raise CustomerNotFound(customer_id)
                if row.status == ERASED:
                    return self._erasure_of(row, already=True)
                if register_entry is not None:
                    # Before erase.begin, which erase.complete and its receipt follow.
                    register_entry.record(conn, customer_id=customer_id, actor=actor, now=now)
                if row.status == ACTIVE:
                    self.store.revoke(conn, customer_id, None, "erasure", now)
                    self.store.update_customer(
                        conn,
                        customer_id,
                        status=ERASING,
                        erase_reason=reason,
                        access_code_hash=None,
                    )
                    self.feed.append(
                        conn,
                        ts=now,
                        actor=actor,
                        action="erase.begin",
                        customer_id=customer_id,
                        details={"reason": reason},
                    )
            self.loader.forget(customer_id)
            self._fault("erase.after_begin")
            return self._finish(customer_id, actor)

    def recover(self) -> list[Erasure]:
        """Discard keys of interrupted enrolments; complete every interrupted erase."""
        self._abandon_enrolments()
        pending = self.store.ids_with_status(ERASING)
        done = []
        with self._lock:
            for customer_id in pending:
                self.loader.index.remove(customer_id)
                done.append(self._finish(customer_id, SYSTEM))
        return done

    def _finish(self, customer_id: str, actor: Actor) -> Erasure:
        try:
            destruction = self.keys.destroy(customer_id, reason="erasure")
            key_ids: tuple[str, ...] = (destruction.record.key_id,)
            commitments: tuple[str, ...] = (destruction.record.commitment,)
            epoch: int | None = destruction.record.kek_epoch
        except KeyNotFound:
            key_ids, commitments, epoch = (), (), None
        self._fault("erase.after_destroy")
        now = self._clock()
        with writing(self.store.engine) as conn:
            row = self.store.lock_customer(conn, customer_id)
            if row.status == ERASED:
                # Another replica (or a recovery) completed this erase meanwhile.
                return self._erasure_of(row, already=True)
            self.store.update_customer(conn, customer_id, status=ERASED, erased_at=now)
            seq = self.feed.append(
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
            receipt = self.receipts.destruction(
                conn,
                customer_id=customer_id,
                key_ids=key_ids,
                commitments=commitments,
                kek_epoch=epoch,
                reason=row.erase_reason,
                at=now,
                log_index=seq,
                actor=actor,
            )
        sign_head_after_change(self.audit)
        return Erasure(
            customer_id, key_ids, commitments, epoch, row.erase_reason, now, False, seq, receipt
        )

    def _erasure_of(self, row: Any, *, already: bool) -> Erasure:
        record = self.keys.record(row.customer_id)
        found = receipt_log.read_receipts(self.store.engine, customer_id=row.customer_id)
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
        for customer_id in self.store.abandoned_intents():
            record = self.keys.record(customer_id)
            with writing(self.store.engine) as conn:
                if self.store.drop_intent(conn, customer_id) != 1:
                    continue  # it completed or was handled meanwhile
                self.feed.append(
                    conn,
                    ts=self._clock(),
                    actor=SYSTEM,
                    action="enrol.abandoned",
                    customer_id=customer_id,
                    details={"key_id": record.key_id if record else None},
                )
            self.keys.discard_unused(customer_id)
