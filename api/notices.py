"""The consent notices shipped with facekeep, by version and language.

The exact text shown to the customer is stored with their consent, with its SHA-256.
"""

from __future__ import annotations

import re
from importlib import resources

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class UnknownNotice(LookupError):
    """No notice with this version and language."""

    code = "unknown_notice"


def notice_text(version: str, lang: str) -> str:
    """The full notice text of ``version`` in ``lang`` (``vi`` or ``en``)."""
    if not _NAME.match(version) or lang not in ("vi", "en"):
        raise UnknownNotice(f"no notice {version!r} in {lang!r}")
    path = resources.files("api") / "notices" / f"{version}.{lang}.txt"
    if not path.is_file():
        raise UnknownNotice(f"no notice {version!r} in {lang!r}")
    return path.read_text(encoding="utf-8")


def available() -> list[tuple[str, str]]:
    """Every (version, lang) pair shipped."""
    out = []
    for entry in (resources.files("api") / "notices").iterdir():
        parts = entry.name.rsplit(".", 2)
        if len(parts) == 3 and parts[2] == "txt":
            out.append((parts[0], parts[1]))
    return sorted(out)
