"""The ``facekeep`` command line. Every command prints one JSON object on stdout; errors
print ``{"error": CODE, "message": ...}`` and exit non-zero."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from sqlalchemy.exc import SQLAlchemyError

from api.notices import UnknownNotice, latest_version, notice_for
from api.operations import enroll_images, match_answer, match_images
from api.runtime import Runtime, init_data_dir, open_runtime
from api.settings import Settings
from api.views import erasure_json
from enroll import EnrollError
from keys import KeysError
from vault import Actor, ConsentRequest, VaultError

F = TypeVar("F", bound=Callable[..., Any])
CLI_ACTOR = Actor(role="operator", id="cli")


class CliError(Exception):
    """An error reported as JSON with a stable code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, tuples and paths to plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return value


def emit(value: Any) -> None:
    """Print one JSON object."""
    click.echo(json.dumps(to_jsonable(value), ensure_ascii=False))


def data_dir_option(func: F) -> F:
    """Add ``--data-dir`` to a command."""
    return click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Data directory (default ./facekeep-data or FACEKEEP_DATA_DIR).",
    )(func)


def load_settings(data_dir: Path | None) -> Settings:
    """Settings from the environment, with ``--data-dir`` taking precedence."""
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def runtime_for(data_dir: Path | None, *, index: bool = False) -> Runtime:
    """Open the vault of a data directory. Only matching needs the match index (building
    it decrypts every template); other commands leave it empty."""
    return open_runtime(load_settings(data_dir), index=index)


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def read_image(path: Path) -> bytes:
    """Read an image file given on the command line."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError("file_not_readable", f"cannot read {path}: {exc.strerror}") from None


@click.group()
@click.version_option(package_name="facekeep")
def cli() -> None:
    """facekeep: a consent-first, crypto-shredding face-data vault."""


@cli.command()
@data_dir_option
def init(data_dir: Path | None) -> None:
    """Create the data directory, the key file and both databases (idempotent)."""
    settings = load_settings(data_dir)
    path = init_data_dir(settings)
    emit(
        {
            "data_dir": path.resolve(),
            "vault": shown_url(settings.vault_url()),
            "keystore": shown_url(settings.keys_url()),
        }
    )


@cli.command()
@data_dir_option
@click.option("--customer", default=None, help="Pseudonymous customer id (generated if absent).")
@click.option("--image", "images", multiple=True, required=True, type=click.Path(path_type=Path))
@click.option("--purpose", "purposes", multiple=True, required=True)
@click.option("--venue", "venues", multiple=True, required=True)
@click.option("--notice-version", default=None, help="Default: the newest notice.")
@click.option("--lang", required=True, type=click.Choice(["vi", "en"]))
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
@click.option("--method", default="staff-cli", show_default=True)
@click.option("--device", default="cli", show_default=True)
def enroll(
    data_dir: Path | None,
    customer: str | None,
    images: tuple[Path, ...],
    purposes: tuple[str, ...],
    venues: tuple[str, ...],
    notice_version: str | None,
    lang: str,
    expires_days: int | None,
    method: str,
    device: str,
) -> None:
    """Enrol a customer with explicit consent and 1-5 photos."""
    settings = load_settings(data_dir)
    notice_version = notice_version or latest_version(lang, settings.notices_dir)
    text = notice_for(settings, notice_version, lang)
    blobs = [read_image(p) for p in images]
    runtime = runtime_for(data_dir)
    try:
        now = runtime.vault.now()
        consent = ConsentRequest(
            purposes=purposes,
            venues=venues,
            notice_text=text,
            notice_version=notice_version,
            lang=lang,
            method=method,
            device=device,
            expires_at=now + timedelta(days=expires_days) if expires_days else None,
        )
        result = enroll_images(runtime, blobs, consent, actor=CLI_ACTOR, customer_id=customer)
    finally:
        runtime.close()
    e = result.enrolment
    emit(
        {
            "customer": e.customer_id,
            "consent": e.consent_id,
            "templates": len(e.template_ids),
            "key_id": e.key_id,
            "purposes": sorted(set(purposes)),
            "venues": sorted(set(venues)),
            "expires_at": consent.expires_at,
            "access_code": result.access_code,
            "receipt": e.receipt.document() if e.receipt else None,
        }
    )


@cli.command()
@data_dir_option
@click.option(
    "--image",
    "images",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A photo; give up to 5 frames of one guest to match them as one probe.",
)
@click.option("--venue", required=True)
@click.option("--purpose", default="checkin", show_default=True)
def match(data_dir: Path | None, images: tuple[Path, ...], venue: str, purpose: str) -> None:
    """Match a guest (the largest face of 1 to 5 photos of them) against consenting
    customers: prints the customer and consent, or only {"match": false}."""
    blobs = [read_image(image) for image in images]
    runtime = runtime_for(data_dir, index=True)
    try:
        hit = match_images(runtime, blobs, purpose=purpose, venue=venue, actor=CLI_ACTOR)
    finally:
        runtime.close()
    emit(match_answer(hit))


@cli.command()
@data_dir_option
@click.option("--customer", required=True)
@click.option("--purpose", default=None, help="Withdraw only this purpose (default: all).")
def revoke(data_dir: Path | None, customer: str, purpose: str | None) -> None:
    """Withdraw a customer's consent, for one purpose or all."""
    runtime = runtime_for(data_dir)
    try:
        result = runtime.vault.revoke(customer, purpose=purpose, actor=CLI_ACTOR)
    finally:
        runtime.close()
    emit(
        {
            "customer": customer,
            "revoked": [{"consent": c, "purpose": p} for c, p in result.revoked],
            "purpose": purpose or "all",
        }
    )


