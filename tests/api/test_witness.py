"""``facekeep audit witness``: an auditor keeps every signed head the service shows, each
linked to the one before by a verified consistency proof, and fails loudly when the
service shows a history that does not extend what the witness kept.

The signer refuses to sign over a rewritten log while it remembers any signed head
(tests/audit/test_signed_history.py); an operator who controls the database *and* the
signer's files can make it forget. The witness, on the auditor's machine, cannot be made
to forget: that is the case tested here.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

import pytest

from api.witness import ALARM, HEADS, Witness, WitnessAlarm, cosignature_message, load_cosigner
from keys.signing import verify_signature
from tests.storage import query
from vault.audit.log import head_from_json
from vault.audit.merkle import verify_consistency

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

VENUE = "hcm-1"


def auditor_client(svc: Any) -> TestClient:
    """HTTP to the running service as an auditor (what the witness sends)."""
    return TestClient(svc.app, headers=svc.auditor.headers, raise_server_exceptions=False)


def grow(svc: Any, n: int) -> None:
    for _ in range(n):
        svc.key("kiosk", venue=VENUE, purposes=("checkin",))


def test_the_witness_keeps_every_head_linked_by_a_proof(make_service, tmp_path) -> None:
    svc = make_service()
    state = tmp_path / "witness"
    witness = Witness(state, auditor_client(svc), cosigner=load_cosigner(tmp_path / "w.key"))
    first = witness.poll()
    assert first.new and first.cosigned
    grow(svc, 3)
    second = witness.poll()
    assert second.new and second.head.tree_size > first.head.tree_size
    again = witness.poll()
    assert not again.new and again.head.root_hash == second.head.root_hash
    grow(svc, 1)
    witness.poll()

    # The kept chain checks again offline: every head follows from the one before.
    records = [json.loads(p.read_text()) for p in sorted((state / HEADS).glob("*.json"))]
    assert len(records) == 3
    for before, after in itertools.pairwise(records):
        old, new = head_from_json(before["head"]), head_from_json(after["head"])
        assert after["previous_size"] == old.tree_size
        verify_consistency(
            old.tree_size,
            new.tree_size,
            bytes.fromhex(old.root_hash),
            bytes.fromhex(new.root_hash),
            [bytes.fromhex(p) for p in after["consistency_proof"]],
        )
    # Each head carries the witness's own cosignature.
    cosigner = load_cosigner(tmp_path / "w.key")
    for record in records:
        cosignature = record["cosignature"]
        assert cosignature["witness_key_id"] == cosigner.key_id
        verify_signature(
            cosigner.public_bytes,
            base64.b64decode(cosignature["signature"]),
            cosignature_message(head_from_json(record["head"])),
        )
    assert not (state / ALARM).exists()
    assert all(p.stat().st_mode & 0o077 == 0 for p in state.rglob("*") if p.is_file())


@pytest.mark.parametrize("history", ["rewritten", "truncated"])
def test_the_witness_catches_a_history_the_signer_was_made_to_forget(
    embedder, tmp_path, db_urls, history
) -> None:
    from tests.api.conftest import Service

    root = tmp_path / "data"
    svc = Service(root, embedder, db_urls)
    grow(svc, 4)
    state = tmp_path / "witness"
    witness = Witness(state, auditor_client(svc))
    kept = witness.poll().head
    svc.close()

    # The operator, holding the database and the data directory, rewrites an old event
    # (recomputing its leaf hash) or cuts the log short, and deletes every signed head.
    url = svc.settings.vault_url()
    if history == "rewritten":
        (leaf,) = query(url, "SELECT leaf FROM audit_events WHERE seq = 1")[0]
        event = json.loads(leaf)
        event["actor"] = {"role": "admin", "id": "someone-else"}
        forged = json.dumps(event, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(b"\x00" + forged.encode()).digest()
        query(
            url,
            "UPDATE audit_events SET leaf = :l, leaf_hash = :h WHERE seq = 1",
            {"l": forged, "h": digest},
        )
    else:
        query(url, "DELETE FROM audit_events WHERE seq >= :s", {"s": kept.tree_size - 2})
    query(url, "DELETE FROM tree_heads")
    svc.settings.audit_anchor_path().unlink()

    restarted = Service(root, embedder, db_urls)  # a new process: it signs what it finds
    grow(restarted, 1)
    witness = Witness(state, auditor_client(restarted))
    with pytest.raises(WitnessAlarm) as caught:
        witness.poll()
    alarm = json.loads((state / ALARM).read_text())
    assert alarm["alarm"] == "audit_inconsistent" and alarm["why"] == str(caught.value)
    # What the witness kept is untouched: the evidence of the earlier history.
    assert head_from_json(json.loads((state / "latest.json").read_text())["head"]) == kept
    restarted.close()


def test_the_witness_command_against_a_running_server(
    tmp_path, serve, facekeep_bin, subprocess_env, db_urls
) -> None:
    env = {"FACEKEEP_DATABASE_URL": db_urls.vault, "FACEKEEP_KEYSTORE_URL": db_urls.keys}
    data = tmp_path / "data"

    def cli(*args: str, ok: bool = True) -> dict[str, Any]:
        done = subprocess.run(
            [str(facekeep_bin), *args],
            capture_output=True,
            text=True,
            env=subprocess_env(**env),
            timeout=120,
        )
        assert (done.returncode == 0) == ok, (done.stdout, done.stderr)
        value: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return value

    cli("init", "--data-dir", str(data))
    auditor = cli("keys", "create-auditor", "--data-dir", str(data))["key"]
    server = serve(data, **env)
    state = tmp_path / "witness"
    watch = ("audit", "witness", "--url", server.url, "--key", auditor, "--state", str(state))
    first = cli(*watch)
    assert first["new"] and first["consistent"]
    cli("keys", "create-kiosk", "--venue", VENUE, "--purpose", "checkin", "--data-dir", str(data))
    second = cli(*watch, "--count", "2", "--interval", "0.1")
    assert second["tree_size"] > first["tree_size"]
    # A head that does not verify under the pinned key is an alarm, and the exit non-zero.
    other = tmp_path / "other.pem"
    other.write_text(base64.b64encode(b"\x01" * 32).decode())
    failed = cli(*watch, "--pubkey", str(other), ok=False)
    assert failed["error"] == "audit_inconsistent"
    assert (state / ALARM).exists()
    assert Path(state / "audit-pubkey.pem").exists()
