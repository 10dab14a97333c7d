"""Consent requests and records: purpose- and venue-scoped, with the exact notice shown."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from vault.errors import InvalidRequest

PURPOSES = frozenset({"checkin", "marketing"})
LANGUAGES = frozenset({"vi", "en"})
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_id(value: str, what: str) -> str:
    """Refuse ids that are empty, too long or carry characters other than [A-Za-z0-9._-]."""
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidRequest(
            f"{what} must be 1-64 characters of letters, digits, '.', '_' or '-'",
            code=f"invalid_{what}",
        )
    return value


def notice_sha256(text: str) -> str:
    """SHA-256 of the notice text exactly as shown (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ConsentRequest:
    """What the customer agreed to, as shown to them."""

    purposes: tuple[str, ...]
    venues: tuple[str, ...]
    notice_text: str
    notice_version: str
    lang: str
    method: str = "kiosk"
    device: str = "unknown"
    expires_at: datetime | None = None

    def validated(self) -> ConsentRequest:
        """Return self if well formed, else raise InvalidRequest with a precise code."""
        if not self.purposes:
            raise InvalidRequest("at least one purpose is required", code="invalid_purpose")
        for purpose in self.purposes:
            if purpose not in PURPOSES:
                raise InvalidRequest(
                    f"unknown purpose {purpose!r}; known: {sorted(PURPOSES)}",
                    code="invalid_purpose",
                )
        if not self.venues:
            raise InvalidRequest("at least one venue is required", code="invalid_venue")
        for venue in self.venues:
            check_id(venue, "venue")
        if self.lang not in LANGUAGES:
            raise InvalidRequest(f"lang must be one of {sorted(LANGUAGES)}", code="invalid_lang")
        if not self.notice_text.strip():
            raise InvalidRequest("the notice text shown is required", code="invalid_notice")
        check_id(self.notice_version, "notice_version")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidRequest("expires_at must carry a timezone", code="invalid_expiry")
        if len(self.method) > 64 or len(self.device) > 128:
            raise InvalidRequest("method or device too long", code="invalid_request")
        return self


@dataclass(frozen=True)
class PurposeState:
    """One purpose of a consent and whether it was withdrawn."""

    purpose: str
    revoked_at: datetime | None
    revoke_reason: str | None


@dataclass(frozen=True)
class Consent:
    """A stored consent, with its purposes."""

    consent_id: str
    customer_id: str
    venues: tuple[str, ...]
    notice_version: str
    notice_lang: str
    notice_text: str
    notice_sha256: str
    method: str
    device: str
    granted_at: datetime
    expires_at: datetime | None
    purposes: tuple[PurposeState, ...] = field(default=())

    def active_purposes(self, now: datetime) -> tuple[str, ...]:
        """Purposes that still allow matching at ``now``."""
        if self.expires_at is not None and now >= self.expires_at:
            return ()
        return tuple(p.purpose for p in self.purposes if p.revoked_at is None)

    def status(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if all(p.revoked_at is not None for p in self.purposes):
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"
