"""``python -m bench --smoke`` (the quick run at the smallest sizes that still make every
row) runs end to end, so the benchmark never rots, and writes every required figure.
Timings are not asserted: they belong to the full run on a quiet machine, not to CI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite") != "sqlite",
        reason="the benchmark measures the default SQLite deployment; run once per CI run",
    ),
]


def test_quick_benchmark_writes_every_required_figure(tmp_path: Path) -> None:
    from bench.report import REQUIRED

    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEKEEP_")}
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "| figure |" in run.stdout  # the table is printed

    report = json.loads(out.read_text())
    assert report["machine"]["quick"] is True
    assert report["machine"]["cores"] >= 1
    rows = {row["name"]: row for row in report["rows"]}
    missing = [name for name in REQUIRED if name not in rows]
    assert not missing, missing
    for name in REQUIRED:
        row = rows[name]
        assert set(row) >= {"name", "value", "unit", "baseline", "ratio"}, row
        for key in ("value", "baseline", "ratio"):
            assert isinstance(row[key], int | float) and math.isfinite(row[key]), (name, row)
    # Every other row is well formed too (a value may be missing only with a reason).
    for row in report["rows"]:
        assert isinstance(row["unit"], str) and row["unit"], row
