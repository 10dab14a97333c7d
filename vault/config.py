"""What every part of the vault shares: its face model and match settings, its clock,
its fault hook and the ids it makes.

:class:`VaultConfig` is one mutable object handed to each collaborator, so a setting
changed after the vault is built (the server learns the vault's engine only once its
database is open) is seen by all of them at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

Clock = Callable[[], datetime]
FaultHook = Callable[[str], None]

__all__ = ["Clock", "FaultHook", "VaultConfig", "new_id", "no_fault", "utcnow"]


@dataclass
class VaultConfig:
    """The face model templates are stored under and the match settings."""

    model_name: str
    model_version: str
    threshold: float = 0.5
    margin: float = 0.0
    max_gallery: int | None = None
    # Hand every venue's check-ins off (a default webhook is configured), or only those
    # of venues with their own webhook.
    checkin_every_venue: bool = False


def utcnow() -> datetime:
    """The default clock."""
    return datetime.now(UTC)


def no_fault(point: str) -> None:
    """The default fault hook: nothing happens at any point."""
    return None


def new_id(prefix: str) -> str:
    """A fresh random id such as ``c_0123456789abcdef``."""
    return f"{prefix}_{secrets.token_hex(8)}"
