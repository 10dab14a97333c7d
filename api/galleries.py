"""How likely strangers are to match someone, gallery by gallery.

A probe is compared with every customer of its (venue, purpose) gallery. If one
comparison accepts a different person with probability ``f`` (the engine's false-match
rate at its threshold), a stranger matches someone in a gallery of ``n`` customers with
probability ``1 - (1 - f)**n``: about ``n * f`` while that is small. Past
:data:`RISK_LIMIT` the gallery is reported in ``/readyz``, in the metrics and once in the
log; ``FACEKEEP_MAX_GALLERY_CUSTOMERS`` caps it.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import TypedDict

from vault.index import PartitionedIndex

__all__ = ["RISK_LIMIT", "Gallery", "GalleryWatch", "false_match_risk", "risky_size"]

#: The share of strangers matched above which a gallery is reported.
RISK_LIMIT = 0.01

log = logging.getLogger("facekeep.galleries")


class Gallery(TypedDict):
    """One (venue, purpose) gallery and how likely a stranger is to match in it."""

    venue: str
    purpose: str
    customers: int
    false_match_risk: float
    warning: bool


def false_match_risk(customers: int, false_match_rate: float) -> float:
    """The chance that a stranger's probe matches one of ``customers``."""
    return -math.expm1(customers * math.log1p(-false_match_rate))


def risky_size(false_match_rate: float, limit: float = RISK_LIMIT) -> int:
    """The smallest gallery whose risk exceeds ``limit``."""
    return math.floor(math.log1p(-limit) / math.log1p(-false_match_rate)) + 1


class GalleryWatch:
    """Reports galleries whose false-match risk exceeds :data:`RISK_LIMIT`; logs each
    such gallery once, when it is first seen over the limit."""

    def __init__(self, false_match_rate: float, limit: float = RISK_LIMIT) -> None:
        self.false_match_rate = false_match_rate
        self.limit = limit
        self._logged: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def check(self, index: PartitionedIndex) -> list[Gallery]:
        """Every gallery with its size and risk, riskiest first; logs new warnings."""
        out: list[Gallery] = []
        for (venue, purpose), customers in index.partitions().items():
            risk = false_match_risk(customers, self.false_match_rate)
            out.append(
                Gallery(
                    venue=venue,
                    purpose=purpose,
                    customers=customers,
                    false_match_risk=round(risk, 6),
                    warning=risk > self.limit,
                )
            )
        out.sort(key=lambda g: (-g["false_match_risk"], g["venue"], g["purpose"]))
        with self._lock:
            for gallery in out:
                key = (gallery["venue"], gallery["purpose"])
                if gallery["warning"] and key not in self._logged:
                    self._logged.add(key)
                    log.warning(
                        "gallery %s/%s holds %d customers: a stranger now matches someone "
                        "with probability %.1f %% (over %.0f %%); cap it with "
                        "FACEKEEP_MAX_GALLERY_CUSTOMERS or ask for more photos per guest",
                        gallery["venue"],
                        gallery["purpose"],
                        gallery["customers"],
                        100 * gallery["false_match_risk"],
                        100 * self.limit,
                    )
                elif not gallery["warning"]:
                    self._logged.discard(key)
        return out
