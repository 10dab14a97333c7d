"""``scripts/audit-deps``: pip-audit over requirements.lock with a reasoned allow-list.

The verdict logic is tested on pip-audit reports made here (``--from-json``); the real
audit of the lock runs once per test session (on the SQLite pass: it does not depend on
the database). It needs the vulnerability service (PyPI's JSON API per version, through
pip-audit); where that does not answer, the script says the audit is incomplete (exit 3)
and this test is skipped with the reason, never passed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "audit-deps"
ALLOW_LIST = ROOT / "security" / "pip-audit-ignore.txt"
ENGINE = os.environ.get("FACEKEEP_TEST_ENGINE", "sqlite")


def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "AUDIT_DEPS_PYTHON": sys.executable},
    )


def summary(output: str) -> dict[str, Any]:
    lines = [line for line in output.splitlines() if line.startswith("audit-deps: {")]
    assert lines, output
    value = json.loads(lines[-1].removeprefix("audit-deps: "))
    assert isinstance(value, dict)
    return value


def report(*deps: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(deps), "fixes": []}


def dep(name: str, *vulns: dict[str, Any], skip: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "version": "1.0"}
    if skip:
        out["skip_reason"] = skip
    else:
        out["vulns"] = list(vulns)
    return out


def vuln(ident: str, *aliases: str) -> dict[str, Any]:
    return {"id": ident, "fix_versions": ["1.1"], "aliases": list(aliases), "description": ""}


def test_the_allow_list_gives_a_reason_for_every_entry() -> None:
    assert ALLOW_LIST.exists()
    seen = set()
    for line in ALLOW_LIST.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        assert len(parts) == 3, line
        advisory, package, reason = parts
        assert re.match(r"^(PYSEC|GHSA|CVE|OSV)-", advisory), line
        assert re.match(r"^[A-Za-z0-9._-]+$", package), line
        assert len(reason) >= 20, f"{advisory}: say why it is accepted"
        assert advisory not in seen, f"{advisory} twice"
        seen.add(advisory)
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.parametrize(
    ("case", "allow", "expected_exit", "says"),
    [
        ("clean", "", 0, "OK"),
        ("vulnerable", "", 1, "UNEXPLAINED pkg-a 1.0: PYSEC-2099-1"),
        (
            "vulnerable",
            "PYSEC-2099-1 | pkg-a | only reachable through the optional CLI we do not ship",
            0,
            "accepted: only reachable",
        ),
        (
            "vulnerable",
            "GHSA-aaaa-bbbb-cccc | pkg-a | matched through the advisory's alias, not its id",
            0,
            "accepted: matched through",
        ),
        ("vulnerable", "PYSEC-2099-1 | other-pkg | listed for another package only", 1, "UNEX"),
        ("vulnerable", "PYSEC-2099-1 | pkg-a | ok", 2, "the reason must say why"),
        ("vulnerable", "PYSEC-2099-1 pkg-a no separators here at all", 2, "expected 'ID |"),
        ("skipped", "", 3, "INCOMPLETE"),
        ("clean", "PYSEC-2000-9 | pkg-a | fixed long ago and no longer reported", 0, "stale"),
    ],
)
def test_the_verdict(tmp_path: Path, case: str, allow: str, expected_exit: int, says: str) -> None:
    reports = {
        "clean": report(dep("pkg-a"), dep("pkg-b")),
        "vulnerable": report(dep("pkg-a", vuln("PYSEC-2099-1", "GHSA-aaaa-bbbb-cccc")), dep("b")),
        "skipped": report(dep("pkg-a"), dep("pkg-b", skip="Dependency not found on PyPI")),
    }
    (tmp_path / "report.json").write_text(json.dumps(reports[case]))
    (tmp_path / "allow.txt").write_text(f"# test\n{allow}\n")
    done = run(
        "--from-json", str(tmp_path / "report.json"), "--ignore-file", str(tmp_path / "allow.txt")
    )
    assert done.returncode == expected_exit, done.stdout + done.stderr
    assert says in done.stdout, done.stdout


@pytest.mark.skipif(ENGINE != "sqlite", reason="independent of the database: runs once")
def test_locked_dependencies_have_no_unexplained_known_vulnerability(figures: Any) -> None:
    done = run()
    output = done.stdout + done.stderr
    facts = summary(done.stdout)
    figures("pip_audit", {**facts, "exit": done.returncode})
    if done.returncode == 3:
        reasons = facts.get("skip_reasons", [])
        unreachable = facts["audited"] == 0 and all(
            "not found on PyPI" in r or "connection" in r.lower() for r in reasons
        )
        if unreachable:
            pytest.skip(
                "the vulnerability service did not answer for any locked dependency "
                f"({facts['not_audited']} not audited: {reasons[:1]}); the audit is "
                "incomplete, not clean"
            )
    assert done.returncode == 0, output
