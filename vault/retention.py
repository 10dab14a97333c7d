"""Retention: a customer whose every consent has ended is erased after a grace period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from vault.audit.events import SYSTEM, Actor
from vault.config import Clock
from vault.consent import Consent
from vault.erasure import Eraser
from vault.results import Erasure
from vault.store import ACTIVE, VaultStore

__all__ = ["Retention", "deadline"]


class Retention:
    """When customers fall due for erasure, and the sweep that erases them."""

    def __init__(self, *, store: VaultStore, eraser: Eraser, clock: Clock) -> None:
        self.store = store
        self.eraser = eraser
        self._clock = clock

    def deadlines(self, grace: timedelta) -> list[tuple[str, datetime | None]]:
        """For each active customer: when they fall due for erasure (None: a consent has no
        end yet). Due means every consent expired or was fully revoked, plus ``grace``."""
        ids = self.store.ids_with_status(ACTIVE)
        with self.store.engine.connect() as conn:
            return [(c, deadline(self.store.consents(conn, c), grace)) for c in ids]

    def deadline(self, customer_id: str, grace: timedelta) -> datetime | None:
        """When one customer falls due for erasure (None: a consent has no end yet)."""
        with self.store.engine.connect() as conn:
            return deadline(self.store.consents(conn, customer_id), grace)

    def sweep(self, grace: timedelta, *, actor: Actor = SYSTEM) -> list[Erasure]:
        """Erase, with reason ``retention``, every customer past their retention deadline."""
        now = self._clock()
        due = [c for c, end in self.deadlines(grace) if end and end <= now]
        return [self.eraser.erase(c, reason="retention", actor=actor) for c in due]


def deadline(consent_list: Sequence[Consent], grace: timedelta) -> datetime | None:
    """The retention deadline of a customer with these consents: the end of the last one
    to end, plus ``grace``; None while a consent has no end or there is none."""
    ends: list[datetime | None] = []
    for consent in consent_list:
        revoked = [p.revoked_at for p in consent.purposes]
        if all(r is not None for r in revoked):
            # Fully withdrawn: it ended at the last withdrawal, or at its expiry if that
            # came first.
            end = max(r for r in revoked if r is not None)
            if consent.expires_at is not None:
                end = min(end, consent.expires_at)
            ends.append(end)
        else:
            ends.append(consent.expires_at)
    if ends and all(e is not None for e in ends):
        return max(e for e in ends if e is not None) + grace
    return None
