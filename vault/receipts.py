"""Temporary shim (issue #17): moved to :mod:`vault.audit.receipts`.

Only re-exports, for modules not yet updated; remove once nothing imports it.
"""

from vault.audit.receipts import *  # noqa: F403
from vault.audit.receipts import __all__ as __all__
