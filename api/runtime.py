"""Wiring: build the key store, the vault and the embedder from one Settings object."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import vault as vault_package
from api.settings import Settings
from dbkit import make_engine, upgrade
from enroll import DEFAULT_ENGINE, ENGINES, Embedder, EngineSpec, ImageLimits, engine
from enroll import make_embedder as make_engine_embedder
from keys import KekError, KekProvider, KeyStore, LocalKekProvider, schema
from keys.signing import Ed25519Signer, TokenSigner
from keys.store import store_identity
from vault import SYSTEM, Vault
from vault.audit.log import HeadAnchor
from vault.audit.receipts import ReceiptPolicy
from vault.deployment import (
    missing_audit_key,
    recorded_audit_key,
    require_audit_key,
    require_no_restore_pending,
)
from vault.errors import ModelMismatch
from vault.model_record import recorded_model, require_model
from vault.service import open_vault

log = logging.getLogger("facekeep.runtime")


def make_kek(settings: Settings, *, create: bool = False, owner: str | None = None) -> KekProvider:
    """The configured key-encryption-key provider; ``create`` makes its first epoch if
    there is none, bound to key store ``owner``."""
    if settings.kek_provider == "pkcs11":
        from keys.kek_pkcs11 import Pkcs11KekProvider

        if not settings.pkcs11_pin:
            raise KekError("FACEKEEP_PKCS11_PIN is required for the pkcs11 KEK provider")
        p11_args = (settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_pin)
        if create:
            return Pkcs11KekProvider.create(
                *p11_args, key_label_prefix=settings.pkcs11_key_label, owner=owner
            )
        return Pkcs11KekProvider(*p11_args, key_label_prefix=settings.pkcs11_key_label)
    if settings.kek_provider == "transit":
        from keys.kek_transit import TransitKekProvider

        if not settings.transit_url or not settings.transit_token:
            raise KekError("FACEKEEP_TRANSIT_URL and FACEKEEP_TRANSIT_TOKEN are required")
        transit_args = (settings.transit_url, settings.transit_token)
        named = {
            "key_name": settings.transit_key,
            "mount": settings.transit_mount,
            "timeout": settings.kek_timeout_seconds,
        }
        if create:
            return TransitKekProvider.create(*transit_args, **named, owner=owner)  # type: ignore[arg-type]
        return TransitKekProvider(*transit_args, **named)  # type: ignore[arg-type]
    if settings.kek:
        try:
            raw = base64.b64decode(settings.kek, validate=True)
        except binascii.Error:
            raise KekError("FACEKEEP_KEK is not valid base64") from None
        return LocalKekProvider(None, fixed=raw)
    if create:
        return LocalKekProvider.create(settings.kek_dir(), owner=owner)
    return LocalKekProvider(settings.kek_dir())


def make_signer(
    settings: Settings, kek: KekProvider, *, create: bool = False, vault_engine: Any = None
) -> Ed25519Signer:
    """The deployment's audit signing key: in the token with the pkcs11 provider (unless
    the deployment already signs with its key file), else the key file in the data
    directory. ``create`` makes one only when the deployment has none yet: a replica
    joining a deployment must reuse its key, never make a second one."""
    path = settings.signing_key_path()
    recorded = recorded_audit_key(vault_engine) if vault_engine is not None else None
    if kek.name == "pkcs11":
        if path.exists():
            signer = Ed25519Signer.load(path)
            if recorded is None or signer.public_bytes == recorded:
                return signer  # a deployment set up before the key moved into the token
        label = settings.pkcs11_signing_label
        return kek.audit_signer(label, create=create and recorded is None)  # type: ignore[attr-defined, no-any-return]
    if create and not path.exists() and vault_engine is not None:
        refused = missing_audit_key(vault_engine, str(path))
        if refused is not None:
            raise refused
    return Ed25519Signer.load_or_create(path) if create else Ed25519Signer.load(path)


def signer_location(settings: Settings, signer: Ed25519Signer) -> str:
    """Where a signer's key lives, for messages (never the key)."""
    if isinstance(signer, TokenSigner):
        return f"PKCS#11 token {settings.pkcs11_token_label!r}, {settings.pkcs11_signing_label!r}"
    return str(settings.signing_key_path())


