"""``facekeep enroll``, ``match``, ``revoke``, ``erase`` and ``show``: one customer at a
time, from the operator's machine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click

from api.cli.common import (
    CLI_ACTOR,
    cli_runtime,
    data_dir_option,
    emit,
    load_settings,
    read_image,
    to_jsonable,
)
from api.notices import latest_version, notice_for
from api.operations import enroll_images, match_answer, match_images
from api.views import erasure_json, revoke_json
from api.vocabulary import LANGUAGES
from vault import ConsentRequest

__all__ = ["enroll", "erase", "match", "revoke", "show"]


@click.command("enroll")
@data_dir_option
@click.option("--customer", default=None, help="Pseudonymous customer id (generated if absent).")
@click.option("--image", "images", multiple=True, required=True, type=click.Path(path_type=Path))
@click.option("--purpose", "purposes", multiple=True, required=True)
@click.option("--venue", "venues", multiple=True, required=True)
@click.option("--notice-version", default=None, help="Default: the newest notice.")
@click.option("--lang", required=True, type=click.Choice(LANGUAGES))
@click.option("--expires-days", type=click.IntRange(1, 3650), default=None)
@click.option("--method", default="staff-cli", show_default=True)
@click.option("--device", default="cli", show_default=True)
def enroll(
    data_dir: Path | None,
    customer: str | None,
    images: tuple[Path, ...],
    purposes: tuple[str, ...],
    venues: tuple[str, ...],
    notice_version: str | None,
    lang: str,
    expires_days: int | None,
    method: str,
    device: str,
) -> None:
    """Enrol a customer with explicit consent and 1-5 photos."""
    settings = load_settings(data_dir)
    notice_version = notice_version or latest_version(lang, settings.notices_dir)
    text = notice_for(settings, notice_version, lang)
    blobs = [read_image(p) for p in images]
    with cli_runtime(data_dir) as runtime:
        now = runtime.vault.now()
        consent = ConsentRequest(
            purposes=purposes,
            venues=venues,
            notice_text=text,
            notice_version=notice_version,
            lang=lang,
            method=method,
            device=device,
            expires_at=now + timedelta(days=expires_days) if expires_days else None,
        )
        result = enroll_images(runtime, blobs, consent, actor=CLI_ACTOR, customer_id=customer)
    e = result.enrolment
    emit(
        {
            "customer": e.customer_id,
            "consent": e.consent_id,
            "templates": len(e.template_ids),
            "key_id": e.key_id,
            "purposes": sorted(set(purposes)),
            "venues": sorted(set(venues)),
            "expires_at": consent.expires_at,
            "access_code": result.access_code,
            "receipt": e.receipt.document() if e.receipt else None,
        }
    )


@click.command("match")
@data_dir_option
@click.option(
    "--image",
    "images",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="A photo; give up to 5 frames of one guest to match them as one probe.",
)
@click.option("--venue", required=True)
@click.option("--purpose", default="checkin", show_default=True)
def match(data_dir: Path | None, images: tuple[Path, ...], venue: str, purpose: str) -> None:
    """Match a guest (the largest face of 1 to 5 photos of them) against consenting
    customers: prints the customer and consent, or only {"match": false}."""
    blobs = [read_image(image) for image in images]
    with cli_runtime(data_dir, index=True) as runtime:
        hit = match_images(runtime, blobs, purpose=purpose, venue=venue, actor=CLI_ACTOR)
    emit(match_answer(hit))


@click.command("revoke")
@data_dir_option
@click.option("--customer", required=True)
@click.option("--purpose", default=None, help="Withdraw only this purpose (default: all).")
def revoke(data_dir: Path | None, customer: str, purpose: str | None) -> None:
    """Withdraw a customer's consent, for one purpose or all."""
    with cli_runtime(data_dir) as runtime:
        result = runtime.vault.revoke(customer, purpose=purpose, actor=CLI_ACTOR)
    emit(revoke_json(result, purpose))


@click.command("erase")
@data_dir_option
@click.option("--customer", required=True)
@click.option("--reason", required=True)
def erase(data_dir: Path | None, customer: str, reason: str) -> None:
    """Erase a customer: revoke everything and destroy their data key (crypto-shred)."""
    with cli_runtime(data_dir) as runtime:
        result = runtime.vault.erase(customer, reason=reason, actor=CLI_ACTOR)
    emit(erasure_json(result, with_receipt=True))


@click.command("show")
@data_dir_option
@click.option("--customer", required=True)
def show(data_dir: Path | None, customer: str) -> None:
    """Show a customer's consents and template metadata (never an embedding); a template
    that no longer decrypts (altered or damaged) is marked ``"readable": false`` and
    listed in ``unreadable_templates``."""
    with cli_runtime(data_dir) as runtime:
        view = runtime.vault.show(customer, check_templates=True)
        now = runtime.vault.now()
    out = to_jsonable(view)
    for consent, raw in zip(out["consents"], view.consents, strict=True):
        consent["status"] = raw.status(now)
        consent["active_purposes"] = list(raw.active_purposes(now))
    out["unreadable_templates"] = [t.template_id for t in view.templates if t.readable is False]
    emit(out)
