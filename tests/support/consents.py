"""Consent requests for tests that enrol customers directly (an operator's offline
enrolment, a test's set-up), not through a notice page: one factory, not one per module."""

from __future__ import annotations

from datetime import datetime

from vault import ConsentRequest


def consent_request(
    venue: str,
    *purposes: str,
    notice_text: str = "test notice",
    notice_version: str = "v1",
    lang: str = "en",
    method: str = "test",
    device: str = "test",
    expires_at: datetime | None = None,
) -> ConsentRequest:
    """Consent at ``venue`` for ``purposes`` (check-in when none are named)."""
    return ConsentRequest(
        purposes=purposes or ("checkin",),
        venues=(venue,),
        notice_text=notice_text,
        notice_version=notice_version,
        lang=lang,
        method=method,
        device=device,
        expires_at=expires_at,
    )
