"""Temporary shim (issue #17): the shared database plumbing moved to :mod:`dbkit.db`.

Only re-exports, for the modules not yet updated; remove once nothing imports it.
"""

from dbkit.db import *  # noqa: F403
from dbkit.db import __all__ as __all__
