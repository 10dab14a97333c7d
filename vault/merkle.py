"""Temporary shim (issue #17): moved to :mod:`vault.audit.merkle`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.merkle import *  # noqa: F403
from vault.audit.merkle import __all__ as __all__