@cli.command()
@data_dir_option
@click.option("--customer", required=True)
@click.option("--reason", required=True)
def erase(data_dir: Path | None, customer: str, reason: str) -> None:
    """Erase a customer: revoke everything and destroy their data key (crypto-shred)."""
    runtime = runtime_for(data_dir)
    try:
        result = runtime.vault.erase(customer, reason=reason, actor=CLI_ACTOR)
    finally:
        runtime.close()
    out = erasure_json(result)
    out["receipt"] = result.receipt.document() if result.receipt else None
    emit(out)


@cli.command()
@data_dir_option
@click.option("--customer", required=True)
def show(data_dir: Path | None, customer: str) -> None:
    """Show a customer's consents and template metadata (never an embedding); a template
    that no longer decrypts (altered or damaged) is marked ``"readable": false`` and
    listed in ``unreadable_templates``."""
    runtime = runtime_for(data_dir)
    try:
        view = runtime.vault.show(customer, check_templates=True)
        now = runtime.vault.now()
    finally:
        runtime.close()
    out = to_jsonable(view)
    for consent, raw in zip(out["consents"], view.consents, strict=True):
        consent["status"] = raw.status(now)
        consent["active_purposes"] = list(raw.active_purposes(now))
    out["unreadable_templates"] = [t.template_id for t in view.templates if t.readable is False]
    emit(out)


@cli.group(name="db")
def db_group() -> None:
    """Database schemas (Alembic migrations for the vault and the key store)."""


@db_group.command("upgrade")
@data_dir_option
def db_upgrade(data_dir: Path | None) -> None:
    """Migrate both databases to the schema this code needs (nothing else: no key is
    made, no file written)."""
    from api.runtime import upgrade_schemas

    emit({"upgraded": upgrade_schemas(load_settings(data_dir))})


@db_group.command("current")
@data_dir_option
def db_current(data_dir: Path | None) -> None:
    """Show each database's schema revision and the one this code needs."""
    from api.runtime import KEYS_MIGRATIONS, VAULT_MIGRATIONS
    from keys import schema

    runtime = open_runtime(load_settings(data_dir), create=False, start=False, check=False)
    try:
        emit(
            {
                "keystore": schema.current_revision(KEYS_MIGRATIONS, runtime.keys.engine),
                "keystore_head": schema.head_revision(KEYS_MIGRATIONS),
                "vault": schema.current_revision(VAULT_MIGRATIONS, runtime.vault.engine),
                "vault_head": schema.head_revision(VAULT_MIGRATIONS),
            }
        )
    finally:
        runtime.close()


