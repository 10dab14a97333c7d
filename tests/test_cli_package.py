"""The command line's package: its public surface, the command tree it offers, and that
importing it loads no command (spawned image workers import the console script's module
again and must not pay for the commands)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

import api.cli

pytestmark = pytest.mark.engine_neutral

#: Every command and group, by its full name: adding, renaming or dropping one is a
#: decision made here (the README's command table follows it).
COMMANDS = {
    "audit",
    "audit export",
    "audit head",
    "audit prove-consistency",
    "audit prove-inclusion",
    "audit pubkey",
    "audit verify",
    "audit witness",
    "backup",
    "breach",
    "breach draft",
    "breach list",
    "breach open",
    "breach show",
    "breach step",
    "compliance",
    "compliance dpia",
    "credentials",
    "credentials disable",
    "credentials list",
    "credentials rotate",
    "db",
    "db current",
    "db upgrade",
    "demo",
    "engine",
    "engine status",
    "engine switch",
    "enroll",
    "erase",
    "evaluate",
    "init",
    "keys",
    "keys create-admin",
    "keys create-auditor",
    "keys create-kiosk",
    "keys rotate",
    "kiosk",
    "kiosk match",
    "match",
    "requests",
    "requests ack",
    "requests complete",
    "requests list",
    "requests open",
    "requests refuse",
    "restore",
    "restore-check",
    "retention",
    "retention run",
    "retention status",
    "revoke",
    "serve",
    "show",
    "staff",
    "staff create",
    "webhooks",
    "webhooks set",
    "webhooks show",
    "webhooks test",
}


def test_the_public_surface_is_cli_and_main() -> None:
    assert set(api.cli.__all__) == {"cli", "main"}
    assert isinstance(api.cli.cli, click.Group)
    assert callable(api.cli.main)


def test_every_command_is_registered_once() -> None:
    def walk(group: click.Group, prefix: str) -> list[str]:
        names = []
        for name, command in group.commands.items():
            names.append(prefix + name)
            if isinstance(command, click.Group):
                names += walk(command, f"{prefix}{name} ")
        return names

    names = walk(api.cli.cli, "")
    assert len(names) == len(set(names))
    assert set(names) == COMMANDS


def test_importing_the_package_loads_no_command() -> None:
    probe = "import sys, api.cli; print(sorted(m for m in sys.modules if m.startswith('api.cli.')))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_python_m_api_cli_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "no-such-command"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert '"error": "usage"' in done.stdout
