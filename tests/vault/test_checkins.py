"""The check-in outbox and the venues' webhooks in the vault, on the engine under test:
a row is written with each confirmed check-in match (only for venues with a webhook, or
every venue with a default), leases keep a row to one worker, retries and give-ups are
recorded, a withdrawn guest's row is refused by the consent rule, finished rows are
forgotten, and a venue's secret is sealed under its own key-store key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.support import Clock
from vault import Actor, InvalidRequest, Vault
from vault.checkins import Outbox, Webhooks, check_url, format_secret, new_secret, parse_secret

KIOSK = Actor(role="kiosk", id="kiosk_front")


def _enrol(vault: Vault, faces: Any, consent: Callable[..., Any], name: str, staff: Actor) -> str:
    enrolment = vault.enroll(
        [faces.photo(name)], consent(("checkin", "marketing"), ("venue-1", "venue-2")), actor=staff
    )
    return enrolment.customer_id


def test_rows_come_with_confirmed_checkins_at_venues_that_hand_off(
    vault: Vault, faces: Any, consent: Callable[..., Any], staff: Actor, clock: Clock
) -> None:
    alice = _enrol(vault, faces, consent, "alice", staff)
    webhooks = Webhooks(vault.engine, keys=vault.keys, clock=clock)
    outbox = Outbox(vault.engine, clock=clock)
    vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=KIOSK)
    assert outbox.counts()["pending"] == 0  # no venue hands off yet

    webhooks.set("venue-1", "https://crm.example/checkins", parse_secret(new_secret()), actor=staff)
    hit = vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=KIOSK)
    assert hit is not None
    vault.match(faces.photo("alice"), purpose="marketing", venue="venue-1", actor=KIOSK)
    vault.match(faces.photo("alice"), purpose="checkin", venue="venue-2", actor=KIOSK)
    vault.match(faces.photo("stranger"), purpose="checkin", venue="venue-1", actor=KIOSK)
    (row,) = outbox.rows()
    assert (row["venue"], row["kiosk"], row["status"]) == ("venue-1", KIOSK.id, "pending")

    vault.checkin_every_venue = True  # a default webhook serves every venue
    vault.match(faces.photo("alice"), purpose="checkin", venue="venue-2", actor=KIOSK)
    assert sorted(r["venue"] for r in outbox.rows()) == ["venue-1", "venue-2"]
    claimed = outbox.claim(10, timedelta(seconds=30))
    assert {c.customer_id for c in claimed} == {alice}
    assert all(c.consent_id == hit.consent_id for c in claimed)


def test_leases_retries_give_ups_cancellations_and_pruning(
    vault: Vault, faces: Any, consent: Callable[..., Any], staff: Actor, clock: Clock
) -> None:
    alice = _enrol(vault, faces, consent, "alice", staff)
    vault.checkin_every_venue = True
    outbox = Outbox(vault.engine, clock=clock)
    for _ in range(3):
        vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=KIOSK)
    first = outbox.claim(2, timedelta(seconds=30))
    assert len(first) == 2
    # Leased rows are nobody else's until the lease ends (a worker killed mid-delivery).
    (third,) = outbox.claim(10, timedelta(seconds=30))
    assert outbox.claim(10, timedelta(seconds=30)) == []
    clock.advance(seconds=31)
    again = outbox.claim(10, timedelta(seconds=30))
    assert {c.checkin_id for c in again} == {c.checkin_id for c in [*first, third]}

    outbox.delivered(first[0])
    outbox.retry(first[1], "http_503", timedelta(seconds=10), give_up=False)
    outbox.retry(third, "timeout", timedelta(seconds=10), give_up=True)
    assert outbox.counts() == {"pending": 1, "delivered": 1, "failed": 1, "cancelled": 0}
    assert outbox.claim(10, timedelta(seconds=30)) == []  # not due yet
    clock.advance(seconds=11)
    (retried,) = outbox.claim(10, timedelta(seconds=30))
    assert (retried.checkin_id, retried.attempts) == (first[1].checkin_id, 1)

    # The guest withdraws check-in: the consent rule no longer allows the row.
    assert vault.consent_allows(alice, retried.consent_id, "checkin", retried.occurred_at)
    vault.revoke(alice, actor=staff, purpose="checkin")
    assert not vault.consent_allows(alice, retried.consent_id, "checkin", retried.occurred_at)
    outbox.cancel(retried, "consent_withdrawn")
    assert outbox.counts() == {"pending": 0, "delivered": 1, "failed": 1, "cancelled": 1}
    assert outbox.next_due() is None

    clock.advance(days=31)
    assert outbox.prune(clock() - timedelta(days=30)) == 3
    assert outbox.rows() == []


def test_a_venue_secret_is_sealed_under_its_own_key_and_shredded_on_removal(
    env: Any, vault: Vault, staff: Actor, clock: Clock
) -> None:
    webhooks = Webhooks(vault.engine, keys=vault.keys, clock=clock)
    raw = parse_secret(new_secret())
    webhooks.set("venue-1", "https://crm.example/in", raw, actor=staff)
    endpoint = webhooks.get("venue-1")
    assert endpoint is not None and endpoint.secret == raw and endpoint.source == "venue"
    assert raw.hex() not in repr(endpoint) and str(raw) not in repr(endpoint)
    assert env.rows_containing(raw) == []
    assert env.rows_containing(format_secret(raw).encode()) == []
    webhooks.set("venue-1", "https://crm.example/v2", raw, actor=staff)  # same key, re-sealed
    assert webhooks.listing()[0]["url"] == "https://crm.example/v2"
    owner = env.sql("SELECT secret_owner FROM checkin_webhooks")[0][0]
    assert owner.startswith("webhook:venue-1:")
    assert webhooks.remove("venue-1", actor=staff) is True
    assert webhooks.get("venue-1") is None and webhooks.remove("venue-1", actor=staff) is False
    state = env.sql("SELECT state FROM data_keys WHERE customer_id = :o", {"o": owner}, db="keys")
    assert state == [("destroyed",)]
    actions = [a for (a,) in env.sql("SELECT action FROM audit_events ORDER BY seq")]
    assert actions.count("webhook.set") == 2 and actions.count("webhook.remove") == 1


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example/", "https://user:pw@x.example/", "/relative", "https://", "http://a b/"],
)
def test_webhook_urls_are_absolute_http_without_credentials(url: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_url(url)
    assert caught.value.code == "invalid_webhook_url"


@pytest.mark.parametrize("secret", ["whsec_", "whsec_abcd", "whsec_!!!!", "whsec_" + "A" * 200])
def test_webhook_secrets_are_24_to_64_random_bytes(secret: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_secret(secret)
    assert caught.value.code == "invalid_webhook_secret"
    assert len(parse_secret(new_secret())) == 32
