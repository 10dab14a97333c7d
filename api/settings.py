"""Configuration, read once at the edge (environment variables prefixed ``FACEKEEP_``)."""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONTROLLER = "facekeep operator"


class Settings(BaseSettings):
    """Every knob of a facekeep deployment. ``keys``, ``vault`` and ``enroll`` never read
    the environment; they get what they need from here."""

    model_config = SettingsConfigDict(env_prefix="FACEKEEP_", extra="ignore")

    data_dir: Path = Path("facekeep-data")
    database_url: str | None = Field(
        default=None, description="Templates and consents; default SQLite under data_dir."
    )
    keystore_url: str | None = Field(
        default=None, description="Wrapped data keys; default a separate SQLite file."
    )
    kek_provider: Literal["local", "pkcs11", "transit"] = "local"
    pkcs11_module: str = Field(
        default="/usr/lib/softhsm/libsofthsm2.so", description="PKCS#11 module (.so) path."
    )
    pkcs11_token_label: str = Field(default="facekeep", description="PKCS#11 token label.")
    pkcs11_pin: str | None = Field(default=None, description="PKCS#11 user PIN.", repr=False)
    pkcs11_key_label: str = Field(
        default="facekeep-kek", description="KEK object label prefix (epoch N = prefix-NNNNNN)."
    )
    pkcs11_signing_label: str = Field(
        default="facekeep-audit-ed25519",
        description="Label of the audit signing key pair (Ed25519) in the token; with the "
        "pkcs11 provider the signing key lives there, shared by every replica.",
    )
    kek_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="How long one call to the KEK provider may take before it counts as "
        "unavailable (transit HTTP calls; the /readyz probe of any provider).",
    )
    transit_url: str | None = Field(default=None, description="OpenBao/Vault address.")
    transit_token: str | None = Field(default=None, description="Transit token.", repr=False)
    transit_key: str = "facekeep-kek"
    transit_mount: str = "transit"
    local_kek_dir: Path | None = Field(
        default=None,
        description="Where the local provider keeps its KEK files (default DATA_DIR/kek): "
        "put it on a volume that is never backed up with the databases.",
    )
    kek: str | None = Field(
        default=None,
        description="Base64 of a 32-byte KEK (development only); default a 0600 key file.",
        repr=False,
    )
    face_engine: Literal["sface", "dlib"] | None = Field(
        default=None,
        description="Face engine. A new vault records it at `facekeep init` (default "
        "sface); an existing vault serves the engine it recorded, and naming another one "
        "is refused (see `facekeep engine switch`).",
    )
    match_threshold: float | None = Field(
        default=None,
        gt=0.0,
        le=2.0,
        description="Largest distance of a match; default the engine's measured threshold.",
    )
    match_margin: float | None = Field(
        default=None,
        ge=0.0,
        le=2.0,
        description="How much nearer the best customer must be than the second best; "
        "default the engine's.",
    )
    max_gallery_customers: int | None = Field(
        default=None,
        ge=1,
        description="Most customers one venue's gallery for one purpose may hold; "
        "enrolments and consents beyond it are refused with 409 gallery_full (unset: no "
        "cap, only the warning).",
    )
    working_size: int = Field(default=640, ge=160, le=4096)
    min_face_size: int = Field(default=48, ge=8)
    max_image_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=50_000_000, ge=10_000)
    switch_interval_ms: float = Field(
        default=1.0,
        ge=0.1,
        le=100,
        description="How long `serve` lets one Python thread run before another may take "
        "the interpreter (CPython's default is 5 ms): shorter lets the audit writer's "
        "commit hand back to waiting kiosk requests sooner.",
    )
    image_workers: int = Field(
        default=0, ge=0, le=64, description="Image worker processes; 0 = threads in-process."
    )
    max_body_bytes: int = Field(default=40 * 1024 * 1024, ge=1024)
    match_rate: float = Field(default=50.0, ge=0, description="Match requests/s per kiosk key.")
    match_burst: float = Field(default=100.0, ge=1)
    code_failures_per_minute: float = Field(default=10.0, ge=0)
    code_failure_burst: float = Field(default=10.0, ge=1)
    controller: str = Field(
        default=DEFAULT_CONTROLLER,
        max_length=200,
        description="The data controller's legal name, on notices, receipts and /privacy.",
    )
    jurisdiction: str = Field(default="VN", description="Jurisdiction named on receipts.")
    controller_address: str = Field(
        default="", max_length=300, description="The controller's postal address."
    )
    privacy_contact: str = Field(
        default="",
        max_length=200,
        description="Where guests send privacy requests (e-mail, telephone or address).",
    )
    dpo: str = Field(
        default="",
        max_length=200,
        description="The data protection officer's name and contact; empty if none.",
    )
    data_location: str = Field(
        default="VN", max_length=64, description="Country where the databases and keys are kept."
    )
    transfers_abroad: str = Field(
        default="",
        max_length=300,
        description="Transfers of personal data abroad, described; empty = none.",
    )
    processors: list[str] = Field(
        default_factory=list,
        description="Processors acting for the controller (JSON list of 'name: role').",
    )
    utc_offset_hours: float = Field(
        default=7.0, ge=-12, le=14, description="Local time of the venues (Vietnam: +7)."
    )
    holidays: list[date] = Field(
        default_factory=list,
        description="Public holidays (JSON list of dates), which are not working days.",
    )
    request_ack_working_days: int = Field(
        default=2, ge=0, le=60, description="Acknowledge a data-subject request within this."
    )
    request_complete_days: int = Field(
        default=15, ge=1, le=365, description="Complete a data-subject request within this."
    )
    breach_notify_hours: float = Field(
        default=72.0, gt=0, le=24 * 30, description="Notify a breach within this many hours."
    )
    breach_retain_years: int = Field(
        default=5, ge=1, le=50, description="Keep a breach file this many years."
    )
    dpia_large_scale_subjects: int = Field(
        default=10_000,
        ge=1,
        description="Data subjects with sensitive data above which the law asks more of the "
        "impact assessment.",
    )
    consent_validity_days: list[Annotated[int, Field(ge=1, le=3650)]] = Field(
        default_factory=lambda: [30, 90, 180, 365, 730],
        min_length=1,
        description="Consent periods the kiosk offers (days).",
    )
    default_validity_days: int = Field(default=365, ge=1, le=3650)
    notices_dir: Path | None = Field(
        default=None,
        description="A folder of notice files (VERSION.LANG.txt) that add to or replace "
        "the shipped ones, so a venue's lawyer can adjust texts without code.",
    )
    privacy_note_vi: str = Field(default="", max_length=4000, description="Extra /privacy text.")
    privacy_note_en: str = Field(default="", max_length=4000, description="Extra /privacy text.")
    kiosk_code_seconds: int = Field(
        default=120,
        ge=10,
        le=900,
        description="How long the kiosk shows a new access code before clearing it.",
    )
    retention_grace_days: float = Field(
        default=30.0,
        ge=0,
        description="Erase customers this long after their last consent ended.",
    )
    retention_interval_seconds: float = Field(
        default=3600.0, ge=0, description="How often the server sweeps; 0 = never."
    )
    key_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Keep API keys found for this long (a key disabled on another replica "
        "stops working within it); 0 = ask the database on every request.",
    )
    follow_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often to apply other replicas' changes."
    )
    public_url: str | None = Field(
        default=None,
        description="Address customers' phones use to reach facekeep (for the QR link); "
        "default: the address the kiosk used.",
    )
    checkin_webhook_url: str | None = Field(
        default=None,
        description="Default webhook for check-ins of venues without their own (set "
        "through PUT /v1/venues/{venue}/webhook); unset: only those venues hand off.",
    )
    checkin_webhook_secret_file: Path | None = Field(
        default=None,
        description="File (0600) holding the default webhook's signing secret "
        "('whsec_...'); default data_dir/webhooks/checkin.secret, made when missing.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="How long one delivery attempt may take."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Delay after a first failed delivery; doubled after each further failure.",
    )
    webhook_retry_max_seconds: float = Field(
        default=3600.0, gt=0, description="Longest delay between two delivery attempts."
    )
    webhook_max_attempts: int = Field(
        default=15, ge=1, le=100, description="Attempts before a check-in's delivery is given up."
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often the delivery worker looks for work."
    )
    webhook_keep_days: float = Field(
        default=30.0,
        gt=0,
        description="Keep finished check-in hand-offs (delivered, given up, cancelled) this "
        "long, then forget them (the audit log keeps every match).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # -- security hardening (see the README's security section) ---------------------------
    allow_local_kek: bool = Field(
        default=False,
        description="Let `serve` use the local KEK provider on a non-loopback address "
        "(the key file would sit in the same volume as the key store it protects).",
    )
    docs: bool = Field(
        default=False,
        description="Serve /docs and /redoc (their scripts come from a CDN): off unless set.",
    )
    metrics_token: str | None = Field(
        default=None,
        repr=False,
        description="Bearer token for /metrics; unset: /metrics answers 404.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed; empty: none (the peer address is the client).",
    )
    max_json_body_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest body of a route that declares no limit of its own.",
    )
    header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="`serve`: time to send a request's headers."
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024, description="`serve`: request header size."
    )
    body_idle_timeout_seconds: float = Field(
        default=15.0, gt=0, le=600, description="Longest pause while a body is sent."
    )
    body_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="Longest time to send a whole body."
    )
    db_lock_timeout_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a request waits for a database lock before answering 503.",
    )
    db_background_lock_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="The same for background work and commands."
    )
    code_failures_global_per_minute: float = Field(
        default=30.0,
        ge=0,
        description="Failed access codes per minute, all addresses together, that are still "
        "checked while their address is throttled (so a guest's right code is not refused "
        "because someone guessed from the same address).",
    )
    staff_idle_minutes: float = Field(
        default=15.0, gt=0, le=24 * 60, description="A staff session ends after this idle time."
    )
    staff_session_hours: float = Field(
        default=12.0, gt=0, le=24 * 7, description="A staff session ends this long after sign-in."
    )
    image_cpu_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="CPU time one image decode may take before it is abandoned "
        "(422 image_too_complex).",
    )
    upload_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Image worker processes for enrolment and retakes, apart from the "
        "kiosks' (used when FACEKEEP_IMAGE_WORKERS > 0).",
    )
    log_level: str = "INFO"
    fault_point: str | None = Field(
        default=None, description="Testing only: crash the process at this named point."
    )

    def placeholders(self) -> list[str]:
        """The settings a deployment facing guests must fill in and has not: the
        controller's legal name and the contact for privacy requests."""
        missing = []
        if self.controller.strip() in ("", DEFAULT_CONTROLLER):
            missing.append("FACEKEEP_CONTROLLER")
        if not self.privacy_contact.strip():
            missing.append("FACEKEEP_PRIVACY_CONTACT")
        return missing

    def loopback_only(self) -> bool:
        """True when ``serve`` listens on this machine only (development)."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def proxies(self) -> list[str]:
        """The trusted reverse proxies (addresses or networks)."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    def vault_url(self) -> str:
        """URL of the template and consent database."""
        return self.database_url or f"sqlite:///{self.data_dir / 'vault.db'}"

    def keys_url(self) -> str:
        """URL of the key store database."""
        return self.keystore_url or f"sqlite:///{self.data_dir / 'keys.db'}"

    def signing_key_path(self) -> Path:
        """The audit signing key file (Ed25519, never the KEK)."""
        return self.data_dir / "audit" / "signing-ed25519.key"

    def audit_anchor_path(self) -> Path:
        """The last tree head this deployment's signer signed (kept out of the database)."""
        return self.data_dir / "audit" / "signed-head.json"

    def kek_dir(self) -> Path:
        """Directory of the local KEK files (``FACEKEEP_LOCAL_KEK_DIR``, default in the data
        directory)."""
        return self.local_kek_dir or self.data_dir / "kek"

    def checkin_secret_path(self) -> Path:
        """The file of the default check-in webhook's signing secret."""
        return self.checkin_webhook_secret_file or self.data_dir / "webhooks" / "checkin.secret"