def fault_hook(settings: Settings) -> Callable[[str], None]:
    """Testing hook: SIGKILL this process at the configured point, as a crash would."""
    point = settings.fault_point

    def hook(name: str) -> None:
        if point is not None and name == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def image_limits(settings: Settings) -> ImageLimits:
    """The limits every image is decoded under (bytes, pixels, work)."""
    return ImageLimits(
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        working_size=settings.working_size,
        cpu_seconds=settings.image_cpu_seconds,
    )


def make_embedder(settings: Settings) -> Embedder:
    """The real face embedder of the configured engine, with the configured limits."""
    name = settings.face_engine or DEFAULT_ENGINE.name
    return make_engine_embedder(name, image_limits(settings), min_face_size=settings.min_face_size)


def choose_engine(settings: Settings, recorded: str | None) -> EngineSpec:
    """The engine to serve a vault with: the one it recorded (``recorded`` is a model
    version), or for a vault with none yet the configured one, else the default.

    Raises :class:`ModelMismatch` when the configuration names another engine than the
    vault's, or the vault's model is not one this release knows.
    """
    if recorded is None:
        return engine(settings.face_engine) if settings.face_engine else DEFAULT_ENGINE
    served = next((s for s in ENGINES.values() if s.model_version == recorded), None)
    if served is None:
        raise ModelMismatch(
            recorded,
            settings.face_engine or DEFAULT_ENGINE.name,
            f"this vault serves templates of model {recorded!r}, which this release of "
            "facekeep does not know",
        )
    if settings.face_engine and settings.face_engine != served.name:
        raise ModelMismatch(
            recorded,
            engine(settings.face_engine).model_version,
            f"this vault was set up with the {served.name!r} face engine and its templates "
            f"do not compare with {settings.face_engine!r} embeddings: set "
            f"FACEKEEP_FACE_ENGINE={served.name} (or unset it), or change engine with "
            "`facekeep engine switch` after which every customer enrols again",
        )
    return served


#: The settings :func:`resolved` fills in from the vault's engine.
ENGINE_SETTINGS = ("face_engine", "match_threshold", "match_margin")


def resolved(settings: Settings, spec: EngineSpec) -> Settings:
    """``settings`` with the engine and its thresholds filled in."""
    return settings.model_copy(
        update={
            "face_engine": spec.name,
            "match_threshold": settings.match_threshold or spec.threshold,
            "match_margin": spec.margin if settings.match_margin is None else settings.match_margin,
        }
    )


@dataclass
class Runtime:
    """Everything a command or the server works with."""

    settings: Settings
    keys: KeyStore
    vault: Vault
    embedder: Embedder

    def close(self) -> None:
        """Release databases, wipe cached keys, and close the KEK provider's session."""
        self.vault.close()
        self.keys.close()
        close_kek = getattr(self.keys.kek, "close", None)
        if callable(close_kek):
            close_kek()


KEYS_MIGRATIONS = schema.MIGRATIONS
VAULT_MIGRATIONS = Path(vault_package.__file__).parent / "migrations"


def migrate(keys: KeyStore, vault: Vault) -> dict[str, str | None]:
    """Bring both schemas to the newest revision."""
    return migrate_engines(keys.engine, vault.engine)


def migrate_engines(keys_engine: Any, vault_engine: Any) -> dict[str, str | None]:
    """Bring both schemas to the newest revision."""
    return {
        "keystore": upgrade(KEYS_MIGRATIONS, keys_engine),
        "vault": upgrade(VAULT_MIGRATIONS, vault_engine),
    }


def upgrade_schemas(settings: Settings) -> dict[str, str | None]:
    """``facekeep db upgrade``: migrate both databases and nothing else (no KEK, no
    signing key, no files in the current directory)."""
    defaults = settings.database_url is None or settings.keystore_url is None
    if defaults and not settings.data_dir.is_dir():
        raise KekError(f"no data directory at {settings.data_dir}; run `facekeep init` first")
    keys_engine = make_engine(settings.keys_url(), secure_delete=True)
    vault_engine = make_engine(settings.vault_url(), secure_delete=True)
    try:
        return migrate_engines(keys_engine, vault_engine)
    finally:
        keys_engine.dispose()
        vault_engine.dispose()


