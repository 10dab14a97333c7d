"""``requirements.prod.lock`` (what the container image installs) is the service's part
of ``requirements.lock``, and it is enough: a fresh virtual environment built from it
alone initialises a data directory and serves ``/readyz``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import launch_server

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", re.MULTILINE)


def _pins(path: Path) -> dict[str, str]:
    return {_norm(n): v for n, v in PIN.findall(path.read_text(encoding="utf-8"))}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", spec)
    assert match, spec
    return _norm(match.group(0))


def test_the_prod_lock_is_the_service_part_of_the_full_lock() -> None:
    full = _pins(ROOT / "requirements.lock")
    prod = _pins(ROOT / "requirements.prod.lock")
    assert prod, "requirements.prod.lock pins nothing"
    different = {n: (v, full.get(n)) for n, v in prod.items() if full.get(n) != v}
    assert not different, f"pinned differently from requirements.lock: {different}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wanted = {_requirement_name(d) for d in project["project"]["dependencies"]}
    missing = wanted - set(prod)
    assert not missing, f"service dependencies missing from the prod lock: {missing}"
    dev = {_requirement_name(d) for d in project["dependency-groups"]["dev"]}
    assert not dev & set(prod), f"development tools in the prod lock: {dev & set(prod)}"


def _uv() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    for python in (sys.executable, shutil.which("python3")):
        if (
            python
            and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode
            == 0
        ):
            return [python, "-m", "uv"]
    pytest.fail("uv is not installed (scripts/setup-env installs it)")


def test_a_venv_from_the_prod_lock_alone_serves(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    uv = _uv()
    run = {"capture_output": True, "text": True, "timeout": 600}
    done = subprocess.run([*uv, "venv", "--quiet", "--python", sys.executable, str(venv)], **run)
    assert done.returncode == 0, done.stderr
    python = venv / "bin" / "python"
    for args in (
        ["--no-deps", "--require-hashes", "-r", str(ROOT / "requirements.prod.lock")],
        ["--no-deps", str(ROOT)],
    ):
        done = subprocess.run(
            [*uv, "pip", "install", "--quiet", "--python", str(python), *args], **run
        )
        assert done.returncode == 0, done.stderr
    listed = subprocess.run([*uv, "pip", "list", "--python", str(python)], **run).stdout.lower()
    for tool in ("pytest", "playwright", "schemathesis", "openbao"):
        assert tool not in listed, f"{tool} was installed from the prod lock"

    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    env["FACEKEEP_DATA_DIR"] = str(tmp_path / "data")
    facekeep = venv / "bin" / "facekeep"
    done = subprocess.run([str(facekeep), "init"], env=env, cwd=tmp_path, **run)
    assert done.returncode == 0, (done.stdout, done.stderr)
    # The other venv's console script, run outside the working tree.
    launch_server(
        None,
        env=env,
        log=tmp_path / "serve.log",
        command=(str(facekeep),),
        cwd=tmp_path,
        timeout=120,
        grace=30,
    ).stop()
