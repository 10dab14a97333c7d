"""Each package's public surface is its ``__all__``, pinned here (in the manner of
httpx's tests/test_exported_members.py): adding or dropping a public name is a decision
made in this file, not a side effect. Every listed name must resolve."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "api": {"Runtime", "Settings", "create_app", "open_runtime"},
    "dbkit": {
        "DEFAULT_LOCK_WAIT",
        "LOCK_WAIT",
        "UTCDateTime",
        "checkpoint_truncate",
        "current_revision",
        "head_revision",
        "insert_ignore",
        "lock_wait",
        "make_engine",
        "normalise_url",
        "require_current",
        "serialise_writers",
        "upgrade",
        "version_table",
        "writing",
    },
    "enroll": {
        "DEFAULT_ENGINE",
        "DecodedImage",
        "EMBEDDING_DIM",
        "ENGINES",
        "Embedder",
        "Embedding",
        "EngineSpec",
        "EnrollError",
        "FaceBox",
        "FaceEmbedder",
        "FaceTooSmall",
        "ImageLimits",
        "ImageTooLarge",
        "MODEL_NAME",
        "MODEL_VERSION",
        "MultipleFaces",
        "NoFace",
        "NotAnImage",
        "decode_image",
        "engine",
        "make_embedder",
    },
    "keys": {
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
    },
    "vault": {
        "Actor",
        "AuditEvent",
        "Consent",
        "ConsentNotFound",
        "ConsentRequest",
        "CustomerErased",
        "CustomerExists",
        "CustomerNotFound",
        "CustomerView",
        "Enrolment",
        "Erasure",
        "FacesDiffer",
        "GalleryFull",
        "Grant",
        "Hit",
        "InvalidEmbedding",
        "InvalidRequest",
        "LANGUAGES",
        "MatchIndex",
        "ModelMismatch",
        "PURPOSES",
        "PartitionedIndex",
        "PurposeState",
        "ReenrolAtCounter",
        "Revocation",
        "SYSTEM",
        "TemplateInfo",
        "Vault",
        "VaultError",
        "canonical_json",
        "notice_sha256",
        "read_events",
    },
    "vault.index": {
        "ANN_MIN",
        "Batch",
        "CANDIDATES",
        "DIM",
        "F32",
        "Grant",
        "Hit",
        "Loader",
        "MatchIndex",
        "Partition",
        "PartitionedIndex",
        "Query",
        "ann_shape",
        "wipe",
    },
    "vault.audit": {
        "AUDIT_LOCK",
        "REFUSED",
        "SYSTEM",
        "Actor",
        "AuditError",
        "AuditEvent",
        "AuditInconsistent",
        "AuditLog",
        "AuditQueue",
        "AuditSigner",
        "Claim",
        "HeadAnchor",
        "ProofError",
        "ReceiptPolicy",
        "Report",
        "SignatureInvalid",
        "SignedReceipt",
        "TreeHead",
        "append_event",
        "append_events",
        "canonical_json",
        "export_audit",
        "leaf",
        "read_events",
        "read_receipts",
        "verify_export",
    },
}


@pytest.mark.parametrize("package", sorted(SURFACES))
def test_public_surface_is_pinned(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) == SURFACES[package]
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_api_loads_its_names_on_first_use() -> None:
    api = importlib.import_module("api")
    with pytest.raises(AttributeError):
        _ = api.no_such_name
