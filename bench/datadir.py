"""Vault data directories with N synthetic customers, cached between runs.

Enrolling a million customers through the API would take days of face detection, so the
rows are written straight into SQLite, but with the project's own cryptography: every
customer gets a fresh AES-256 data key wrapped under the data directory's KEK
(``LocalKekProvider.wrap`` with the key store's associated data), a key commitment, and a
template sealed under that key (``DataKey.seal`` with the template's associated data), so
a server started on the directory decrypts each template under its own customer's key,
exactly as after real enrolments. Each customer has one template, one active consent
(purpose ``checkin``, venue ``bench-1``, the shipped v1 English notice) and no access code.

Directories are built once per (synthetic data, N) under the cache folder (about 2 KB per
customer on disk) and copied before each use, so runs never disturb the cache.

The synthetic templates are drawn around dlib embeddings (:mod:`bench.faces`), so each
directory is a dlib vault: it records the dlib model version in ``vault_settings`` at
``init`` (as ``FACEKEEP_FACE_ENGINE=dlib facekeep init`` would), its templates carry that
version, and servers on it run with ``FACEKEEP_FACE_ENGINE=dlib`` (:data:`ENGINE`), so a
mismatch fails loudly instead of indexing nothing. The vault's machinery (index, cold
start, audit) does not depend on the engine: both give 128 float32 numbers per template.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
from sqlalchemy import Table

from bench.faces import Synth
from enroll import MODEL_NAME, MODEL_VERSION
from keys import aead
from keys.datakey import DataKey, key_commitment
from keys.kek import LocalKekProvider
from keys.store import _wrap_context, data_keys, wrapped_keys
from vault.consent import notice_sha256
from vault.models import consent_purposes, consents, customers, templates
from vault.templates import template_context

GENERATOR_VERSION = 2  # 2: the vault records the dlib model it serves
VENUE = "bench-1"
#: The engine of the generated vaults (their templates are dlib-like).
ENGINE: Final = "dlib"
CHUNK = 10_000  # customers per generation task
_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime in SQLite

Rows = dict[str, list[tuple[Any, ...]]]

_worker: dict[str, Any] = {}


def customer_id(i: int) -> str:
    """The id of synthetic customer ``i``."""
    return f"c_{i:016x}"


def _columns(table: Table, names: Sequence[str]) -> str:
    assert all(n in table.c for n in names), (table.name, names)
    marks = ",".join("?" * len(names))
    # Table and column names come from the project's own schema, never from input.
    return f"INSERT INTO {table.name} ({','.join(names)}) VALUES ({marks})"  # noqa: S608


CUSTOMER_COLS = ("customer_id", "status", "key_id", "created_at")
CONSENT_COLS = (
    "consent_id",
    "customer_id",
    "venues",
    "notice_version",
    "notice_lang",
    "notice_text",
    "notice_sha256",
    "method",
    "device",
    "granted_at",
)
PURPOSE_COLS = ("consent_id", "purpose")
TEMPLATE_COLS = (
    "template_id",
    "customer_id",
    "key_id",
    "model_name",
    "model_version",
    "sealed",
    "created_at",
)
KEY_COLS = ("key_id", "customer_id", "state", "kek_epoch", "commitment", "created_at")
WRAPPED_COLS = ("key_id", "kek_epoch", "wrapped")


def _init_worker(kek_dir: str, real: np.ndarray, seed: int, notice: str) -> None:
    kek = LocalKekProvider(Path(kek_dir))
    _worker.update(
        kek=kek,
        epoch=kek.current_epoch(),
        synth=Synth(real, seed=seed),
        notice=notice,
        notice_sha=notice_sha256(notice),
        stamp=(datetime.now(UTC) - timedelta(days=1)).strftime(_STAMP),
    )


def _make_rows(start: int, stop: int) -> Rows:
    kek: LocalKekProvider = _worker["kek"]
    epoch: int = _worker["epoch"]
    synth: Synth = _worker["synth"]
    stamp: str = _worker["stamp"]
    vectors = synth.templates(start, stop)
    rows: Rows = {k: [] for k in ("cu", "co", "pu", "te", "dk", "wk")}
    venues = f'["{VENUE}"]'
    for i, vector in zip(range(start, stop), vectors, strict=True):
        cid = customer_id(i)
        kid = f"k_{i:032x}"
        tid = f"t_{i:016x}"
        sid = f"cs_{i:016x}"
        dek = aead.new_key()
        wrapped = kek.wrap(dek, epoch=epoch, context=_wrap_context(cid, kid, epoch))
        commitment = key_commitment(dek, kid)
        key = DataKey(dek, key_id=kid, customer_id=cid)
        plain = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        sealed = key.seal(plain, template_context(cid, tid, MODEL_VERSION))
        key.wipe()
        rows["cu"].append((cid, "active", kid, stamp))
        rows["co"].append(
            (
                sid,
                cid,
                venues,
                "v1",
                "en",
                _worker["notice"],
                _worker["notice_sha"],
                "bench",
                "bench",
                stamp,
            )
        )
        rows["pu"].append((sid, "checkin"))
        rows["te"].append((tid, cid, kid, MODEL_NAME, MODEL_VERSION, sealed, stamp))
        rows["dk"].append((kid, cid, "active", epoch, commitment, stamp))
        rows["wk"].append((kid, epoch, wrapped))
    return rows


def _insert(vault: sqlite3.Connection, keys: sqlite3.Connection, rows: Rows) -> None:
    vault.execute("BEGIN")
    vault.executemany(_columns(customers, CUSTOMER_COLS), rows["cu"])
    vault.executemany(_columns(consents, CONSENT_COLS), rows["co"])
    vault.executemany(_columns(consent_purposes, PURPOSE_COLS), rows["pu"])
    vault.executemany(_columns(templates, TEMPLATE_COLS), rows["te"])
    vault.execute("COMMIT")
    keys.execute("BEGIN")
    keys.executemany(_columns(data_keys, KEY_COLS), rows["dk"])
    keys.executemany(_columns(wrapped_keys, WRAPPED_COLS), rows["wk"])
    keys.execute("COMMIT")


def _build(folder: Path, synth: Synth, n: int, say: Callable[[str], None]) -> None:
    from api import credentials
    from api.notices import notice_text
    from api.runtime import init_data_dir
    from api.settings import Settings
    from dbkit import make_engine
    from vault import SYSTEM

    settings = Settings(data_dir=folder, face_engine=ENGINE)
    init_data_dir(settings)
    engine = make_engine(settings.vault_url())
    credentials.ensure_venue(engine, VENUE, "Benchmark venue", datetime.now(UTC), SYSTEM)
    engine.dispose()
    vault = sqlite3.connect(folder / "vault.db", isolation_level=None)
    keys = sqlite3.connect(folder / "keys.db", isolation_level=None)
    for con in (vault, keys):
        con.execute("PRAGMA synchronous=OFF")
    started = time.perf_counter()
    ranges = [(lo, min(n, lo + CHUNK)) for lo in range(0, n, CHUNK)]
    workers = max(1, min(2, os.cpu_count() or 1))
    with ProcessPoolExecutor(
        workers,
        mp_context=get_context("spawn"),
        initializer=_init_worker,
        initargs=(str(settings.kek_dir()), synth.real, synth.seed, notice_text("v1", "en")),
    ) as pool:
        pending: list[Future[Rows]] = []
        done = 0
        for lo, hi in ranges:
            pending.append(pool.submit(_make_rows, lo, hi))
            if len(pending) > workers + 1:
                _insert(vault, keys, pending.pop(0).result())
                done += CHUNK
                if done % 100_000 == 0:
                    say(f"  {done:,} / {n:,} customers ({time.perf_counter() - started:.0f} s)")
        for future in pending:
            _insert(vault, keys, future.result())
    for con in (vault, keys):
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()


def schema_tag() -> str:
    """Identifies the database schemas (the migration scripts of both databases), so a
    cached directory is rebuilt when a migration is added."""
    import vault
    from keys import schema

    digest = hashlib.sha256()
    for folder in (schema.MIGRATIONS, Path(vault.__file__).parent / "migrations"):
        for path in sorted((folder / "versions").glob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:8]


def ensure_datadir(cache: Path, synth: Synth, n: int, say: Callable[[str], None]) -> Path:
    """The cached pristine data directory with ``n`` synthetic customers (built if needed)."""
    tag = f"{synth.fingerprint()}-s{schema_tag()}-g{GENERATOR_VERSION}"
    folder = cache / f"vault-{tag}-{n}"
    if (folder / "READY").exists():
        return folder
    # Built aside under a name of this process, then renamed into place: two runs at once
    # never see each other's half-built directory.
    building = folder.with_name(f"{folder.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    say(f"generating {n:,} encrypted synthetic customers into {folder} (cached for next runs)")
    started = time.perf_counter()
    try:
        _build(building, synth, n, say)
        (building / "READY").write_text(f"{n}\n")
        if not (folder / "READY").exists():
            shutil.rmtree(folder, ignore_errors=True)
            building.rename(folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    say(f"  generated in {time.perf_counter() - started:.0f} s")
    return folder


def empty_datadir(folder: Path, engine: Literal["sface", "dlib"] = ENGINE) -> Path:
    """A new data directory with no customers, as ``facekeep init`` makes it."""
    from api.runtime import init_data_dir
    from api.settings import Settings

    init_data_dir(Settings(data_dir=folder, face_engine=engine))
    return folder


def working_copy(pristine: Path, destination: Path) -> Path:
    """A copy of a cached data directory that a run may change."""
    shutil.copytree(pristine, destination, ignore=shutil.ignore_patterns("READY"))
    os.chmod(destination, 0o700)
    return destination
