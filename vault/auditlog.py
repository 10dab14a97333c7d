"""Temporary shim (issue #17): moved to :mod:`vault.audit.log`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.log import *  # noqa: F403
from vault.audit.log import __all__ as __all__
