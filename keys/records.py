"""What the key store tells about keys without their bytes: records and outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class KeyRecord:
    """What may be known about a data key without its bytes."""

    key_id: str
    customer_id: str
    state: str
    kek_epoch: int
    commitment: str
    created_at: datetime
    destroyed_at: datetime | None
    destroy_reason: str | None


@dataclass(frozen=True)
class Destruction:
    """The outcome of destroying a customer's key."""

    record: KeyRecord
    already_destroyed: bool


@dataclass(frozen=True)
class Rotation:
    """The outcome of a KEK rotation."""

    new_epoch: int
    destroyed_epochs: list[int]
    rewrapped: int
