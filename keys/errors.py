"""Errors raised by the key hierarchy. Each carries a stable ``code`` and, from
``details()``, its data attributes (ids and epochs only: never key bytes).

KeysError
 +-- KekError              the key-encryption key is missing, unreadable or refused
 |    +-- KekFileInsecure  the key file is readable by other users
 +-- KeyNotFound           no data key was ever made for this customer
 +-- KeyDestroyed          the customer's data key was destroyed (crypto-shredded)
 +-- DecryptionFailed      any failure to open a sealed value, whatever the cause
 +-- KeyWiped              a key handle was wiped (evicted or destroyed) while held
 +-- EpochNotOwned         a KEK epoch belongs to another key store
"""

from __future__ import annotations


class KeysError(Exception):
    """Base class of every error from the ``keys`` package."""

    code = "keys_error"

    def details(self) -> dict[str, object]:
        """Return the error's data attributes (ids and epochs, never key material)."""
        return {}


class KekError(KeysError):
    """The key-encryption key cannot be used."""

    code = "kek_unavailable"


class KekFileInsecure(KekError):
    """The key file's permissions let other users read it."""

    code = "kek_file_insecure"


class KeyNotFound(KeysError):
    """No data key exists for the customer."""

    code = "key_not_found"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no data key for customer {customer_id!r}")
        self.customer_id = customer_id

    def details(self) -> dict[str, object]:
        """Return ``{"customer_id"}``."""
        return {"customer_id": self.customer_id}


class KeyDestroyed(KeysError):
    """The customer's data key was destroyed; their data can never be opened again."""

    code = "key_destroyed"

    def __init__(self, customer_id: str, key_id: str) -> None:
        super().__init__(f"data key {key_id} of customer {customer_id!r} is destroyed")
        self.customer_id = customer_id
        self.key_id = key_id

    def details(self) -> dict[str, object]:
        """Return ``{"customer_id", "key_id"}`` (the key's id, never the key)."""
        return {"customer_id": self.customer_id, "key_id": self.key_id}


class DecryptionFailed(KeysError):
    """A sealed value could not be opened (wrong key, wrong context or tampered bytes)."""

    code = "decryption_failed"

    def __init__(self) -> None:
        super().__init__("decryption failed")


class KeyWiped(KeysError):
    """A data key handle was wiped while a caller still held it; fetch a fresh one."""

    code = "key_wiped"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"data key handle {key_id} was wiped")
        self.key_id = key_id

    def details(self) -> dict[str, object]:
        """Return ``{"key_id"}``."""
        return {"key_id": self.key_id}


class EpochNotOwned(KeysError):
    """A KEK epoch belongs to another key store (a restored copy must not rotate or
    destroy production's epochs)."""

    code = "epoch_not_owned"

    def __init__(self, epoch: int, owner: str, store_id: str) -> None:
        super().__init__(
            f"KEK epoch {epoch} belongs to key store {owner}, and this key store is "
            f"{store_id}: a restored copy (a drill) must never rotate or destroy the epochs "
            "of the store it was copied from. Run drills on their own HSM token or transit "
            "key, or, if this copy now replaces the original for good, see the runbook "
            "(README, 'Restore')"
        )
        self.epoch = epoch
        self.owner = owner
        self.store_id = store_id

    def details(self) -> dict[str, object]:
        """Return ``{"epoch", "owner", "store_id"}`` (key store ids, no key material)."""
        return {"epoch": self.epoch, "owner": self.owner, "store_id": self.store_id}
