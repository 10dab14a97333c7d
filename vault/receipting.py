"""The receipts a change issues: a consent receipt at enrolment and at each further
consent, a destruction receipt at erasure.

One rule for every caller: no receipt unless the deployment signs. A receipt is issued
in the change's transaction through the :class:`~vault.replication.ChangeFeed`, so its
audit event counts as this vault's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from vault.audit import receipts as receipt_log
from vault.audit.events import Actor
from vault.audit.receipts import ReceiptPolicy, SignedReceipt
from vault.audit.signing import AuditSigner
from vault.consent import ConsentRequest
from vault.replication import ChangeFeed

__all__ = ["Receipts"]


class Receipts:
    """Issues signed receipts when the deployment has an audit signer, none otherwise."""

    def __init__(
        self, *, feed: ChangeFeed, signer: AuditSigner | None, policy: ReceiptPolicy
    ) -> None:
        self.feed = feed
        self.signer = signer
        self.policy = policy

    def consent(
        self,
        conn: Connection,
        customer_id: str,
        consent_id: str,
        consent: ConsentRequest,
        *,
        at: datetime,
        actor: Actor,
    ) -> SignedReceipt | None:
        """The consent receipt for ``consent_id``, or None when nothing signs."""
        if self.signer is None:
            return None
        body = receipt_log.consent_receipt_body(
            policy=self.policy,
            customer_id=customer_id,
            consent_id=consent_id,
            consent=consent,
            at=at,
        )
        return self.feed.issue(conn, self.signer, kind="consent", body=body, at=at, actor=actor)[0]

    def destruction(
        self,
        conn: Connection,
        *,
        customer_id: str,
        key_ids: Sequence[str],
        commitments: Sequence[str],
        kek_epoch: int | None,
        reason: str,
        at: datetime,
        log_index: int,
        actor: Actor,
    ) -> SignedReceipt | None:
        """The destruction receipt of an erasure, or None when nothing signs."""
        if self.signer is None:
            return None
        body = receipt_log.destruction_receipt_body(
            policy=self.policy,
            customer_id=customer_id,
            key_ids=list(key_ids),
            commitments=list(commitments),
            kek_epoch=kek_epoch,
            reason=reason,
            at=at,
            log_index=log_index,
        )
        return self.feed.issue(
            conn, self.signer, kind="destruction", body=body, at=at, actor=actor
        )[0]
