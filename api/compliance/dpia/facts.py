"""The facts the dossier states, read from the live deployment at one moment: the settings,
the vault's and key store's counts, the notices in force and the compliance registers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, distinct, func, select
from sqlalchemy.engine import make_url

from api.compliance import breach_register, request_register
from api.notices import available, notice_for
from api.runtime import Runtime
from api.settings import Settings
from keys.store import data_keys
from vault.models import (
    api_keys,
    audit_events,
    consent_purposes,
    consents,
    customers,
    templates,
    venues,
)
from vault.requests import summary


@dataclass
class Facts:
    """What the dossier states, read from the deployment at one moment."""

    generated_at: datetime
    settings: Settings
    customers: dict[str, int]
    consenting: int
    by_purpose: dict[str, int]
    templates: int
    models: dict[str, int]
    venues: int
    notices: list[dict[str, Any]]
    keys_by_role: dict[str, int]
    key_states: dict[str, int]
    kek_epochs: list[int]
    audit_events: int
    signed_head: dict[str, Any] | None
    last_rotation: datetime | None
    requests: dict[str, int]
    breaches_open: int
    breaches_late: int
    databases: dict[str, str] = field(default_factory=dict)

    @property
    def sensitive_subjects(self) -> int:
        """People whose face templates the vault holds (sensitive data is processed)."""
        return self.customers.get("active", 0)

    @property
    def large_scale(self) -> bool:
        """Over the threshold above which the law asks more of the assessment."""
        return self.sensitive_subjects > self.settings.dpia_large_scale_subjects


def _where(url: str) -> str:
    """Engine and host of a database URL, never its credentials."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {Path(parsed.database or '').name or '(memory)'}"
    return f"PostgreSQL at {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


def _counts(engine: Engine, query: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {str(k): int(v) for k, v in conn.execute(query).all()}


def gather(runtime: Runtime) -> Facts:
    """Read the facts of the dossier from the deployment."""
    vault, settings = runtime.vault, runtime.settings
    engine, now = vault.engine, vault.now()
    live = (
        select(consents.c.customer_id, consent_purposes.c.purpose)
        .select_from(consent_purposes.join(consents).join(customers))
        .where(consent_purposes.c.revoked_at.is_(None))
        .where(consents.c.expires_at.is_(None) | (consents.c.expires_at > now))
        .where(customers.c.status == "active")
    ).subquery()
    with engine.connect() as conn:
        consenting = int(
            conn.execute(select(func.count(distinct(live.c.customer_id)))).scalar_one()
        )
        by_purpose = {
            str(p): int(n)
            for p, n in conn.execute(
                select(live.c.purpose, func.count(distinct(live.c.customer_id))).group_by(
                    live.c.purpose
                )
            )
        }
        total_templates = int(
            conn.execute(select(func.count()).select_from(templates)).scalar_one()
        )
        venue_count = int(
            conn.execute(
                select(func.count()).select_from(venues).where(venues.c.disabled_at.is_(None))
            ).scalar_one()
        )
        events = int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())
        rotated = conn.execute(
            select(func.max(audit_events.c.ts)).where(audit_events.c.action == "kek.rotate")
        ).scalar()
        in_force = conn.execute(
            select(
                consents.c.notice_version,
                consents.c.notice_lang,
                func.count(distinct(consents.c.customer_id)),
            )
            .select_from(consents.join(customers))
            .where(customers.c.status == "active")
            .group_by(consents.c.notice_version, consents.c.notice_lang)
        ).all()
    held = {(str(v), str(lg)): int(n) for v, lg, n in in_force}
    notices = []
    for version, lang in sorted(set(available(settings.notices_dir)) | set(held)):
        try:
            digest = hashlib.sha256(notice_for(settings, version, lang).encode("utf-8")).hexdigest()
        except LookupError:
            digest = ""
        notices.append(
            {
                "version": version,
                "lang": lang,
                "customers": held.get((version, lang), 0),
                "sha256": digest,
            }
        )
    head = vault.audit.latest_head() if vault.audit is not None else None
    requests = request_register(runtime)
    breaches = breach_register(runtime).find(open_only=True)
    return Facts(
        generated_at=now,
        settings=settings,
        customers=_counts(
            engine, select(customers.c.status, func.count()).group_by(customers.c.status)
        ),
        consenting=consenting,
        by_purpose=by_purpose,
        templates=total_templates,
        models=_counts(
            engine,
            select(templates.c.model_version, func.count()).group_by(templates.c.model_version),
        ),
        venues=venue_count,
        notices=notices,
        keys_by_role=_counts(
            engine,
            select(api_keys.c.role, func.count())
            .where(api_keys.c.disabled_at.is_(None))
            .group_by(api_keys.c.role),
        ),
        key_states=_counts(
            runtime.keys.engine,
            select(data_keys.c.state, func.count()).group_by(data_keys.c.state),
        ),
        kek_epochs=runtime.keys.kek.epochs(),
        audit_events=events,
        signed_head=(
            {"tree_size": head.tree_size, "timestamp": head.timestamp.isoformat()} if head else None
        ),
        last_rotation=rotated,
        requests=summary(requests.find(limit=100_000), now),
        breaches_open=len(breaches),
        breaches_late=sum(1 for b in breaches if b.late(now)),
        databases={"vault": _where(settings.vault_url()), "keys": _where(settings.keys_url())},
    )
