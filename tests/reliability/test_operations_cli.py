"""The command line at chain scale and in a real deployment, on SQLite and PostgreSQL:

- commands other than ``serve`` and ``match`` never build the match index;
- ``db upgrade`` only migrates; ``init`` never prints a database password;
- a database that does not answer is one JSON line, never a traceback;
- one audit signing key per deployment: a joining replica reuses it or is refused;
- with the PKCS#11 provider the signing key is an Ed25519 key pair in the token.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy.typing as npt
import pytest
from sqlalchemy.engine import make_url

from api.operations import enroll_vectors
from tests.support.consents import consent_request
from vault import SYSTEM, ConsentRequest

ENGINE = os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite")
VENUE = "hcm-1"


def consent() -> ConsentRequest:
    return consent_request(VENUE)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line parsed as JSON (fails on any other line)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.faces
def test_commands_other_than_match_never_build_the_index(
    make_deployment: Callable[..., Any], served_embedding: Callable[[str], npt.NDArray[Any]]
) -> None:
    deployment = make_deployment("no-index")
    with deployment.runtime(index=False) as runtime:
        for i, photo in enumerate(("obama_1", "biden_1", "kit_harington_1")):
            enroll_vectors(
                runtime, [served_embedding(photo)], consent(), actor=SYSTEM, customer_id=f"c{i}"
            )
    # The fault point kills any process that starts building the index (SIGKILL).
    crash = {"FACEKEEP_FAULT_POINT": "index.load"}
    for args in (
        ("show", "--customer", "c0"),
        ("revoke", "--customer", "c1", "--purpose", "checkin"),
        ("erase", "--customer", "c2", "--reason", "asked"),
        ("retention", "status"),
        ("audit", "head"),
        ("keys", "create-auditor"),
        ("keys", "rotate"),
    ):
        result = deployment.cli(*args, env=crash)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    photo = Path(__file__).parents[1] / "data" / "faces" / "obama_2.jpg"
    match = deployment.cli("match", "--image", str(photo), "--venue", VENUE, env=crash)
    assert match.returncode == -9  # embedded matching builds the index: killed there
    match = deployment.cli("match", "--image", str(photo), "--venue", VENUE)
    assert match.returncode == 0 and match.json()["customer"] == "c0", match.stdout


def test_db_upgrade_only_migrates(make_deployment: Callable[..., Any], tmp_path: Path) -> None:
    deployment = make_deployment("upgrade-only", init=False)
    deployment.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "upgrade", "--data-dir", str(deployment.data_dir)],
        env=deployment.env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    upgraded = json.loads(done.stdout)["upgraded"]
    assert upgraded["keystore"] and upgraded["vault"]
    assert list(cwd.iterdir()) == []  # nothing written where it was run
    assert not (deployment.data_dir / "kek").exists()
    assert not (deployment.data_dir / "audit").exists()
    # A later init on the migrated databases makes the keys (and is idempotent).
    assert deployment.cli("init").returncode == 0
    assert (deployment.data_dir / "kek" / "epoch-000001.kek").exists()


@pytest.mark.skipif(ENGINE != "postgresql", reason="a database URL with a password")
def test_init_never_prints_a_database_password(make_deployment: Callable[..., Any]) -> None:
    deployment = make_deployment("no-password", init=False)
    password = "pw-" + secrets.token_hex(8)
    # Trust authentication ignores the password; the URL still carries it.
    urls = {
        name: make_url(url).set(password=password).render_as_string(hide_password=False)
        for name, url in (("vault", deployment.vault_url), ("keys", deployment.keys_url))
    }
    env = {"FACEKEEP_DATABASE_URL": urls["vault"], "FACEKEEP_KEYSTORE_URL": urls["keys"]}
    result = deployment.cli("init", env=env)
    assert result.returncode == 0, result.stderr
    assert password not in result.stdout + result.stderr
    shown = result.json()
    assert "***" in shown["vault"] and "***" in shown["keystore"]


def test_a_database_that_does_not_answer_is_one_json_line(
    make_deployment: Callable[..., Any], tmp_path: Path
) -> None:
    deployment = make_deployment("db-down")
    with socket_port() as port:
        down = f"postgresql://facekeep:secret-pw@127.0.0.1:{port}/nowhere"
        env = {"FACEKEEP_DATABASE_URL": down, "FACEKEEP_KEYSTORE_URL": down}
        for args in (
            ("serve", "--port", str(port)),
            ("show", "--customer", "c0"),
            ("db", "upgrade"),
        ):
            result = deployment.cli(*args, env=env)
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            lines = json_lines(result.stdout)
            assert len(lines) == 1 and lines[0]["error"] == "database_unavailable", result.stdout
            assert "Traceback" not in result.stderr
            json_lines(result.stderr)  # whatever was logged is JSON too
            assert "secret-pw" not in result.stdout + result.stderr


class socket_port:
    """A local port nothing listens on, for as long as the block runs."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def test_one_audit_signing_key_per_deployment(make_deployment: Callable[..., Any]) -> None:
    first = make_deployment("sign-a")
    pubkey = first.cli("audit", "pubkey").json()
    # A second replica of the same databases, set up from scratch: refused with the
    # instruction, and no second key is made.
    second = make_deployment("sign-b", init=False)
    second.vault_url, second.keys_url = first.vault_url, first.keys_url
    second.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    shutil.copytree(first.data_dir / "kek", second.data_dir / "kek")
    refused = second.cli("init")
    assert refused.returncode == 1
    assert refused.json()["error"] == "signing_key_mismatch"
    assert "signing-ed25519.key" in refused.json()["message"]
    assert not (second.data_dir / "audit" / "signing-ed25519.key").exists()
    # With a different key it is refused at every start.
    (second.data_dir / "audit").mkdir(mode=0o700)
    other = second.data_dir / "audit" / "signing-ed25519.key"
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    assert second.cli("show", "--customer", "x").json()["error"] == "signing_key_mismatch"
    # With the deployment's key it joins, and publishes the same key.
    shutil.copy2(first.data_dir / "audit" / "signing-ed25519.key", other)
    assert second.cli("init").returncode == 0
    assert second.cli("audit", "pubkey").json() == pubkey


