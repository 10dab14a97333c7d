"""Temporary shim (issue #17): moved to :mod:`vault.audit.queue`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.queue import *  # noqa: F403
from vault.audit.queue import __all__ as __all__
