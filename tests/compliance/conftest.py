"""A deployment for the compliance tests on the engine under test (SQLite files, or the
test's PostgreSQL schemas through FACEKEEP_DATABASE_URL): initialised like `facekeep
init`, with venues and a few customers enrolled from synthetic unit-length embeddings (the
registers and the dossier never look at faces), and a runner for the real `facekeep`
command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api import credentials
from api.runtime import Runtime, init_data_dir, open_runtime
from api.settings import Settings
from enroll.engines import SFACE
from vault import SYSTEM, Actor, ConsentRequest

FACEKEEP = Path(sys.executable).parent / "facekeep"
DESK = Actor(role="admin", id="key_desk")
CONFIG = {
    "FACEKEEP_CONTROLLER": "Công ty TNHH Karaoke Hoa Sen",
    "FACEKEEP_CONTROLLER_ADDRESS": "12 Lý Thường Kiệt, Hoàn Kiếm, Hà Nội",
    "FACEKEEP_PRIVACY_CONTACT": "privacy@hoasen.example",
    "FACEKEEP_DPO": "Nguyễn Thị Lan",
    "FACEKEEP_PROCESSORS": '["Viettel IDC: hosting in Hà Nội"]',
}


@dataclass
class Deployment:
    data_dir: Path
    env: dict[str, str]
    customers: dict[str, str] = field(default_factory=dict)  # name -> customer id

    def settings(self, **extra: Any) -> Settings:
        return Settings(data_dir=self.data_dir, **extra)

    def runtime(self) -> Runtime:
        return open_runtime(self.settings(), embedder=_NoFaces())

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        """Run `facekeep ARGS --data-dir DIR`; the exit code and the one JSON object."""
        done = subprocess.run(
            [str(FACEKEEP), *args, "--data-dir", str(self.data_dir)],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, done.stdout + done.stderr
        out: dict[str, Any] = json.loads(lines[0])
        return done.returncode, out

    def ok(self, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
        code, out = self.run(*args, env=env)
        assert code == 0, out
        return out


class _NoFaces:
    """The registers and the dossier never embed a photo."""

    engine = SFACE  # the engine a new vault serves

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the compliance code asked the embedder for {name}")


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=128)
    return list(vector / np.linalg.norm(vector))


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name, value in CONFIG.items():
        monkeypatch.setenv(name, value)
    data_dir = tmp_path / "data"
    init_data_dir(Settings(data_dir=data_dir))
    env = {k: v for k, v in os.environ.items() if k != "FACEKEEP_DATA_DIR"}
    found = Deployment(data_dir, env)
    runtime = found.runtime()
    try:
        vault = runtime.vault
        now = vault.now()
        for venue, name in (("hoa-sen-1", "Karaoke Hoa Sen 1"), ("sen-vang", "Sen Vàng")):
            credentials.ensure_venue(vault.engine, venue, name, now, SYSTEM)
        for seed, (name, venues, purposes) in enumerate(
            [
                ("lan", ("hoa-sen-1",), ("checkin", "marketing")),
                ("minh", ("sen-vang",), ("checkin",)),
                ("hoa", ("hoa-sen-1", "sen-vang"), ("checkin",)),
            ]
        ):
            consent = ConsentRequest(
                purposes=purposes,
                venues=venues,
                notice_text="Thông báo thử nghiệm",
                notice_version="v2",
                lang="vi",
                method="kiosk-web",
                device="test",
                expires_at=now + timedelta(days=365),
            )
            enrolment = vault.enroll([unit(seed)], consent, actor=DESK)
            found.customers[name] = enrolment.customer_id
    finally:
        runtime.close()
    yield found
