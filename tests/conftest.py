"""Shared fixtures: the database engine under test, sample face photos, and one real
embedder per test session.

The engine is chosen with ``FACEKEEP_TEST_ENGINE`` (``sqlite``, the default, or
``postgresql``; the server is ``FACEKEEP_TEST_PG_URL``). Under PostgreSQL every test gets
two fresh schemas (vault and key store), handed to everything that reads ``Settings``
through ``FACEKEEP_DATABASE_URL`` / ``FACEKEEP_KEYSTORE_URL`` and to library tests through
the ``db_urls`` fixture. Tests marked ``sqlite_only`` inspect SQLite files and are
skipped there: PostgreSQL never zeroes deleted rows, so erasure there rests on the key.

Tests whose subject does not depend on the database engine (face engines, image
decoding, pages in a browser, the benchmark, the command line, which always runs on
SQLite files, KEK providers, key files, pure functions such as the Merkle tree and the
likeness rules, files such as the locks, the Dockerfile and the public surface) run in
the SQLite pass only: the PostgreSQL pass deselects them (:data:`ENGINE_NEUTRAL`, or the
``engine_neutral`` marker), so the suite does not pay twice for what one pass proves.
Tests that always run on PostgreSQL, whatever the engine (:data:`POSTGRESQL_ONLY`: the
replicas), run in the PostgreSQL pass only. When scripts/test runs both passes side by
side, some neutral tests move to the PostgreSQL pass to even them out
(:data:`NEUTRAL_IN_POSTGRESQL_PASS`).
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from enroll import DEFAULT_ENGINE, Embedder, FaceEmbedder, make_embedder

FACES_DIR = Path(__file__).parent / "data" / "faces"
ENGINE = os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite")
PG_URL = os.environ.get("FACEKEEP_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: scripts/test sets FACEKEEP_TEST_BALANCE=1 when it runs the two passes side by side.
BALANCE = os.environ.get("FACEKEEP_TEST_BALANCE") == "1"
_KEEP = {"FACEKEEP_TEST_ENGINE", "FACEKEEP_TEST_PG_URL", "FACEKEEP_TEST_BALANCE"}
#: Test folders and modules whose subject is the same on either database engine.
ENGINE_NEUTRAL = (
    "tests/bench/",
    "tests/compliance/test_notices.py",
    "tests/enroll/",
    "tests/eval/",
    "tests/web/",
    "tests/keys/test_kek_contract.py",
    "tests/keys/test_kek_pkcs11.py",
    "tests/keys/test_kek_transit.py",
    "tests/reliability/test_dependency_audit.py",
    "tests/reliability/test_hostile_images.py",
    "tests/reliability/test_key_hygiene.py",
    "tests/test_cli.py",
    "tests/test_container.py",
    "tests/test_logs.py",
    "tests/test_prod_lock.py",
    "tests/test_public_surface.py",
    "tests/vault/test_likeness.py",
    "tests/vault/test_merkle.py",
)
#: Test folders and modules that run on PostgreSQL whatever the engine under test (the
#: replicas share one PostgreSQL server, or restart a private one): the PostgreSQL pass
#: runs them, the SQLite pass deselects them.
POSTGRESQL_ONLY = ("tests/replicas/",)
#: Engine-neutral folders and modules that never touch a database or never look at its
#: engine: when the passes run side by side (:data:`BALANCE`), the PostgreSQL pass runs
#: them instead of the SQLite pass, so that both passes take about as long. (In a single
#: pass, as a developer runs it, they stay in the SQLite pass with the other neutral ones.)
NEUTRAL_IN_POSTGRESQL_PASS = (
    "tests/enroll/",
    "tests/eval/",
    "tests/keys/test_kek_contract.py",
    "tests/keys/test_kek_pkcs11.py",
    "tests/keys/test_kek_transit.py",
    "tests/reliability/test_hostile_images.py",
)
_ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    return f"facekeep database engine: {ENGINE}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ENGINE not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"FACEKEEP_TEST_ENGINE must be sqlite or postgresql, not {ENGINE}")
    if ENGINE == "postgresql":
        skip = pytest.mark.skip(reason="inspects SQLite files; not applicable to PostgreSQL")
        for item in items:
            if "sqlite_only" in item.keywords:
                item.add_marker(skip)
        moved = NEUTRAL_IN_POSTGRESQL_PASS if BALANCE else ()
        _deselect(
            config,
            items,
            lambda item, path: (
                ("engine_neutral" in item.keywords or path.startswith(ENGINE_NEUTRAL))
                and not path.startswith(moved)
            ),
        )
    else:
        elsewhere = POSTGRESQL_ONLY + (NEUTRAL_IN_POSTGRESQL_PASS if BALANCE else ())
        _deselect(config, items, lambda item, path: path.startswith(elsewhere))


def _deselect(
    config: pytest.Config, items: list[pytest.Item], drop: Callable[[pytest.Item, str], bool]
) -> None:
    """Drop (as deselected) the items for which ``drop(item, its file's path)`` holds."""
    dropped = [item for item in items if drop(item, _relative(item))]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        keep = {id(item) for item in items} - {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) in keep]


def _relative(item: pytest.Item) -> str:
    """The item's file relative to the project root ("" outside it)."""
    path = Path(str(item.fspath)).resolve()
    try:
        return path.relative_to(_ROOT).as_posix()
    except ValueError:
        return ""


