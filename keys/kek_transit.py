"""KEKs held by a Vault-compatible transit engine (OpenBao or HashiCorp Vault).

The KEK is one ``aes256-gcm96`` transit key; epoch N is key version N. Data keys are
wrapped by the transit ``encrypt`` endpoint with an explicit ``key_version`` and the
encoded context as ``associated_data``; the wrapped form is the transit ciphertext
(``vault:vN:...``) as ASCII bytes.

Destroying epoch N raises ``min_encryption_version`` and ``min_decryption_version`` to
N+1 and trims every version below it, so old versions are deleted from the server's
storage, not merely refused. Transit keeps versions as one contiguous range, so epochs
can only be destroyed oldest first.

The transit ``rewrap`` endpoint is never used: it does not pass associated data through.
Keys are never made exportable or plaintext-backup-able.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Sequence
from typing import Any

import hvac  # type: ignore[import-untyped]
import requests
from hvac import exceptions as hv

from keys import aead
from keys.errors import DecryptionFailed, KekError
from keys.kek import UnwrapItem, WrapItem

__all__ = ["TransitKekProvider"]

KEY_TYPE = "aes256-gcm96"
#: Items per batch call: OpenBao 2.7 refused 250, and 100-128 cost about 0.03 ms a key.
BATCH = 128
# Which key store created an epoch: transit key versions carry no metadata of their own,
# so a marker key named after the epoch and its key store sits beside the KEK (never used
# to encrypt anything). Listing the transit keys finds it.
_OWNER_MARK = ".owner."

# Errors that say the server or the token is unavailable, not that a ciphertext is bad.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    requests.RequestException,
    hv.VaultDown,
    hv.VaultNotInitialized,
    hv.Unauthorized,
    hv.Forbidden,
    hv.RateLimitExceeded,
    hv.InternalServerError,
    hv.BadGateway,
)


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")


def _ciphertext(wrapped: bytes, epoch: int) -> str | None:
    """The transit ciphertext in ``wrapped`` if it names key version ``epoch``, else None
    (epoch 0 would let the server pick the latest version)."""
    try:
        ciphertext = bytes(wrapped).decode("ascii")
    except UnicodeDecodeError:
        return None
    if epoch < 1 or not ciphertext.startswith(f"vault:v{epoch}:"):
        return None
    return ciphertext


class TransitKekProvider:
    """KEK provider backed by a transit key whose versions are the epochs."""

    name = "transit"
    batch_size = BATCH

    def __init__(
        self,
        url: str,
        token: str,
        key_name: str = "facekeep-kek",
        mount: str = "transit",
        *,
        timeout: float = 5.0,
        verify: bool | str = True,
    ) -> None:
        self._connect(url, token, key_name, mount, timeout, verify)
        info = self._read()
        if info is None:
            raise KekError(
                f"no transit key {key_name!r} at mount {mount!r}; run `facekeep init` to create one"
            )
        self._check(info)

    def _connect(
        self, url: str, token: str, key_name: str, mount: str, timeout: float, verify: bool | str
    ) -> None:
        self._url = url
        self._key = key_name
        self._mount = mount.strip("/")
        self._timeout = timeout
        self._lock = threading.RLock()
        self._client = hvac.Client(url=url, token=token, timeout=timeout, verify=verify)

    @classmethod
    def create(
        cls,
        url: str,
        token: str,
        key_name: str = "facekeep-kek",
        mount: str = "transit",
        *,
        timeout: float = 5.0,
        verify: bool | str = True,
        owner: str | None = None,
    ) -> TransitKekProvider:
        """Enable the transit mount and create the key if missing, its version 1 bound
        to key store ``owner`` (idempotent)."""
        provider = cls.__new__(cls)
        provider._connect(url, token, key_name, mount, timeout, verify)
        with provider._lock:
            if provider._read() is None:
                provider._ensure_mount()
                provider._create_key("create the transit key", key_name)
                if owner is not None:
                    provider._mark_owner(1, owner)
            info = provider._read()
            if info is None:
                raise KekError(f"transit key {key_name!r} could not be created")
            provider._check(info)
        return provider

    def __repr__(self) -> str:
        return (
            f"TransitKekProvider(url={self._url!r}, key_name={self._key!r}, mount={self._mount!r})"
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.adapter.close()

    # -- plumbing ------------------------------------------------------------------------

    def _call(self, what: str, op: Any, *, missing_ok: bool = False) -> Any:
        """Run ``op(transit)``; any failure becomes a KekError naming only its class.
        With ``missing_ok``, a path that does not exist (the key or the mount) is None."""
        try:
            return op(self._client.secrets.transit)
        except (hv.VaultError, requests.RequestException) as exc:
            if missing_ok and isinstance(exc, hv.InvalidPath):
                return None
            raise KekError(f"transit: cannot {what} ({type(exc).__name__})") from None

    def _read(self) -> dict[str, Any] | None:
        """The key's description, or None if the key (or the mount) does not exist."""
        response = self._call(
            "read the key",
            lambda t: t.read_key(self._key, mount_point=self._mount),
            missing_ok=True,
        )
        if response is None:
            return None
        data: dict[str, Any] = response["data"]
        return data

    def _info(self) -> dict[str, Any]:
        info = self._read()
        if info is None:
            raise KekError(f"transit key {self._key!r} does not exist")
        return info

    def _check(self, info: dict[str, Any]) -> None:
        """Refuse a key that could leave the server or is not plain AES-256-GCM."""
        if info.get("type") != KEY_TYPE:
            raise KekError(f"transit key {self._key!r} is not of type {KEY_TYPE}")
        if info.get("exportable") or info.get("allow_plaintext_backup"):
            raise KekError(
                f"transit key {self._key!r} is exportable or allows plaintext backups; "
                "refusing to use it as a key-encryption key"
            )
        if info.get("derived") or info.get("convergent_encryption"):
            raise KekError(f"transit key {self._key!r} must not be derived or convergent")

    def _create_key(self, what: str, name: str) -> None:
        """Create a transit key that can never leave the server."""
        self._call(
            what,
            lambda t: t.create_key(
                name,
                key_type=KEY_TYPE,
                exportable=False,
                allow_plaintext_backup=False,
                mount_point=self._mount,
            ),
        )

    def _ensure_mount(self) -> None:
        mounts = self._call(
            "list secrets engines", lambda t: self._client.sys.list_mounted_secrets_engines()
        )
        table = mounts.get("data", mounts)
        entry = table.get(self._mount + "/")
        if entry is None:
            self._call(
                "enable the transit engine",
                lambda t: self._client.sys.enable_secrets_engine("transit", path=self._mount),
            )
        elif entry.get("type") != "transit":
            raise KekError(f"mount {self._mount!r} is not a transit secrets engine")

    @staticmethod
    def _versions(info: dict[str, Any]) -> list[int]:
        floor = int(info.get("min_decryption_version") or 1)
        return sorted(v for v in map(int, info.get("keys", {})) if v >= floor)

    def _trim_to(self, floor: int, info: dict[str, Any]) -> None:
        """Refuse and delete every version below ``floor`` (resumable, idempotent)."""
        if int(info.get("min_encryption_version") or 0) < floor:
            self._call(
                "raise min_encryption_version",
                lambda t: t.update_key_configuration(
                    self._key, min_encryption_version=floor, mount_point=self._mount
                ),
            )
        if int(info.get("min_decryption_version") or 1) < floor:
            self._call(
                "raise min_decryption_version",
                lambda t: t.update_key_configuration(
                    self._key, min_decryption_version=floor, mount_point=self._mount
                ),
            )
        if int(info.get("min_available_version") or 0) < floor:
            self._call(
                "trim old key versions",
                lambda t: t.trim_key(self._key, min_version=floor, mount_point=self._mount),
            )

    def _finish_pending_trim(self, info: dict[str, Any]) -> None:
        """Delete versions an interrupted destroy_epoch refused but did not trim."""
        floor = int(info.get("min_decryption_version") or 1)
        if floor > 1 and int(info.get("min_available_version") or 0) < floor:
            self._trim_to(floor, info)

    # -- KekProvider ---------------------------------------------------------------------

    def epochs(self) -> list[int]:
        """Key versions that still exist and may decrypt, oldest first."""
        return self._versions(self._info())

    def current_epoch(self) -> int:
        """The key's latest version."""
        return int(self._info()["latest_version"])

    def wrap(self, dek: bytes | bytearray, *, epoch: int, context: tuple[str, ...]) -> bytes:
        """Encrypt ``dek`` with key version ``epoch``, bound to ``context``."""
        if epoch < 1:  # key_version=0 would silently mean "latest"
            raise KekError(f"epoch {epoch} is out of range")
        aad = _b64(aead.encode_context(context))
        response = self._call(
            "wrap a data key",
            lambda t: t.encrypt_data(
                self._key,
                plaintext=_b64(dek),
                associated_data=aad,
                key_version=epoch,
                mount_point=self._mount,
            ),
        )
        ciphertext = str(response["data"]["ciphertext"])
        if not ciphertext.startswith(f"vault:v{epoch}:"):
            raise KekError("transit answered with a ciphertext of another key version")
        return ciphertext.encode("ascii")

    def unwrap(self, wrapped: bytes, *, epoch: int, context: tuple[str, ...]) -> bytearray:
        """Decrypt a wrapped data key; any refusal by the server is DecryptionFailed."""
        ciphertext = _ciphertext(wrapped, epoch)
        if ciphertext is None:
            raise DecryptionFailed()
        aad = _b64(aead.encode_context(context))
        try:
            response = self._client.secrets.transit.decrypt_data(
                self._key, ciphertext=ciphertext, associated_data=aad, mount_point=self._mount
            )
            return bytearray(base64.b64decode(response["data"]["plaintext"], validate=True))
        except _UNAVAILABLE as exc:
            raise KekError(f"transit: cannot unwrap ({type(exc).__name__})") from None
        except (hv.VaultError, binascii.Error, KeyError, TypeError):
            raise DecryptionFailed() from None

    def _batch(self, operation: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One transit batch call; a failing item is reported in its own result (the
        call answers 200 whatever the items' outcome)."""
        try:
            # The raw adapter's request: a requests.Response whatever the status (hvac's
            # JSON adapter hands back a dict for 200 and a Response otherwise).
            response = hvac.adapters.RawAdapter.request(
                self._client.adapter,
                "post",
                f"/v1/{self._mount}/{operation}/{self._key}",
                json={"batch_input": batch, "partial_failure_response_code": 200},
                raise_exception=False,
            )
        except requests.RequestException as exc:
            raise KekError(f"transit: cannot {operation} ({type(exc).__name__})") from None
        status = response.status_code
        try:
            body = response.json()
            results = body["data"]["batch_results"]
        except (ValueError, KeyError, TypeError):
            raise KekError(f"transit: {operation} answered {status}") from None
        if status not in (200, 400) or not isinstance(results, list):
            raise KekError(f"transit: {operation} answered {status}")
        if len(results) != len(batch):
            raise KekError(f"transit: {operation} answered {len(results)} of {len(batch)} items")
        return results

    def unwrap_many(self, items: Sequence[UnwrapItem]) -> list[bytearray | None]:
        """Decrypt many data keys with transit ``batch_input`` (up to 128 a call), each
        with its own associated data; an item the server refuses is None, alone."""
        out: list[bytearray | None] = [None] * len(items)
        for start in range(0, len(items), BATCH):
            positions: list[int] = []
            batch: list[dict[str, Any]] = []
            for i in range(start, min(len(items), start + BATCH)):
                wrapped, epoch, context = items[i]
                ciphertext = _ciphertext(wrapped, epoch)
                if ciphertext is None:
                    continue
                positions.append(i)
                aad = _b64(aead.encode_context(context))
                batch.append({"ciphertext": ciphertext, "associated_data": aad})
            if not batch:
                continue
            for i, result in zip(positions, self._batch("decrypt", batch), strict=True):
                if not isinstance(result, dict) or result.get("error"):
                    continue
                try:
                    out[i] = bytearray(base64.b64decode(result["plaintext"], validate=True))
                except (binascii.Error, KeyError, TypeError):
                    continue
        return out

    def wrap_many(self, items: Sequence[WrapItem]) -> list[bytes]:
        """Encrypt many data keys with transit ``batch_input`` (up to 128 a call)."""
        out: list[bytes] = []
        for start in range(0, len(items), BATCH):
            chunk = items[start : start + BATCH]
            batch = []
            for dek, epoch, context in chunk:
                if epoch < 1:
                    raise KekError(f"epoch {epoch} is out of range")
                batch.append(
                    {
                        "plaintext": _b64(dek),
                        "associated_data": _b64(aead.encode_context(context)),
                        "key_version": epoch,
                    }
                )
            for (_, epoch, _), result in zip(chunk, self._batch("encrypt", batch), strict=True):
                ciphertext = str(result.get("ciphertext") or "")
                if result.get("error") or not ciphertext.startswith(f"vault:v{epoch}:"):
                    raise KekError("transit refused to wrap a data key")
                out.append(ciphertext.encode("ascii"))
        return out

    def probe(self) -> None:
        """Read the key's description: proves the server, the token and the key."""
        self._info()

    # -- which key store an epoch belongs to ---------------------------------------------

    def _owner_prefix(self, epoch: int) -> str:
        return f"{self._key}{_OWNER_MARK}{epoch:06d}."

    def _mark_owner(self, epoch: int, owner: str) -> None:
        self._create_key("record the epoch's key store", self._owner_prefix(epoch) + owner)

    def _marks(self, epoch: int) -> list[str]:
        listed = self._call(
            "list keys", lambda t: t.list_keys(mount_point=self._mount), missing_ok=True
        )
        if listed is None:
            return []
        prefix = self._owner_prefix(epoch)
        return [str(k) for k in listed["data"].get("keys", []) if str(k).startswith(prefix)]

    def epoch_owner(self, epoch: int) -> str | None:
        """The key store named by the epoch's marker key (None: unbound)."""
        marks = self._marks(epoch)
        if len(marks) > 1:
            raise KekError(f"transit epoch {epoch} names {len(marks)} key stores")
        return marks[0][len(self._owner_prefix(epoch)) :] if marks else None

    def _drop_marks(self, epoch: int) -> None:
        for name in self._marks(epoch):
            self._call(
                "allow deleting the epoch marker",
                lambda t, name=name: t.update_key_configuration(
                    name, deletion_allowed=True, mount_point=self._mount
                ),
            )
            self._call(
                "delete the epoch marker",
                lambda t, name=name: t.delete_key(name, mount_point=self._mount),
            )

    def new_epoch(self, *, owner: str | None = None) -> int:
        """Rotate the transit key; the new version is the new epoch, marked as belonging
        to key store ``owner``."""
        with self._lock:
            expected = int(self._info()["latest_version"]) + 1
            if owner is not None:
                # Marked first: the epoch never exists without the store it belongs to.
                self._mark_owner(expected, owner)
            self._call("rotate the key", lambda t: t.rotate_key(self._key, mount_point=self._mount))
            info = self._info()
            self._finish_pending_trim(info)
            epoch = int(info["latest_version"])
            if epoch != expected:
                raise KekError(f"concurrent KEK rotation: expected epoch {expected}, got {epoch}")
            return epoch

    def destroy_epoch(self, epoch: int) -> None:
        """Delete key version ``epoch`` for good; older epochs must be destroyed first."""
        with self._lock:
            info = self._info()
            latest = int(info["latest_version"])
            if epoch >= latest:
                raise KekError("the current KEK epoch cannot be destroyed")
            older = [v for v in self._versions(info) if v < epoch]
            if older:
                raise KekError(
                    f"transit destroys key versions oldest first: destroy epoch {older[0]} "
                    f"before epoch {epoch}"
                )
            self._trim_to(max(epoch + 1, int(info.get("min_decryption_version") or 1)), info)
            after = self._info()
            if int(after.get("min_available_version") or 0) <= epoch:
                raise KekError(f"transit key version {epoch} survived destruction")
            self._drop_marks(epoch)
