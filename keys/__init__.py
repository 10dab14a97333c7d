"""Key hierarchy: a key-encryption key per epoch wraps one data key per customer."""

from keys.datakey import DataKey, key_commitment
from keys.errors import (
    DecryptionFailed,
    KekError,
    KekFileInsecure,
    KeyDestroyed,
    KeyNotFound,
    KeysError,
    KeyWiped,
)
from keys.kek import KekProvider, LocalKekProvider
from keys.store import Destruction, KeyRecord, KeyStore, Rotation

__all__ = [
    "DataKey",
    "DecryptionFailed",
    "Destruction",
    "KekError",
    "KekFileInsecure",
    "KekProvider",
    "KeyDestroyed",
    "KeyNotFound",
    "KeyRecord",
    "KeyStore",
    "KeyWiped",
    "KeysError",
    "LocalKekProvider",
    "Rotation",
    "key_commitment",
]
