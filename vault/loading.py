"""Filling the match index: the cold start, and one customer at a time afterwards.

:class:`IndexLoader` builds the index from the encrypted templates of consenting
customers at start (:meth:`IndexLoader.load_index`) and keeps it current as enrolments,
grants, retakes, revocations and other replicas' changes arrive
(:meth:`IndexLoader.index_customer`). A cold start reads pages of customers, unwraps
their data keys through the KEK provider (an HSM or a KMS: mostly waiting) and decrypts
their templates. :func:`prefetched` runs the first two for the next pages on another
thread while the caller works on the page before, so provider calls overlap with
decryption and indexing; :class:`LoadProgress` is what readers poll meanwhile.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from keys import DataKey, DecryptionFailed, KeyDestroyed, KeyNotFound, KeyStore
from vault.config import Clock, FaultHook, VaultConfig
from vault.index import Batch, Grant, PartitionedIndex, wipe
from vault.store import VaultStore
from vault.templates import DIM, open_template, template_context

T = TypeVar("T")

__all__ = ["LOAD_CHUNK", "IndexLoader", "LoadProgress", "prefetched"]

log = logging.getLogger("facekeep.vault")

LOAD_CHUNK = 4_000  # customers decrypted per step of a cold start


@dataclass
class LoadProgress:
    """How far a start got: ``phase`` is ``idle``, ``recovering``, ``loading``, ``ready``
    or ``failed``; ``done`` of ``total`` templates read so far."""

    phase: str = "idle"
    total: int = 0
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    error: str | None = None

    def begin(self, phase: str, total: int = 0) -> None:
        """Enter a phase (``total``: how many templates it will read)."""
        self.phase, self.total, self.done, self.error = phase, total, 0, None
        self.started, self.finished = time.monotonic(), None

    def advance(self, rows: int) -> None:
        """``rows`` more templates were read."""
        self.done += rows

    def finish(self) -> None:
        """The index is built."""
        self.phase, self.done, self.finished = "ready", max(self.done, self.total), time.monotonic()

    def fail(self, error: str) -> None:
        """The start failed (``error`` names the exception type, never its message)."""
        self.phase, self.error = "failed", error

    def fraction(self) -> float:
        """Share of the templates read, 0 to 1 (1 when there are none)."""
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    def as_dict(self) -> dict[str, Any]:
        """For /readyz and the logs."""
        end = self.finished if self.finished is not None else time.monotonic()
        out: dict[str, Any] = {
            "phase": self.phase,
            "templates_read": self.done,
            "templates_total": self.total,
            "fraction": round(self.fraction(), 4),
            "elapsed_s": round(end - self.started, 2),
        }
        if self.error:
            out["error"] = self.error
        return out


_END = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield what ``items`` yields, producing up to ``depth`` items ahead on a thread.

    Items left unconsumed when the caller stops early are closed if they have ``close``
    (an ExitStack holding data keys wipes them); an error of the producer is raised here.
    """
    ready: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                else:
                    _close(item)
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            failure.append(exc)
        finally:
            ready.put(_END)

    worker = threading.Thread(target=produce, name="facekeep-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                break
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        # Drain (closing what was produced ahead) until the producer has ended.
        while worker.is_alive() or not ready.empty():
            try:
                item = ready.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is not _END:
                _close(item)
        worker.join()


def _close(item: Any) -> None:
    close = getattr(item, "close", None)
    if callable(close):
        close()


@dataclass
class _KeyedPage:
    """One page of a cold start: live grants and sealed templates per customer, their
    data keys (wiped when ``stack`` closes) and how many template rows it read."""

    grants: dict[str, list[tuple[Any, Grant]]]
    sealed: dict[str, list[tuple[str, bytes]]]
    keys: dict[str, DataKey]
    stack: ExitStack
    rows: int

    def close(self) -> None:
        """Wipe the page's data keys (a page read ahead and never used)."""
        self.stack.close()


class IndexLoader:
    """Decrypts templates into the match index: every consenting customer at a cold
    start, one customer whenever their templates or consents change."""

    def __init__(
        self,
        *,
        store: VaultStore,
        keys: KeyStore,
        index: PartitionedIndex,
        config: VaultConfig,
        clock: Clock,
        fault: FaultHook,
    ) -> None:
        self.store = store
        self.keys = keys
        self.index = index
        self.config = config
        self.progress = LoadProgress()
        #: Templates found not to decrypt, by customer (logged once; a metric reads it).
        self.unreadable: dict[str, set[str]] = {}
        self._clock = clock
        self._fault = fault

    def load_index(self) -> int:
        """Rebuild the match index from the encrypted templates of consenting customers.

        Built for a cold start with a million customers. Active customers are read a few
        thousand at a time (their consents and templates by id range) and their data keys
        unwrapped through the KEK provider's batch calls on one thread, while this thread
        decrypts the page before (each template under its customer's own key) and the
        index builds its approximate search structure on a third. A customer whose key is
        gone or whose stored template does not decrypt stays out; everyone else is served.
        ``self.progress`` says how far it got.
        """
        self._fault("index.load")  # testing: prove which commands build the index
        now = self._clock()
        expected = self.store.count_active_templates(self.config.model_version)
        self.progress.begin("loading", expected)
        consenting: set[str] = set()
        self.index.bulk_load(self._opened_batches(now, consenting), expected=expected)
        for customer_id in self.index.customer_ids():
            if customer_id not in consenting:
                self.index.remove(customer_id)
        self.progress.finish()
        return len(self.index)

    def index_customer(
        self, customer_id: str, vectors: list[npt.NDArray[np.float32]] | None = None
    ) -> None:
        """Put a customer in the index with their live grants (or take them out): with
        ``vectors`` just enrolled, else their stored templates decrypted. Every buffer
        handed in or decrypted here is overwritten once the index holds its own copy."""
        grants = self.store.grants(customer_id, self._clock())
        if not grants:
            self.index.remove(customer_id)
            for buffer in vectors or ():
                wipe(buffer)
            return
        if vectors is not None:
            self.unreadable.pop(customer_id, None)  # a new set of templates replaced them
        else:
            try:
                opened = self._open_readable(
                    customer_id,
                    self.sealed_templates(customer_id),
                    lambda blob, context: self.keys.open(customer_id, blob, context),
                )
            except (KeyDestroyed, KeyNotFound):
                self.index.remove(customer_id)  # erased
                return
            vectors = [np.frombuffer(p, dtype="<f4").astype(np.float32) for p in opened]
        if vectors:
            stacked = np.stack(vectors)
            self.index.put(customer_id, stacked, grants)
            # The index keeps its own copy: overwrite the vault's (the embeddings of an
            # enrolment or retake, or templates just decrypted).
            for buffer in (stacked, *vectors):
                wipe(buffer)
        else:
            self.index.remove(customer_id)

    def refresh_grants(self, customer_id: str) -> None:
        """Give the index a customer's current grants (their templates are unchanged)."""
        self.index.set_grants(customer_id, self.store.grants(customer_id, self._clock()))

    def forget(self, customer_id: str) -> None:
        """Take a customer out of the index and forget their unreadable templates."""
        self.index.remove(customer_id)
        self.unreadable.pop(customer_id, None)

    def sealed_templates(self, customer_id: str) -> list[tuple[str, bytes]]:
        """The stored ciphertexts of a customer's templates of the vault's face model
        (templates of another model never compare with its probes)."""
        return self.store.sealed_templates(customer_id, self.config.model_version)

    def open_templates(self, customer_id: str) -> list[npt.NDArray[np.float32]]:
        """Decrypt a customer's templates; raises keys.KeyDestroyed after an erase."""
        version = self.config.model_version
        return [
            open_template(self.keys, customer_id, tid, version, sealed)
            for tid, sealed in self.sealed_templates(customer_id)
        ]

    def _keyed_pages(self, now: datetime) -> Iterator[_KeyedPage]:
        """Pages of grants and sealed templates with their customers' data keys unwrapped
        (the KEK calls of a cold start); the keys are wiped when the page's stack closes."""
        venue_sets: dict[str, frozenset[str]] = {}  # a chain shares a few venue lists
        for ids, template_rows, consent_rows in self.store.load_pages(
            self.config.model_version, LOAD_CHUNK
        ):
            members = set(ids)
            grants: dict[str, list[tuple[Any, Grant]]] = {}
            for customer_id, consent_id, venues, expires_at, purpose, granted in consent_rows:
                if customer_id not in members:
                    continue
                if expires_at is not None and now >= expires_at:
                    continue
                venue_set = venue_sets.get(venues)
                if venue_set is None:
                    venue_set = venue_sets[venues] = frozenset(json.loads(venues))
                grant = (granted, Grant(consent_id, purpose, venue_set, expires_at))
                listed = grants.get(customer_id)
                if listed is None:
                    grants[customer_id] = [grant]
                else:
                    listed.append(grant)
            sealed: dict[str, list[tuple[str, bytes]]] = {}
            for customer_id, template_id, blob in template_rows:
                if customer_id in grants:
                    listed_blobs = sealed.get(customer_id)
                    if listed_blobs is None:
                        sealed[customer_id] = [(template_id, blob)]
                    else:
                        listed_blobs.append((template_id, blob))
            stack = ExitStack()
            try:
                keys = stack.enter_context(self.keys.data_keys_for(list(sealed)))
            except BaseException:
                stack.close()
                raise
            read = sum(1 for row in template_rows if row[0] in members)
            yield _KeyedPage(grants, sealed, keys, stack, read)

    def _opened_batches(self, now: datetime, consenting: set[str]) -> Iterator[Batch]:
        """Decrypted templates of the active customers with a live grant, page by page;
        adds every customer with a live grant to ``consenting``. With an HSM or a KMS the
        next pages are read and their keys unwrapped on another thread meanwhile."""
        pages = self._keyed_pages(now)
        if self.keys.kek.name != "local":
            # An HSM or a KMS call releases the interpreter lock while it waits, so reading
            # ahead overlaps it with decryption; with the local KEK every step holds the
            # lock and a second thread only adds switching.
            pages = prefetched(pages, depth=2)
        for page in pages:
            with page.stack:
                grants, sealed, keys = page.grants, page.sealed, page.keys
                consenting.update(grants)
                batch = Batch([], [], np.empty((0, DIM), np.float32), [])
                plain: list[bytes] = []
                for customer_id, stored in sealed.items():
                    key = keys.get(customer_id)
                    if key is None:  # erased meanwhile, or the wrapped key is damaged
                        self.index.remove(customer_id)
                        continue
                    opened = self._open_readable(customer_id, stored, key.open)
                    if opened:
                        batch.customer_ids.append(customer_id)
                        batch.counts.append(len(opened))
                        batch.grants.append(_ordered(grants[customer_id]))
                        plain += opened
            self.progress.advance(page.rows)
            if plain:
                flat = np.frombuffer(b"".join(plain), dtype="<f4").astype(np.float32)
                batch.vectors = flat.reshape(-1, DIM)
                yield batch
                wipe(batch.vectors)  # the index copied them; this copy is not kept

    def _open_readable(
        self,
        customer_id: str,
        stored: Sequence[tuple[str, bytes]],
        open_: Callable[[bytes, tuple[str, ...]], bytes],
    ) -> list[bytes]:
        """The plaintexts of a customer's templates that decrypt. One that does not (its
        ciphertext was altered or damaged) is logged, counted in ``unreadable`` and left
        out, while the customer's other templates still serve: a tampered row neither
        vanishes silently nor takes the customer's readable templates with it."""
        opened: list[bytes] = []
        version = self.config.model_version
        for template_id, blob in stored:
            try:
                plain = open_(blob, template_context(customer_id, template_id, version))
            except DecryptionFailed:
                if template_id not in self.unreadable.setdefault(customer_id, set()):
                    log.warning(
                        f"template {template_id} of customer {customer_id} does not decrypt "
                        "(altered or damaged): left out of matching"
                    )
                self.unreadable[customer_id].add(template_id)
                continue
            if len(plain) == 4 * DIM:
                opened.append(plain)
        return opened


def _ordered(grants: list[tuple[Any, Grant]]) -> tuple[Grant, ...]:
    """Grants in the order :meth:`VaultStore.grants` gives them: consents by grant time
    then id, purposes by name (each item is (granted_at, grant))."""
    if len(grants) == 1:
        return (grants[0][1],)  # most customers: one consent, one purpose
    grants = sorted(grants, key=lambda g: (g[0], g[1].consent_id, g[1].purpose))
    return tuple(g for _, g in grants)
