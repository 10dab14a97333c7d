"""Key hygiene: key files are created 0600 (whatever the umask), a key file others can
read is refused at start, a missing or wrong KEK stops the start with a clear error and
never leaves a half-working service, and the audit signing key is not the KEK.

A start that must fail is a real ``facekeep serve`` on a free port: it must exit non-zero
with one JSON error line that names the problem, print no traceback, and never accept a
connection on its port while it runs (polled every 20 ms).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support import free_port


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def refused_start(deployment: Any, **env: str) -> dict[str, Any]:
    """Run ``facekeep serve`` expecting it to refuse to start; return what it said."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli",
            "serve",
            "--data-dir",
            str(deployment.data_dir),
            "--port",
            str(port),
        ],
        env=deployment.env(**env),
        cwd=deployment.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    accepted = 0
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                accepted += 1
        time.sleep(0.02)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=30)
    return {"returncode": proc.returncode, "stdout": out, "stderr": err, "accepted": accepted}


def assert_refused(result: dict[str, Any], code: str, *words: str) -> None:
    assert result["returncode"] not in (0, None), result
    assert result["accepted"] == 0, f"the port accepted connections: {result}"
    assert "Traceback" not in result["stderr"], result["stderr"][-2000:]
    lines = [line for line in result["stdout"].splitlines() if line.strip()]
    error = json.loads(lines[-1])
    assert error["error"] == code, error
    for word in words:
        assert word in error["message"], error


def init_under_umask_000(deployment: Any, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--data-dir", str(deployment.data_dir)],
        env=deployment.env(),
        cwd=deployment.root,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.umask(0),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def template(make_deployment: Callable[..., Any]) -> Any:
    """A deployment made with ``facekeep init`` under umask 000."""
    d = make_deployment("hygiene", init=False)
    d.data_dir.parent.mkdir(parents=True, exist_ok=True)
    init_under_umask_000(d, "init")
    return d


@pytest.fixture
def deployment(template: Any, tmp_path: Path) -> Any:
    """A copy of the template's data directory (the tests here change only files in it,
    and a refused start writes nothing to the databases)."""
    data_dir = tmp_path / "data"
    shutil.copytree(template.data_dir, data_dir, symlinks=True)
    vault_url, keys_url = template.vault_url, template.keys_url
    if vault_url.startswith("sqlite"):
        vault_url, keys_url = (
            f"sqlite:///{data_dir / 'vault.db'}",
            f"sqlite:///{data_dir / 'keys.db'}",
        )
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    return dataclasses.replace(
        template,
        root=tmp_path,
        data_dir=data_dir,
        vault_url=vault_url,
        keys_url=keys_url,
        tmpdir=tmpdir,
        servers=[],
    )


def test_key_files_are_created_0600_even_under_umask_000(
    template: Any, make_deployment: Callable[..., Any]
) -> None:
    data = template.data_dir
    assert mode(data) == 0o700
    assert mode(data / "kek") == 0o700
    assert mode(data / "audit") == 0o700
    assert mode(data / "kek" / "epoch-000001.kek") == 0o600
    assert mode(data / "audit" / "signing-ed25519.key") == 0o600
    for path in data.rglob("*"):
        assert not mode(path) & 0o007, (path, oct(mode(path)))
    # A rotation's new epoch too (on a deployment of its own, also under umask 000).
    rotated = make_deployment("hygiene-rotate", init=False)
    rotated.data_dir.parent.mkdir(parents=True, exist_ok=True)
    init_under_umask_000(rotated, "init")
    init_under_umask_000(rotated, "keys", "rotate")
    files = sorted(p.name for p in (rotated.data_dir / "kek").iterdir())
    # The key and the file naming the key store it belongs to (not secret, still private).
    assert files == ["epoch-000002.kek", "epoch-000002.kek.owner"], files
    assert mode(rotated.data_dir / "kek" / "epoch-000002.kek") == 0o600
    assert mode(rotated.data_dir / "kek" / "epoch-000002.kek.owner") == 0o600
    for path in rotated.data_dir.rglob("*"):
        assert not mode(path) & 0o007, (path, oct(mode(path)))


@pytest.mark.parametrize("bits", [0o040, 0o004], ids=["group-read", "other-read"])
def test_a_kek_file_others_can_reach_is_refused_at_start(deployment: Any, bits: int) -> None:
    path = deployment.data_dir / "kek" / "epoch-000001.kek"
    os.chmod(path, 0o600 | bits)
    result = refused_start(deployment)
    assert_refused(result, "kek_file_insecure", str(path), "chmod 600")


def test_an_audit_key_file_others_can_read_is_refused_at_start(deployment: Any) -> None:
    path = deployment.data_dir / "audit" / "signing-ed25519.key"
    os.chmod(path, 0o644)
    assert_refused(refused_start(deployment), "kek_file_insecure", str(path))


def test_a_missing_kek_is_a_clear_startup_error(deployment: Any) -> None:
    (deployment.data_dir / "kek" / "epoch-000001.kek").unlink()
    result = refused_start(deployment)
    assert_refused(result, "kek_unavailable", "key-encryption key", str(deployment.data_dir))
    # The command line refuses the same way: no half-working tool either.
    shown = deployment.cli("show", "--customer", "anyone")
    assert shown.returncode != 0 and shown.json()["error"] == "kek_unavailable", shown.stdout


def test_a_wrong_kek_file_is_a_clear_startup_error(deployment: Any) -> None:
    path = deployment.data_dir / "kek" / "epoch-000001.kek"
    path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    assert_refused(refused_start(deployment), "kek_unavailable", "not the one this key store")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(os.urandom(32)).decode(), "not the one this key store"),
    ],
    ids=["not-base64", "wrong-key"],
)
def test_a_bad_kek_in_the_environment_is_a_clear_startup_error(
    deployment: Any, value: str, words: str
) -> None:
    assert_refused(refused_start(deployment, FACEKEEP_KEK=value), "kek_unavailable", words)


def test_the_audit_signing_key_is_not_the_kek(deployment: Any) -> None:
    kek = (deployment.data_dir / "kek" / "epoch-000001.kek").read_bytes()
    seed = (deployment.data_dir / "audit" / "signing-ed25519.key").read_bytes()
    assert len(kek) == 32 and len(seed) == 32
    assert kek != seed
    # Nor derived from it: the KEK used as an Ed25519 seed gives another public key.
    done = deployment.cli("audit", "pubkey")
    published = done.json()["public_key_pem"].encode()
    from_kek = (
        Ed25519PrivateKey.from_private_bytes(kek)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    from_seed = (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert published == from_seed
    assert published != from_kek
    # With the KEK given in the environment, the signing key is still its own file.
    with_env = deployment.cli(
        "audit", "pubkey", env={"FACEKEEP_KEK": base64.b64encode(kek).decode()}
    )
    assert with_env.json()["public_key_pem"].encode() == from_seed
