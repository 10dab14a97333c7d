"""``facekeep backup``, ``restore`` and ``restore-check``: backups that keep the erasure
promise (see the README's runbook and :mod:`vault.backup`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from api.cli.common import CliError, cli_runtime, emit, load_settings
from api.cli.common import plain_data_dir_option as data_dir_option
from api.runtime import VAULT_MIGRATIONS
from dbkit import make_engine

__all__ = ["backup_command", "restore_check_command", "restore_command"]


@click.command("backup")
@data_dir_option()
@click.option(
    "--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="A new folder."
)
def backup_command(data_dir: Path | None, out: Path) -> None:
    """A consistent backup of both stores, with a manifest naming the KEK epoch (the KEK
    and the audit signing key are never in it)."""
    from vault.backup import take_backup

    with cli_runtime(data_dir, start=False, restoring=True) as runtime:
        audit = runtime.vault.audit
        root = audit.sign_head().root_hash if audit is not None else None
        manifest = take_backup(
            runtime.vault.engine,
            runtime.keys,
            out,
            vault_migrations=VAULT_MIGRATIONS,
            now=runtime.vault.now(),
            audit_root=root,
        )
    emit({"out": out.resolve(), **manifest})


@click.command("restore")
@data_dir_option()
@click.option(
    "--from",
    "source",
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    help="A folder written by `facekeep backup`.",
)
@click.option(
    "--drill",
    is_flag=True,
    help="A copy to practise on: its key store gets a new id, so it can read what it holds "
    "but never rotate or destroy the original's KEK epochs.",
)
@click.option(
    "--replace-original",
    is_flag=True,
    help="Disaster recovery: the copy becomes the deployment (keeps the key store's id). "
    "Only when the original is gone for good.",
)
def restore_command(
    data_dir: Path | None, source: Path, drill: bool, replace_original: bool
) -> None:
    """Restore a backup into new, empty databases. The vault then refuses to serve until
    `facekeep restore-check` has re-applied the erasures recorded after the backup."""
    from vault.backup import restore_backup

    if drill == replace_original:
        raise CliError(
            "usage",
            "say what the copy is: --drill (practice; never touches the original's KEK "
            "epochs) or --replace-original (disaster recovery)",
        )
    settings = load_settings(data_dir)
    if settings.database_url is None or settings.keystore_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.data_dir, 0o700)
    vault_engine = make_engine(settings.vault_url(), secure_delete=True)
    keys_engine = make_engine(settings.keys_url(), secure_delete=True)
    try:
        result = restore_backup(
            source,
            vault_engine=vault_engine,
            keys_engine=keys_engine,
            vault_migrations=VAULT_MIGRATIONS,
            keep_identity=replace_original,
        )
    finally:
        vault_engine.dispose()
        keys_engine.dispose()
    for path in settings.data_dir.glob("*.db*"):
        os.chmod(path, 0o600)
    # The signer's last head belongs to the log before the backup was restored: set it
    # aside (kept), or the signer would rightly refuse the restored, shorter log.
    from vault.audit.log import HeadAnchor

    retired = HeadAnchor(settings.audit_anchor_path()).retire("restore")
    manifest = result["manifest"]
    emit(
        {
            "restored": result["restored"],
            "audit_anchor_retired": str(retired) if retired else None,
            "kek_provider": manifest["keystore"]["kek_provider"],
            "kek_epoch": manifest["keystore"]["kek_epoch"],
            "next": "run `facekeep restore-check --witness DIR` with an audit export or "
            "witness copy taken after the backup; the vault refuses to serve until then",
        }
    )


@click.command("restore-check")
@data_dir_option()
@click.option(
    "--witness",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="An audit export (`facekeep audit export`) or an auditor's witness copy, taken "
    "after the backup.",
)
@click.option(
    "--no-witness",
    "reason",
    default=None,
    help="Serve without a witness, giving the reason (recorded in the audit log): only "
    "when nothing can have happened after the backup.",
)
def restore_check_command(data_dir: Path | None, witness: Path | None, reason: str | None) -> None:
    """Re-apply every erasure and withdrawal recorded after the backup, then serve."""
    from vault.audit.verify import verify_export
    from vault.backup import accept_without_witness, reapply_erasures

    if (witness is None) == (reason is None):
        raise CliError("usage", "give --witness DIR, or --no-witness REASON")
    with cli_runtime(data_dir, start=False, restoring=True) as runtime:
        if witness is not None:
            done = reapply_erasures(runtime.vault, witness, verify=verify_export)
            emit(
                {
                    "backup_tree_size": done.backup_tree_size,
                    "witness_tree_size": done.witness_tree_size,
                    "erased": list(done.erased),
                    "revoked": [list(r) for r in done.revoked],
                    "audit_seq": done.audit_seq,
                    "serving": True,
                }
            )
        else:
            assert reason is not None
            seq = accept_without_witness(runtime.vault, reason)
            emit({"accepted_without_witness": reason, "audit_seq": seq, "serving": True})