@cli.group(name="keys")
def keys_group() -> None:
    """Key management."""


@keys_group.command()
@data_dir_option
def rotate(data_dir: Path | None) -> None:
    """Create a new KEK epoch, re-wrap every live data key, destroy the old epochs."""
    runtime = runtime_for(data_dir)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        # One JSON line on stderr every few seconds (and the last), for an operator
        # watching a rotation of a million keys.
        now = time.monotonic()
        if done == total or now - last[0] >= 2:
            last[0] = now
            line = {"progress": "kek.rotate", "rewrapped": done, "total": total}
            click.echo(json.dumps(line), err=True)

    try:
        result = runtime.vault.rotate_kek(actor=CLI_ACTOR, progress=progress)
    finally:
        runtime.close()
    emit(result)


def _create_key(
    data_dir: Path | None, role: str, expires_days: int | None = None, **kwargs: Any
) -> None:
    from api import credentials

    runtime = runtime_for(data_dir)
    try:
        engine = runtime.vault.engine
        now = runtime.vault.now()
        if kwargs.get("venue"):
            credentials.ensure_venue(engine, kwargs["venue"], kwargs["venue"], now, CLI_ACTOR)
        expires = now + timedelta(days=expires_days) if expires_days else None
        secret, key = credentials.create_key(
            engine, role=role, now=now, actor=CLI_ACTOR, expires_at=expires, **kwargs
        )
    finally:
        runtime.close()
    emit({"key": secret, **key.public()})


EXPIRES_DAYS = click.option(
    "--expires-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="The key stops working after this many days (default: never).",
)


@keys_group.command("create-admin")
@data_dir_option
@click.option("--label", default="")
@EXPIRES_DAYS
def create_admin(data_dir: Path | None, label: str, expires_days: int | None) -> None:
    """Make an operator key (printed once): for operators' machines only; staff at the
    counter sign in with their own PIN (`facekeep staff create`)."""
    _create_key(data_dir, "admin", expires_days, label=label)


@keys_group.command("create-auditor")
@data_dir_option
@click.option("--label", default="")
@EXPIRES_DAYS
def create_auditor(data_dir: Path | None, label: str, expires_days: int | None) -> None:
    """Make an auditor key (printed once)."""
    _create_key(data_dir, "auditor", expires_days, label=label)


@keys_group.command("create-kiosk")
@data_dir_option
@click.option("--venue", required=True)
@click.option(
    "--purpose",
    "purposes",
    multiple=True,
    required=True,
    type=click.Choice(["checkin", "marketing"]),
)
@click.option("--label", default="")
@click.option(
    "--allow-embeddings",
    is_flag=True,
    help="A trusted edge device: the kiosk may send embeddings instead of images.",
)
@EXPIRES_DAYS
def create_kiosk(
    data_dir: Path | None,
    venue: str,
    purposes: tuple[str, ...],
    label: str,
    allow_embeddings: bool,
    expires_days: int | None,
) -> None:
    """Make a kiosk key bound to a venue and purposes (printed once)."""
    from vault.consent import check_id

    check_id(venue, "venue")
    _create_key(
        data_dir,
        "kiosk",
        expires_days,
        venue=venue,
        purposes=purposes,
        label=label,
        allow_embeddings=allow_embeddings,
    )


