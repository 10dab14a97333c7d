"""The root ``facekeep`` group, every command group added to it, and :func:`main`, which
turns every failure into one JSON line and an exit code."""

from __future__ import annotations

import json
import os
import sys
from typing import NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from api.cli.audit import audit_group
from api.cli.backup import backup_command, restore_check_command, restore_command
from api.cli.common import CliError
from api.cli.compliance import breach_group, compliance_group, requests_group
from api.cli.credentials import credentials_group, staff_group
from api.cli.customers import enroll, erase, match, revoke, show
from api.cli.database import db_group, init
from api.cli.demo import demo
from api.cli.engine import engine_group
from api.cli.evaluate import evaluate_command
from api.cli.keys import keys_group
from api.cli.kiosk import kiosk_group
from api.cli.retention import retention_group
from api.cli.serve import serve
from api.cli.webhooks import webhooks_group
from api.notices import UnknownNotice
from enroll import EnrollError
from keys import KeysError
from vault import VaultError

__all__ = ["cli", "database_problem", "fail", "main"]


@click.group()
@click.version_option(package_name="facekeep")
def cli() -> None:
    """facekeep: a consent-first, crypto-shredding face-data vault."""


for _command in (
    init,
    enroll,
    match,
    revoke,
    erase,
    show,
    db_group,
    keys_group,
    serve,
    audit_group,
    retention_group,
    kiosk_group,
    demo,
    evaluate_command,
    compliance_group,
    requests_group,
    breach_group,
    backup_command,
    restore_command,
    restore_check_command,
    engine_group,
    webhooks_group,
    credentials_group,
    staff_group,
):
    cli.add_command(_command)


def fail(code: str, message: str, status: int = 1) -> NoReturn:
    """Print a JSON error and exit."""
    click.echo(json.dumps({"error": code, "message": message}, ensure_ascii=False))
    sys.exit(status)


def main() -> None:
    """Entry point of the ``facekeep`` console script."""
    # Everything facekeep writes (databases, key files, exports) is private to its user.
    os.umask(0o077)
    import logging

    from api.logs import configure

    # Warnings and errors of any command as JSON lines on stderr (serve sets its level);
    # a host that already routes logging (a test runner calling main()) keeps its own.
    if not logging.getLogger().handlers:
        configure("WARNING")
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        fail("aborted", "aborted", 130)
    except click.ClickException as exc:
        fail("usage", exc.format_message(), 2)
    except CliError as exc:
        fail(exc.code, exc.message)
    except (EnrollError, VaultError, KeysError, UnknownNotice) as exc:
        fail(exc.code, str(exc))
    except SQLAlchemyError as exc:
        fail("database_unavailable", database_problem(exc))
    except Exception as exc:  # never a raw traceback: one JSON line, the details logged
        from api.logs import log_unexpected

        log_unexpected("facekeep.cli", exc)
        fail("internal_error", f"unexpected {type(exc).__name__}; details in the log (stderr)")


def database_problem(exc: SQLAlchemyError) -> str:
    """What went wrong with a database, in one line and without credentials."""
    import re

    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    first = re.sub(r"(password|passwd|pwd)\s*=\s*\S+", r"\1=***", first, flags=re.I)
    first = re.sub(r"://([^:/@\s]+):[^@\s]+@", r"://\1:***@", first)
    return f"a database does not answer or refused the request ({type(orig).__name__}: {first})"
