"""Temporary shim (issue #17): moved to :mod:`vault.audit.verify`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.verify import *  # noqa: F403
from vault.audit.verify import __all__ as __all__
