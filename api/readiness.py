"""Can the vault commit a write? A cheap probe for /readyz, cached for a second.

A database that answers ``SELECT 1`` may still refuse every write: full, read-only (a
standby), or locked by a stuck transaction. The probe commits one small row per serving
process (``health_probes``) with a short lock wait, at most once per ``ttl``; between
probes the last answer is given.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, update

from dbkit import insert_ignore, lock_wait, writing
from vault.models import health_probes

log = logging.getLogger("facekeep.readiness")


class WriteProbe:
    """Commits a row to prove the database takes writes; the answer is kept ``ttl``."""

    def __init__(
        self,
        engine: Engine,
        now: Callable[[], datetime],
        *,
        ttl: float = 1.0,
        wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._now = now
        self._ttl = ttl
        self._wait = wait
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[bool, float] | None = None
        self.probe_id = f"{socket.gethostname()}-{os.getpid()}"[-64:]

    def ready(self) -> bool:
        """True if a write committed within the last ``ttl`` seconds (probing if needed)."""
        with self._lock:
            if self._answer is not None and self._clock() - self._answer[1] < self._ttl:
                return self._answer[0]
            ok = self._probe()
            self._answer = (ok, self._clock())
            return ok

    def _probe(self) -> bool:
        now = self._now()
        try:
            with lock_wait(self._wait), writing(self._engine) as conn:
                row = {"probe_id": self.probe_id, "at": now}
                if not insert_ignore(conn, health_probes, row, ["probe_id"]):
                    conn.execute(
                        update(health_probes)
                        .where(health_probes.c.probe_id == self.probe_id)
                        .values(at=now)
                    )
                # Rows of processes gone for a day are forgotten.
                conn.execute(delete(health_probes).where(health_probes.c.at < now - timedelta(1)))
        except Exception as exc:  # any failure to commit means "not ready"
            log.warning("the vault cannot commit a write", extra={"error_type": type(exc).__name__})
            return False
        return True
