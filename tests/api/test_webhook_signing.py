"""The check-in webhook's wire format, pinned against the Standard Webhooks reference
library: the same signature for the same id, timestamp and body, a body of exactly the
documented fields, and a default secret file that must be the owner's alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from api.settings import Settings
from api.webhooks import WebhookConfigError, checkin_body, default_secret, signed_headers
from vault.checkins import Checkin, format_secret, new_secret, parse_secret

pytestmark = pytest.mark.engine_neutral

CHECKIN = Checkin(
    checkin_id="ci_0123456789abcdef0123456789abcdef",
    customer_id="guest-42",
    consent_id="c_1",
    venue="hcm-q1",
    kiosk="kiosk_front",
    occurred_at=datetime(2026, 12, 1, 13, 31, 5, 250000, tzinfo=UTC),
    attempts=0,
)


def test_signatures_are_the_reference_librarys() -> None:
    secret = new_secret()
    body = checkin_body(CHECKIN)
    at = datetime(2026, 12, 1, 13, 31, 6, tzinfo=UTC)
    headers = signed_headers(parse_secret(secret), CHECKIN.checkin_id, body, int(at.timestamp()))
    expected = Webhook(secret).sign(CHECKIN.checkin_id, at, body.decode())
    assert headers["webhook-signature"] == expected
    assert headers["webhook-id"] == CHECKIN.checkin_id
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert format_secret(parse_secret(secret)) == secret


def test_the_body_carries_exactly_the_checkin() -> None:
    assert json.loads(checkin_body(CHECKIN)) == {
        "type": "checkin",
        "checkin_id": CHECKIN.checkin_id,
        "customer_id": "guest-42",
        "venue": "hcm-q1",
        "kiosk": "kiosk_front",
        "time": "2026-12-01T13:31:05.250000Z",
    }


def test_the_default_secret_file_is_made_private_and_refused_when_shared(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, checkin_webhook_url="https://crm.example/in")
    made = default_secret(settings, create=True)
    path = settings.checkin_secret_path()
    assert path.stat().st_mode & 0o777 == 0o600
    assert default_secret(settings) == made
    path.chmod(0o644)
    with pytest.raises(WebhookConfigError):
        default_secret(settings)
    path.chmod(0o600)
    path.write_text("not a secret\n")
    with pytest.raises(WebhookConfigError):
        default_secret(settings)