@cli.command()
@data_dir_option
@click.option("--host", default=None, help="Default 127.0.0.1 (FACEKEEP_HOST).")
@click.option("--port", type=int, default=None, help="Default 8000 (FACEKEEP_PORT).")
def serve(data_dir: Path | None, host: str | None, port: int | None) -> None:
    """Run the HTTP service (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from api.app import create_app
    from api.logs import configure
    from api.server import local_kek_problem, server_options

    settings = load_settings(data_dir)
    if host:
        settings = settings.model_copy(update={"host": host})
    if port:
        settings = settings.model_copy(update={"port": port})
    missing = settings.placeholders()
    if missing and not settings.loopback_only():
        # Guests reached from another machine read the notice and /privacy: they must name
        # the real controller and where to send privacy requests, never a placeholder.
        raise CliError(
            "controller_not_configured",
            f"refusing to serve on {settings.host}: set {' and '.join(missing)} (the data "
            "controller's legal name and the contact for privacy requests, shown on the "
            "notice, the receipts and /privacy); placeholders are allowed on 127.0.0.1 only",
        )
    kek_problem = local_kek_problem(settings)
    if kek_problem is not None:
        raise CliError("local_kek_refused", kek_problem)
    configure(settings.log_level)
    if not settings.data_dir.exists() and settings.database_url is None:
        init_data_dir(settings)
    # The port opens at once; the index is built in the background (/readyz: loading).
    app = create_app(settings, background_start=True)
    # Matches hand work between the event loop, a worker thread and the audit writer;
    # each hand-over waits up to one switch interval while another thread computes.
    sys.setswitchinterval(settings.switch_interval_ms / 1000.0)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        **server_options(settings),
    )


@cli.group(name="audit")
def audit_group() -> None:
    """Audit log: signed tree heads, proofs, export and offline verification."""


def _audit_log(runtime: Runtime) -> Any:
    assert runtime.vault.audit is not None
    return runtime.vault.audit


@audit_group.command("pubkey")
@data_dir_option
def audit_pubkey(data_dir: Path | None) -> None:
    """Print the audit public key (PEM) that verifies tree heads and receipts."""
    runtime = open_runtime(load_settings(data_dir), start=False)
    try:
        signer = runtime.vault.signer
        assert signer is not None
        emit({"key_id": signer.key_id, "alg": "Ed25519", "public_key_pem": signer.public_pem()})
    finally:
        runtime.close()


@audit_group.command("head")
@data_dir_option
def audit_head(data_dir: Path | None) -> None:
    """Sign (if the log grew) and print the latest tree head."""
    runtime = runtime_for(data_dir)
    try:
        emit(_audit_log(runtime).sign_head().to_json())
    finally:
        runtime.close()


@audit_group.command("prove-inclusion")
@data_dir_option
@click.option("--index", type=click.IntRange(min=0), required=True)
@click.option("--size", type=click.IntRange(min=1), default=None, help="Default: latest head.")
def audit_prove_inclusion(data_dir: Path | None, index: int, size: int | None) -> None:
    """Inclusion proof of one entry in a tree size."""
    runtime = runtime_for(data_dir)
    try:
        log = _audit_log(runtime)
        head = log.sign_head()
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
    finally:
        runtime.close()


@audit_group.command("prove-consistency")
@data_dir_option
@click.option("--first", type=click.IntRange(min=0), required=True)
@click.option("--second", type=click.IntRange(min=1), default=None, help="Default: latest.")
def audit_prove_consistency(data_dir: Path | None, first: int, second: int | None) -> None:
    """Consistency proof between two tree sizes."""
    runtime = runtime_for(data_dir)
    try:
        log = _audit_log(runtime)
        head = log.sign_head()
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
    finally:
        runtime.close()


@audit_group.command("export")
@data_dir_option
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
def audit_export(data_dir: Path | None, out: Path) -> None:
    """Write the log, tree heads, receipts, key states and public key to a folder."""
    from vault.export import export_audit

    runtime = runtime_for(data_dir)
    try:
        manifest = export_audit(_audit_log(runtime), runtime.keys, out)
    finally:
        runtime.close()
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
    from vault.verify import verify_export

    key = load_public_key(pubkey.read_text()) if pubkey else None
    saved = json.loads(since_head.read_text()) if since_head else None
    if saved is not None and isinstance(saved.get("head"), dict):
        saved = saved["head"]  # a manifest.json from an earlier export
    report = verify_export(directory, pubkey=key, since_head=saved)
    emit(report.to_json())
    if not report.ok:
        sys.exit(1)


@cli.group(name="retention")
def retention_group() -> None:
    """Retention: erase customers whose consents all ended more than a grace period ago."""


@retention_group.command("status")
@data_dir_option
def retention_status(data_dir: Path | None) -> None:
    """List each customer's erasure deadline (none while a consent is open-ended)."""
    runtime = runtime_for(data_dir)
    try:
        grace = timedelta(days=runtime.settings.retention_grace_days)
        rows = runtime.vault.retention_deadlines(grace)
        now = runtime.vault.now()
    finally:
        runtime.close()
    emit(
        {
            "grace_days": runtime.settings.retention_grace_days,
            "pending": [
                {"customer": c, "deadline": d, "due": d <= now} for c, d in rows if d is not None
            ],
            "open_ended": sum(1 for _, d in rows if d is None),
        }
    )


