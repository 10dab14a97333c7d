"""Follow state changes made by other processes sharing the database.

Every replica runs one follower thread. On PostgreSQL it LISTENs on the channel the vault
NOTIFYs at each commit, so a change elsewhere is applied within milliseconds; on SQLite
(and as a safety net everywhere) it polls the audit log every ``interval`` seconds.
Correctness of revocation does not depend on it: a match is only reported after the
database confirms the consent (``Vault._still_allowed``). The follower makes enrolments
elsewhere matchable here, and evicts revoked customers and cached keys promptly.

It survives the database going away (a PostgreSQL restart or failover): it reconnects
with backoff and catches up from the audit log, which records every change, so nothing
that happened while it was away is missed. Its state and lag are reported for /readyz.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from vault.service import CHANNEL, Vault

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

    def __init__(self, vault: Vault, *, interval: float = 1.0) -> None:
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
