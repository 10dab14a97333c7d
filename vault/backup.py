"""Backups of a deployment's two stores, and restores that keep the erasure promise.

A backup is a folder: ``vault.db`` and ``keys.db`` (SQLite files holding every table of
each store with its migration revision, whatever engine the deployment runs on) and a
``manifest.json`` naming the KEK provider and epoch the key store was wrapped under, the
key store's id, the audit log's size and root, and each file's SHA-256. Each store is
read in one snapshot transaction; the vault is read before the key store, so a customer
enrolled in between has a key but no row (harmless), and one erased in between has a row
but no key (unreadable, and erased again by :func:`reapply_erasures`).

Neither the KEK nor the audit signing key is in a backup: a backup that carried the KEK
would bring erased customers back for as long as it is kept.

A restored vault is marked: it refuses to serve until :func:`reapply_erasures` has
re-applied every erasure (and withdrawal) recorded after the backup, taken from an audit
export or an auditor's witness copy made later, which must verify under the deployment's
audit key and extend the restored log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    inspect,
    select,
)

from dbkit import schema as migrations
from keys import KeyStore
from keys.schema import MIGRATIONS as KEYS_MIGRATIONS
from keys.store import data_keys, new_store_identity, store_identity
from keys.store import metadata as keys_metadata
from vault.audit import Actor
from vault.audit.export import HEADS, KEY_STATES, LOG
from vault.audit.merkle import leaf_hash
from vault.deployment import (
    clear_restore_pending,
    mark_restore_pending,
    recorded_audit_key,
    restore_pending,
)
from vault.errors import CustomerNotFound, InvalidRequest, VaultError
from vault.models import audit_events, customers
from vault.models import metadata as vault_metadata

FORMAT = "facekeep-backup/1"
MANIFEST = "manifest.json"
VAULT_FILE = "vault.db"
KEYS_FILE = "keys.db"
ROWS_PER_STEP = 5_000
RESTORE_ACTOR = Actor(role="system", id="restore-check")

__all__ = ["BackupError", "Reapplied", "reapply_erasures", "restore_backup", "take_backup"]


class BackupError(VaultError):
    """A backup cannot be taken or restored as asked."""

    code = "backup_refused"


@dataclass(frozen=True)
class Reapplied:
    """What :func:`reapply_erasures` did."""

    witness_tree_size: int
    backup_tree_size: int
    erased: tuple[str, ...]
    revoked: tuple[tuple[str, str], ...]
    audit_seq: int | None


# -- taking ------------------------------------------------------------------------------


def take_backup(
    vault_engine: Engine,
    keys: KeyStore,
    out: Path,
    *,
    vault_migrations: Path,
    now: datetime,
    audit_root: str | None = None,
) -> dict[str, Any]:
    """Write a consistent backup of both stores into ``out`` (new or empty) and return
    its manifest."""
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty: a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The vault first, then the key store (see the module docstring).
    vault_info = _snapshot(
        vault_engine,
        vault_metadata,
        migrations.version_table(vault_migrations),
        out / VAULT_FILE,
    )
    keys_info = _snapshot(
        keys.engine,
        keys_metadata,
        migrations.version_table(KEYS_MIGRATIONS),
        out / KEYS_FILE,
    )
    with _open_file(out / VAULT_FILE) as conn:
        tree_size = int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())
    with _open_file(out / KEYS_FILE) as conn:
        epochs = sorted(
            {int(e) for e in conn.execute(select(data_keys.c.kek_epoch).distinct()).scalars()}
        )
    manifest = {
        "format": FORMAT,
        "taken_at": now.isoformat(),
        "vault": vault_info | {"file": VAULT_FILE, "audit_tree_size": tree_size},
        "keystore": keys_info
        | {
            "file": KEYS_FILE,
            "store_id": keys.store_id,
            "kek_provider": keys.kek.name,
            "kek_epoch": keys.kek.current_epoch(),
            "kek_epochs_in_use": epochs,
        },
        "audit_root_at_backup": audit_root,
        "not_included": [
            "the KEK (kept by its provider; its own backups must expire within a rotation "
            "period, or they undo crypto-shredding)",
            "the audit signing key (DATA_DIR/audit/signing-ed25519.key, or in the HSM)",
        ],
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    for path in out.iterdir():
        os.chmod(path, 0o600)
    return manifest


def _snapshot(engine: Engine, metadata: MetaData, version_table: str, dest: Path) -> dict[str, Any]:
    """Copy every table of ``metadata`` and the migration version table from one snapshot
    of ``engine`` into a new SQLite file; returns its revision, row counts and digest."""
    target = create_engine(f"sqlite:///{dest}")
    counts: dict[str, int] = {}
    try:
        copy = MetaData()
        tables = [t.to_metadata(copy) for t in metadata.sorted_tables]
        version = Table(version_table, copy, _version_column())
        copy.create_all(target)
        with engine.connect() as source:
            _snapshot_transaction(source)
            revision = source.execute(
                select(Table(version_table, MetaData(), _version_column()).c.version_num)
            ).scalar_one_or_none()
            with target.begin() as out:
                if revision is not None:
                    out.execute(insert(version).values(version_num=revision))
                for table in tables:
                    counts[table.name] = _copy_rows(source, out, metadata.tables[table.name], table)
            source.rollback()
    finally:
        target.dispose()
    return {"revision": revision, "rows": counts, "sha256": _sha256(dest)}


def _version_column() -> Any:
    from sqlalchemy import Column

    return Column("version_num", String(32), primary_key=True)


def _snapshot_transaction(conn: Connection) -> None:
    """Begin a transaction that sees one consistent state of the whole database."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    # SQLite (WAL): a read transaction sees the database as of its first read.
    conn.execute(select(1))