@retention_group.command("run")
@data_dir_option
def retention_run(data_dir: Path | None) -> None:
    """Erase, with reason 'retention', every customer past their deadline."""
    runtime = runtime_for(data_dir)
    try:
        grace = timedelta(days=runtime.settings.retention_grace_days)
        erased = runtime.vault.retention_sweep(grace, actor=CLI_ACTOR)
    finally:
        runtime.close()
    emit({"erased": [erasure_json(e) for e in erased]})


@cli.group(name="kiosk")
def kiosk_group() -> None:
    """A small kiosk client for trying a venue setup."""


@kiosk_group.command("match")
@click.option("--url", required=True, help="Base URL of the service, e.g. http://127.0.0.1:8000")
@click.option("--key", required=True, envvar="FACEKEEP_KIOSK_KEY", help="The kiosk key.")
@click.option("--purpose", default=None)
@click.option(
    "--frames",
    is_flag=True,
    help="The images (1 to 5) are frames of one guest: send them as one probe.",
)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
def kiosk_match(
    url: str, key: str, purpose: str | None, frames: bool, images: tuple[Path, ...]
) -> None:
    """Post each image to /v1/match and print each decision (one JSON line per image), or
    with --frames all images as one probe of one guest (one JSON line)."""
    import httpx

    data = {"purpose": purpose} if purpose else {}
    probes = [images] if frames else [(path,) for path in images]
    failed = False
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        for probe in probes:
            parts = [("image", (path.name, read_image(path))) for path in probe]
            response = c.post("/v1/match", files=parts, data=data)
            body = response.json()
            failed |= response.status_code >= 400
            shown: dict[str, Any] = (
                {"images": [str(p) for p in probe]} if frames else {"image": str(probe[0])}
            )
            emit({**shown, "status": response.status_code, **body})
    if failed:
        sys.exit(1)


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to keep the demo's vault (default: a temporary directory, removed after).",
)
@click.option("--faces", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary.")
def demo(data_dir: Path | None, faces: Path | None, as_json: bool) -> None:
    """Run the whole story end to end on the sample faces that ship with facekeep."""
    from api.demo import run_demo

    summary = run_demo(data_dir=data_dir, faces=faces, say=None if as_json else click.echo)
    if as_json:
        emit(summary)
    if not summary["ok"]:
        sys.exit(1)


@cli.command("evaluate")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--engine",
    "engines",
    multiple=True,
    type=click.Choice(["sface", "dlib"]),
    help="Engines to measure side by side (default: both).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write report.json, report.md, report.html and the PNG figures here.",
)
@click.option(
    "--gallery-size",
    "gallery_sizes",
    multiple=True,
    type=click.IntRange(1),
    help="Gallery sizes to report (default 10, 20, ... up to the people in the set); "
    "larger than the set: modelled.",
)
@click.option(
    "--deployment-size",
    type=click.IntRange(2),
    default=1000,
    show_default=True,
    help="Customers per (venue, purpose) gallery the margin is chosen for.",
)
@click.option(
    "--target-fmr",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-4,
    show_default=True,
    help="Different-person pairs accepted at the recommended threshold.",
)
def evaluate_command(
    directory: Path,
    engines: tuple[str, ...],
    out: Path | None,
    gallery_sizes: tuple[int, ...],
    deployment_size: int,
    target_fmr: float,
) -> None:
    """Measure the face engines on your own consented photos (one folder per person, or
    a manifest.csv); the table goes to stderr, the JSON summary to stdout."""
    from enroll.evaluation import DatasetError
    from enroll.evaluation_report import run

    try:
        result = run(
            directory,
            engines or ("sface", "dlib"),
            out=out,
            gallery_sizes=gallery_sizes,
            deployment_size=deployment_size,
            target_fmr=target_fmr,
            say=lambda text: click.echo(text, err=True),
        )
    except DatasetError as exc:
        raise CliError(exc.code, exc.message) from None
    emit(result)


