"""The pages' strings in Vietnamese (the default) and English, one module per page.

Both dictionaries have exactly the same keys (a test holds this). ``{name}`` marks a value
the page fills in. The templates and the pages' JavaScript read the same dictionary, so the
page modules are merged into one per language; a key may live in only one of them. The
check-in kiosk keeps its own strings apart, in :mod:`api.web.i18n_checkin`.
"""

from __future__ import annotations

from typing import Final

from api.vocabulary import DEFAULT_LANG, LANGUAGES

from . import audit, common, customer, kiosk, privacy, receipts, staff

#: The pages' languages: the notice languages, the default first (api.vocabulary).
LANGS: Final = LANGUAGES
LANG_NAMES: Final = {"vi": "Tiếng Việt", "en": "English"}

_PAGES = (common, receipts, kiosk, customer, audit, privacy, staff)


def _merged(parts: list[dict[str, str]]) -> dict[str, str]:
    """One dictionary from the pages' parts; a key in two parts would silently lose one text."""
    merged: dict[str, str] = {}
    for part in parts:
        twice = merged.keys() & part.keys()
        if twice:
            raise ValueError(f"page strings defined twice: {sorted(twice)}")
        merged.update(part)
    return merged


_VI = _merged([page.VI for page in _PAGES])
_EN = _merged([page.EN for page in _PAGES])

STRINGS: Final[dict[str, dict[str, str]]] = {"vi": _VI, "en": _EN}


def pick_lang(asked: str | None) -> str:
    """The page language: ``vi`` or ``en``; anything else falls back to Vietnamese."""
    return asked if asked in LANGS else DEFAULT_LANG


def strings(lang: str) -> dict[str, str]:
    """Every string of the pages in ``lang``."""
    return STRINGS[pick_lang(lang)]
