"""Consent-gated matching: one loop, driven by sync and async callers alike.

A match searches the (venue, purpose) gallery of the index, then reports the hit only
once its audit event is durable and the database confirmed, in the audit writer's
transaction, that the consent behind it still holds (:mod:`vault.consent_rule`). If it
no longer does (another process revoked or erased since this index learnt of it), the
customer is re-indexed and the search made again, up to three times; a no-match is
audited too.

That loop is written once, as a coroutine that does its I/O through a driver (search,
record, look again). :meth:`Matcher.match_async` awaits it on an event loop with a driver
whose waits hold no thread; :meth:`Matcher.match` runs it to completion in one step with
a driver that never suspends (each step blocks the calling thread instead), so no event
loop is involved. The two paths cannot drift apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vault.audit.events import Actor
from vault.audit.queue import REFUSED, AuditQueue, Claim
from vault.config import Clock, VaultConfig
from vault.index import Hit, PartitionedIndex
from vault.templates import check_embedding

__all__ = ["ATTEMPTS", "Matcher"]

ATTEMPTS = 3  # hits a match offers the audit writer before it reports no match


@dataclass(frozen=True)
class _Search:
    """One search of a match: the probe, its gallery and the match's time."""

    vector: npt.NDArray[np.float32]
    purpose: str
    venue: str
    now: datetime


class _Driver(Protocol):
    """How the match loop's steps are performed."""

    async def search(self, search: _Search) -> Hit | None: ...

    async def record(self, claim: Claim | None, event: dict[str, Any]) -> int: ...

    async def look_again(self, customer_id: str, search: _Search) -> Hit | None: ...


class Matcher:
    """Finds the consenting customer closest to a probe, with its audit event."""

    def __init__(
        self,
        *,
        index: PartitionedIndex,
        queue: AuditQueue,
        reindex: Callable[[str], None],
        config: VaultConfig,
        clock: Clock,
    ) -> None:
        self.index = index
        #: The group-committing writer of match events (its depth is a metric).
        self.queue = queue
        self._reindex = reindex
        self.config = config
        self._clock = clock

    def match(self, probe: object, *, purpose: str, venue: str, actor: Actor) -> Hit | None:
        """The consenting customer closest to ``probe``, or None; revoked, expired, erased
        and unknown faces are all None. Returns once the match's event is durable."""
        core = self._match(_Blocking(self), probe, purpose, venue, actor)
        try:
            core.send(None)
        except StopIteration as done:
            result: Hit | None = done.value
            return result
        core.close()
        raise RuntimeError("a blocking match step suspended")  # its steps never await

    async def match_async(
        self, probe: object, *, purpose: str, venue: str, actor: Actor
    ) -> Hit | None:
        """:meth:`match` for an event loop: the search runs inline when the approximate
        index serves it (well under a millisecond), in a thread otherwise, and the wait
        for the durable audit event holds no thread."""
        return await self._match(_Awaiting(self), probe, purpose, venue, actor)

    async def _match(
        self, io: _Driver, probe: object, purpose: str, venue: str, actor: Actor
    ) -> Hit | None:
        """The one match loop."""
        search = _Search(check_embedding(probe), purpose, venue, self._clock())
        hit = await io.search(search)
        # The event is group-committed with concurrent matches, and a reported match is
        # first confirmed against the database (the authority every replica shares) in the
        # same transaction. A match event is passive (other replicas ignore it), so no
        # NOTIFY is sent for it.
        for _ in range(ATTEMPTS):
            if hit is None:
                break
            claim = Claim(hit.customer_id, hit.consent_id, purpose, search.now)
            if await io.record(claim, _event(hit, search, actor)) != REFUSED:
                return hit
            # Another process revoked or erased since our index learnt of it: catch up.
            hit = await io.look_again(hit.customer_id, search)
        await io.record(None, _event(None, search, actor))
        return None

    def _look_again(self, customer_id: str, search: _Search) -> Hit | None:
        self._reindex(customer_id)
        return self._search(search)

    def _search(self, step: _Search) -> Hit | None:
        """The one search every match makes: the (venue, purpose) gallery, the vault's
        threshold and margin."""
        return self.index.search(
            step.vector,
            purpose=step.purpose,
            venue=step.venue,
            now=step.now,
            threshold=self.config.threshold,
            margin=self.config.margin,
        )


class _Blocking:
    """Performs each step on the calling thread (the coroutine never suspends)."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    async def search(self, search: _Search) -> Hit | None:
        return self.matcher._search(search)

    async def record(self, claim: Claim | None, event: dict[str, Any]) -> int:
        return self.matcher.queue.append(claim, **event)

    async def look_again(self, customer_id: str, search: _Search) -> Hit | None:
        return self.matcher._look_again(customer_id, search)


class _Awaiting:
    """Performs each step for an event loop: blocking work in a thread."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher

    async def search(self, search: _Search) -> Hit | None:
        if self.matcher.index.quick(purpose=search.purpose, venue=search.venue):
            return self.matcher._search(search)
        return await asyncio.to_thread(self.matcher._search, search)

    async def record(self, claim: Claim | None, event: dict[str, Any]) -> int:
        return await self.matcher.queue.append_async(claim, **event)

    async def look_again(self, customer_id: str, search: _Search) -> Hit | None:
        return await asyncio.to_thread(self.matcher._look_again, customer_id, search)


def _event(hit: Hit | None, search: _Search, actor: Actor) -> dict[str, Any]:
    """The audit event of a match (``hit``) or of a no-match (None)."""
    details: dict[str, Any] = {"purpose": search.purpose, "venue": search.venue}
    if hit is not None:
        details |= {"consent": hit.consent_id, "distance": round(hit.distance, 4)}
    return {
        "ts": search.now,
        "actor": actor,
        "action": "match",
        "outcome": "match" if hit else "no_match",
        "customer_id": hit.customer_id if hit else None,
        "details": details,
    }
