"""The transit KEK provider against a real OpenBao dev server (``bao server -dev``)."""

from __future__ import annotations

import base64
import os
import traceback
from pathlib import Path
from typing import Any

import hvac
import pytest
from hvac import exceptions as hv

from keys import DecryptionFailed, KekError, KeyStore, aead
from keys.kek_transit import TransitKekProvider
from tests.keys.providers import Transit
from tests.support import free_port

CONTEXT = ("facekeep/dek/v1", "cust-1", "k_1", "1")


@pytest.fixture
def kek(transit: Transit) -> TransitKekProvider:
    return transit.provider()


def _key(admin: hvac.Client, transit: Transit) -> dict[str, object]:
    data: dict[str, object] = admin.secrets.transit.read_key(
        transit.key, mount_point=transit.mount
    )["data"]
    return data


def _ad(context: tuple[str, ...]) -> str:
    return base64.b64encode(aead.encode_context(context)).decode()


def test_create_enables_the_mount_and_a_sealed_key(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    assert admin.sys.list_mounted_secrets_engines()["data"][transit.mount + "/"]["type"] == (
        "transit"
    )
    info = _key(admin, transit)
    assert info["type"] == "aes256-gcm96"
    assert info["exportable"] is False and info["allow_plaintext_backup"] is False
    # Creating twice, and opening the key again: test_kek_contract.py.
    assert kek.name == "transit"


def test_wrapped_format(kek: TransitKekProvider) -> None:
    # Round trips and fresh nonces: test_kek_contract.py.
    dek = bytearray(os.urandom(32))
    wrapped = kek.wrap(dek, epoch=1, context=CONTEXT)
    assert wrapped.startswith(b"vault:v1:")
    assert kek.unwrap(wrapped, epoch=1, context=CONTEXT) == dek


def test_the_context_is_bound_by_the_server(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    # The server itself refuses other associated data (this is not a client-side check).
    with pytest.raises(hv.InvalidRequest, match="authentication failed"):
        admin.secrets.transit.decrypt_data(
            transit.key,
            ciphertext=wrapped.decode(),
            associated_data=_ad(("facekeep/dek/v1", "cust-2", "k_1", "1")),
            mount_point=transit.mount,
        )
    with pytest.raises(hv.InvalidRequest):  # and no associated data at all
        admin.secrets.transit.decrypt_data(
            transit.key, ciphertext=wrapped.decode(), mount_point=transit.mount
        )


def test_any_mismatch_is_decryption_failed(kek: TransitKekProvider) -> None:
    # Other contexts, epochs, truncation and empty blobs: test_kek_contract.py.
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    kek.new_epoch()
    body = wrapped[len(b"vault:v1:") :]
    raw = bytearray(base64.b64decode(body))
    raw[len(raw) // 2] ^= 0x01
    bad = [
        (wrapped, 2, CONTEXT),  # the prefix says version 1
        (b"vault:v2:" + body, 2, CONTEXT),  # version 2 is another key
        (b"vault:v1:" + base64.b64encode(bytes(raw)), 1, CONTEXT),
        (wrapped[:-4], 1, CONTEXT),
        (b"vault:v1:!!!", 1, CONTEXT),
        (b"vault:v1:", 1, CONTEXT),
        (b"\xff\xfe", 1, CONTEXT),
    ]
    for blob, epoch, context in bad:
        with pytest.raises(DecryptionFailed):
            kek.unwrap(blob, epoch=epoch, context=context)
    assert len(kek.unwrap(wrapped, epoch=1, context=CONTEXT)) == 32


def test_rotation_trims_the_old_version(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    # Rotation through a key store and backups taken before it: test_kek_contract.py.
    old_wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    assert kek.new_epoch() == 2
    kek.destroy_epoch(1)
    assert kek.epochs() == [2]
    info = _key(admin, transit)
    assert info["min_available_version"] == 2 and info["latest_version"] == 2
    assert info["min_decryption_version"] == 2 and info["min_encryption_version"] == 2

    # The server refuses version 1, even to root, and cannot be talked into it again:
    # the version was trimmed from storage, not merely hidden.
    with pytest.raises(hv.InvalidRequest):
        admin.secrets.transit.decrypt_data(
            transit.key,
            ciphertext=old_wrapped.decode(),
            associated_data=_ad(CONTEXT),
            mount_point=transit.mount,
        )
    with pytest.raises(hv.InvalidRequest, match="min available version"):
        admin.secrets.transit.update_key_configuration(
            transit.key, min_decryption_version=1, mount_point=transit.mount
        )
    with pytest.raises(DecryptionFailed):
        kek.unwrap(old_wrapped, epoch=1, context=CONTEXT)
    with pytest.raises(KekError):
        kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)


def test_epochs_are_destroyed_oldest_first(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    # The current epoch's refusal and destroying twice: test_kek_contract.py.
    assert kek.new_epoch() == 2
    assert kek.new_epoch() == 3
    with pytest.raises(KekError, match="oldest first"):
        kek.destroy_epoch(2)  # it would take epoch 1 with it
    kek.destroy_epoch(1)
    kek.destroy_epoch(2)
    assert kek.epochs() == [3]
    assert _key(admin, transit)["min_available_version"] == 3


def test_an_interrupted_destruction_is_finished(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    kek.new_epoch()
    # A crash after raising the minimum versions but before trimming:
    admin.secrets.transit.update_key_configuration(
        transit.key, min_encryption_version=2, mount_point=transit.mount
    )
    admin.secrets.transit.update_key_configuration(
        transit.key, min_decryption_version=2, mount_point=transit.mount
    )
    assert kek.epochs() == [2]
    assert _key(admin, transit)["min_available_version"] == 0  # version 1 is still stored
    kek.new_epoch()  # the next rotation trims what was left behind
    assert _key(admin, transit)["min_available_version"] == 2
    with pytest.raises(hv.InvalidRequest, match="min available version"):
        admin.secrets.transit.update_key_configuration(
            transit.key, min_decryption_version=1, mount_point=transit.mount
        )


def test_an_exportable_key_is_refused(admin: hvac.Client, transit: Transit) -> None:
    transit.provider()  # makes the mount
    admin.secrets.transit.create_key(
        transit.key + "-exp", exportable=True, key_type="aes256-gcm96", mount_point=transit.mount
    )
    with pytest.raises(KekError, match="exportable"):
        TransitKekProvider(transit.bao.url, transit.bao.token, transit.key + "-exp", transit.mount)
    with pytest.raises(KekError, match="facekeep init"):
        TransitKekProvider(transit.bao.url, transit.bao.token, transit.key + "-none", transit.mount)


def test_an_unavailable_server_is_not_a_decryption_failure(
    admin: hvac.Client, transit: Transit, kek: TransitKekProvider
) -> None:
    wrapped = kek.wrap(os.urandom(32), epoch=1, context=CONTEXT)
    token = admin.auth.token.create(ttl="10m")["auth"]["client_token"]
    provider = transit.provider(create=False, token=token)
    assert token not in repr(provider)  # (the root token too: test_kek_contract.py)
    assert provider.unwrap(wrapped, epoch=1, context=CONTEXT)
    admin.auth.token.revoke(token)  # the token expires, or is revoked
    with pytest.raises(KekError) as info:
        provider.unwrap(wrapped, epoch=1, context=CONTEXT)
    assert token not in "".join(traceback.format_exception(info.value))
    with pytest.raises(KekError):
        transit.provider(create=False, token=token)
    with pytest.raises(KekError, match="ConnectionError"):
        TransitKekProvider(f"http://127.0.0.1:{free_port()}", token, transit.key, transit.mount)


def test_settings_build_the_provider(transit: Transit, tmp_path: Path) -> None:
    from api.runtime import make_kek
    from api.settings import Settings

    settings = Settings(
        data_dir=tmp_path,
        kek_provider="transit",
        transit_url=transit.bao.url,
        transit_token=transit.bao.token,
        transit_key=transit.key,
        transit_mount=transit.mount,
    )
    assert transit.bao.token not in repr(settings)
    with pytest.raises(KekError, match="facekeep init"):
        make_kek(settings)
    kek = make_kek(settings, create=True)
    assert isinstance(kek, TransitKekProvider) and kek.epochs() == [1]
    kek.close()
    with pytest.raises(KekError, match="TRANSIT_URL"):
        make_kek(Settings(data_dir=tmp_path, kek_provider="transit"))


class CountingTransit(TransitKekProvider):
    """Records the size of every batch call it makes (a seam, not a mock: the calls go
    to the real server)."""

    calls: list[tuple[str, int]]

    def _batch(self, operation: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.calls.append((operation, len(batch)))
        return super()._batch(operation, batch)


def test_batches_of_at_most_128_keep_per_item_associated_data(transit: Transit) -> None:
    transit.provider()
    kek = CountingTransit(transit.bao.url, transit.bao.token, transit.key, transit.mount)
    kek.calls = []
    try:
        deks = [os.urandom(32) for _ in range(300)]
        contexts = [("facekeep/dek/v1", f"cust-{i}", f"k_{i}", "1") for i in range(300)]
        wrapped = kek.wrap_many([(d, 1, c) for d, c in zip(deks, contexts, strict=True)])
        assert kek.calls == [("encrypt", 128), ("encrypt", 128), ("encrypt", 44)]
        items = [(w, 1, c) for w, c in zip(wrapped, contexts, strict=True)]
        # One item carries another customer's associated data, one is not transit's at
        # all, one names the wrong epoch: each fails alone, the others open.
        items[7] = (wrapped[7], 1, contexts[8])
        items[150] = (b"\xff\xfe", 1, contexts[150])
        items[299] = (wrapped[299], 2, contexts[299])
        kek.calls = []
        out = kek.unwrap_many(items)
        assert [op for op, _ in kek.calls] == ["decrypt"] * 3
        assert all(size <= 128 for _, size in kek.calls)
        assert [i for i, raw in enumerate(out) if raw is None] == [7, 150, 299]
        assert all(out[i] == deks[i] for i in range(300) if i not in (7, 150, 299))
    finally:
        kek.close()


def test_a_key_store_unwraps_in_batches(transit: Transit, tmp_path: Path) -> None:
    transit.provider()
    kek = CountingTransit(transit.bao.url, transit.bao.token, transit.key, transit.mount)
    kek.calls = []
    store = KeyStore.open_url(f"sqlite:///{tmp_path / 'keys.db'}", kek=kek)
    try:
        ids = [f"c{i:04d}" for i in range(260)]
        for c in ids:
            store.ensure_key(c)
        kek.calls = []
        with store.data_keys_for(ids) as keys:
            assert sorted(keys) == ids
        assert sorted(size for _, size in kek.calls) == [4, 128, 128]
    finally:
        store.close()
        kek.close()


def test_an_epoch_owner_is_a_marker_key(admin: hvac.Client, transit: Transit) -> None:
    # Epochs named after their key store, markers gone with their epoch: test_kek_contract.py.
    kek = transit.provider(owner="ks_prod")
    assert kek.new_epoch(owner="ks_prod") == 2
    assert kek.epoch_owner(2) == "ks_prod"
    kek.destroy_epoch(1)
    names = admin.secrets.transit.list_keys(mount_point=transit.mount)["data"]["keys"]
    assert sorted(names) == sorted([transit.key, f"{transit.key}.owner.000002.ks_prod"])
    marker = admin.secrets.transit.read_key(
        f"{transit.key}.owner.000002.ks_prod", mount_point=transit.mount
    )["data"]
    assert marker["exportable"] is False and marker["allow_plaintext_backup"] is False
