"""Purposes and notice languages as the HTTP edge types and lists them.

The values are written once, in :mod:`vault.consent` (``PURPOSES``, ``LANGUAGES``); the
orders, the request types and the messages here derive from them, so a new purpose or
language is added there and reaches every schema, check and OpenAPI enum at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal

from vault import LANGUAGES as _LANGUAGES
from vault import PURPOSES as _PURPOSES

#: The language a notice and a page are shown in unless another is asked for.
DEFAULT_LANG: Final = "vi"
#: Every purpose, in a stable order (for enums and messages).
PURPOSES: Final[tuple[str, ...]] = tuple(sorted(_PURPOSES))
#: Every notice language, the default first.
LANGUAGES: Final[tuple[str, ...]] = (DEFAULT_LANG, *sorted(_LANGUAGES - {DEFAULT_LANG}))

if TYPE_CHECKING:
    # A Literal built from a tuple is not a static type: checkers see plain strings.
    Purpose = str
    Lang = str
else:
    Purpose = Literal[PURPOSES]
    Lang = Literal[LANGUAGES]


def one_of(values: tuple[str, ...]) -> str:
    """``'vi' or 'en'``: the values a field takes, for a message."""
    return " or ".join(repr(v) for v in values)


__all__ = ["DEFAULT_LANG", "LANGUAGES", "PURPOSES", "Lang", "Purpose", "one_of"]
