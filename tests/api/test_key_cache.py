"""API keys found are kept in memory for about a second (``FACEKEEP_KEY_CACHE_SECONDS``):
a disable made through this process takes effect at once, one made by another process
sharing the database within that second, and a key made offline works at once."""

from __future__ import annotations

import time

import pytest

from api import credentials
from api.credentials import KeyCache
from vault import SYSTEM

VENUE = "venue-cache"


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def svc(make_service):
    service = make_service(match_rate=0)
    service.venue(VENUE)
    return service


def _disable_elsewhere(svc, key_id: str) -> None:
    """Disable a key the way another replica (or the CLI) would: straight in the table."""
    assert credentials.disable_key(svc.engine, key_id, now=svc.now(), actor=SYSTEM) is not None


def test_a_found_key_is_kept_for_the_ttl_and_then_asked_again(svc) -> None:
    ticks = Ticks()
    cache = KeyCache(svc.engine, 1.0, clock=ticks)
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    assert cache.peek(kiosk.secret) is None  # peek never asks the database
    found = cache.lookup(kiosk.secret)
    assert found is not None and found.key_id == kiosk.id and found.role == "kiosk"
    assert cache.peek(kiosk.secret) == found
    _disable_elsewhere(svc, kiosk.id)
    ticks.t += 0.9
    assert cache.lookup(kiosk.secret) is not None  # still fresh in memory
    ticks.t += 0.2
    assert cache.peek(kiosk.secret) is None  # expired
    assert cache.lookup(kiosk.secret) is None  # and the database says disabled
    assert cache.lookup(kiosk.secret) is None


def test_forget_drops_a_key_at_once(svc) -> None:
    ticks = Ticks()
    cache = KeyCache(svc.engine, 60.0, clock=ticks)
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    other = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    assert cache.lookup(kiosk.secret) is not None
    assert cache.lookup(other.secret) is not None
    _disable_elsewhere(svc, kiosk.id)
    _disable_elsewhere(svc, other.id)
    cache.forget(kiosk.id)
    assert cache.lookup(kiosk.secret) is None
    assert cache.lookup(other.secret) is not None  # only the forgotten key was dropped


def test_an_unknown_secret_is_not_remembered(svc) -> None:
    ticks = Ticks()
    cache = KeyCache(svc.engine, 60.0, clock=ticks)
    assert cache.lookup("fkk_not-a-key") is None
    # A key created after a miss (offline, by the CLI) works without waiting.
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    assert cache.lookup(kiosk.secret) is not None


def test_ttl_zero_asks_the_database_every_time(svc) -> None:
    cache = KeyCache(svc.engine, 0.0, clock=Ticks())
    kiosk = svc.key("kiosk", venue=VENUE, purposes=("checkin",))
    assert cache.lookup(kiosk.secret) is not None
    _disable_elsewhere(svc, kiosk.id)
    assert cache.lookup(kiosk.secret) is None


def test_the_cache_is_bounded(svc) -> None:
    ticks = Ticks()
    cache = KeyCache(svc.engine, 60.0, max_entries=2, clock=ticks)
    made = [svc.key("kiosk", venue=VENUE, purposes=("checkin",)) for _ in range(3)]
    for key in made:
        assert cache.lookup(key.secret) is not None
    # The third entry cleared the first two: their disable is seen at once.
    _disable_elsewhere(svc, made[0].id)
    _disable_elsewhere(svc, made[2].id)
    assert cache.lookup(made[0].secret) is None
    assert cache.lookup(made[2].secret) is not None  # the newest entry is still kept


def test_over_http_a_key_disabled_by_another_process_stops_within_a_second(
    svc, face_embedding, problem
) -> None:
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    vector = face_embedding("obama_1")
    assert svc.match(kiosk, embedding=vector).status_code == 200
    _disable_elsewhere(svc, kiosk.id)
    deadline = time.monotonic() + svc.settings.key_cache_seconds + 0.5
    refused_after = None
    while time.monotonic() < deadline:
        r = svc.match(kiosk, embedding=vector)
        if r.status_code == 401:
            refused_after = time.monotonic()
            break
        assert r.status_code == 200, r.text
        time.sleep(0.05)
    assert refused_after is not None, "the disabled key still worked after the cache period"
    problem(svc.match(kiosk, embedding=vector), 401, "unauthorized")


def test_over_http_the_cache_can_be_turned_off(make_service, face_embedding, problem) -> None:
    svc = make_service(match_rate=0, key_cache_seconds=0)
    svc.venue(VENUE)
    kiosk = svc.kiosk(VENUE, allow_embeddings=True)
    vector = face_embedding("obama_1")
    assert svc.match(kiosk, embedding=vector).status_code == 200
    _disable_elsewhere(svc, kiosk.id)
    problem(svc.match(kiosk, embedding=vector), 401, "unauthorized")
