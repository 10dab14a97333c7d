"""The vault: consented enrolment, consent-gated matching, revocation and crypto-shredding.

:class:`Vault` is a thin facade over collaborators it is given (warehouse's service
style); :func:`open_vault` builds the default ones. Each rule has one home:

- :mod:`vault.store`: the row queries;
- :mod:`vault.consent_rule`: the one query a reported match must pass;
- :mod:`vault.matcher`: matching, one loop for sync and async callers;
- :mod:`vault.customers`: enrolment, consents, retakes, access codes, withdrawals;
- :mod:`vault.erasure` and :mod:`vault.retention`: crypto-shredding and when it is due;
- :mod:`vault.loading`: the cold start and keeping the index current;
- :mod:`vault.replication`: the change feed replicas follow;
- :mod:`vault.rotation`: KEK rotations and restore checks in the audit log.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from dbkit import make_engine
from keys import KeyStore
from vault.audit.log import AuditLog
from vault.audit.queue import AuditQueue, Claim
from vault.audit.receipts import ReceiptPolicy
from vault.audit.signing import AuditSigner
from vault.checkins import enqueue_matched
from vault.config import Clock, FaultHook, VaultConfig, no_fault, utcnow
from vault.consent_rule import still_allowed
from vault.customers import Registrar
from vault.erasure import Eraser
from vault.index import PartitionedIndex
from vault.loading import IndexLoader, LoadProgress
from vault.matcher import Matcher
from vault.models import metadata
from vault.receipting import Receipts
from vault.replication import ChangeFeed
from vault.results import Erasure
from vault.retention import Retention
from vault.rotation import KeyEvents
from vault.store import VaultStore

__all__ = ["Vault", "open_vault"]


def _setting(name: str, doc: str) -> Any:
    """A read-write attribute of the facade kept in the shared :class:`VaultConfig`, so
    a setting changed after the vault is built reaches every collaborator."""
    return property(
        lambda self: getattr(self.config, name),
        lambda self, value: setattr(self.config, name, value),
        doc=doc,
    )


class Vault:
    """Templates, consents, the match index and the audit log of one deployment."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        index: PartitionedIndex,
        loader: IndexLoader,
        feed: ChangeFeed,
        matcher: Matcher,
        registrar: Registrar,
        eraser: Eraser,
        retention: Retention,
        key_events: KeyEvents,
        audit: AuditLog | None,
        signer: AuditSigner | None,
        config: VaultConfig,
        clock: Clock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.index = index
        self.loader = loader
        self.feed = feed
        self.matcher = matcher
        self.registrar = registrar
        self.eraser = eraser
        self.retention = retention
        self.key_events = key_events
        self.audit = audit
        self.signer = signer
        self.config = config
        self.clock = clock
        # The operations, each served by the collaborator that owns its rule (their
        # docstrings say what each does).
        self.enroll = registrar.enroll
        self.grant = registrar.grant
        self.replace_templates = registrar.replace_templates
        self.replace_access_code = registrar.replace_access_code
        self.revoke = registrar.revoke
        self.show = registrar.show
        self.customer_by_code_hash = store.customer_by_code_hash
        self.sealed_templates = loader.sealed_templates
        self.open_templates = loader.open_templates
        self.load_index = loader.load_index
        self.match = matcher.match
        self.match_async = matcher.match_async
        self.erase = eraser.erase
        self.recover = eraser.recover
        self.retention_deadlines = retention.deadlines
        self.retention_deadline = retention.deadline
        self.retention_sweep = retention.sweep
        self.rotate_kek = key_events.rotate_kek
        self.record_restore_check = key_events.record_restore_check
        self.follow_changes = feed.follow

    @classmethod
    def open_url(
        cls, url: str, *, keys: KeyStore, create_schema: bool = True, **kwargs: Any
    ) -> Vault:
        """Open the vault database at a URL (``kwargs``: those of :func:`open_vault`);
        ``create_schema`` makes missing tables directly (library use and tests;
        deployments migrate with Alembic instead)."""
        vault = open_vault(make_engine(url, secure_delete=True), keys=keys, **kwargs)
        if create_schema:
            metadata.create_all(vault.engine)
        return vault

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> list[Erasure]:
        """Finish interrupted erasures, then build the match index. Call once at start."""
        self.progress.begin("recovering")
        completed = self.recover()
        self.feed.skip_past()
        self.load_index()
        return completed

    def close(self) -> None:
        """Release the database (the key store is closed by its owner)."""
        self.engine.dispose()

    def now(self) -> datetime:
        """The vault's clock."""
        return self.clock()

    @property
    def engine(self) -> Engine:
        """The vault database."""
        return self.store.engine

    @property
    def progress(self) -> LoadProgress:
        """How far the start got (for /readyz)."""
        return self.loader.progress

    @property
    def unreadable(self) -> dict[str, set[str]]:
        """Templates found not to decrypt, by customer."""
        return self.loader.unreadable

    @property
    def match_queue(self) -> AuditQueue:
        """The group-committing writer of match events."""
        return self.matcher.queue

    # -- settings, shared by every collaborator ------------------------------------------------

    model_name = _setting("model_name", "The face model name stored with new templates.")
    model_version = _setting("model_version", "The face model sealed, loaded and matched.")
    threshold = _setting("threshold", "The largest distance a match may have.")
    margin = _setting("margin", "How much nearer the best customer is than the next.")
    max_gallery = _setting("max_gallery", "Customers a gallery may hold (None: no cap).")
    checkin_every_venue = _setting("checkin_every_venue", "Hand off every venue's check-ins.")

    def consent_allows(self, customer_id: str, consent_id: str, purpose: str, at: datetime) -> bool:
        """Whether the consent still allows ``purpose`` for the customer at ``at`` (the
        rule every reported match is confirmed by; a check-in waiting to be handed off
        is dropped once it no longer holds)."""
        with self.engine.connect() as conn:
            return still_allowed(conn, [Claim(customer_id, consent_id, purpose, at)])[0]


