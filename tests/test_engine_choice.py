"""A vault serves one face engine: recorded at init (SFace for new vaults), kept by an
upgrade of an older vault (dlib), refused when the configuration names another, and
changed only by `facekeep engine switch`, after which customers match again once they
have enrolled anew."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import inspect

from api.cli import cli
from api.operations import enroll_images, match_images
from api.runtime import VAULT_MIGRATIONS, init_data_dir, open_runtime
from api.settings import Settings
from dbkit.schema import _config
from enroll.engines import DLIB, SFACE
from tests.support.consents import consent_request
from vault import SYSTEM, ConsentRequest
from vault.errors import ModelMismatch

pytestmark = pytest.mark.faces

VENUE = "hcm-1"


@pytest.fixture
def deployment(
    tmp_path: Path, new_db_urls: Callable[[Path], Any]
) -> Iterator[Callable[..., Settings]]:
    """``deployment(**settings)`` -> the settings of a fresh, initialised deployment."""
    urls = new_db_urls(tmp_path / "db")

    def make(init: bool = True, **overrides: Any) -> Settings:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=urls.vault,
            keystore_url=urls.keys,
            **overrides,
        )
        if init:
            init_data_dir(settings)
        return settings

    yield make


def consent() -> ConsentRequest:
    return consent_request(VENUE)


def run_cli(settings: Settings, *args: str) -> dict[str, Any]:
    env = {
        "FACEKEEP_DATA_DIR": str(settings.data_dir),
        "FACEKEEP_DATABASE_URL": str(settings.database_url),
        "FACEKEEP_KEYSTORE_URL": str(settings.keystore_url),
    }
    result = CliRunner().invoke(cli, list(args), env=env, standalone_mode=False)
    assert result.exception is None, result.exception
    value: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


def test_a_new_vault_serves_sface_and_refuses_another_engine(
    deployment: Callable[..., Settings],
) -> None:
    settings = deployment()
    runtime = open_runtime(settings)
    try:
        assert runtime.settings.face_engine == "sface"
        assert runtime.vault.model_version == SFACE.model_version
        assert (runtime.settings.match_threshold, runtime.settings.match_margin) == (
            SFACE.threshold,
            SFACE.margin,
        )
        assert runtime.embedder.engine is SFACE
    finally:
        runtime.close()
    with pytest.raises(ModelMismatch, match="FACEKEEP_FACE_ENGINE=sface"):
        open_runtime(settings.model_copy(update={"face_engine": "dlib"}))
    status = run_cli(settings, "engine", "status")
    assert status["engine"] == "sface" and status["templates"] == {}


def test_an_engine_chosen_at_init_is_kept_without_configuration(
    deployment: Callable[..., Settings], face_bytes: Callable[[str], bytes]
) -> None:
    settings = deployment(face_engine="dlib")
    plain = settings.model_copy(update={"face_engine": None})
    runtime = open_runtime(plain)
    try:
        assert runtime.embedder.engine is DLIB
        enroll_images(runtime, [face_bytes("obama_1.jpg")], consent(), actor=SYSTEM)
        hit = match_images(
            runtime, [face_bytes("obama_2.jpg")], purpose="checkin", venue=VENUE, actor=SYSTEM
        )
        assert hit is not None
    finally:
        runtime.close()
    with pytest.raises(ModelMismatch):
        open_runtime(settings.model_copy(update={"face_engine": "sface"}))


def test_upgrading_an_older_vault_keeps_its_dlib_templates_served(
    deployment: Callable[..., Settings], face_bytes: Callable[[str], bytes]
) -> None:
    """A vault made before engines were recorded holds dlib templates: the migration
    records dlib, so the upgrade changes nothing for its customers."""
    settings = deployment(face_engine="dlib")
    runtime = open_runtime(settings)
    try:
        enroll_images(
            runtime, [face_bytes("obama_1.jpg")], consent(), actor=SYSTEM, customer_id="obama"
        )
        engine = runtime.vault.engine
        # Back to the schema of the previous release.
        command.downgrade(_config(VAULT_MIGRATIONS, engine), "vault0002")
        assert not inspect(engine).has_table("vault_settings")
    finally:
        runtime.close()
    upgraded = run_cli(settings.model_copy(update={"face_engine": None}), "db", "upgrade")
    assert upgraded["upgraded"]["vault"] >= "vault0003"
    plain = settings.model_copy(update={"face_engine": None})
    runtime = open_runtime(plain)
    try:
        assert runtime.embedder.engine is DLIB
        hit = match_images(
            runtime, [face_bytes("obama_2.jpg")], purpose="checkin", venue=VENUE, actor=SYSTEM
        )
        assert hit is not None and hit.customer_id == "obama"
    finally:
        runtime.close()


def test_switching_engine_needs_confirmation_and_a_new_enrolment(
    deployment: Callable[..., Settings], face_bytes: Callable[[str], bytes]
) -> None:
    settings = deployment(face_engine="dlib")
    plain = settings.model_copy(update={"face_engine": None})
    runtime = open_runtime(plain)
    try:
        enroll_images(
            runtime, [face_bytes("obama_1.jpg")], consent(), actor=SYSTEM, customer_id="obama"
        )
    finally:
        runtime.close()
    refused = CliRunner().invoke(
        cli,
        ["engine", "switch", "sface"],
        env={
            "FACEKEEP_DATA_DIR": str(settings.data_dir),
            "FACEKEEP_DATABASE_URL": str(settings.database_url),
            "FACEKEEP_KEYSTORE_URL": str(settings.keystore_url),
        },
        standalone_mode=False,
    )
    assert refused.exception is not None and "--yes" in str(refused.exception)
    switched = run_cli(plain, "engine", "switch", "sface", "--yes")
    assert switched == {"engine": "sface", "previous": "dlib", "customers_to_reenrol": 1}

    runtime = open_runtime(plain)
    try:
        assert runtime.embedder.engine is SFACE
        probe = [face_bytes("obama_2.jpg")]
        assert match_images(runtime, probe, purpose="checkin", venue=VENUE, actor=SYSTEM) is None
        # Staff re-enrol the guest at the counter: no face of the new engine to compare
        # with, so the retake is recorded as unverified.
        fresh = runtime.embedder.embed_enrolment(face_bytes("obama_1.jpg")).vector
        runtime.vault.replace_templates("obama", [fresh], actor=SYSTEM, unverified_ok=True)
        hit = match_images(runtime, probe, purpose="checkin", venue=VENUE, actor=SYSTEM)
        assert hit is not None and hit.customer_id == "obama"
        view = runtime.vault.show("obama")
        assert {t.model_version for t in view.templates} == {SFACE.model_version}
    finally:
        runtime.close()
    events = [e for e in _events(plain) if e["action"] == "engine.switch"]
    assert [e["details"] for e in events] == [
        {"from": DLIB.model_version, "to": SFACE.model_version}
    ]


def _events(settings: Settings) -> list[dict[str, Any]]:
    from vault import read_events

    runtime = open_runtime(settings, start=False)
    try:
        return [e.body for e in read_events(runtime.vault.engine)]
    finally:
        runtime.close()
