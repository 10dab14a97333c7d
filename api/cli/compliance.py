"""``facekeep compliance``, ``facekeep requests`` and ``facekeep breach``: the compliance
pack on the command line. Like every command, each prints one JSON object."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from api.cli.common import CLI_ACTOR, CliError, cli_runtime, data_dir_option, emit
from api.compliance import breach_register, request_register
from api.compliance.breach import write_drafts
from api.compliance.dpia import write_dossier
from api.compliance.requests import carry_out
from api.runtime import Runtime
from api.settings import Settings
from api.vocabulary import LANGUAGES, PURPOSES
from vault.breaches import STEPS, Scope
from vault.requests import CHANNELS, KINDS, summary

__all__ = ["breach_group", "compliance_group", "requests_group"]

R = TypeVar("R")


def parse_time(value: str | None, settings: Settings, name: str) -> datetime | None:
    """An ISO date or time; without a time zone it is the venues' local time."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError("invalid_time", f"{name}: not an ISO date or time: {value!r}") from None
    if len(value) == 10:  # a date alone: the start of that day
        parsed = datetime.combine(parsed.date(), time())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone(timedelta(hours=settings.utc_offset_hours)))
    return parsed


@contextmanager
def _register(data_dir: Path | None, make: Callable[[Runtime], R]) -> Iterator[tuple[Runtime, R]]:
    """A register (of requests or of breaches) of the data directory's vault."""
    with cli_runtime(data_dir) as runtime:
        yield runtime, make(runtime)


@click.group(name="compliance")
def compliance_group() -> None:
    """Evidence for Vietnam's Personal Data Protection Law."""


@compliance_group.command("dpia")
@data_dir_option
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--lang", "langs", multiple=True, type=click.Choice(LANGUAGES))
def dpia(data_dir: Path | None, out: Path, langs: tuple[str, ...]) -> None:
    """Write the impact-assessment dossier (Markdown and PDF) from the live deployment."""
    with cli_runtime(data_dir) as runtime:
        emit(write_dossier(runtime, out, actor=CLI_ACTOR, langs=langs or LANGUAGES))


@click.group(name="requests")
def requests_group() -> None:
    """Data-subject requests: record, list what is due, acknowledge, complete."""


def _rules(settings: Settings) -> dict[str, Any]:
    return {
        "acknowledge_working_days": settings.request_ack_working_days,
        "complete_days": settings.request_complete_days,
        "utc_offset_hours": settings.utc_offset_hours,
        "holidays": [d.isoformat() for d in settings.holidays],
    }


@requests_group.command("open")
@data_dir_option
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--channel", required=True, type=click.Choice(CHANNELS))
@click.option("--customer", default=None, help="Pseudonymous id, once staff know who it is.")
@click.option("--purpose", default=None, type=click.Choice(PURPOSES))
@click.option("--received", default=None, help="When it arrived (default now), ISO.")
@click.option("--note", default=None)
def requests_open(
    data_dir: Path | None,
    kind: str,
    channel: str,
    customer: str | None,
    purpose: str | None,
    received: str | None,
    note: str | None,
) -> None:
    """Record a request received at the counter, by phone, letter or e-mail."""
    with _register(data_dir, request_register) as (runtime, register):
        request = register.open(
            kind=kind,
            channel=channel,
            actor=CLI_ACTOR,
            customer_id=customer,
            purpose=purpose,
            received_at=parse_time(received, runtime.settings, "--received"),
            note=note,
        )
        emit(request.to_json(register.now()))


@requests_group.command("list")
@data_dir_option
@click.option("--due", is_flag=True, help="Only requests still open, the next deadline first.")
@click.option("--customer", default=None)
def requests_list(data_dir: Path | None, due: bool, customer: str | None) -> None:
    """Requests with their deadlines, what is late and the hours left."""
    with _register(data_dir, request_register) as (runtime, register):
        now = register.now()
        found = register.find(pending_only=due, customer_id=customer)
        emit(
            {
                "now": now,
                "rules": _rules(runtime.settings),
                "summary": summary(register.find(limit=100_000), now),
                "requests": [r.to_json(now) for r in found],
            }
        )


@requests_group.command("ack")
@data_dir_option
@click.argument("request_id")
def requests_ack(data_dir: Path | None, request_id: str) -> None:
    """Record that the requester was told their request is being handled."""
    with _register(data_dir, request_register) as (_runtime, register):
        emit(register.acknowledge(request_id, actor=CLI_ACTOR).to_json(register.now()))


