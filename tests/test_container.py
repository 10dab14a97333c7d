"""The Dockerfile, .dockerignore and compose.yaml stay consistent with the code (docker
itself is not available where the tests run: the files are parsed and checked)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FACEKEEP_SERVICES = ("facekeep-init", "facekeep-1", "facekeep-2")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text()
    joined = re.sub(r"\\\n\s*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last:]


def setting_names() -> set[str]:
    return {"FACEKEEP_" + name.upper() for name in Settings.model_fields}


def included(path: str) -> bool:
    """Whether .dockerignore lets ``path`` into the build context (last rule wins)."""
    keep = True
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(path, pattern):
            keep = negate
    return keep


def test_the_image_installs_dependencies_before_the_code() -> None:
    steps = instructions()
    copies = [(i, args) for i, (word, args) in enumerate(steps) if word == "COPY"]
    lock = next(i for i, args in copies if args.startswith("requirements.prod.lock"))
    install = next(
        i
        for i, (word, args) in enumerate(steps)
        if word == "RUN" and "requirements.prod.lock" in args
    )
    code = [i for i, args in copies if args.split()[0] in ("keys", "vault", "enroll", "api")]
    assert len(code) == 4 and lock < install < min(code)
    assert "--require-hashes" in steps[install][1]


def test_the_image_carries_no_tests_benchmarks_or_sample_faces() -> None:
    for word, args in instructions():
        if word == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert not source.startswith(("bench", "tests", ".")), source
                assert (ROOT / source).exists(), source
                assert included(source), f"{source} is excluded by .dockerignore"
    for excluded in (
        "bench",
        "tests/data/faces/obama_1.jpg",
        ".venv",
        ".git",
        ".bench-cache",
        "test-artifacts",
        "facekeep-data",
        "scripts",
    ):
        assert not included(excluded), excluded


def test_the_service_user_owns_only_its_data() -> None:
    stage = final_stage()
    text = "\n".join(f"{word} {args}" for word, args in stage)
    assert ("USER", "10001:10001") in stage
    user_at = stage.index(("USER", "10001:10001"))
    assert any(word == "HEALTHCHECK" for word, _ in stage[user_at:])
    # /data exists, belongs to the service user and is the volume; the code does not.
    assert re.search(r"mkdir -m 0700 /data", text) and "chown 10001:10001 /data" in text
    assert ("VOLUME", '["/data"]') in stage
    assert "chown" not in " ".join(args for word, args in stage if word == "COPY")
    assert not re.search(r"chown[^\n]*(/opt/facekeep|/app)", text)
    env = " ".join(args for word, args in stage if word == "ENV")
    assert "FACEKEEP_DATA_DIR=/data" in env
    for name in re.findall(r"(FACEKEEP_[A-Z_]+)=", env):
        assert name in setting_names(), name
    health = next(args for word, args in stage if word == "HEALTHCHECK")
    assert "/readyz" in health and "--start-period=" in health
    assert stage[-1][0] == "CMD" and "serve" in stage[-1][1]


def test_the_base_image_runs_the_python_the_project_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    minimum = re.search(r">=\s*3\.(\d+)", project["requires-python"])
    assert minimum is not None
    for word, args in instructions():
        if word == "FROM":
            version = re.search(r"python:3\.(\d+)", args)
            assert version and int(version.group(1)) >= int(minimum.group(1)), args


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_has_postgresql_openbao_two_replicas_and_a_proxy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "openbao", "proxy", *FACEKEEP_SERVICES}
    for name in FACEKEEP_SERVICES:
        assert services[name]["build"] == "."
        assert "facekeep-data:/data" in services[name]["volumes"]
    assert services["facekeep-init"]["command"] == ["facekeep", "init"]
    for name in ("facekeep-1", "facekeep-2"):
        assert services[name]["command"] == ["facekeep", "serve"]
        assert services[name]["depends_on"] == {
            "facekeep-init": {"condition": "service_completed_successfully"}
        }
    init_needs = services["facekeep-init"]["depends_on"]
    assert {k: v["condition"] for k, v in init_needs.items()} == {
        "postgres": "service_healthy",
        "openbao": "service_healthy",
    }
    assert {k: v["condition"] for k, v in services["proxy"]["depends_on"].items()} == {
        "facekeep-1": "service_healthy",
        "facekeep-2": "service_healthy",
    }
    for name in ("postgres", "openbao"):
        assert services[name]["healthcheck"]["test"]
    for service in services.values():
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose["volumes"]


def test_compose_configures_facekeep_with_settings_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = services["facekeep-1"]["environment"]
    assert all(services[name]["environment"] == env for name in FACEKEEP_SERVICES)
    for name in env:
        assert name in setting_names(), f"{name} is not a facekeep setting"
    assert env["FACEKEEP_KEK_PROVIDER"] == "transit"
    assert env["FACEKEEP_TRANSIT_URL"] == "http://openbao:8200"
    vault_url, keys_url = env["FACEKEEP_DATABASE_URL"], env["FACEKEEP_KEYSTORE_URL"]
    assert (
        "@postgres:5432/facekeep_vault" in vault_url and "@postgres:5432/facekeep_keys" in keys_url
    )
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "facekeep_vault"
    assert "CREATE DATABASE facekeep_keys" in compose["configs"]["keystore-database"]["content"]
    # Serving beyond loopback needs the controller and the privacy contact: required.
    assert ":?" in env["FACEKEEP_CONTROLLER"] and ":?" in env["FACEKEEP_PRIVACY_CONTACT"]
    # Forwarded addresses are believed from the proxy's fixed address only.
    proxy_ip = services["proxy"]["networks"]["default"]["ipv4_address"]
    assert env["FACEKEEP_TRUSTED_PROXIES"] == proxy_ip


def test_the_proxy_spreads_over_both_replicas_and_skips_one_not_ready(
    compose: dict[str, Any],
) -> None:
    config = compose["configs"]["proxy-config"]["content"]
    port = Settings().port
    for name in ("facekeep-1", "facekeep-2"):
        assert f"server {name}:{port}" in config
    assert "proxy_next_upstream" in config and "http_503" in config
    assert "client_max_body_size 40m" in config  # the service's own body limit
    assert Settings().max_body_bytes == 40 * 1024 * 1024
    listen = re.search(r"listen (\d+);", config)
    assert listen and compose["services"]["proxy"]["ports"] == [f"8000:{listen.group(1)}"]
