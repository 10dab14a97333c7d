"""Evidence a venue must produce under Vietnam's Personal Data Protection Law, made from the
running system: the impact-assessment dossier (:mod:`api.compliance.dpia`), the register of
data-subject requests (:mod:`api.compliance.requests`) and the breach register with its
notification drafts (:mod:`api.compliance.breach`). Deadlines and texts come from the
settings, so a venue's lawyer adjusts them without code."""

from __future__ import annotations

from datetime import timedelta

from api.runtime import Runtime
from api.settings import Settings
from vault.breaches import BreachRegister, BreachRules
from vault.requests import RequestRegister, RequestRules


def request_rules(settings: Settings) -> RequestRules:
    """Deadlines of data-subject requests, as configured."""
    return RequestRules(
        ack_working_days=settings.request_ack_working_days,
        complete_days=settings.request_complete_days,
        utc_offset=timedelta(hours=settings.utc_offset_hours),
        holidays=frozenset(settings.holidays),
    )


def breach_rules(settings: Settings) -> BreachRules:
    """Deadlines of the breach register, as configured."""
    return BreachRules(
        notify_within=timedelta(hours=settings.breach_notify_hours),
        retain_years=settings.breach_retain_years,
    )


def request_register(runtime: Runtime) -> RequestRegister:
    """The deployment's register of data-subject requests (on the vault's clock)."""
    return RequestRegister(
        runtime.vault.engine, rules=request_rules(runtime.settings), clock=runtime.vault.now
    )


def breach_register(runtime: Runtime) -> BreachRegister:
    """The deployment's breach register (on the vault's clock)."""
    return BreachRegister(
        runtime.vault.engine, rules=breach_rules(runtime.settings), clock=runtime.vault.now
    )
