"""What lands on disk: no embedding bytes in any file, no shredded key in any file.

The file scans read SQLite's files byte by byte, so they run on SQLite only (PostgreSQL
keeps dead tuples until a vacuum, and its files are the server's). The row scans check
what the database itself holds, on every engine."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

REAL_ENROLLED = ["obama_1", "biden_1", "kit_harington_1", "rose_leslie_1"]
REAL_PROBES = ["obama_2", "biden_2", "kit_harington_2", "rose_leslie_2", "lin_manuel_miranda_1"]
WINDOW = 16


def _needles(vector: np.ndarray) -> dict[str, bytes]:
    """Little-endian float32 and float64 bytes of a vector."""
    v = np.asarray(vector, dtype=np.float64)
    return {"float32": v.astype("<f4").tobytes(), "float64": v.astype("<f8").tobytes()}


def _windows(blob: bytes) -> set[bytes]:
    return {blob[i : i + WINDOW] for i in range(len(blob) - WINDOW + 1)}


def _leaks(env, vectors: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """(file, vector, what) for every full vector or 16-byte window found in any file."""
    return _leaks_in(
        ((str(path.relative_to(env.root)), path.read_bytes()) for path in env.files()), vectors
    )


def _row_leaks(env, vectors: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """(db:table.column, vector, what) for every full vector or window in any stored value."""
    return _leaks_in(env.stored_values(), vectors)


def _leaks_in(blobs, vectors: dict[str, np.ndarray]) -> list[tuple[str, str, str]]:
    """(where, vector, what) for every full vector or 16-byte window in the (where, bytes)."""
    full: dict[bytes, str] = {}
    windows: dict[bytes, str] = {}
    for name, vector in vectors.items():
        for kind, blob in _needles(vector).items():
            full[blob] = f"{name} {kind}"
            for w in _windows(blob):
                windows[w] = f"{name} {kind} window"
    found = []
    for rel, data in blobs:
        found += [(rel, label, "full") for blob, label in full.items() if blob in data]
        # Every 16-byte slice of the file, looked up in the set of needle windows.
        for i in range(max(0, len(data) - WINDOW + 1)):
            label = windows.get(data[i : i + WINDOW])
            if label is not None:
                found.append((rel, label, f"window at {i}"))
                break
    return found


def _scanned_files(env) -> set[str]:
    return {p.name for p in env.files()}


def _check_scan_detects(env, vector) -> None:
    """The scan is not vacuous: a file holding the bytes is reported."""
    planted = env.root / "planted.bin"
    planted.write_bytes(b"\x00" * 100 + _needles(vector)["float32"][40:60] + b"\x00" * 100)
    try:
        assert _leaks(env, {"v": vector})
    finally:
        planted.unlink()


def _run_scenario(env, vault, staff, consent, enrolled: dict[str, Iterable], probes) -> None:
    for name, vecs in enrolled.items():
        vault.enroll(list(vecs), consent(), actor=staff, customer_id=name)
    for probe in probes:
        vault.match(probe, purpose="checkin", venue="venue-1", actor=staff)


@pytest.mark.sqlite_only
def test_synthetic_embeddings_are_in_no_file(env, faces, consent, staff) -> None:
    vault = env.open()
    enrolled = {n: [faces.photo(n), faces.photo(n)] for n in ("alice", "bob", "carol", "dan")}
    probes = [faces.photo(n) for n in ("alice", "bob", "stranger")]
    _run_scenario(env, vault, staff, consent, enrolled, probes)
    vault.revoke("bob", actor=staff)
    vectors = {f"{n}[{i}]": v for n, vs in enrolled.items() for i, v in enumerate(vs)}
    vectors |= {f"probe[{i}]": p for i, p in enumerate(probes)}

    _check_scan_detects(env, next(iter(vectors.values())))
    scanned = _scanned_files(env)
    assert {"vault.db", "keys.db", "vault.db-wal"} <= scanned  # WAL is live while running
    assert _leaks(env, vectors) == []
    env.close(vault)
    restarted = env.open()  # a restart decrypts into memory only
    restarted.match(probes[0], purpose="checkin", venue="venue-1", actor=staff)
    assert _leaks(env, vectors) == []
    env.close(restarted)
    assert _leaks(env, vectors) == []


@pytest.mark.sqlite_only
def test_erased_customers_wrapped_key_is_in_no_file(env, faces, consent, staff) -> None:
    vault = env.open()
    for name in ("alice", "bob", "carol"):
        vault.enroll([faces.photo(name)], consent(), actor=staff, customer_id=name)
    wrapped = env.wrapped_key("bob")
    assert env.files_containing(wrapped) != []  # visible before: the scan works
    vault.erase("bob", reason="customer request", actor=staff)
    assert env.files_containing(wrapped) == []
    env.close(vault)
    assert env.files_containing(wrapped) == []
    assert env.files_containing(env.wrapped_key("alice")) != []


@pytest.mark.faces
@pytest.mark.sqlite_only
def test_real_embeddings_are_in_no_file(env, face_embedding, consent, staff) -> None:
    vault = env.open()
    enrolled = {name: [face_embedding(name)] for name in REAL_ENROLLED}
    probes = [face_embedding(name) for name in REAL_PROBES]
    _run_scenario(env, vault, staff, consent, enrolled, probes)
    vectors = {name: face_embedding(name) for name in REAL_ENROLLED + REAL_PROBES}

    _check_scan_detects(env, vectors["obama_1"])
    assert {"vault.db", "keys.db", "vault.db-wal"} <= _scanned_files(env)
    assert _leaks(env, vectors) == []

    wrapped = env.wrapped_key("biden_1")
    vault.erase("biden_1", reason="customer request", actor=staff)
    assert env.files_containing(wrapped) == []
    assert _leaks(env, vectors) == []
    env.close(vault)
    assert env.files_containing(wrapped) == []
    assert _leaks(env, vectors) == []


def test_synthetic_embeddings_are_in_no_row(env, faces, consent, staff) -> None:
    vault = env.open()
    enrolled = {n: [faces.photo(n), faces.photo(n)] for n in ("alice", "bob", "carol", "dan")}
    probes = [faces.photo(n) for n in ("alice", "bob", "stranger")]
    _run_scenario(env, vault, staff, consent, enrolled, probes)
    vault.revoke("bob", actor=staff)
    vectors = {f"{n}[{i}]": v for n, vs in enrolled.items() for i, v in enumerate(vs)}
    vectors |= {f"probe[{i}]": p for i, p in enumerate(probes)}

    # The scan is not vacuous: a stored value holding the bytes is reported.
    planted = _needles(vectors["alice[0]"])["float32"][40:60]
    assert _leaks_in([("planted", b"\x00" * 100 + planted)], vectors)
    stored = {where for where, _ in env.stored_values()}
    assert {"vault:templates.sealed", "vault:audit_events.leaf", "keys:wrapped_keys.wrapped"} <= (
        stored
    )
    assert _row_leaks(env, vectors) == []
    env.close(vault)
    restarted = env.open()
    restarted.match(probes[0], purpose="checkin", venue="venue-1", actor=staff)
    assert _row_leaks(env, vectors) == []


def test_erased_customers_wrapped_key_is_in_no_row(env, faces, consent, staff) -> None:
    vault = env.open()
    for name in ("alice", "bob", "carol"):
        vault.enroll([faces.photo(name)], consent(), actor=staff, customer_id=name)
    wrapped = env.wrapped_key("bob")
    assert env.rows_containing(wrapped) == ["keys:wrapped_keys.wrapped"]  # the scan works
    vault.erase("bob", reason="customer request", actor=staff)
    assert env.rows_containing(wrapped) == []
    env.close(vault)
    assert env.rows_containing(wrapped) == []
    assert env.rows_containing(env.wrapped_key("alice")) == ["keys:wrapped_keys.wrapped"]
