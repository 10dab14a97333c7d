"""Key-encryption-key (KEK) providers.

A provider wraps and unwraps customers' data keys and never hands out its own key.
KEKs are numbered by *epoch*: rotation creates epoch N+1, every live data key is
re-wrapped under it, and epoch N is destroyed, so old copies of the key store (backups,
disk images) hold data keys wrapped under a KEK that no longer exists.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys import aead
from keys.errors import DecryptionFailed, KekError, KekFileInsecure

#: One data key to unwrap: (wrapped bytes, KEK epoch, context bound as associated data).
UnwrapItem = tuple[bytes, int, tuple[str, ...]]
#: One data key to wrap: (plain key, KEK epoch, context bound as associated data).
WrapItem = tuple[bytes | bytearray, int, tuple[str, ...]]


@runtime_checkable
class KekProvider(Protocol):
    """What the key store needs from wherever the key-encryption key lives."""

    name: str
    #: How many items one ``unwrap_many``/``wrap_many`` call should carry at most.
    batch_size: int

    def current_epoch(self) -> int:
        """Return the epoch new data keys are wrapped under."""
        ...

    def epochs(self) -> list[int]:
        """Return every epoch that still exists, oldest first."""
        ...

    def wrap(self, dek: bytes | bytearray, *, epoch: int, context: tuple[str, ...]) -> bytes:
        """Wrap a data key under the KEK of ``epoch``, bound to ``context``."""
        ...

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        """Unwrap a data key; raises DecryptionFailed on any mismatch."""
        ...

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        """Unwrap many data keys in as few provider calls as it allows; an item that does
        not open is None (it fails alone). Raises KekError when the provider is down."""
        ...

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        """Wrap many data keys in as few provider calls as it allows."""
        ...

    def new_epoch(self, *, owner: str | None = None) -> int:
        """Create the KEK of the next epoch, bound to key store ``owner``, and make it
        current."""
        ...

    def epoch_owner(self, epoch: int) -> str | None:
        """The key store an epoch was created for (None: created before epochs were
        bound to their key store)."""
        ...

    def destroy_epoch(self, epoch: int) -> None:
        """Destroy the KEK of an epoch that is no longer current."""
        ...

    def probe(self) -> None:
        """A cheap call proving the provider answers; raises KekError otherwise."""
        ...


def unwrap_each(
    unwrap: Callable[..., bytearray], items: Sequence[UnwrapItem]
) -> list[bytearray | None]:
    """``unwrap_many`` for providers with no batch call: one ``unwrap`` per item."""
    out: list[bytearray | None] = []
    for wrapped, epoch, context in items:
        try:
            out.append(unwrap(wrapped, epoch=epoch, context=context))
        except DecryptionFailed:
            out.append(None)
    return out


_EPOCH_FILE = re.compile(r"^epoch-(\d{6})\.kek$")
_OWNER_SUFFIX = ".owner"


class LocalKekProvider:
    """Development KEK: 32 random bytes per epoch in 0600 files under one directory.

    Also accepts a single fixed KEK (for example from an environment variable), which
    cannot be rotated.
    """

    name = "local"
    batch_size = 4_000

    def __init__(self, directory: Path | None, *, fixed: bytes | None = None) -> None:
        self._dir = directory
        self._lock = threading.RLock()
        self._keys: dict[int, bytearray] = {}
        # Keyed ciphers for unwrapping (a cold start unwraps a million data keys under
        # one KEK); an entry is used only while it was made from the epoch's current key.
        self._ciphers: dict[int, tuple[bytearray, AESGCM]] = {}
        if fixed is not None:
            if len(fixed) != aead.KEY_BYTES:
                raise KekError("the KEK must be exactly 32 bytes")
            self._keys[1] = bytearray(fixed)
        elif directory is not None and directory.is_dir():
            self._load()
        if not self._keys:
            raise KekError(
                "no key-encryption key found; run `facekeep init` to create one"
                + (f" in {directory}" if directory else "")
            )

    @classmethod
    def create(cls, directory: Path, *, owner: str | None = None) -> LocalKekProvider:
        """Create the directory and epoch 1, bound to key store ``owner``, if no KEK
        exists yet (idempotent)."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not any(_EPOCH_FILE.match(p.name) for p in directory.iterdir()):
            if owner is not None:
                path = directory / (_epoch_name(1) + _OWNER_SUFFIX)
                _write_key_file(path, bytearray(owner.encode()))
            _write_key_file(directory / _epoch_name(1), aead.new_key())
        return cls(directory)

    def _load(self) -> None:
        """Read the epochs on disk: new ones appear, destroyed ones are forgotten.

        Called on every use, so a rotation made by another process (``facekeep keys
        rotate`` beside a running server) takes effect here at once.
        """
        if self._dir is None:
            return
        on_disk: dict[int, Path] = {}
        if self._dir.is_dir():
            for path in self._dir.iterdir():
                match = _EPOCH_FILE.match(path.name)
                if match:
                    on_disk[int(match.group(1))] = path
        with self._lock:
            for epoch in [e for e in self._keys if e not in on_disk]:
                self._ciphers.pop(epoch, None)
                aead.wipe(self._keys.pop(epoch))
            for epoch, path in on_disk.items():
                if epoch not in self._keys:
                    self._keys[epoch] = _read_key_file(path)
        if not self._keys:
            raise KekError(f"no key-encryption key left in {self._dir}")

    def current_epoch(self) -> int:
        self._load()
        return max(self._keys)

    def epochs(self) -> list[int]:
        self._load()
        return sorted(self._keys)

    def _key(self, epoch: int) -> bytearray:
        key = self._keys.get(epoch)
        if key is None:
            self._load()
            key = self._keys.get(epoch)
        if key is None:
            raise DecryptionFailed()
        return key

    def wrap(self, dek: bytes | bytearray, *, epoch: int, context: tuple[str, ...]) -> bytes:
        return aead.seal(self._key(epoch), bytes(dek), context)

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        key = self._key(epoch)
        cached = self._ciphers.get(epoch)
        if cached is None or cached[0] is not key:
            cached = (key, AESGCM(key))
            self._ciphers[epoch] = cached
        return bytearray(aead.open_with(cached[1], wrapped, context))

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        return unwrap_each(self.unwrap, items)

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        return [self.wrap(dek, epoch=epoch, context=context) for dek, epoch, context in items]

    def probe(self) -> None:
        self.current_epoch()

    def new_epoch(self, *, owner: str | None = None) -> int:
        if self._dir is None:
            raise KekError("a KEK given as a fixed value cannot be rotated; use a key directory")
        with self._lock:
            epoch = self.current_epoch() + 1
            key = aead.new_key()
            if owner is not None:
                # Written first: an epoch never exists without the store it belongs to.
                _write_key_file(self._owner_path(epoch), bytearray(owner.encode()))
            _write_key_file(self._dir / _epoch_name(epoch), key)
            self._keys[epoch] = key
            return epoch

    def _owner_path(self, epoch: int) -> Path:
        assert self._dir is not None
        return self._dir / (_epoch_name(epoch) + _OWNER_SUFFIX)

    def epoch_owner(self, epoch: int) -> str | None:
        if self._dir is None:
            return None
        try:
            return self._owner_path(epoch).read_text().strip() or None
        except FileNotFoundError:
            return None

    def destroy_epoch(self, epoch: int) -> None:
        if epoch == self.current_epoch():
            raise KekError("the current KEK epoch cannot be destroyed")
        with self._lock:
            self._ciphers.pop(epoch, None)
            key = self._keys.pop(epoch, None)
            if key is not None:
                aead.wipe(key)
            if self._dir is not None:
                _shred_file(self._dir / _epoch_name(epoch))
                self._owner_path(epoch).unlink(missing_ok=True)


def _epoch_name(epoch: int) -> str:
    return f"epoch-{epoch:06d}.kek"


def _write_key_file(path: Path, key: bytearray) -> None:
    """Write a key file atomically with mode 0600 (never world- or group-readable)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, bytes(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_key_file(path: Path) -> bytearray:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KekFileInsecure(
            f"key file {path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
            "run `chmod 600` on it"
        )
    data = bytearray(path.read_bytes())
    if len(data) != aead.KEY_BYTES:
        raise KekError(f"key file {path} is not a 32-byte key")
    return data


def _shred_file(path: Path) -> None:
    """Overwrite a key file with zeros before unlinking it (best effort on CoW filesystems)."""
    if not path.exists():
        return
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())
    path.unlink()
