"""Replication: replicas sharing one database keep their match indexes current.

Every state change a vault makes goes through its :class:`ChangeFeed`: the audit event
is appended in the change's transaction, remembered as the vault's own, and announced to
other replicas (PostgreSQL NOTIFY, delivered at commit). :meth:`ChangeFeed.follow`
applies the changes of other processes, found in the audit log, to this process's index.

Every replica runs one :class:`ChangeFollower` thread. On PostgreSQL it LISTENs on the
channel the vault NOTIFYs at each commit, so a change elsewhere is applied within
milliseconds; on SQLite (and as a safety net everywhere) it polls the audit log every
``interval`` seconds. Correctness of revocation does not depend on it: a match is only
reported after the database confirms the consent (:func:`vault.consent_rule.
still_allowed`). The follower makes enrolments elsewhere matchable here, and evicts
revoked customers and cached keys promptly.

It survives the database going away (a PostgreSQL restart or failover): it reconnects
with backoff and catches up from the audit log, which records every change, so nothing
that happened while it was away is missed. Its state and lag are reported for /readyz.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text

from keys import KeyStore
from vault.audit import receipts as receipt_log
from vault.audit.events import append_event
from vault.audit.receipts import SignedReceipt
from vault.audit.signing import AuditSigner
from vault.loading import IndexLoader
from vault.requests import ACTIONS as request_actions
from vault.store import VaultStore

__all__ = ["CHANNEL", "PASSIVE_ACTIONS", "ChangeFeed", "ChangeFollower", "FollowerStatus"]

CHANNEL = "facekeep_changes"  # PostgreSQL NOTIFY channel: a customer's state changed
# Events that change nothing another replica's index depends on.
PASSIVE_ACTIONS = (
    frozenset({"match", "receipt.consent", "receipt.destruction", "compliance.dpia"})
    | request_actions
)


class ChangeFeed:
    """Appends this vault's audit events and applies other processes' changes."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        loader: IndexLoader,
        lock: threading.RLock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.loader = loader
        self._lock = lock
        self._own_seqs: set[int] = set()
        self._seen_seq = -1

    def append(self, conn: Connection, **event: Any) -> int:
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

    def issue(
        self, conn: Connection, signer: AuditSigner, **kwargs: Any
    ) -> tuple[SignedReceipt, int]:
        """Issue a signed receipt in ``conn``'s transaction (its event is our own)."""
        receipt, seq = receipt_log.issue(conn, signer, **kwargs)
        self._own_seqs.add(seq)
        return receipt, seq

    def skip_past(self) -> None:
        """Take everything in the log so far as applied (a start built the index)."""
        self._seen_seq = self.store.last_seq()

    def follow(self) -> int:
        """Apply state changes made by other processes sharing the database: re-index the
        customers they touched and drop cached keys of erased ones. Returns how many."""
        rows, last = self.store.changes_since(self._seen_seq, PASSIVE_ACTIONS)
        touched: dict[str, str] = {}
        for seq, action, customer_id in rows:
            if seq in self._own_seqs or action in PASSIVE_ACTIONS:
                continue
            touched[customer_id] = action
        for customer_id, action in touched.items():
            if action.startswith("erase"):
                self.loader.index.remove(customer_id)
                self.keys.forget(customer_id)
            else:
                with self._lock:
                    self.loader.index_customer(customer_id)
        self._seen_seq = max(self._seen_seq, last)
        self._own_seqs = {s for s in self._own_seqs if s > self._seen_seq}
        return len(touched)


class Followed(Protocol):
    """What a follower drives: a vault (its database, and applying changes)."""

    @property
    def engine(self) -> Engine: ...

    def follow_changes(self) -> int: ...


log = logging.getLogger("facekeep.changes")

#: Longest wait between two reconnection attempts (seconds).
MAX_BACKOFF = 10.0


@dataclass(frozen=True)
class FollowerStatus:
    """What /readyz and the metrics say about the follower."""

    state: str  # "starting", "following", "reconnecting" or "stopped"
    lag_s: float  # seconds since the changes of other replicas were last applied
    failures: int  # consecutive failed rounds
    reconnects: int  # times the LISTEN connection was made again

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "lag_s": round(self.lag_s, 3),
            "failures": self.failures,
            "reconnects": self.reconnects,
        }


class ChangeFollower:
    """A daemon thread applying other replicas' changes to this process's index."""

    def __init__(self, vault: Followed, *, interval: float = 1.0) -> None:
        self.vault = vault
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="facekeep-changes", daemon=True)
        self._state = "starting"
        self._caught_up = time.monotonic()
        self._failures = 0
        self._reconnects = 0

    def start(self) -> ChangeFollower:
        """Start following."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._state = "stopped"

    def status(self) -> FollowerStatus:
        """State and lag now."""
        return FollowerStatus(
            state=self._state
            if self._thread.is_alive() or self._state == "starting"
            else "stopped",
            lag_s=time.monotonic() - self._caught_up,
            failures=self._failures,
            reconnects=self._reconnects,
        )

    def _run(self) -> None:
        listener: Any = None
        backoff = 0.0
        while not self._stop.is_set():
            try:
                if listener is None and self._postgresql():
                    listener = self._listen()
                    if self._failures or self._reconnects:
                        self._reconnects += 1
                # After (re)connecting, and every round: apply what the audit log holds
                # beyond what was seen, so changes made while away are caught up.
                self.vault.follow_changes()
                self._caught_up = time.monotonic()
                if self._failures:
                    log.info("following changes again", extra={"attempt": self._failures})
                self._failures, backoff, self._state = 0, 0.0, "following"
                self._wait(listener)
            except Exception as exc:  # the database went away: reconnect with backoff
                self._failures += 1
                self._state = "reconnecting"
                listener = self._drop(listener)
                backoff = min(MAX_BACKOFF, max(0.25, backoff * 2))
                log.warning(
                    "following changes failed; retrying",
                    extra={
                        "error_type": type(exc).__name__,
                        "attempt": self._failures,
                        "retry_in_s": backoff,
                    },
                )
                self._stop.wait(backoff)
        self._drop(listener)

    def _postgresql(self) -> bool:
        return self.vault.engine.dialect.name == "postgresql"

    def _listen(self) -> Any:
        import psycopg

        url = self.vault.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        # A dead server is noticed by the TCP keepalives within seconds, not hours.
        conn = psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=5,
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=3,
        )
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _drop(listener: Any) -> None:
        if listener is not None:
            try:
                listener.close()
            except Exception as exc:  # already broken; nothing more to release
                log.debug("closing the listener failed", extra={"error_type": type(exc).__name__})
        return None

    def _wait(self, listener: Any) -> None:
        if listener is None:
            self._stop.wait(self.interval)
            return
        # Wake at the first notification (or after the interval), then drain the rest.
        for _ in listener.notifies(timeout=self.interval, stop_after=1):
            break