@requests_group.command("complete")
@data_dir_option
@click.argument("request_id")
@click.option("--customer", default=None, help="Who asked, if the request did not say.")
@click.option("--outcome", default=None, help="What was done (needed for a correction).")
def requests_complete(
    data_dir: Path | None, request_id: str, customer: str | None, outcome: str | None
) -> None:
    """Do what the request asks (withdraw, object, restrict, erase, give access) and
    record it completed."""
    with _register(data_dir, request_register) as (runtime, register):
        closed, result = carry_out(
            runtime, register, request_id, actor=CLI_ACTOR, customer_id=customer, outcome=outcome
        )
        emit({**closed.to_json(register.now()), "result": result})


@requests_group.command("refuse")
@data_dir_option
@click.argument("request_id")
@click.option("--reason", required=True)
def requests_refuse(data_dir: Path | None, request_id: str, reason: str) -> None:
    """Refuse a request, saying why."""
    with _register(data_dir, request_register) as (_runtime, register):
        emit(register.refuse(request_id, reason=reason, actor=CLI_ACTOR).to_json(register.now()))


@click.group(name="breach")
def breach_group() -> None:
    """The breach register: open a file, record steps, draft the notifications."""


@breach_group.command("open")
@data_dir_option
@click.option("--description", required=True)
@click.option("--discovered", default=None, help="When it was discovered (default now), ISO.")
@click.option("--from", "occurred_from", default=None, help="Start of the window, ISO.")
@click.option("--to", "occurred_to", default=None, help="End of the window, ISO.")
@click.option("--venue", "venues", multiple=True, help="Limit to customers of these venues.")
@click.option("--customer", "customers", multiple=True, help="Limit to these customers.")
def breach_open(
    data_dir: Path | None,
    description: str,
    discovered: str | None,
    occurred_from: str | None,
    occurred_to: str | None,
    venues: tuple[str, ...],
    customers: tuple[str, ...],
) -> None:
    """Open a breach file: the notification clock starts at discovery; prints the
    affected pseudonymous customers."""
    if venues and customers:
        raise CliError("invalid_scope", "give --venue or --customer, not both")
    scope = (
        Scope("venues", venues)
        if venues
        else Scope("customers", customers)
        if customers
        else Scope()
    )
    with _register(data_dir, breach_register) as (runtime, register):
        breach = register.open(
            description=description,
            actor=CLI_ACTOR,
            scope=scope,
            discovered_at=parse_time(discovered, runtime.settings, "--discovered"),
            occurred_from=parse_time(occurred_from, runtime.settings, "--from"),
            occurred_to=parse_time(occurred_to, runtime.settings, "--to"),
        )
        emit({**breach.to_json(register.now()), "affected": register.subjects(breach.breach_id)})


@breach_group.command("step")
@data_dir_option
@click.argument("breach_id")
@click.option("--step", "step", required=True, type=click.Choice(sorted(STEPS)))
@click.option("--note", default="")
@click.option("--at", default=None, help="When it happened (default now), ISO.")
def breach_step(
    data_dir: Path | None, breach_id: str, step: str, note: str, at: str | None
) -> None:
    """Record a step: contained, authority_notified, subjects_notified, note, closed."""
    with _register(data_dir, breach_register) as (runtime, register):
        breach = register.step(
            breach_id, step, actor=CLI_ACTOR, note=note, at=parse_time(at, runtime.settings, "--at")
        )
        emit(breach.to_json(register.now()))


@breach_group.command("show")
@data_dir_option
@click.argument("breach_id")
def breach_show(data_dir: Path | None, breach_id: str) -> None:
    """A breach file, its steps, the time left and the affected customers."""
    with _register(data_dir, breach_register) as (_runtime, register):
        breach = register.get(breach_id)
        emit({**breach.to_json(register.now()), "affected": register.subjects(breach_id)})


@breach_group.command("list")
@data_dir_option
@click.option("--open", "open_only", is_flag=True, help="Only files still open.")
def breach_list(data_dir: Path | None, open_only: bool) -> None:
    """Breach files, the latest first, with the time left to notify."""
    with _register(data_dir, breach_register) as (_runtime, register):
        now = register.now()
        emit({"now": now, "breaches": [b.to_json(now) for b in register.find(open_only=open_only)]})


@breach_group.command("draft")
@data_dir_option
@click.argument("breach_id")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@click.option("--lang", "langs", multiple=True, type=click.Choice(LANGUAGES))
def breach_draft(data_dir: Path | None, breach_id: str, out: Path, langs: tuple[str, ...]) -> None:
    """Draft the notification to the authority and the notice to each affected guest."""
    with _register(data_dir, breach_register) as (runtime, register):
        breach = register.get(breach_id)
        langs = langs or LANGUAGES
        files = write_drafts(
            breach, register.subjects(breach_id), runtime.settings, out, register.now(), langs
        )
        register.step(breach_id, "drafted", actor=CLI_ACTOR, note=", ".join(p.name for p in files))
        emit({"breach": breach_id, "out": out, "files": [p.name for p in files]})
