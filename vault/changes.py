"""Follow state changes made by other processes sharing the database.

Every replica runs one follower thread. On PostgreSQL it LISTENs on the channel the vault
NOTIFYs at each commit, so a change elsewhere is applied within milliseconds; on SQLite
(and as a safety net everywhere) it polls the audit log every ``interval`` seconds.
Correctness of revocation does not depend on it: a match is only reported after the
database confirms the consent (``Vault._still_allowed``). The follower makes enrolments
elsewhere matchable here, and evicts revoked customers and cached keys promptly.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vault.service import CHANNEL, Vault

log = logging.getLogger("facekeep.changes")


class ChangeFollower:
    """A daemon thread applying other replicas' changes to this process's index."""

    def __init__(self, vault: Vault, *, interval: float = 1.0) -> None:
        self.vault = vault
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="facekeep-changes", daemon=True)

    def start(self) -> ChangeFollower:
        """Start following."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        listener = self._listen()
        try:
            while not self._stop.is_set():
                try:
                    self.vault.follow_changes()
                except Exception as exc:  # keep following; the next round retries
                    log.warning(
                        "following changes failed", extra={"error_type": type(exc).__name__}
                    )
                self._wait(listener)
        finally:
            if listener is not None:
                listener.close()

    def _listen(self) -> Any:
        engine = self.vault.engine
        if engine.dialect.name != "postgresql":
            return None
        import psycopg

        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        conn = psycopg.connect(url, autocommit=True)
        conn.execute(f"LISTEN {CHANNEL}")
        return conn

    def _wait(self, listener: Any) -> None:
        if listener is None:
            self._stop.wait(self.interval)
            return
        # Wake at the first notification (or after the interval), then drain the rest.
        for _ in listener.notifies(timeout=self.interval, stop_after=1):
            break