# -- the signing key in the PKCS#11 token ------------------------------------------------


@pytest.fixture
def softhsm_token(tmp_path: Path) -> Iterator[dict[str, str]]:
    from tests.keys.providers import SOFTHSM_MODULE, SoftHsm

    hsm = SoftHsm.setup(tmp_path / "softhsm")
    pin = "pin-" + secrets.token_hex(4)
    label = hsm.new_token(pin)
    yield {
        "SOFTHSM2_CONF": str(hsm.conf),
        "FACEKEEP_KEK_PROVIDER": "pkcs11",
        "FACEKEEP_PKCS11_MODULE": SOFTHSM_MODULE,
        "FACEKEEP_PKCS11_TOKEN_LABEL": label,
        "FACEKEEP_PKCS11_PIN": pin,
    }


def test_with_pkcs11_the_signing_key_lives_in_the_token(
    make_deployment: Callable[..., Any], softhsm_token: dict[str, str]
) -> None:
    first = make_deployment("p11-sign-a", init=False)
    first.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    assert first.cli("init", env=softhsm_token).returncode == 0
    assert not (first.data_dir / "audit" / "signing-ed25519.key").exists()
    assert not (first.data_dir / "kek").exists()
    pubkey = first.cli("audit", "pubkey", env=softhsm_token).json()
    assert pubkey["alg"] == "Ed25519"
    # A second replica on the same token and databases signs with the same key at once.
    second = make_deployment("p11-sign-b", init=False)
    second.vault_url, second.keys_url = first.vault_url, first.keys_url
    second.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    assert second.cli("init", env=softhsm_token).returncode == 0
    assert second.cli("audit", "pubkey", env=softhsm_token).json() == pubkey
    # Heads and receipts signed in the token verify offline under that key.
    export = first.root / "export"
    assert first.cli("audit", "export", "--out", str(export), env=softhsm_token).returncode == 0
    key_file = first.root / "pubkey.pem"
    key_file.write_text(pubkey["public_key_pem"])
    verified = first.cli("audit", "verify", str(export), "--pubkey", str(key_file))
    assert verified.returncode == 0, verified.stdout
    # The private key cannot be read out of the token.
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    os.environ["SOFTHSM2_CONF"] = softhsm_token["SOFTHSM2_CONF"]
    lib = pkcs11.lib(softhsm_token["FACEKEEP_PKCS11_MODULE"])
    lib.reinitialize()
    token = lib.get_token(token_label=softhsm_token["FACEKEEP_PKCS11_TOKEN_LABEL"])
    with token.open(user_pin=softhsm_token["FACEKEEP_PKCS11_PIN"]) as session:
        private = next(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        assert private[Attribute.SENSITIVE] is True and private[Attribute.EXTRACTABLE] is False
        with pytest.raises(pkcs11.exceptions.PKCS11Error):
            _ = private[Attribute.VALUE]