def open_vault(
    engine: Engine,
    *,
    keys: KeyStore,
    model_name: str,
    model_version: str,
    clock: Clock = utcnow,
    threshold: float = 0.5,
    margin: float = 0.0,
    max_gallery: int | None = None,
    checkin_every_venue: bool = False,
    fault: FaultHook = no_fault,
    signer: AuditSigner | None = None,
    receipt_policy: ReceiptPolicy | None = None,
) -> Vault:
    """A :class:`Vault` on ``engine`` with its default collaborators."""
    config = VaultConfig(
        model_name, model_version, threshold, margin, max_gallery, checkin_every_venue
    )
    # One lock orders the changes this process makes to a customer and their index entry.
    lock = threading.RLock()
    store = VaultStore(engine)
    index = PartitionedIndex()
    audit = AuditLog(engine, signer=signer, clock=clock) if signer else None
    loader = IndexLoader(
        store=store, keys=keys, index=index, config=config, clock=clock, fault=fault
    )
    feed = ChangeFeed(store=store, keys=keys, loader=loader, lock=lock)

    def reindex(customer_id: str) -> None:
        with lock:
            loader.index_customer(customer_id)

    def record(conn: Connection, written: Any) -> None:
        enqueue_matched(conn, written, every_venue=config.checkin_every_venue)

    queue = AuditQueue(engine, confirm=still_allowed, record=record)
    receipts = Receipts(feed=feed, signer=signer, policy=receipt_policy or ReceiptPolicy())
    eraser = Eraser(
        store=store,
        keys=keys,
        loader=loader,
        feed=feed,
        audit=audit,
        receipts=receipts,
        clock=clock,
        fault=fault,
        lock=lock,
    )
    return Vault(
        store=store,
        keys=keys,
        index=index,
        loader=loader,
        feed=feed,
        matcher=Matcher(index=index, queue=queue, reindex=reindex, config=config, clock=clock),
        registrar=Registrar(
            store=store,
            keys=keys,
            loader=loader,
            feed=feed,
            receipts=receipts,
            config=config,
            clock=clock,
            fault=fault,
            lock=lock,
        ),
        eraser=eraser,
        retention=Retention(store=store, eraser=eraser, clock=clock),
        key_events=KeyEvents(
            store=store, keys=keys, feed=feed, audit=audit, clock=clock, lock=lock
        ),
        audit=audit,
        signer=signer,
        config=config,
        clock=clock,
    )