def fail(code: str, message: str, status: int = 1) -> NoReturn:
    """Print a JSON error and exit."""
    click.echo(json.dumps({"error": code, "message": message}, ensure_ascii=False))
    sys.exit(status)


def main() -> None:
    """Entry point of the ``facekeep`` console script."""
    # Everything facekeep writes (databases, key files, exports) is private to its user.
    os.umask(0o077)
    import logging

    from api.logs import configure

    # Warnings and errors of any command as JSON lines on stderr (serve sets its level);
    # a host that already routes logging (a test runner calling main()) keeps its own.
    if not logging.getLogger().handlers:
        configure("WARNING")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        fail("aborted", "aborted", 130)
    except click.ClickException as exc:
        fail("usage", exc.format_message(), 2)
    except CliError as exc:
        fail(exc.code, exc.message)
    except (EnrollError, VaultError, KeysError, UnknownNotice) as exc:
        fail(exc.code, str(exc))
    except SQLAlchemyError as exc:
        fail("database_unavailable", database_problem(exc))
    except Exception as exc:  # never a raw traceback: one JSON line, the details logged
        from api.logs import log_unexpected

        log_unexpected("facekeep.cli", exc)
        fail("internal_error", f"unexpected {type(exc).__name__}; details in the log (stderr)")


def database_problem(exc: SQLAlchemyError) -> str:
    """What went wrong with a database, in one line and without credentials."""
    import re

    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    first = re.sub(r"(password|passwd|pwd)\s*=\s*\S+", r"\1=***", first, flags=re.I)
    first = re.sub(r"://([^:/@\s]+):[^@\s]+@", r"://\1:***@", first)
    return f"a database does not answer or refused the request ({type(orig).__name__}: {first})"


def _register_command_modules() -> None:
    """Add the command groups that live in modules of their own (they use this module's
    helpers, so they are imported once it is complete)."""
    from api.cli_engine import engine_group
    from api.cli_ops import backup_command, restore_check_command, restore_command
    from api.cli_security import credentials_group, staff_group, witness_command
    from api.cli_webhooks import webhooks_group
    from api.compliance.commands import breach_group, compliance_group, requests_group

    for command in (
        compliance_group,
        requests_group,
        breach_group,
        backup_command,
        restore_command,
        restore_check_command,
        engine_group,
        webhooks_group,
        credentials_group,
        staff_group,
    ):
        cli.add_command(command)
    audit_group.add_command(witness_command)


# Under ``python -m api.cli`` this file runs as ``__main__`` (and again as ``__mp_main__``
# in each spawned image worker): the command modules import ``api.cli`` as a second
# module, where they register, and ``__main__`` hands over to it. Registering in
# ``__main__`` or ``__mp_main__`` too would import this file a third time mid-import.
if __name__ == "__main__":
    from api.cli import main as registered_main

    registered_main()
elif __name__ != "__mp_main__":
    _register_command_modules()