@dataclass(frozen=True)
class DbUrls:
    """Where a test's vault and key store live."""

    vault: str
    keys: str


def _pg_admin() -> Any:
    from sqlalchemy import create_engine

    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", hide_parameters=True)


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Any]:
    """An autocommit engine on the PostgreSQL server (only under the postgresql engine).

    Fails, never skips, when the server cannot be reached: CI must test PostgreSQL."""
    if ENGINE != "postgresql":
        yield None
        return
    from sqlalchemy import text

    engine = _pg_admin()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is not reachable: {type(exc).__name__}: {exc}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def new_db_urls(pg_admin: Any) -> Iterator[Callable[[Path], DbUrls]]:
    """``new_db_urls(folder)`` -> fresh databases for one deployment: SQLite files in
    ``folder``, or two new PostgreSQL schemas (dropped at the end of the session, so a
    deployment may outlive the test that made it)."""
    made: list[str] = []

    def make(folder: Path) -> DbUrls:
        if ENGINE != "postgresql":
            folder.mkdir(parents=True, exist_ok=True)
            return DbUrls(f"sqlite:///{folder / 'vault.db'}", f"sqlite:///{folder / 'keys.db'}")
        from sqlalchemy import text

        tag = secrets.token_hex(6)
        schemas = [f"fk_{tag}_vault", f"fk_{tag}_keys"]
        with pg_admin.connect() as conn:
            for schema in schemas:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.extend(schemas)
        urls = [f"{PG_URL}?options=-csearch_path%3D{schema}" for schema in schemas]
        return DbUrls(urls[0], urls[1])

    yield make
    if made:
        from sqlalchemy import text

        with pg_admin.connect() as conn:
            for start in range(0, len(made), 100):
                names = ", ".join(f'"{schema}"' for schema in made[start : start + 100])
                conn.execute(text(f"DROP SCHEMA IF EXISTS {names} CASCADE"))


@pytest.fixture
def db_urls(tmp_path: Path, new_db_urls: Callable[[Path], DbUrls]) -> DbUrls:
    """Fresh databases for this test."""
    return new_db_urls(tmp_path)


@pytest.fixture(autouse=True)
def facekeep_environment(monkeypatch: pytest.MonkeyPatch, db_urls: DbUrls) -> Iterator[DbUrls]:
    """No FACEKEEP_* setting leaks in from outside; under PostgreSQL every Settings()
    (and every server subprocess) points at this test's schemas."""
    for name in list(os.environ):
        if name.startswith("FACEKEEP_") and name not in _KEEP:
            monkeypatch.delenv(name)
    if ENGINE == "postgresql":
        monkeypatch.setenv("FACEKEEP_DATABASE_URL", db_urls.vault)
        monkeypatch.setenv("FACEKEEP_KEYSTORE_URL", db_urls.keys)
    yield db_urls


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """Folder of sample photos (see tests/data/faces/ATTRIBUTION.md and manifest.csv)."""
    return FACES_DIR


@pytest.fixture(scope="session")
def face_bytes(faces_dir: Path) -> Callable[[str], bytes]:
    """``face_bytes("obama_1")`` or ``face_bytes("obama_1.jpg")`` -> the file's bytes."""
    cache: dict[str, bytes] = {}

    def load(name: str) -> bytes:
        if name not in cache:
            path = faces_dir / name
            if not path.suffix:
                matches = sorted(faces_dir.glob(f"{name}.*"))
                matches = [p for p in matches if p.suffix in (".jpg", ".png", ".webp")]
                if len(matches) != 1:
                    raise FileNotFoundError(f"no single sample photo named {name!r}")
                path = matches[0]
            cache[name] = path.read_bytes()
        return cache[name]

    return load


@pytest.fixture(scope="session")
def embedder() -> FaceEmbedder:
    """One real FaceEmbedder (default settings) shared by the whole session."""
    return FaceEmbedder()


@pytest.fixture(scope="session")
def served_embedder() -> Embedder:
    """The real embedder of the engine a new vault serves (SFace), shared by the session:
    a service under test and the embeddings a test sends it must come from one engine
    (directories that test services alias this as their ``embedder``)."""
    return make_embedder(DEFAULT_ENGINE.name)


@pytest.fixture(scope="session")
def served_embedding(
    served_embedder: Embedder, face_bytes: Callable[[str], bytes]
) -> Callable[[str], npt.NDArray[np.float64]]:
    """``served_embedding("obama_1")`` -> the served engine's read-only vector of the
    photo's largest face, each photo embedded once per session."""

    @functools.cache
    def by_stem(stem: str) -> npt.NDArray[np.float64]:
        return served_embedder.embed_probe(face_bytes(stem)).vector

    return lambda name: by_stem(Path(name).stem)


@pytest.fixture(scope="session")
def face_embedding(
    embedder: FaceEmbedder, face_bytes: Callable[[str], bytes]
) -> Callable[[str], npt.NDArray[np.float64]]:
    """``face_embedding("obama_1")`` -> read-only 128-d vector of the photo's largest face.

    Each photo is embedded once per test session.
    """
    cache: dict[str, npt.NDArray[np.float64]] = {}

    def embed(name: str) -> npt.NDArray[np.float64]:
        key = Path(name).stem
        if key not in cache:
            cache[key] = embedder.embed_probe(face_bytes(name)).vector
        return cache[key]

    return embed
