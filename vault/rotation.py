"""Events the vault records about its keys and backups: a KEK rotation, a restore check."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from dbkit import writing
from keys import KeyStore, Rotation
from vault.audit.events import Actor
from vault.audit.log import AuditLog
from vault.config import Clock
from vault.erasure import sign_head_after_change
from vault.replication import ChangeFeed
from vault.store import VaultStore

__all__ = ["KeyEvents"]


class KeyEvents:
    """Rotates the KEK and records restore checks, each in the audit log with a signed
    head after it."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        feed: ChangeFeed,
        audit: AuditLog | None,
        clock: Clock,
        lock: threading.RLock,
    ) -> None:
        self.store = store
        self.keys = keys
        self.feed = feed
        self.audit = audit
        self._clock = clock
        self._lock = lock

    def rotate_kek(
        self,
        *,
        actor: Actor,
        resume: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> Rotation:
        """Rotate the KEK: re-wrap live data keys, destroy old epochs, record it in the log.

        ``resume`` finishes a rotation a crash interrupted (several epochs exist) instead
        of starting a new one; it is logged the same way, marked as resumed.
        """
        with self._lock:
            before = self.keys.kek.epochs()
            rotation = (
                self.keys.finish_rotation(progress=progress)
                if resume
                else self.keys.rotate(progress=progress)
            )
            now = self._clock()
            with writing(self.store.engine) as conn:
                self.feed.append(
                    conn,
                    ts=now,
                    actor=actor,
                    action="kek.rotate",
                    details={
                        "provider": self.keys.kek.name,
                        "previous_epochs": before,
                        "new_epoch": rotation.new_epoch,
                        "destroyed_epochs": rotation.destroyed_epochs,
                        "rewrapped": rotation.rewrapped,
                        "resumed": resume,
                    },
                )
        sign_head_after_change(self.audit)
        return rotation

    def record_restore_check(self, details: dict[str, Any]) -> int:
        """Record in the audit log that a restored backup re-applied what happened after
        it (``details``: sizes, erasures and withdrawals re-applied), and sign a head."""
        with writing(self.store.engine) as conn:
            seq = self.feed.append(
                conn,
                ts=self._clock(),
                actor=Actor(role="system", id="restore-check"),
                action="restore.check",
                details=details,
            )
        sign_head_after_change(self.audit)
        return seq