def init_data_dir(settings: Settings) -> Path:
    """Create the data directory (0700), the KEK and both databases. Idempotent."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    runtime = open_runtime(settings, create=True, start=False)
    runtime.close()
    for path in settings.data_dir.glob("*.db*"):
        os.chmod(path, 0o600)  # SQLite files hold ciphertext and consents: owner only
    return settings.data_dir


def open_runtime(
    settings: Settings,
    *,
    create: bool = False,
    embedder: Embedder | None = None,
    clock: Callable[[], datetime] | None = None,
    start: bool = True,
    check: bool = True,
    index: bool = True,
    restoring: bool = False,
) -> Runtime:
    """Open the stores (creating them if ``create``), recover, and build the index.

    ``start=False`` opens without recovering or loading anything (the server then starts
    in the background, see :func:`start_runtime`); ``index=False`` recovers but leaves
    the match index empty (commands that never match). A vault restored from a backup is
    refused until ``facekeep restore-check`` (``restoring`` lets that command open it).
    """
    if not create and settings.database_url is None and not settings.data_dir.exists():
        raise KekError(f"no data directory at {settings.data_dir}; run `facekeep init` first")
    if create:  # the default SQLite files are made in it
        settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    keys_engine = make_engine(settings.keys_url(), secure_delete=True)
    vault_engine = make_engine(settings.vault_url(), secure_delete=True)
    if create:
        migrate_engines(keys_engine, vault_engine)
    elif check:
        schema.require_current(KEYS_MIGRATIONS, keys_engine, "key store")
        schema.require_current(VAULT_MIGRATIONS, vault_engine, "vault")
    owner = store_identity(keys_engine) if (create or check) else None
    kek = make_kek(settings, create=create, owner=owner)
    try:
        signer = make_signer(
            settings, kek, create=create, vault_engine=vault_engine if (create or check) else None
        )
    except BaseException:
        _close_kek(kek)
        raise
    extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
    keys = KeyStore(keys_engine, kek=kek, **extra)
    keys.fault = fault_hook(settings)
    spec = choose_engine(settings, recorded_model(vault_engine) if (create or check) else None)
    settings = resolved(settings, spec)
    assert settings.match_threshold is not None and settings.match_margin is not None
    vault = open_vault(
        vault_engine,
        keys=keys,
        model_name=spec.model_name,
        model_version=spec.model_version,
        threshold=settings.match_threshold,
        margin=settings.match_margin,
        max_gallery=settings.max_gallery_customers,
        checkin_every_venue=settings.checkin_webhook_url is not None,
        fault=fault_hook(settings),
        signer=signer,
        receipt_policy=ReceiptPolicy(
            controller=settings.controller, jurisdiction=settings.jurisdiction
        ),
        **extra,
    )
    if vault.audit is not None:  # the signer's last head, kept outside the database
        vault.audit.anchor = HeadAnchor(settings.audit_anchor_path())
    if create or check:
        require_model(vault.engine, spec.model_version, record=True)
        require_audit_key(
            vault.engine, signer.public_bytes, where=signer_location(settings, signer)
        )
        if not (create or restoring):
            require_no_restore_pending(vault.engine)
    keys.check_kek()
    if kek.name == "local" and not settings.vault_url().startswith("sqlite"):
        log.warning(
            "the local KEK provider keeps the key-encryption key in a file: development only; "
            "use FACEKEEP_KEK_PROVIDER=pkcs11 or transit in production"
        )
    if embedder is not None and embedder.engine.model_version != spec.model_version:
        # A test or tool handing in its own embedder must embed with the vault's model.
        raise ModelMismatch(spec.model_version, embedder.engine.model_version)
    runtime = Runtime(settings, keys, vault, embedder or make_embedder(settings))
    if start:
        start_runtime(runtime, index=index)
    return runtime


def start_runtime(runtime: Runtime, *, index: bool = True) -> None:
    """Finish an interrupted KEK rotation of this key store, complete interrupted
    erasures, then (``index``) build the match index."""
    keys, vault = runtime.keys, runtime.vault
    if len(keys.kek.epochs()) > 1:
        if keys.owns_epoch(keys.kek.current_epoch()):
            # A rotation was interrupted: finish re-wrapping, destroy the old epochs, log it.
            vault.rotate_kek(actor=SYSTEM, resume=True)
        else:
            log.warning(
                "the KEK has several epochs and the newest belongs to another key store: "
                "not finishing its rotation here"
            )
    if index:
        vault.start()
    else:
        vault.recover()


def _close_kek(kek: KekProvider) -> None:
    close = getattr(kek, "close", None)
    if callable(close):
        close()
