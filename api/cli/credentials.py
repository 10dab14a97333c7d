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
from api.cli.common import CLI_ACTOR, CliError, cli_runtime, emit, plain_data_dir_option

__all__ = ["credentials_group", "staff_group"]

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_NOT_FOUND = {"key": ("key_not_found", "no API key"), "staff": ("not_found", "no staff account")}


def _found(value: T | None, kind: str, name: str) -> T:
    """``value``, unless the API key or staff account named was not found."""
    if value is None:
        code, what = _NOT_FOUND[kind]
        raise CliError(code, f"{what} {name!r}")
    return value


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
@plain_data_dir_option()
@click.option("--role", type=click.Choice(["admin", "kiosk", "auditor", "staff"]), default=None)
def list_credentials(data_dir: Path | None, role: str | None) -> None:
    """Every API key and staff account (never a secret)."""
    with cli_runtime(data_dir) as runtime:
        engine = runtime.vault.engine
        keys = [] if role == "staff" else credentials.list_keys(engine, role)
        staff = accounts.list_staff(engine) if role in (None, "staff") else []
    emit({"keys": [k.public() for k in keys], "staff": [a.public() for a in staff]})


def _one_of(key: str | None, staff: str | None, customer: str | None) -> None:
    if sum(x is not None for x in (key, staff, customer)) != 1:
        raise CliError("usage", "name exactly one of --key, --staff or --customer")


TARGETS = [
    plain_data_dir_option(),
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
    _one_of(key, staff, customer)
    with cli_runtime(data_dir) as runtime:
        engine, now = runtime.vault.engine, runtime.vault.now()
        if key is not None:
            found = credentials.disable_key(engine, key, now=now, actor=CLI_ACTOR)
            emit(_found(found, "key", key).public())
        elif staff is not None:
            account = accounts.disable_staff(engine, staff, now=now, actor=CLI_ACTOR)
            emit(_found(account, "staff", staff).public())
        else:
            assert customer is not None
            runtime.vault.replace_access_code(customer, None, actor=CLI_ACTOR)
            emit({"customer": customer, "access_code": None})


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
    from api.operations import replace_access_code

    _one_of(key, staff, customer)
    with cli_runtime(data_dir) as runtime:
        engine, now = runtime.vault.engine, runtime.vault.now()
        if key is not None:
            secret, api_key = _found(
                credentials.rotate_key(engine, key, now=now, actor=CLI_ACTOR), "key", key
            )
            emit({"key": secret, **api_key.public()})
        elif staff is not None:
            pin, made = _pin(pin_stdin)
            try:
                account = accounts.rotate_staff(engine, staff, pin=pin, now=now, actor=CLI_ACTOR)
            except AccountError as exc:
                raise CliError(exc.code, str(exc)) from None
            emit({**_found(account, "staff", staff).public(), "pin": pin if made else None})
        else:
            assert customer is not None
            code = replace_access_code(runtime, customer, actor=CLI_ACTOR)
            emit({"customer": customer, "access_code": code})


@click.group(name="staff")
def staff_group() -> None:
    """Staff accounts: people at the counter, scoped to venues, signing in with a PIN."""


@staff_group.command("create")
@plain_data_dir_option()
@click.option("--id", "staff_id", required=True, help="The sign-in name, e.g. lan.nguyen.")
@click.option("--venue", "venues", multiple=True, required=True)
@click.option("--name", default="", help="The person's name, for the operator's list.")
@click.option("--pin-stdin", is_flag=True, help="Read the PIN from stdin (default: a new one).")
def create_staff(
    data_dir: Path | None, staff_id: str, venues: tuple[str, ...], name: str, pin_stdin: bool
) -> None:
    """Make a staff account for some venues; a PIN made here is printed once."""
    from vault.consent import check_id

    check_id(staff_id, "staff")
    for venue in venues:
        check_id(venue, "venue")
    pin, made = _pin(pin_stdin)
    with cli_runtime(data_dir) as runtime:
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
    emit({**account.public(), "pin": pin if made else None})
