"""Backup and restore that keep the erasure promise, on SQLite and on PostgreSQL.

A backup is restored as a drill after a guest was erased and another withdrew: the copy
refuses to serve until `facekeep restore-check` re-applies what the auditor's later copy
of the log records, after which the erased guest never matches again; a drill connected
to production's KEK can neither rotate nor destroy production's epoch.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any

import numpy.typing as npt
import pytest

from api.operations import enroll_vectors
from keys import KeyDestroyed
from tests.support.consents import consent_request
from vault import SYSTEM, ConsentRequest

VENUE = "hcm-1"


def consent() -> ConsentRequest:
    return consent_request(VENUE, "checkin", "marketing")


def matches(deployment: Any, vector: npt.NDArray[Any], purpose: str = "checkin") -> str | None:
    with deployment.runtime() as runtime:
        hit = runtime.vault.match(vector, purpose=purpose, venue=VENUE, actor=SYSTEM)
        return None if hit is None else str(hit.customer_id)


@pytest.mark.faces
def test_a_restored_backup_reapplies_later_erasures_and_cannot_touch_production_keys(
    make_deployment: Callable[..., Any], served_embedding: Callable[[str], npt.NDArray[Any]]
) -> None:
    prod = make_deployment("drill-prod")
    faces = {"alice": "obama_1", "bob": "biden_1", "carol": "kit_harington_1"}
    with prod.runtime(index=False) as runtime:
        for customer, photo in faces.items():
            enroll_vectors(
                runtime, [served_embedding(photo)], consent(), actor=SYSTEM, customer_id=customer
            )
    early = prod.cli("audit", "export", "--out", str(prod.root / "export-early"))
    assert early.returncode == 0, early.stderr

    backup_dir = prod.root / "backup"
    taken = prod.cli("backup", "--out", str(backup_dir))
    assert taken.returncode == 0, taken.stderr
    manifest = taken.json()
    assert (
        manifest["keystore"]["kek_epoch"] == 1 and manifest["keystore"]["kek_provider"] == "local"
    )
    assert sorted(p.name for p in backup_dir.iterdir()) == ["keys.db", "manifest.json", "vault.db"]
    assert not any(backup_dir.glob("*.kek")) and not any(backup_dir.glob("*.key"))

    # After the backup: alice is erased, bob withdraws check-in, dave enrols.
    assert prod.cli("erase", "--customer", "alice", "--reason", "asked").returncode == 0
    revoked = prod.cli("revoke", "--customer", "bob", "--purpose", "checkin")
    assert revoked.returncode == 0, revoked.stderr
    with prod.runtime(index=False) as runtime:
        enroll_vectors(
            runtime,
            [served_embedding("rose_leslie_1")],
            consent(),
            actor=SYSTEM,
            customer_id="dave",
        )
    witness = prod.root / "export-later"
    assert prod.cli("audit", "export", "--out", str(witness)).returncode == 0
    assert matches(prod, served_embedding("obama_2")) is None

    # The drill: fresh databases, connected to production's KEK (a copy of the local key
    # directory stands for the shared HSM) and signing with the deployment's key.
    drill = make_deployment("drill-copy", init=False)
    drill.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(prod.data_dir / "audit", drill.data_dir / "audit")
    restored = drill.cli("restore", "--from", str(backup_dir), "--drill")
    assert restored.returncode == 0, restored.stderr
    assert restored.json()["restored"]["as"] == "drill"
    shutil.copytree(prod.data_dir / "kek", drill.data_dir / "kek")

    # Refused until the erasures after the backup are applied again: serve, show, match.
    for args in (("show", "--customer", "alice"), ("serve", "--port", "9")):
        refused = drill.cli(*args)
        assert refused.returncode != 0
        assert refused.json()["error"] == "restore_incomplete", refused.stdout
        assert all(json.loads(line) for line in refused.stderr.splitlines() if line.strip())

    # A witness older than the backup does not do: it cannot vouch for what came after.
    stale = drill.cli("restore-check", "--witness", str(prod.root / "export-early"))
    assert stale.returncode != 0 and stale.json()["error"] == "backup_refused", stale.stdout

    checked = drill.cli("restore-check", "--witness", str(witness))
    assert checked.returncode == 0, checked.stderr
    report = checked.json()
    assert report["erased"] == ["alice"]
    assert report["revoked"] == [["bob", "checkin"]]

    # The erased guest never matches again; the withdrawal holds; carol still matches.
    assert matches(drill, served_embedding("obama_2")) is None
    assert matches(drill, served_embedding("biden_2")) is None
    assert matches(drill, served_embedding("biden_2"), "marketing") == "bob"
    assert matches(drill, served_embedding("kit_harington_2")) == "carol"
    with drill.runtime(index=False) as runtime, pytest.raises(KeyDestroyed):
        runtime.vault.open_templates("alice")
    export = drill.cli("audit", "export", "--out", str(drill.root / "export"))
    verified = drill.cli("audit", "verify", str(drill.root / "export"))
    assert export.returncode == 0 and verified.returncode == 0, verified.stdout

    # The drill cannot rotate (or destroy) production's epoch, though it shares the KEK.
    rotate = drill.cli("keys", "rotate")
    assert rotate.returncode != 0 and rotate.json()["error"] == "epoch_not_owned", rotate.stdout
    assert sorted(p.name for p in (prod.data_dir / "kek").glob("*.kek")) == ["epoch-000001.kek"]
    assert matches(prod, served_embedding("kit_harington_2")) == "carol"
    rotated = prod.cli("keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.json()["destroyed_epochs"] == [1]
    progress = [json.loads(line) for line in rotated.stderr.splitlines() if '"progress"' in line]
    assert progress[-1] == {"progress": "kek.rotate", "rewrapped": 3, "total": 3}
