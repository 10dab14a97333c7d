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

import vault as vault_package
from api.settings import Settings
from enroll import DEFAULT_ENGINE, ENGINES, Embedder, EngineSpec, ImageLimits, engine
from enroll import make_embedder as make_engine_embedder
from keys import KekError, KekProvider, KeyStore, LocalKekProvider, schema
from keys.signing import AuditSigner
from vault import SYSTEM, Vault
from vault.errors import ModelMismatch
from vault.model_record import recorded_model, require_model
from vault.receipts import ReceiptPolicy

log = logging.getLogger("facekeep.runtime")


def make_kek(settings: Settings, *, create: bool = False) -> KekProvider:
    """The configured key-encryption-key provider."""
    if settings.kek_provider == "pkcs11":
        from keys.kek_pkcs11 import Pkcs11KekProvider

        if not settings.pkcs11_pin:
            raise KekError("FACEKEEP_PKCS11_PIN is required for the pkcs11 KEK provider")
        make_p11 = Pkcs11KekProvider.create if create else Pkcs11KekProvider
        return make_p11(
            settings.pkcs11_module,
            settings.pkcs11_token_label,
            settings.pkcs11_pin,
            key_label_prefix=settings.pkcs11_key_label,
        )
    if settings.kek_provider == "transit":
        from keys.kek_transit import TransitKekProvider

        if not settings.transit_url or not settings.transit_token:
            raise KekError("FACEKEEP_TRANSIT_URL and FACEKEEP_TRANSIT_TOKEN are required")
        make_transit = TransitKekProvider.create if create else TransitKekProvider
        return make_transit(
            settings.transit_url,
            settings.transit_token,
            key_name=settings.transit_key,
            mount=settings.transit_mount,
        )
    if settings.kek:
        try:
            raw = base64.b64decode(settings.kek, validate=True)
        except binascii.Error:
            raise KekError("FACEKEEP_KEK is not valid base64") from None
        return LocalKekProvider(None, fixed=raw)
    if create:
        return LocalKekProvider.create(settings.kek_dir())
    return LocalKekProvider(settings.kek_dir())


def fault_hook(settings: Settings) -> Callable[[str], None]:
    """Testing hook: SIGKILL this process at the configured point, as a crash would."""
    point = settings.fault_point

    def hook(name: str) -> None:
        if point is not None and name == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def make_embedder(settings: Settings) -> Embedder:
    """The real face embedder of the configured engine, with the configured limits."""
    limits = ImageLimits(
        max_bytes=settings.max_image_bytes,
        max_pixels=settings.max_image_pixels,
        working_size=settings.working_size,
    )
    name = settings.face_engine or DEFAULT_ENGINE.name
    return make_engine_embedder(name, limits, min_face_size=settings.min_face_size)


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
    """Bring both schemas to the newest revision (``facekeep db upgrade``)."""
    return {
        "keystore": schema.upgrade(KEYS_MIGRATIONS, keys.engine),
        "vault": schema.upgrade(VAULT_MIGRATIONS, vault.engine),
    }


def init_data_dir(settings: Settings) -> Path:
    """Create the data directory (0700), the KEK and both databases. Idempotent."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    runtime = open_runtime(settings, create=True)
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
) -> Runtime:
    """Open the stores (creating them if ``create``), recover, and build the index."""
    if not create and settings.database_url is None and not settings.data_dir.exists():
        raise KekError(f"no data directory at {settings.data_dir}; run `facekeep init` first")
    kek = make_kek(settings, create=create)
    signer = (
        AuditSigner.load_or_create(settings.signing_key_path())
        if create
        else AuditSigner.load(settings.signing_key_path())
    )
    extra = {"clock": clock} if clock is not None else {}
    keys = KeyStore.open_url(settings.keys_url(), kek=kek, create_schema=False, **extra)
    keys.fault = fault_hook(settings)
    vault = Vault.open_url(
        settings.vault_url(),
        keys=keys,
        create_schema=False,
        model_name=DEFAULT_ENGINE.model_name,
        model_version=DEFAULT_ENGINE.model_version,
        fault=fault_hook(settings),
        signer=signer,
        receipt_policy=ReceiptPolicy(
            controller=settings.controller, jurisdiction=settings.jurisdiction
        ),
        **extra,
    )
    if create:
        migrate(keys, vault)
    elif check:
        schema.require_current(KEYS_MIGRATIONS, keys.engine, "key store")
        schema.require_current(VAULT_MIGRATIONS, vault.engine, "vault")
    spec = choose_engine(settings, recorded_model(vault.engine) if (create or check) else None)
    settings = resolved(settings, spec)
    vault.model_name, vault.model_version = spec.model_name, spec.model_version
    assert settings.match_threshold is not None and settings.match_margin is not None
    vault.threshold, vault.margin = settings.match_threshold, settings.match_margin
    vault.max_gallery = settings.max_gallery_customers
    vault.checkin_every_venue = settings.checkin_webhook_url is not None
    if create or check:
        require_model(vault.engine, spec.model_version, record=True)
    keys.check_kek()
    if kek.name == "local" and not settings.vault_url().startswith("sqlite"):
        log.warning(
            "the local KEK provider keeps the key-encryption key in a file: development only; "
            "use FACEKEEP_KEK_PROVIDER=pkcs11 or transit in production"
        )
    if start:
        if len(kek.epochs()) > 1:
            # A rotation was interrupted: finish re-wrapping, destroy the old epochs, log it.
            vault.rotate_kek(actor=SYSTEM, resume=True)
        vault.start()
    return Runtime(settings, keys, vault, embedder or make_embedder(settings))
