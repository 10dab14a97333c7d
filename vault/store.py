"""The vault's row queries: customers, consents, templates, enrolment intents and the
audit log's sequence, kept out of the code that decides what to do with them.

Methods taking a ``conn`` run inside the caller's transaction (a state change and its
audit event commit together); the others open a connection of their own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, delete, exists, func, select, type_coerce, update

from dbkit import insert_ignore, writing
from vault.consent import Consent, ConsentRequest, PurposeState, notice_sha256
from vault.errors import CustomerErased, CustomerNotFound, InvalidRequest
from vault.index import Grant
from vault.models import (
    audit_events,
    consent_purposes,
    consents,
    customers,
    enrolment_intents,
    templates,
)

__all__ = ["ACTIVE", "ERASED", "ERASING", "LoadPage", "VaultStore"]

ACTIVE, ERASING, ERASED = "active", "erasing", "erased"

#: (active customer ids, their template rows, their live consent rows) of a cold start.
LoadPage = tuple[list[str], Sequence[Any], Sequence[Any]]


class VaultStore:
    """Row queries on the vault database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- customers -----------------------------------------------------------------------

    def status(self, customer_id: str) -> str | None:
        """A customer's status, None if unknown."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(customers.c.status).where(customers.c.customer_id == customer_id)
            ).scalar_one_or_none()

    def customer(self, conn: Connection, customer_id: str) -> Any:
        """A customer's row (None if unknown)."""
        return conn.execute(select(customers).where(customers.c.customer_id == customer_id)).first()

    def lock_customer(self, conn: Connection, customer_id: str) -> Any:
        """A customer's row, locked until the transaction ends (None if unknown)."""
        # FOR UPDATE: a change racing an erase on another replica waits for it, then sees
        # the customer erased (SQLite serialises writers anyway).
        return conn.execute(
            select(customers).where(customers.c.customer_id == customer_id).with_for_update()
        ).first()

    def active_customer(self, conn: Connection, customer_id: str) -> Any:
        """A customer's row, locked; raises unless the customer is active."""
        row = self.lock_customer(conn, customer_id)
        if row is None:
            raise CustomerNotFound(customer_id)
        if row.status != ACTIVE:
            raise CustomerErased(customer_id)
        return row

    def insert_customer(
        self,
        conn: Connection,
        customer_id: str,
        *,
        key_id: str,
        now: datetime,
        access_code_hash: str | None,
    ) -> None:
        """Store a new active customer."""
        conn.execute(
            customers.insert().values(
                customer_id=customer_id,
                status=ACTIVE,
                key_id=key_id,
                created_at=now,
                access_code_hash=access_code_hash,
            )
        )

    def update_customer(self, conn: Connection, customer_id: str, **values: Any) -> None:
        """Set columns of a customer's row."""
        conn.execute(
            update(customers).where(customers.c.customer_id == customer_id).values(**values)
        )

    def ids_with_status(self, status: str) -> list[str]:
        """Every customer with this status."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(select(customers.c.customer_id).where(customers.c.status == status))
                .scalars()
                .all()
            )

    def customer_by_code_hash(self, code_hash: str) -> str | None:
        """The active customer whose access code hashes to ``code_hash``."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(customers.c.customer_id).where(
                    (customers.c.access_code_hash == code_hash) & (customers.c.status == ACTIVE)
                )
            ).scalar_one_or_none()

    # -- enrolment intents -----------------------------------------------------------------

    def add_intent(self, customer_id: str, now: datetime) -> None:
        """Record that an enrolment is about to make a data key for ``customer_id``."""
        with writing(self.engine) as conn:
            insert_ignore(
                conn,
                enrolment_intents,
                {"customer_id": customer_id, "created_at": now},
                ["customer_id"],
            )

    def drop_intent(self, conn: Connection, customer_id: str) -> int:
        """Remove an enrolment intent; how many rows went (0: someone else took it)."""
        return conn.execute(
            delete(enrolment_intents).where(enrolment_intents.c.customer_id == customer_id)
        ).rowcount

    def abandoned_intents(self) -> list[str]:
        """Enrolment intents whose customer was never stored (a crash interrupted them)."""
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(enrolment_intents.c.customer_id).where(
                        ~exists().where(customers.c.customer_id == enrolment_intents.c.customer_id)
                    )
                )
                .scalars()
                .all()
            )

    # -- consents --------------------------------------------------------------------------

    def insert_consent(
        self,
        conn: Connection,
        customer_id: str,
        consent_id: str,
        consent: ConsentRequest,
        now: datetime,
    ) -> None:
        """Store a consent with its purposes (refused if it would already be expired)."""
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

    def revoke(
        self, conn: Connection, customer_id: str, purpose: str | None, reason: str, now: datetime
    ) -> tuple[tuple[str, str], ...]:
        """Withdraw ``purpose`` (None: every purpose) of every consent of the customer;
        returns the (consent_id, purpose) pairs withdrawn."""
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

    def consents(self, conn: Connection, customer_id: str) -> tuple[Consent, ...]:
        """A customer's consents, by grant time then id, each with its purposes."""
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

    def grants(self, customer_id: str, now: datetime) -> tuple[Grant, ...]:
        """What the match index holds for a customer: each purpose still allowed at
        ``now`` of each consent, in consent order."""
        with self.engine.connect() as conn:
            consent_list = self.consents(conn, customer_id)
        return tuple(
            Grant(consent.consent_id, purpose, frozenset(consent.venues), consent.expires_at)
            for consent in consent_list
            for purpose in consent.active_purposes(now)
        )

    # -- templates -------------------------------------------------------------------------

    def insert_templates(
        self,
        conn: Connection,
        customer_id: str,
        key_id: str,
        sealed: Iterable[tuple[str, bytes]],
        now: datetime,
        *,
        model_name: str,
        model_version: str,
    ) -> None:
        """Store sealed templates, given as (template_id, ciphertext)."""
        conn.execute(
            templates.insert(),
            [
                {
                    "template_id": tid,
                    "customer_id": customer_id,
                    "key_id": key_id,
                    "model_name": model_name,
                    "model_version": model_version,
                    "sealed": blob,
                    "created_at": now,
                }
                for tid, blob in sealed
            ],
        )

    def delete_templates(self, conn: Connection, customer_id: str) -> int:
        """Delete every template of a customer; how many there were."""
        return conn.execute(
            delete(templates).where(templates.c.customer_id == customer_id)
        ).rowcount

    def template_rows(self, conn: Connection, customer_id: str) -> Sequence[Any]:
        """A customer's template rows (every model), oldest first."""
        return conn.execute(
            select(templates)
            .where(templates.c.customer_id == customer_id)
            .order_by(templates.c.created_at, templates.c.template_id)
        ).all()

    def sealed_templates(self, customer_id: str, model_version: str) -> list[tuple[str, bytes]]:
        """(template_id, ciphertext) of a customer's templates of one face model."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(templates.c.template_id, templates.c.sealed)
                .where(templates.c.customer_id == customer_id)
                .where(templates.c.model_version == model_version)
            ).all()
        return [(r.template_id, r.sealed) for r in rows]

    def count_active_templates(self, model_version: str) -> int:
        """Templates of one model held for active customers (what a cold start reads)."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(templates.join(customers))
                    .where(customers.c.status == ACTIVE)
                    .where(templates.c.model_version == model_version)
                ).scalar_one()
            )

    def load_pages(self, model_version: str, chunk: int) -> Iterator[LoadPage]:
        """(active customer ids, their template rows, their live consent rows), ``chunk``
        customers a page in id order; ranges of ids, not IN (...) lists, keep the queries
        cheap."""
        after = ""
        while True:
            with self.engine.connect() as conn:
                ids = list(
                    conn.execute(
                        select(customers.c.customer_id)
                        .where(customers.c.status == ACTIVE)
                        .where(customers.c.customer_id > after)
                        .order_by(customers.c.customer_id)
                        .limit(chunk)
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
                    .where(templates.c.model_version == model_version)
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

    # -- the audit log's sequence ------------------------------------------------------------

    def last_seq(self) -> int:
        """The newest audit event's seq, -1 when there is none."""
        with self.engine.connect() as conn:
            last = conn.execute(select(func.max(audit_events.c.seq))).scalar()
        return -1 if last is None else int(last)

    def changes_since(
        self, seq: int, passive: Iterable[str]
    ) -> tuple[list[tuple[int, str, str]], int]:
        """(seq, action, customer_id) of the events after ``seq`` that concern a customer,
        except ``passive`` actions; and the newest seq (-1 when there is none)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(audit_events.c.seq, audit_events.c.action, audit_events.c.customer_id)
                .where(audit_events.c.seq > seq)
                .where(audit_events.c.customer_id.is_not(None))
                .where(audit_events.c.action.not_in(sorted(passive)))
                .order_by(audit_events.c.seq)
            ).all()
            last = conn.execute(select(func.max(audit_events.c.seq))).scalar()
        return [(r.seq, r.action, r.customer_id) for r in rows], -1 if last is None else int(last)