def _copy_rows(source: Connection, out: Connection, table: Table, target: Table) -> int:
    names = [c.name for c in table.columns]
    count = 0
    result = source.execution_options(yield_per=ROWS_PER_STEP).execute(select(table))
    for chunk in result.partitions(ROWS_PER_STEP):
        rows = [dict(zip(names, row, strict=True)) for row in chunk]
        out.execute(insert(target), rows)
        count += len(rows)
    return count


def _open_file(path: Path) -> Any:
    engine = create_engine(f"sqlite:///{path}")

    class _Conn:
        def __enter__(self) -> Connection:
            self.conn = engine.connect()
            return self.conn

        def __exit__(self, *exc: object) -> None:
            self.conn.close()
            engine.dispose()

    return _Conn()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- restoring ---------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a backup folder, its files checked against their digests."""
    try:
        manifest = dict(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} holds no readable backup manifest ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{folder} is not a facekeep backup ({manifest.get('format')!r})")
    for part in ("vault", "keystore"):
        path = folder / manifest[part]["file"]
        if not path.is_file() or _sha256(path) != manifest[part]["sha256"]:
            raise BackupError(f"{path} is missing or does not match the manifest's SHA-256")
    return manifest


def restore_backup(
    folder: Path,
    *,
    vault_engine: Engine,
    keys_engine: Engine,
    vault_migrations: Path,
    keep_identity: bool,
) -> dict[str, Any]:
    """Put a backup into empty stores, mark the vault as restored (it refuses to serve
    until :func:`reapply_erasures`), and give the key store a new id unless
    ``keep_identity`` (the copy then replaces the original for good)."""
    manifest = read_manifest(folder)
    for part, engine, metadata, folder_of, must_be_empty in (
        ("vault", vault_engine, vault_metadata, vault_migrations, customers),
        ("keystore", keys_engine, keys_metadata, KEYS_MIGRATIONS, data_keys),
    ):
        revision = manifest[part]["revision"]
        _refuse_if_used(engine, must_be_empty, part)
        if revision is not None and migrations.current_revision(folder_of, engine) is None:
            # Rows go into the schema they were taken from; later migrations then run.
            migrations.upgrade(folder_of, engine, revision)
        _load_rows(folder / manifest[part]["file"], engine, metadata)
        migrations.upgrade(folder_of, engine)
    store_id = store_identity(keys_engine) if keep_identity else new_store_identity(keys_engine)
    assert store_id is not None
    details = {
        "taken_at": manifest["taken_at"],
        "tree_size": manifest["vault"]["audit_tree_size"],
        "backup_store_id": manifest["keystore"]["store_id"],
        "store_id": store_id,
        "as": "original" if keep_identity else "drill",
    }
    mark_restore_pending(vault_engine, details)
    return {"manifest": manifest, "restored": details}


def _refuse_if_used(engine: Engine, table: Table, part: str) -> None:
    if not inspect(engine).has_table(table.name):
        return
    with engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(table)).scalar_one():
            raise BackupError(
                f"the {part} database is not empty: restore into new, empty databases "
                "(a drill never runs on production's databases)"
            )


def _load_rows(path: Path, engine: Engine, metadata: MetaData) -> None:
    source = create_engine(f"sqlite:///{path}")
    try:
        present = set(inspect(source).get_table_names())
        with source.connect() as src, engine.begin() as out:
            for table in metadata.sorted_tables:
                if table.name not in present:
                    continue  # added by a later migration than the backup's
                # Read through the declared columns (their types: timestamps come back
                # timezone-aware), of those the backup has.
                stored = {c["name"] for c in inspect(src).get_columns(table.name)}
                columns = [c.name for c in table.columns if c.name in stored]
                result = src.execution_options(yield_per=ROWS_PER_STEP).execute(
                    select(*[table.c[name] for name in columns])
                )
                for chunk in result.partitions(ROWS_PER_STEP):
                    out.execute(
                        insert(table), [dict(zip(columns, row, strict=True)) for row in chunk]
                    )
    finally:
        source.dispose()


# -- re-applying what happened after the backup --------------------------------------------


def reapply_erasures(vault: Any, witness: Path, *, verify: Any) -> Reapplied:
    """Re-apply to a restored vault every erasure and withdrawal recorded after its
    backup, from ``witness`` (an audit export or an auditor's witness copy taken later),
    then let the vault serve again.

    The witness must verify under the deployment's recorded audit key (``verify``:
    :func:`vault.audit.verify.verify_export`) and its log must extend the restored one: the same
    leaves up to the backup's size. Refused otherwise, and nothing is changed.
    """
    pending = restore_pending(vault.engine)
    if pending is None:
        raise BackupError("this vault is not a restored backup awaiting restore-check")
    pubkey = recorded_audit_key(vault.engine)
    report = verify(witness, pubkey=pubkey, since_head=None)
    if not report.ok:
        raise BackupError(
            f"the witness copy {witness} does not verify under this deployment's audit key"
        )
    signed_at = _latest_head_time(witness)
    if signed_at is None or signed_at <= datetime.fromisoformat(pending["taken_at"]):
        raise BackupError(
            "the witness copy was signed before the backup was taken: it cannot say what "
            "happened after it; use an export or witness copy taken after the backup"
        )
    leaves = _witness_leaves(witness)
    size = int(pending["tree_size"])
    with vault.engine.connect() as conn:
        ours = list(
            conn.execute(
                select(audit_events.c.leaf_hash)
                .where(audit_events.c.seq < size)
                .order_by(audit_events.c.seq)
            ).scalars()
        )
    theirs = [leaf_hash(leaf.encode("utf-8")) for leaf in leaves[:size]]
    if len(leaves) < size or [bytes(h) for h in ours] != theirs:
        raise BackupError(
            "the witness copy does not extend this backup's audit log (another deployment's, "
            "or older than the backup): use an export or witness copy taken after the backup"
        )
    erase, revoke = _later_changes(leaves[size:], witness)
    erased: list[str] = []
    for customer_id in erase:
        try:
            result = vault.erase(
                customer_id, reason="erased after the backup; re-applied", actor=RESTORE_ACTOR
            )
        except CustomerNotFound:
            continue  # enrolled after the backup: not in it
        if not result.already_erased:
            erased.append(customer_id)
    revoked: list[tuple[str, str]] = []
    for customer_id, purpose in revoke:
        if customer_id in erase:
            continue
        try:
            result = vault.revoke(
                customer_id,
                purpose=None if purpose == "all" else purpose,
                actor=RESTORE_ACTOR,
                reason="re-applied after restore",
            )
        except (CustomerNotFound, InvalidRequest):
            continue
        except VaultError:
            continue  # erased meanwhile
        if result.revoked:
            revoked.append((customer_id, purpose))
    seq = vault.record_restore_check(
        {
            "backup_taken_at": pending["taken_at"],
            "backup_tree_size": size,
            "witness_tree_size": len(leaves),
            "erased": erased,
            "revoked": [list(r) for r in revoked],
        }
    )
    clear_restore_pending(vault.engine)
    return Reapplied(len(leaves), size, tuple(erased), tuple(revoked), seq)


def accept_without_witness(vault: Any, reason: str) -> int | None:
    """Let a restored vault serve with no later witness (nothing happened after the
    backup, by the operator's word), recorded in the audit log."""
    pending = restore_pending(vault.engine)
    if pending is None:
        raise BackupError("this vault is not a restored backup awaiting restore-check")
    seq: int | None = vault.record_restore_check(
        {
            "backup_taken_at": pending["taken_at"],
            "backup_tree_size": int(pending["tree_size"]),
            "witness_tree_size": None,
            "accepted_without_witness": reason,
        }
    )
    clear_restore_pending(vault.engine)
    return seq


def _latest_head_time(folder: Path) -> datetime | None:
    """When the newest signed tree head of a witness copy was signed (its signatures were
    checked by the verification before)."""
    try:
        lines = (folder / HEADS).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    times = [
        datetime.fromisoformat(json.loads(line)["timestamp"]) for line in lines if line.strip()
    ]
    return max(times, default=None)


def _witness_leaves(folder: Path) -> list[str]:
    try:
        text = (folder / LOG).read_text(encoding="utf-8")
    except OSError as exc:
        raise BackupError(f"no audit log ({LOG}) in {folder}: {exc.strerror}") from None
    return [line for line in text.splitlines() if line.strip()]


def _later_changes(leaves: Sequence[str], folder: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """Customers erased, and (customer, purpose) withdrawn, in the leaves after the
    backup; plus customers whose key the witness lists as destroyed."""
    erase: dict[str, None] = {}
    revoke: list[tuple[str, str]] = []
    for leaf in leaves:
        event = json.loads(leaf)
        customer = event.get("customer")
        if not customer:
            continue
        action = str(event.get("action", ""))
        if action.startswith("erase"):
            erase[customer] = None
        elif action == "consent.revoke":
            revoke.append((customer, str(event.get("details", {}).get("purpose", "all"))))
    states = folder / KEY_STATES
    if states.is_file():
        for line in states.read_text(encoding="utf-8").splitlines():
            if line.strip():
                state = json.loads(line)
                if state.get("state") == "destroyed" and state.get("customer"):
                    erase[state["customer"]] = None
    return list(erase), revoke
