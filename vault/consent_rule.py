"""The consent rule a reported match must satisfy, written once.

A match is reported only when the database (the authority every replica shares) says the
consent behind it still allows the purpose for that customer at that time: the purpose
is not withdrawn, the consent has not expired and the customer is active. The audit
writer asks it for a whole batch of matches inside its write transaction (so a
revocation cannot commit between the check and the event), and the check-in hand-off
asks it again before delivering a check-in that waited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, bindparam, select

from vault.models import consent_purposes, consents, customers
from vault.store import ACTIVE

__all__ = ["ClaimLike", "still_allowed"]


class ClaimLike(Protocol):
    """What a reported match rests on (``vault.audit.queue.Claim`` is one)."""

    @property
    def customer_id(self) -> str: ...
    @property
    def consent_id(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def at(self) -> datetime: ...


# Built once, so SQLAlchemy reuses its compiled form (the audit writer runs it per batch).
_LIVE = (
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


def still_allowed(conn: Connection, claims: Sequence[ClaimLike]) -> list[bool]:
    """For each claim, whether its consent still allows its purpose for its customer at
    its time; one query for the whole batch."""
    ids = sorted({c.consent_id for c in claims})
    rows = conn.execute(_LIVE, {"consent_ids": ids}).all()
    live = {(r.consent_id, r.purpose, r.customer_id): r.expires_at for r in rows}
    out = []
    for claim in claims:
        key = (claim.consent_id, claim.purpose, claim.customer_id)
        expires = live.get(key)
        out.append(key in live and (expires is None or claim.at < expires))
    return out
