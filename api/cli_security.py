"""``facekeep credentials`` and ``facekeep staff``: every credential of every role can be
listed, disabled and rotated from the command line, the same as through the API.

A change made here reaches running servers within ``FACEKEEP_KEY_CACHE_SECONDS`` (API
keys) or at once (staff sessions and customers' access codes, which are looked up in the
database on every use).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from api import accounts, credentials
from api.accounts import AccountError

__all__ = ["credentials_group", "staff_group", "witness_command"]

F = TypeVar("F", bound=Callable[..., Any])


def _pin(from_stdin: bool) -> tuple[str, bool]:
    """A PIN read from stdin (never from the command line, which others may see), or a new
    one; and whether it was made here (then it is printed once)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return accounts.new_pin(), True


@click.group(name="credentials")
def credentials_group() -> None:
    """List, disable and rotate credentials: API keys, staff accounts, access codes."""


@credentials_group.command("list")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--role", type=click.Choice(["admin", "kiosk", "auditor", "staff"]), default=None)
def list_credentials(data_dir: Path | None, role: str | None) -> None:
    """Every API key and staff account (never a secret)."""
    from api.cli import emit, runtime_for

    runtime = runtime_for(data_dir)
    try:
        engine = runtime.vault.engine
        keys = [] if role == "staff" else credentials.list_keys(engine, role)
        staff = accounts.list_staff(engine) if role in (None, "staff") else []
    finally:
        runtime.close()
    emit({"keys": [k.public() for k in keys], "staff": [a.public() for a in staff]})


def _one_of(key: str | None, staff: str | None, customer: str | None) -> None:
    from api.cli import CliError

    if sum(x is not None for x in (key, staff, customer)) != 1:
        raise CliError("usage", "name exactly one of --key, --staff or --customer")


TARGETS = [
    click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None),
    click.option("--key", default=None, help="An API key id (admin_..., kiosk_..., auditor_...)."),
    click.option("--staff", default=None, help="A staff account id."),
    click.option("--customer", default=None, help="A customer (their access code)."),
]


def _targets(func: F) -> F:
    for option in reversed(TARGETS):
        func = option(func)
    return func


@credentials_group.command("disable")
@_targets
def disable(
    data_dir: Path | None, key: str | None, staff: str | None, customer: str | None
) -> None:
    """Disable an API key, a staff account (its sessions end) or a customer's access code."""
    from api.cli import CLI_ACTOR, CliError, emit, runtime_for

    _one_of(key, staff, customer)
    runtime = runtime_for(data_dir)
    try:
        engine, now = runtime.vault.engine, runtime.vault.now()
        if key is not None:
            found = credentials.disable_key(engine, key, now=now, actor=CLI_ACTOR)
            if found is None:
                raise CliError("key_not_found", f"no API key {key!r}")
            emit(found.public())
        elif staff is not None:
            account = accounts.disable_staff(engine, staff, now=now, actor=CLI_ACTOR)
            if account is None:
                raise CliError("not_found", f"no staff account {staff!r}")
            emit(account.public())
        else:
            assert customer is not None
            runtime.vault.replace_access_code(customer, None, actor=CLI_ACTOR)
            emit({"customer": customer, "access_code": None})
    finally:
        runtime.close()


@credentials_group.command("rotate")
@_targets
@click.option("--pin-stdin", is_flag=True, help="Staff: read the new PIN from stdin.")
def rotate(
    data_dir: Path | None,
    key: str | None,
    staff: str | None,
    customer: str | None,
    pin_stdin: bool,
) -> None:
    """Give an API key a new secret, a staff account a new PIN, or a customer a new access
    code; the new secret is printed once and the old one stops working."""
    from api.cli import CLI_ACTOR, CliError, emit, runtime_for
    from api.operations import replace_access_code

    _one_of(key, staff, customer)
    runtime = runtime_for(data_dir)
    try:
        engine, now = runtime.vault.engine, runtime.vault.now()
        if key is not None:
            rotated = credentials.rotate_key(engine, key, now=now, actor=CLI_ACTOR)
            if rotated is None:
                raise CliError("key_not_found", f"no API key {key!r}")
            emit({"key": rotated[0], **rotated[1].public()})
        elif staff is not None:
            pin, made = _pin(pin_stdin)
            try:
                account = accounts.rotate_staff(engine, staff, pin=pin, now=now, actor=CLI_ACTOR)
            except AccountError as exc:
                raise CliError(exc.code, str(exc)) from None
            if account is None:
                raise CliError("not_found", f"no staff account {staff!r}")
            emit({**account.public(), "pin": pin if made else None})
        else:
            assert customer is not None
            code = replace_access_code(runtime, customer, actor=CLI_ACTOR)
            emit({"customer": customer, "access_code": code})
    finally:
        runtime.close()


