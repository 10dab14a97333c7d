"""Group commit of match events: many requests, one durable transaction.

Every match writes one audit event, and a request must not answer before its event is
durable. Written one transaction each, concurrent matches queue for the database's write
lock and pay one fsync apiece. Here a writer thread takes every event queued so far and,
in one write transaction:

1. confirms against the database, for the events that report a match, that the consent
   behind the match is still active (the rule that no match is reported before the
   database confirms the consent; done inside the write transaction, a revocation can
   no longer commit between the check and the event);
2. appends the confirmed events (and the no-match ones) to the audit log, each with its
   own sequence number, through the one leaf builder (:func:`vault.audit.events.leaf`,
   as :func:`vault.audit.events.append_event` does for a single event), and what
   must commit with them (``record``: the check-in outbox rows of confirmed matches);
3. commits once, and only then wakes each waiting request with its sequence number, or
   with "refused" for a match whose consent is gone (nothing is written for it; the
   caller looks again).

An idle queue costs nothing: the first event of a quiet period is written at once, and
the thread ends after a few idle seconds (it starts again with the next event).

:meth:`AuditQueue.append` blocks its thread until the event is durable;
:meth:`AuditQueue.append_async` awaits it on an event loop instead, which the writer wakes
once per batch (no thread per waiting request to hand the interpreter to and back).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from vault.audit.events import append_events

__all__ = ["REFUSED", "AuditQueue", "Claim", "Confirm", "Record", "append_events"]


@dataclass(frozen=True)
class Claim:
    """What a reported match rests on: this consent's purpose, for this customer, at
    this time."""

    customer_id: str
    consent_id: str
    purpose: str
    at: datetime


#: ``confirm(conn, claims)`` -> for each claim, whether the database still allows it.
Confirm = Callable[[Connection, Sequence[Claim]], Sequence[bool]]
#: ``record(conn, written)``: more rows to write in the batch's transaction, given each
#: event written with its sequence number (the check-in outbox is written this way).
Record = Callable[[Connection, Sequence[tuple[dict[str, Any], int]]], None]

REFUSED = -1


class _Pending:
    __slots__ = ("claim", "done", "error", "event", "on_done", "seq")

    def __init__(
        self,
        event: dict[str, Any],
        claim: Claim | None,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        self.event = event
        self.claim = claim
        self.done = threading.Event()
        self.on_done = on_done
        self.seq = REFUSED
        self.error: BaseException | None = None

    def finish(self) -> None:
        """Wake whoever waits for this event (a thread, or an event loop's future)."""
        self.done.set()
        if self.on_done is not None:
            with contextlib.suppress(RuntimeError):  # its event loop has closed
                self.on_done()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # the awaiting request may have been cancelled
        future.set_result(None)


class AuditQueue:
    """Appends audit events in group-committed transactions; :meth:`append` returns once
    the event is committed."""

    def __init__(
        self,
        engine: Engine,
        *,
        confirm: Confirm | None = None,
        record: Record | None = None,
        max_batch: int = 256,
        idle_seconds: float = 2.0,
    ) -> None:
        self.engine = engine
        self.confirm = confirm
        self.record = record
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Pending] = []
        self._running = False
        self.batches = 0  # transactions committed (for tests and benchmarks)
        self.events = 0

    def depth(self) -> int:
        """Events queued and not yet written (for the metrics)."""
        with self._cond:
            return len(self._queue)

    def append(self, claim: Claim | None = None, **event: Any) -> int:
        """Queue an event (the keyword arguments of ``append_event`` without ``conn``) and
        wait until it is durable; returns its sequence number, or :data:`REFUSED` (and
        writes nothing) if ``claim`` is given and the database no longer allows it.
        Raises what writing it raised."""
        item = _Pending(event, claim)
        self._enqueue(item)
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.seq

    async def append_async(self, claim: Claim | None = None, **event: Any) -> int:
        """:meth:`append` for a coroutine: awaits durability without holding a thread.
        If the awaiting task is cancelled, the event is still written."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, future)

        item = _Pending(event, claim, wake)
        self._enqueue(item)
        await future
        if item.error is not None:
            raise item.error
        return item.seq

    def _enqueue(self, item: _Pending) -> None:
        with self._cond:
            self._queue.append(item)
            if not self._running:
                self._running = True
                # The writer runs in the starting request's context, so it waits for
                # database locks as briefly as that request would (dbkit.LOCK_WAIT): a
                # locked database fails the waiting matches at once instead of holding them.
                context = contextvars.copy_context()
                threading.Thread(
                    target=context.run, args=(self._run,), name="facekeep-audit", daemon=True
                ).start()
            self._cond.notify()

    def _run(self) -> None:
        batch: list[_Pending] = []
        # The writer keeps one connection while it runs (no pool traffic per batch); every
        # transaction on it begins as a write transaction, like ``dbkit.writing``.
        conn = self.engine.connect()
        conn.execution_options(facekeep_write=True)
        try:
            while True:
                with self._cond:
                    while not self._queue:
                        if not self._cond.wait(self.idle_seconds) and not self._queue:
                            self._running = False
                            return
                    batch = self._queue[: self.max_batch]
                    del self._queue[: self.max_batch]
                conn = self._write(conn, batch)
                batch = []
        except BaseException as exc:  # never leave a request waiting forever
            with self._cond:
                stranded, self._queue = batch + self._queue, []
                self._running = False
            for item in stranded:
                item.error = exc
                item.finish()
            raise
        finally:
            conn.close()

    def _write(self, conn: Connection, batch: list[_Pending]) -> Connection:
        """Write one batch; returns the connection to use next (a new one after an
        error)."""
        try:
            with conn.begin():
                claimed = [item for item in batch if item.claim is not None]
                claims = [item.claim for item in claimed if item.claim is not None]
                allowed: Sequence[bool] = [True] * len(claims)
                if claims and self.confirm is not None:
                    allowed = self.confirm(conn, claims)
                refused = {id(item) for item, ok in zip(claimed, allowed, strict=True) if not ok}
                written = [item for item in batch if id(item) not in refused]
                seqs = append_events(conn, [item.event for item in written])
                if self.record is not None:
                    self.record(
                        conn, [(item.event, seq) for item, seq in zip(written, seqs, strict=True)]
                    )
        except Exception as exc:
            conn.close()
            conn = self.engine.connect()
            conn.execution_options(facekeep_write=True)
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].finish()
                return conn
            for item in batch:  # one bad event must not fail its neighbours
                conn = self._write(conn, [item])
            return conn
        self.batches += 1
        self.events += len(written)
        for item, seq in zip(written, seqs, strict=True):
            item.seq = seq
        for item in batch:
            item.finish()
        return conn
