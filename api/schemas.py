"""Request and response shapes, for validation and for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.vocabulary import LANGUAGES, PURPOSES, Purpose

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class Strict(BaseModel):
    """Refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class VenueIn(Strict):
    id: str = Field(pattern=ID_PATTERN)
    name: str = Field(min_length=1, max_length=200)


class KioskIn(Strict):
    venue: str = Field(pattern=ID_PATTERN)
    purposes: list[Purpose] = Field(min_length=1, max_length=len(PURPOSES))
    label: str = Field(default="", max_length=128)
    # Only for trusted edge devices that compute embeddings themselves.
    allow_embeddings: bool = Field(default=False, strict=True)


class RevokeIn(Strict):
    purpose: Purpose | None = None


class StaffRevokeIn(Strict):
    purpose: Purpose | None = None
    # Stored in consent_purposes.revoke_reason, VARCHAR(32).
    reason: str = Field(default="withdrawn", min_length=1, max_length=32)


class ObjectionIn(Strict):
    purpose: Literal["marketing"] = "marketing"


class EraseIn(Strict):
    reason: str = Field(min_length=1, max_length=200)


def _multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": properties, "required": required}
            }
        },
    }


_IMAGE = {"type": "string", "format": "binary"}

_EMBEDDING = {"type": "array", "items": {"type": "number"}, "minItems": 128, "maxItems": 128}
_FRAMES = {"minItems": 1, "maxItems": 5}

MATCH_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "image": {"type": "array", "items": _IMAGE, **_FRAMES},
                    "purpose": {"type": "string"},
                },
                "required": ["image"],
            }
        },
        # Only from kiosk keys of trusted edge devices (allow_embeddings).
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "embedding": _EMBEDDING,
                    "embeddings": {"type": "array", "items": _EMBEDDING, **_FRAMES},
                    "purpose": {"type": "string"},
                },
                "oneOf": [{"required": ["embedding"]}, {"required": ["embeddings"]}],
            }
        },
    },
}

ENROL_BODY = _multipart(
    {
        "customer": {"type": "string", "pattern": ID_PATTERN},
        "image": {"type": "array", "items": _IMAGE, "minItems": 1, "maxItems": 5},
        "purposes": {
            "type": "array",
            "items": {"type": "string", "enum": list(PURPOSES)},
        },
        "venues": {"type": "array", "items": {"type": "string", "pattern": ID_PATTERN}},
        "notice_version": {"type": "string"},
        "lang": {"type": "string", "enum": list(LANGUAGES)},
        "notice_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "expires_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        "method": {"type": "string"},
        "device": {"type": "string"},
    },
    ["image", "purposes", "venues", "notice_version", "lang"],
)

TEMPLATES_BODY = _multipart(
    {"image": {"type": "array", "items": _IMAGE, "minItems": 1, "maxItems": 5}}, ["image"]
)