@click.group(name="staff")
def staff_group() -> None:
    """Staff accounts: people at the counter, scoped to venues, signing in with a PIN."""


@staff_group.command("create")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), default=None)
@click.option("--id", "staff_id", required=True, help="The sign-in name, e.g. lan.nguyen.")
@click.option("--venue", "venues", multiple=True, required=True)
@click.option("--name", default="", help="The person's name, for the operator's list.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from stdin (default: a new one).")
def create_staff(
    data_dir: Path | None, staff_id: str, venues: tuple[str, ...], name: str, pin_stdin: bool
) -> None:
    """Make a staff account for some venues; a PIN made here is printed once."""
    from api.cli import CLI_ACTOR, CliError, emit, runtime_for
    from vault.consent import check_id

    check_id(staff_id, "staff")
    for venue in venues:
        check_id(venue, "venue")
    pin, made = _pin(pin_stdin)
    runtime = runtime_for(data_dir)
    try:
        engine, now = runtime.vault.engine, runtime.vault.now()
        for venue in venues:
            credentials.ensure_venue(engine, venue, venue, now, CLI_ACTOR)
        try:
            account = accounts.create_staff(
                engine,
                staff_id=staff_id,
                name=name,
                venues=venues,
                pin=pin,
                now=now,
                actor=CLI_ACTOR,
            )
        except AccountError as exc:
            raise CliError(exc.code, str(exc)) from None
    finally:
        runtime.close()
    emit({**account.public(), "pin": pin if made else None})


@click.command("witness")
@click.option("--url", required=True, help="The facekeep service, e.g. https://vault.example")
@click.option("--key", required=True, envvar="FACEKEEP_AUDITOR_KEY", help="An auditor key.")
@click.option(
    "--state",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="This witness's folder: the heads it kept, the pinned key, any ALARM.json.",
)
@click.option(
    "--pubkey",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The audit public key to pin (PEM or base64); default: the one served at the "
    "first run, pinned from then on.",
)
@click.option(
    "--cosign",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Cosign each accepted head with this Ed25519 key file (made if missing).",
)
@click.option(
    "--count", type=click.IntRange(0), default=1, show_default=True, help="Polls; 0: forever."
)
@click.option("--interval", type=click.FloatRange(0.1), default=60.0, show_default=True)
def witness_command(
    url: str,
    key: str,
    state: Path,
    pubkey: Path | None,
    cosign: Path | None,
    count: int,
    interval: float,
) -> None:
    """Poll the service's signed tree head, check it against the heads kept here with a
    consistency proof, and keep it; exits non-zero on any inconsistency."""
    import time

    import httpx

    from api.cli import CliError, emit
    from api.witness import Witness, WitnessAlarm, load_cosigner
    from keys.signing import load_public_key

    pinned = load_public_key(pubkey.read_text()) if pubkey else None
    cosigner = load_cosigner(cosign) if cosign else None
    headers = {"Authorization": f"Bearer {key}"}
    polls = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        try:
            witness = Witness(state, client, pubkey=pinned, cosigner=cosigner)
            while True:
                emit(witness.poll().to_json())
                polls += 1
                if count and polls >= count:
                    break
                time.sleep(interval)
        except WitnessAlarm as exc:
            raise CliError("audit_inconsistent", str(exc)) from None
        except httpx.HTTPError as exc:
            raise CliError("witness_unreachable", f"{type(exc).__name__}: {exc}") from None
