"""``facekeep audit witness``: an auditor's own record of the signed tree heads.

Run by an auditor on their own machine, outside the operator's control. Each poll asks
the service for its latest signed head (``GET /v1/audit/head``, with the auditor key),
checks its signature against the pinned audit public key, and, when the log grew, asks
for a consistency proof from the last head kept here and verifies it. Every head is kept
in the state folder with the proof that links it to the one before, so the whole chain
can be checked again later. Any inconsistency (a head that does not verify, a log that
shrank, the same size with another root, a proof that fails) is reported as
``audit_inconsistent`` with a non-zero exit and written to ``ALARM.json``: the operator
has rewritten history, or shown this witness another log than before.

With ``--cosign KEYFILE`` the witness also signs each head it accepted with its own
Ed25519 key (in the style of transparency-log witness cosignatures), and keeps the
cosignature beside the head; ``witness-pubkey.pem`` is what others pin to check it.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from keys.signing import Ed25519Signer
from vault.audit import canonical_json
from vault.audit.log import TreeHead, check_head_signature, head_from_json
from vault.audit.merkle import ProofError, verify_consistency
from vault.audit.signing import SignatureInvalid, load_public_key, public_key_id

HEADS = "heads"
LATEST = "latest.json"
PUBKEY = "audit-pubkey.pem"
ALARM = "ALARM.json"
COSIGN_LABEL = b"facekeep-witness-cosignature/v1\n"


class WitnessAlarm(Exception):
    """The log the service shows is not consistent with what this witness kept."""


@dataclass
class Observation:
    """One poll: the head seen and what the witness did with it."""

    head: TreeHead
    new: bool
    cosigned: bool

    def to_json(self) -> dict[str, Any]:
        """JSON line printed per poll."""
        return {
            "tree_size": self.head.tree_size,
            "root_hash": self.head.root_hash,
            "timestamp": self.head.timestamp.isoformat(),
            "new": self.new,
            "consistent": True,
            "cosigned": self.cosigned,
        }


def cosignature_message(head: TreeHead) -> bytes:
    """What a witness signs: a label, then the head's signed content and signature."""
    body = {**head.signed_body(), "signature": head.signature}
    return COSIGN_LABEL + canonical_json(body).encode("utf-8")


class Witness:
    """Polls one facekeep service and keeps its heads in ``state``."""

    def __init__(
        self,
        state: Path,
        client: httpx.Client,
        *,
        pubkey: bytes | None = None,
        cosigner: Ed25519Signer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.state = state
        self.client = client
        self.cosigner = cosigner
        self._clock = clock
        (state / HEADS).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.pubkey = self._pin(pubkey)

    def _pin(self, given: bytes | None) -> bytes:
        """The audit key: given, or pinned at the first run (trust on first use) and the
        same at every later run."""
        pinned_path = self.state / PUBKEY
        pinned = load_public_key(pinned_path.read_text()) if pinned_path.exists() else None
        if given is None and pinned is None:
            served = self._get("/.well-known/facekeep-audit-key")
            given = load_public_key(served["public_key_pem"])
        key = given if given is not None else pinned
        assert key is not None
        if pinned is not None and pinned != key:
            self._raise(
                f"the audit key {public_key_id(key)} is not the pinned {public_key_id(pinned)}"
            )
        if pinned is None:
            _write(pinned_path, base64.b64encode(key).decode() + "\n")
        return key

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params or None)
        if response.status_code >= 400:
            body = response.text[:300]
            if response.status_code == 500 and "audit_inconsistent" in body:
                self._raise(f"the service refuses to sign: {body}")
            raise httpx.HTTPStatusError(
                f"{path} answered {response.status_code}: {body}",
                request=response.request,
                response=response,
            )
        value: dict[str, Any] = response.json()
        return value

    def latest(self) -> TreeHead | None:
        """The last head this witness accepted."""
        path = self.state / LATEST
        return head_from_json(json.loads(path.read_text())["head"]) if path.exists() else None

    def poll(self) -> Observation:
        """Fetch, check and keep the service's latest head; raises :class:`WitnessAlarm`."""
        head = head_from_json(self._get("/v1/audit/head"))
        try:
            check_head_signature(head, self.pubkey)
        except (SignatureInvalid, ValueError):
            self._raise(f"the head at size {head.tree_size} is not signed by the pinned key")
        last = self.latest()
        proof: list[str] = []
        if last is not None:
            if head.tree_size < last.tree_size:
                self._raise(f"the log shrank from {last.tree_size} to {head.tree_size} entries")
            if head.tree_size == last.tree_size:
                if head.root_hash != last.root_hash:
                    self._raise(f"two roots for size {head.tree_size}")
                return Observation(head, new=False, cosigned=False)
            proof = self._proof(last, head)
        cosignature = None
        if self.cosigner is not None:
            signature = self.cosigner.sign(cosignature_message(head))
            cosignature = {
                "witness_key_id": self.cosigner.key_id,
                "alg": "Ed25519",
                "signature": base64.b64encode(signature).decode(),
            }
        record = {
            "head": head.to_json(),
            "seen_at": self._clock().isoformat(),
            "previous_size": last.tree_size if last is not None else None,
            "consistency_proof": proof,
            "cosignature": cosignature,
        }
        _write(self.state / HEADS / f"{head.tree_size:012d}.json", json.dumps(record, indent=1))
        _write(self.state / LATEST, json.dumps(record, indent=1))
        return Observation(head, new=True, cosigned=cosignature is not None)

    def _proof(self, last: TreeHead, head: TreeHead) -> list[str]:
        served = self._get(
            "/v1/audit/proofs/consistency", first=last.tree_size, second=head.tree_size
        )
        if served.get("first_root") != last.root_hash:
            self._raise(f"the root of size {last.tree_size} changed since this witness kept it")
        if served.get("second_root") != head.root_hash:
            self._raise(f"the proof is for another root of size {head.tree_size}")
        proof = [str(p) for p in served.get("proof", [])]
        try:
            verify_consistency(
                last.tree_size,
                head.tree_size,
                bytes.fromhex(last.root_hash),
                bytes.fromhex(head.root_hash),
                [bytes.fromhex(p) for p in proof],
            )
        except (ProofError, ValueError) as exc:
            self._raise(
                f"size {head.tree_size} does not extend the kept size {last.tree_size}: {exc}"
            )
        return proof

    def _raise(self, why: str) -> None:
        alarm = {"alarm": "audit_inconsistent", "why": why, "at": self._clock().isoformat()}
        _write(self.state / ALARM, json.dumps(alarm, indent=1))
        raise WitnessAlarm(why)


def load_cosigner(path: Path) -> Ed25519Signer:
    """The witness's own Ed25519 key (made, 0600, at first use)."""
    return Ed25519Signer.load_or_create(path)


def _write(path: Path, text: str) -> None:
    """Write a whole file (0600), replacing it atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
