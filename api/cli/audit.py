"""``facekeep audit``: signed tree heads, proofs, export, offline verification, and the
auditor's witness."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from api.cli.common import CliError, cli_runtime, data_dir_option, emit
from api.runtime import Runtime
from vault.audit import AuditLog, TreeHead

__all__ = ["audit_group"]


@click.group(name="audit")
def audit_group() -> None:
    """Audit log: signed tree heads, proofs, export and offline verification."""


def _audit_log(runtime: Runtime) -> AuditLog:
    assert runtime.vault.audit is not None
    return runtime.vault.audit


@contextmanager
def _signed_log(data_dir: Path | None) -> Iterator[tuple[AuditLog, TreeHead]]:
    """The audit log and its latest tree head, signed now if the log grew."""
    with cli_runtime(data_dir) as runtime:
        log = _audit_log(runtime)
        yield log, log.sign_head()


@audit_group.command("pubkey")
@data_dir_option
def audit_pubkey(data_dir: Path | None) -> None:
    """Print the audit public key (PEM) that verifies tree heads and receipts."""
    with cli_runtime(data_dir, start=False) as runtime:
        signer = runtime.vault.signer
        assert signer is not None
        emit({"key_id": signer.key_id, "alg": "Ed25519", "public_key_pem": signer.public_pem()})


@audit_group.command("head")
@data_dir_option
def audit_head(data_dir: Path | None) -> None:
    """Sign (if the log grew) and print the latest tree head."""
    with _signed_log(data_dir) as (_, head):
        emit(head.to_json())


@audit_group.command("prove-inclusion")
@data_dir_option
@click.option("--index", type=click.IntRange(min=0), required=True)
@click.option("--size", type=click.IntRange(min=1), default=None, help="Default: latest head.")
def audit_prove_inclusion(data_dir: Path | None, index: int, size: int | None) -> None:
    """Inclusion proof of one entry in a tree size."""
    with _signed_log(data_dir) as (log, head):
        size = size or head.tree_size
        if index >= size or size > log.size():
            raise CliError("invalid_request", "index must be < size <= the log size")
        leaf, leaf_hash = log.leaf(index)
        emit(
            {
                "index": index,
                "tree_size": size,
                "leaf": leaf,
                "leaf_hash": leaf_hash,
                "proof": log.inclusion_proof(index, size),
                "root_hash": log.tree().root(size).hex(),
                "head": head.to_json() if head.tree_size == size else None,
            }
        )


@audit_group.command("prove-consistency")
@data_dir_option
@click.option("--first", type=click.IntRange(min=0), required=True)
@click.option("--second", type=click.IntRange(min=1), default=None, help="Default: latest.")
def audit_prove_consistency(data_dir: Path | None, first: int, second: int | None) -> None:
    """Consistency proof between two tree sizes."""
    with _signed_log(data_dir) as (log, head):
        second = second or head.tree_size
        if first > second or second > log.size():
            raise CliError("invalid_request", "need first <= second <= the log size")
        tree = log.tree()
        emit(
            {
                "first": first,
                "second": second,
                "first_root": tree.root(first).hex(),
                "second_root": tree.root(second).hex(),
                "proof": log.consistency_proof(first, second),
            }
        )


@audit_group.command("export")
@data_dir_option
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
def audit_export(data_dir: Path | None, out: Path) -> None:
    """Write the log, tree heads, receipts, key states and public key to a folder."""
    from vault.audit.export import export_audit

    with cli_runtime(data_dir) as runtime:
        manifest = export_audit(_audit_log(runtime), runtime.keys, out)
    emit({"out": out, **manifest})


@audit_group.command("verify")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--pubkey", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--since-head",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A tree head saved earlier (JSON): the log must extend it.",
)
def audit_verify(directory: Path, pubkey: Path | None, since_head: Path | None) -> None:
    """Verify an export offline; exits non-zero on any failed check."""
    from keys.signing import load_public_key
    from vault.audit.verify import verify_export

    key = load_public_key(pubkey.read_text()) if pubkey else None
    saved = json.loads(since_head.read_text()) if since_head else None
    if saved is not None and isinstance(saved.get("head"), dict):
        saved = saved["head"]  # a manifest.json from an earlier export
    report = verify_export(directory, pubkey=key, since_head=saved)
    emit(report.to_json())
    if not report.ok:
        sys.exit(1)


@audit_group.command("witness")
@click.option("--url", required=True, help="The facekeep service, e.g. https://vault.example")
@click.option("--key", required=True, envvar="FACEKEEP_AUDITOR_KEY", help="An auditor key.")
@click.option(
    "--state",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="This witness's folder: the heads it kept, the pinned key, any ALARM.json.",
)
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The audit public key to pin (PEM or base64); default: the one served at the "
    "first run, pinned from then on.",
)
@click.option(
    "--cosign",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Cosign each accepted head with this Ed25519 key file (made if missing).",
)
@click.option(
    "--count", type=click.IntRange(0), default=1, show_default=True, help="Polls; 0: forever."
)
@click.option("--interval", type=click.FloatRange(0.1), default=60.0, show_default=True)
def witness_command(
    url: str,
    key: str,
    state: Path,
    pubkey: Path | None,
    cosign: Path | None,
    count: int,
    interval: float,
) -> None:
    """Poll the service's signed tree head, check it against the heads kept here with a
    consistency proof, and keep it; exits non-zero on any inconsistency."""
    import time

    import httpx

    from api.witness import Witness, WitnessAlarm, load_cosigner
    from keys.signing import load_public_key

    pinned = load_public_key(pubkey.read_text()) if pubkey else None
    cosigner = load_cosigner(cosign) if cosign else None
    headers = {"Authorization": f"Bearer {key}"}
    polls = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        try:
            witness = Witness(state, client, pubkey=pinned, cosigner=cosigner)
            while True:
                emit(witness.poll().to_json())
                polls += 1
                if count and polls >= count:
                    break
                time.sleep(interval)
        except WitnessAlarm as exc:
            raise CliError("audit_inconsistent", str(exc)) from None
        except httpx.HTTPError as exc:
            raise CliError("witness_unreachable", f"{type(exc).__name__}: {exc}") from None
