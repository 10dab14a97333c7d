"""An audit log the operator cannot rewrite: before signing a new tree head the signer
proves the log extends every signed head it can trust (the last it signed, its anchor
file outside the database, the newest stored head), and checks that each new event
hashes to its leaf. Otherwise it refuses, raises an alarm and counts it.

Before this, someone with database access could edit an old event, recompute the leaf
hashes, delete the stored heads and have the next head signed over the new history. Run
on SQLite and PostgreSQL: the attack is on the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from api.runtime import Runtime, open_runtime
from api.settings import Settings
from tests.storage import query
from tests.support import Clock
from tests.support.consents import consent_request
from vault import Actor, ConsentRequest
from vault.errors import AuditInconsistent

STAFF = Actor(role="staff", id="desk-1")


def consent() -> ConsentRequest:
    return consent_request("lobby", method="kiosk", device="desk-1")


class Log:
    """A deployment, reopened as a new process would, with raw SQL beside it."""

    def __init__(self, root: Path, urls: Any) -> None:
        self.clock = Clock()
        self.settings = Settings(
            data_dir=root,
            database_url=urls.vault,
            keystore_url=urls.keys,
            retention_interval_seconds=0,
        )
        self.runtime: Runtime = open_runtime(self.settings, create=True, clock=self.clock)
        self.n = 0

    def reopen(self) -> Runtime:
        self.runtime.close()
        self.runtime = open_runtime(self.settings, clock=self.clock)
        return self.runtime

    @property
    def audit(self) -> Any:
        return self.runtime.vault.audit

    def enrol(self) -> str:
        self.n += 1
        name = f"guest-{self.n}"
        self.runtime.vault.enroll([[0.01 * self.n] * 128], consent(), actor=STAFF, customer_id=name)
        self.clock.advance(minutes=1)
        return name

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        return query(self.settings.vault_url(), statement, params)

    def rewrite_event(self, seq: int) -> None:
        """Change an event's text and recompute its leaf hash, as a careful forger would."""
        (leaf,) = self.sql("SELECT leaf FROM audit_events WHERE seq = :s", s=seq)[0]
        event = json.loads(leaf)
        event["actor"] = {"role": "staff", "id": "someone-else"}
        forged = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(b"\x00" + forged.encode()).digest()
        self.sql(
            "UPDATE audit_events SET leaf = :l, leaf_hash = :h WHERE seq = :s",
            l=forged,
            h=digest,
            s=seq,
        )

    def heads(self) -> list[int]:
        return [r[0] for r in self.sql("SELECT tree_size FROM tree_heads ORDER BY tree_size")]


@pytest.fixture
def log(tmp_path: Path, db_urls: Any) -> Any:
    made = Log(tmp_path / "data", db_urls)
    yield made
    made.runtime.close()


def test_the_log_grows_and_each_head_is_kept_outside_the_database(log) -> None:
    log.enrol()
    first = log.audit.sign_head()
    log.enrol()
    log.enrol()
    second = log.audit.sign_head()
    assert second.tree_size > first.tree_size
    kept = json.loads(log.settings.audit_anchor_path().read_text())
    assert kept["tree_size"] == second.tree_size and kept["root_hash"] == second.root_hash
    assert log.settings.audit_anchor_path().stat().st_mode & 0o077 == 0
    log.reopen()  # a new process: the anchor file and the stored head carry over
    log.enrol()
    assert log.audit.sign_head().tree_size == log.audit.size() > second.tree_size


@pytest.mark.parametrize("heads_dropped", [True, False], ids=["heads dropped", "heads kept"])
def test_a_rewritten_history_is_refused_after_a_restart(log, heads_dropped, caplog) -> None:
    for _ in range(3):
        log.enrol()
    signed = log.audit.sign_head()
    log.enrol()
    log.runtime.close()
    log.rewrite_event(1)
    if heads_dropped:
        log.sql("DELETE FROM tree_heads")
    log.reopen()
    caplog.set_level(logging.CRITICAL, logger="facekeep.audit")
    with pytest.raises(AuditInconsistent):
        log.audit.sign_head()
    assert log.audit.alarms == 1
    assert any("ALARM" in r.getMessage() for r in caplog.records)
    # Nothing was signed over the new history.
    assert log.heads() == ([] if heads_dropped else [signed.tree_size])
    kept = json.loads(log.settings.audit_anchor_path().read_text())
    assert kept["root_hash"] == signed.root_hash


def test_with_the_anchor_file_gone_the_stored_head_still_guards(log) -> None:
    for _ in range(3):
        log.enrol()
    log.audit.sign_head()
    log.runtime.close()
    log.settings.audit_anchor_path().unlink()
    log.rewrite_event(0)
    log.reopen()
    with pytest.raises(AuditInconsistent):
        log.audit.sign_head()


def test_a_forged_stored_head_is_refused(log) -> None:
    log.enrol()
    log.audit.sign_head()
    log.enrol()
    log.runtime.close()
    log.settings.audit_anchor_path().unlink()
    size = log.sql("SELECT count(*) FROM audit_events")[0][0]
    (root, key_id, signature) = log.sql(
        "SELECT root_hash, key_id, signature FROM tree_heads ORDER BY tree_size DESC"
    )[0]
    log.sql(
        "INSERT INTO tree_heads (tree_size, root_hash, timestamp, key_id, signature) "
        "VALUES (:n, :r, :t, :k, :s)",
        n=size,
        r="00" * 32,
        t=log.clock.now.replace(tzinfo=None),
        k=key_id,
        s=signature,
    )
    log.reopen()
    with pytest.raises(AuditInconsistent):
        log.audit.sign_head()
    assert root != "00" * 32


def test_a_shortened_log_is_refused(log) -> None:
    for _ in range(3):
        log.enrol()
    signed = log.audit.sign_head()
    log.runtime.close()
    log.sql("DELETE FROM audit_events WHERE seq >= :s", s=signed.tree_size - 2)
    log.reopen()
    with pytest.raises(AuditInconsistent):
        log.audit.sign_head()


def test_an_event_that_does_not_hash_to_its_leaf_is_never_signed_over(log) -> None:
    log.enrol()
    log.audit.sign_head()
    log.enrol()
    last = log.sql("SELECT max(seq) FROM audit_events")[0][0]
    log.sql(
        "UPDATE audit_events SET leaf = :l WHERE seq = :s",
        l='{"action":"nothing happened"}',
        s=last,
    )
    with pytest.raises(AuditInconsistent):
        log.audit.sign_head()


def test_an_erasure_still_completes_while_signing_is_refused(log) -> None:
    name = log.enrol()
    log.enrol()
    log.audit.sign_head()
    log.runtime.close()
    log.rewrite_event(0)
    log.reopen()
    erased = log.runtime.vault.erase(name, reason="customer request", actor=STAFF)
    assert erased.key_ids and erased.receipt is not None
    assert log.audit.alarms == 1
    assert log.runtime.keys.record(name).state == "destroyed"


def test_an_export_is_still_written_and_fails_verification(log, tmp_path) -> None:
    from vault.audit.export import export_audit
    from vault.audit.verify import verify_export

    for _ in range(3):
        log.enrol()
    log.audit.sign_head()
    log.runtime.close()
    log.rewrite_event(1)
    log.reopen()
    out = tmp_path / "export"
    manifest = export_audit(log.audit, log.runtime.keys, out)
    report = verify_export(out).to_json()
    assert report["verdict"] != "PASS"
    assert manifest["tree_size"] == log.heads()[-1]
