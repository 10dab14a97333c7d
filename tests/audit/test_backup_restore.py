"""The core promise: an erased customer stays erased even when an old backup is restored.

Backups hold vault.db and keys.db (customer A's wrapped data key among them), never the
KEK. After ``erase A`` and ``facekeep keys rotate`` the KEK epoch that wrapped the backup's
keys no longer exists, so a backup restored next to the live kek/ opens nothing of A (and,
by design, nothing of B either: B's live key was re-wrapped under the new epoch, the
backup's copy was not).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from api.runtime import open_runtime
from api.settings import Settings
from dbkit import make_engine
from keys import KeysError, KeyStore, LocalKekProvider
from vault.templates import open_template


def _wrapped_rows(keys_db: Path) -> dict[str, tuple[int, bytes]]:
    con = sqlite3.connect(keys_db)
    try:
        rows = con.execute(
            "SELECT d.customer_id, w.kek_epoch, w.wrapped FROM wrapped_keys w "
            "JOIN data_keys d ON d.key_id = w.key_id"
        ).fetchall()
    finally:
        con.close()
    return {c: (e, bytes(w)) for c, e, w in rows}


def _sealed_rows(vault_db: Path, customer: str) -> list[tuple[str, str, bytes]]:
    con = sqlite3.connect(vault_db)
    try:
        rows = con.execute(
            "SELECT template_id, model_version, sealed FROM templates WHERE customer_id = ?",
            (customer,),
        ).fetchall()
    finally:
        con.close()
    return [(t, m, bytes(b)) for t, m, b in rows]


def _restore(backup_dir: Path, live: Path, target: Path, kek_from: Path) -> Settings:
    """A new data dir: the backup's databases, a kek/ copy and the live audit key."""
    target.mkdir(mode=0o700)
    for name in ("vault.db", "keys.db"):
        shutil.copy2(backup_dir / name, target / name)
    shutil.copytree(kek_from, target / "kek")
    shutil.copytree(live / "audit", target / "audit")
    return Settings(data_dir=target, retention_interval_seconds=0)


def _nothing_opens(runtime, customer: str, model_version: str) -> None:
    """Neither the customer's data key nor any of their templates can be opened."""
    with pytest.raises(KeysError):
        runtime.keys.data_key(customer)
    sealed = runtime.vault.sealed_templates(customer)
    assert sealed
    for template_id, blob in sealed:
        with pytest.raises(KeysError):
            open_template(runtime.keys, customer, template_id, model_version, blob)
    with pytest.raises(KeysError):
        runtime.vault.open_templates(customer)


