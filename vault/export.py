"""Temporary shim (issue #17): moved to :mod:`vault.audit.export`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.export import *  # noqa: F403
from vault.audit.export import __all__ as __all__
