"""The HTTP service, the command line and the web pages: the edge of facekeep.

``create_app(settings)`` builds the FastAPI application (nothing is built at import
time); ``Settings`` is the one configuration object, read from ``FACEKEEP_*`` variables;
``open_runtime`` opens the stores and the face engine for a command or the server. This
package maps domain errors to HTTP problems and is imported by nothing else. Its names
are loaded on first use, so a command that needs no web server does not import one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app
    from api.runtime import Runtime, open_runtime
    from api.settings import Settings

__all__ = ["Runtime", "Settings", "create_app", "open_runtime"]

_HOMES = {
    "Runtime": "api.runtime",
    "Settings": "api.settings",
    "create_app": "api.app",
    "open_runtime": "api.runtime",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'api' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