def test_backup_restored_after_erase_and_rotation_cannot_open_the_erased_customer(
    deployment, backup, tmp_path
) -> None:
    d = deployment
    d.enroll("alice", photos=2)
    d.enroll("bob", photos=2)
    assert d.match("alice").customer_id == "alice"
    version = d.vault.model_version
    b_templates = [t.copy() for t in d.vault.open_templates("bob")]

    # The backup, taken while both are enrolled (WAL content folded in).
    saved = tmp_path / "backup"
    saved.mkdir()
    backup(d.data_dir / "vault.db", saved / "vault.db")
    backup(d.data_dir / "keys.db", saved / "keys.db")
    # Control only: a copy of the KEK as it was then (a backup must NEVER hold this).
    shutil.copytree(d.data_dir / "kek", tmp_path / "kek-at-backup-time")
    in_backup = _wrapped_rows(saved / "keys.db")
    assert set(in_backup) == {"alice", "bob"}
    assert {epoch for epoch, _ in in_backup.values()} == {1}

    d.erase("alice", reason="customer request")
    rotated = d.cli("keys", "rotate")
    assert rotated.exit_code == 0, rotated.stdout
    assert rotated.json["new_epoch"] == 2
    assert rotated.json["destroyed_epochs"] == [1]
    assert rotated.json["rewrapped"] == 1  # bob only: alice's key is already gone

    # The rotation is in the log, and epoch 1 is gone from kek/.
    (rotation,) = [e for e in d.events() if e["action"] == "kek.rotate"]
    assert rotation["details"]["destroyed_epochs"] == [1]
    assert rotation["details"]["new_epoch"] == 2
    assert rotation["actor"] == {"role": "operator", "id": "cli"}
    # (Each key file has an .owner marker naming the key store that made it.)
    kek_files = sorted(p.name for p in (d.data_dir / "kek").glob("*.kek"))
    assert kek_files == ["epoch-000002.kek"]

    # (a) The live system: bob decrypts and matches, alice does not.
    live = d.reopen()
    opened = live.vault.open_templates("bob")
    assert len(opened) == 2
    np.testing.assert_array_equal(
        np.stack(sorted(opened, key=tuple)), np.stack(sorted(b_templates, key=tuple))
    )
    assert d.match("bob").customer_id == "bob"
    assert d.match("alice") is None
    _nothing_opens(live, "alice", version)
    assert set(_wrapped_rows(d.data_dir / "keys.db")) == {"bob"}
    assert _wrapped_rows(d.data_dir / "keys.db")["bob"][0] == 2
    d.close()

    # (b) The backup restored next to the LIVE kek/ (and the live audit key).
    restored = _restore(saved, d.data_dir, tmp_path / "restored", d.data_dir / "kek")
    assert _wrapped_rows(restored.data_dir / "keys.db") == in_backup  # alice's wrapped key IS there
    assert [p.name for p in (restored.data_dir / "kek").glob("*.kek")] == ["epoch-000002.kek"]
    # Through the product: open_runtime either refuses the store up front (a keys error,
    # e.g. no usable KEK epoch) or opens it and then cannot open anyone's key.
    try:
        runtime = open_runtime(restored, clock=d.clock, start=False)
    except KeysError:
        pass
    else:
        try:
            _nothing_opens(runtime, "alice", version)
            # By design the backup's bob is unreadable too: his copy in the backup is wrapped
            # under epoch 1, which the rotation destroyed. That proves epoch 1 is gone.
            _nothing_opens(runtime, "bob", version)
        finally:
            runtime.close()
    # Below every start-up check: the key store on the restored files with the live KEK.
    # The cryptography itself fails, for alice and (by design) for bob.
    store = KeyStore(
        make_engine(f"sqlite:///{restored.data_dir / 'keys.db'}"),
        kek=LocalKekProvider(restored.data_dir / "kek"),
    )
    try:
        for customer in ("alice", "bob"):
            with pytest.raises(KeysError):
                store.data_key(customer)
            rows = _sealed_rows(restored.data_dir / "vault.db", customer)
            assert len(rows) == 2
            for template_id, model_version, blob in rows:
                with pytest.raises(KeysError):
                    open_template(store, customer, template_id, model_version, blob)
    finally:
        store.close()

    # Control: the same backup WITH the old KEK would have opened alice (so the assertions
    # above do test the destroyed epoch, not some other failure).
    leaked = _restore(saved, d.data_dir, tmp_path / "leaked", tmp_path / "kek-at-backup-time")
    runtime = open_runtime(leaked, clock=d.clock, start=False)
    try:
        assert len(runtime.vault.open_templates("alice")) == 2
        assert len(runtime.vault.open_templates("bob")) == 2
    finally:
        runtime.close()


def test_rotation_output_and_log_over_several_rotations(deployment) -> None:
    d = deployment
    d.enroll("alice")
    for expected in (2, 3):
        result = d.cli("keys", "rotate")
        assert result.exit_code == 0
        assert result.json == {
            "new_epoch": expected,
            "destroyed_epochs": [expected - 1],
            "rewrapped": 1,
        }
        assert sorted(p.name for p in (d.data_dir / "kek").glob("*.kek")) == [
            f"epoch-{expected:06d}.kek"
        ]
    rotations = [e["details"] for e in d.events() if e["action"] == "kek.rotate"]
    assert [r["new_epoch"] for r in rotations] == [2, 3]
    assert [r["previous_epochs"] for r in rotations] == [[1], [2]]
    assert json.loads(json.dumps(rotations))  # plain JSON, no key material types
    assert len(d.reopen().vault.open_templates("alice")) == 1
