"""The consent notices shipped with facekeep, by version and language.

The exact text shown to the customer is stored with their consent, with its SHA-256.

A notice file may name facts of the deployment in braces (``{controller}``,
``{privacy_contact}``, ...; see :class:`NoticeFacts`), filled in from the settings; a line
whose named facts are all empty (a venue without a data protection officer) is left out.
``FACEKEEP_NOTICES_DIR`` may hold further ``VERSION.LANG.txt`` files that add to or replace
the shipped ones, so a venue's lawyer can adjust the wording without code.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from api.vocabulary import LANGUAGES

if TYPE_CHECKING:
    from api.settings import Settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FACT = re.compile(r"\{([a-z_]+)\}")


class UnknownNotice(LookupError):
    """No notice with this version and language."""

    code = "unknown_notice"


@dataclass(frozen=True)
class NoticeFacts:
    """What a notice says about the deployment. The defaults are those of a deployment
    with default settings (development)."""

    controller: str = "facekeep operator"
    controller_address: str = ""
    privacy_contact: str = ""
    dpo: str = ""
    grace_days: str = "30"
    max_validity_days: str = "730"
    ack_working_days: str = "2"
    complete_days: str = "15"
    privacy_page: str = "/privacy"

    @classmethod
    def from_settings(cls, settings: Settings) -> NoticeFacts:
        """The facts a deployment's settings give."""
        base = (settings.public_url or "").rstrip("/")
        return cls(
            controller=settings.controller.strip(),
            controller_address=settings.controller_address.strip(),
            privacy_contact=settings.privacy_contact.strip(),
            dpo=settings.dpo.strip(),
            grace_days=f"{settings.retention_grace_days:g}",
            max_validity_days=str(max(settings.consent_validity_days)),
            ack_working_days=str(settings.request_ack_working_days),
            complete_days=str(settings.request_complete_days),
            privacy_page=f"{base}/privacy",
        )


def _files(folder: Path | None) -> dict[tuple[str, str], Path | Traversable]:
    found: dict[tuple[str, str], Path | Traversable] = {}
    places: list[Path | Traversable] = [resources.files("api") / "notices"]
    if folder is not None and folder.is_dir():
        places.append(folder)  # later places replace earlier ones
    for place in places:
        for entry in place.iterdir():
            parts = entry.name.rsplit(".", 2)
            if (
                len(parts) == 3
                and parts[2] == "txt"
                and parts[1] in LANGUAGES
                and _NAME.match(parts[0])
                and entry.is_file()
            ):
                found[(parts[0], parts[1])] = entry
    return found


def notice_template(version: str, lang: str, *, folder: Path | None = None) -> str:
    """The notice file's text of ``version`` in ``lang``, facts still in braces."""
    if not _NAME.match(version) or lang not in LANGUAGES:
        raise UnknownNotice(f"no notice {version!r} in {lang!r}")
    path = _files(folder).get((version, lang))
    if path is None:
        raise UnknownNotice(f"no notice {version!r} in {lang!r}")
    return path.read_text(encoding="utf-8")


def fill(template: str, facts: NoticeFacts) -> str:
    """Put the deployment's facts into a notice; leave out lines whose facts are empty."""
    values = asdict(facts)
    lines = []
    for line in template.split("\n"):
        names = _FACT.findall(line)
        known = [n for n in names if n in values]
        if known and not any(values[n] for n in known):
            continue
        lines.append(_FACT.sub(lambda m: values.get(m.group(1), m.group(0)), line))
    return "\n".join(lines)


def notice_text(
    version: str, lang: str, *, facts: NoticeFacts | None = None, folder: Path | None = None
) -> str:
    """The full notice text of ``version`` in ``lang`` (``vi`` or ``en``), as shown to the
    customer and stored with their consent."""
    return fill(notice_template(version, lang, folder=folder), facts or NoticeFacts())


def notice_for(settings: Settings, version: str, lang: str) -> str:
    """The notice as this deployment shows it (its facts, its notices folder)."""
    return notice_text(
        version, lang, facts=NoticeFacts.from_settings(settings), folder=settings.notices_dir
    )


def available(folder: Path | None = None) -> list[tuple[str, str]]:
    """Every (version, lang) pair shipped (or added in ``folder``)."""
    return sorted(_files(folder))


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order, so ``v10`` comes after ``v9``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", version)
    )


def latest_version(lang: str, folder: Path | None = None) -> str:
    """The newest notice version in ``lang``."""
    versions = [v for v, lg in available(folder) if lg == lang]
    if not versions:
        raise UnknownNotice(f"no notice in {lang!r}")
    return max(versions, key=version_key)
