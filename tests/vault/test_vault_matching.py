"""Consent-gated matching with synthetic embeddings: enrol, match, scope, revoke, expire."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from vault import CustomerNotFound, Vault


def _match(vault: Vault, probe, actor, *, purpose="checkin", venue="venue-1"):
    return vault.match(probe, purpose=purpose, venue=venue, actor=actor)


def test_enrol_then_match(vault: Vault, faces, consent, staff) -> None:
    enrolment = vault.enroll(
        [faces.photo("alice"), faces.photo("alice")], consent(), actor=staff, customer_id="alice"
    )
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    assert enrolment.customer_id == "alice" and len(enrolment.template_ids) == 2
    assert len(vault.index) == 3 and vault.index.customers() == 2

    hit = _match(vault, faces.photo("alice"), staff)
    assert hit is not None
    assert hit.customer_id == "alice"
    assert hit.consent_id == enrolment.consent_id
    assert 0.0 <= hit.distance < vault.threshold
    hit = _match(vault, faces.photo("bob"), staff)
    assert hit is not None and hit.customer_id == "bob"
    assert _match(vault, faces.photo("carol"), staff) is None  # never enrolled


def test_match_returns_the_nearest_customer_and_its_distance(vault, faces, consent, staff):
    template = faces.photo("alice", 0.0)
    vault.enroll([template], consent(), actor=staff, customer_id="alice")
    near = faces.at_distance(template, 0.1)
    vault.enroll([faces.at_distance(template, 0.3)], consent(), actor=staff, customer_id="twin")
    hit = _match(vault, near, staff)
    assert hit is not None and hit.customer_id == "alice"
    assert hit.distance == pytest.approx(float(np.linalg.norm(near - template)), abs=1e-5)


def test_generated_customer_id_when_none_given(vault, faces, consent, staff) -> None:
    enrolment = vault.enroll([faces.photo("alice")], consent(), actor=staff)
    assert enrolment.customer_id.startswith("c_")
    hit = _match(vault, faces.photo("alice"), staff)
    assert hit is not None and hit.customer_id == enrolment.customer_id


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.6])
def test_threshold_is_respected(env, faces, consent, staff, threshold: float) -> None:
    vault = env.open(threshold=threshold)
    template = faces.photo("alice", 0.0)
    vault.enroll([template], consent(), actor=staff, customer_id="alice")
    inside = faces.at_distance(template, threshold - 0.02)
    outside = faces.at_distance(template, threshold + 0.02)
    hit = _match(vault, inside, staff)
    assert hit is not None and hit.customer_id == "alice"
    assert hit.distance == pytest.approx(threshold - 0.02, abs=1e-4)
    assert _match(vault, outside, staff) is None


def test_purpose_scoping(vault, faces, consent, staff) -> None:
    vault.enroll([faces.photo("mia")], consent(["marketing"]), actor=staff, customer_id="mia")
    vault.enroll([faces.photo("ned")], consent(["checkin"]), actor=staff, customer_id="ned")
    assert _match(vault, faces.photo("mia"), staff, purpose="checkin") is None
    hit = _match(vault, faces.photo("mia"), staff, purpose="marketing")
    assert hit is not None and hit.customer_id == "mia"
    assert _match(vault, faces.photo("ned"), staff, purpose="marketing") is None
    assert _match(vault, faces.photo("ned"), staff, purpose="checkin").customer_id == "ned"
    assert _match(vault, faces.photo("ned"), staff, purpose="advertising") is None


def test_venue_scoping(vault, faces, consent, staff) -> None:
    vault.enroll(
        [faces.photo("alice")],
        consent(venues=["venue-1", "venue-2"]),
        actor=staff,
        customer_id="alice",
    )
    for venue in ("venue-1", "venue-2"):
        assert _match(vault, faces.photo("alice"), staff, venue=venue).customer_id == "alice"
    for venue in ("venue-3", "venue", "VENUE-1", ""):
        assert _match(vault, faces.photo("alice"), staff, venue=venue) is None


def test_a_consent_covers_only_its_own_purpose_venue_pairs(vault, faces, consent, staff):
    vault.enroll(
        [faces.photo("alice")],
        consent(["marketing"], ["venue-1"]),
        actor=staff,
        customer_id="alice",
    )
    vault.grant("alice", consent(["checkin"], ["venue-2"]), actor=staff)
    probe = faces.photo("alice")
    assert _match(vault, probe, staff, purpose="marketing", venue="venue-1") is not None
    assert _match(vault, probe, staff, purpose="checkin", venue="venue-2") is not None
    assert _match(vault, probe, staff, purpose="checkin", venue="venue-1") is None
    assert _match(vault, probe, staff, purpose="marketing", venue="venue-2") is None


def test_a_non_consenting_nearer_customer_does_not_hide_a_consenting_one(
    vault, faces, consent, staff
) -> None:
    template = faces.photo("alice", 0.0)
    vault.enroll([template], consent(["marketing"]), actor=staff, customer_id="alice")
    vault.enroll(
        [faces.at_distance(template, 0.2)], consent(["checkin"]), actor=staff, customer_id="twin"
    )
    hit = _match(vault, faces.at_distance(template, 0.05), staff, purpose="checkin")
    assert hit is not None and hit.customer_id == "twin"


def test_revoking_one_purpose_keeps_the_other(vault, faces, consent, staff) -> None:
    vault.enroll(
        [faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    revocation = vault.revoke("alice", purpose="marketing", actor=staff)
    assert [p for _, p in revocation.revoked] == ["marketing"]
    assert _match(vault, faces.photo("alice"), staff, purpose="marketing") is None
    assert _match(vault, faces.photo("alice"), staff, purpose="checkin").customer_id == "alice"
    view = vault.show("alice")
    states = {p.purpose: p.revoked_at for p in view.consents[0].purposes}
    assert states["marketing"] is not None and states["checkin"] is None
    # Revoking the same purpose again withdraws nothing more.
    assert vault.revoke("alice", purpose="marketing", actor=staff).revoked == ()


def test_revoke_all(vault, faces, consent, staff, clock) -> None:
    vault.enroll(
        [faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    vault.grant("alice", consent(["checkin"], ["venue-2"]), actor=staff)
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    clock.advance(minutes=1)
    revocation = vault.revoke("alice", actor=staff)
    assert len(revocation.revoked) == 3
    for purpose in ("checkin", "marketing"):
        for venue in ("venue-1", "venue-2"):
            assert _match(vault, faces.photo("alice"), staff, purpose=purpose, venue=venue) is None
    assert "alice" not in vault.index
    assert _match(vault, faces.photo("bob"), staff).customer_id == "bob"
    view = vault.show("alice")
    assert view.status == "active"  # revoked, not erased: templates are still held
    assert all(c.status(clock()) == "revoked" for c in view.consents)
    assert all(p.revoked_at == clock() for c in view.consents for p in c.purposes)
    # A fresh consent after a full revocation brings the customer back.
    vault.grant("alice", consent(), actor=staff)
    assert _match(vault, faces.photo("alice"), staff).customer_id == "alice"


def test_revocation_survives_restart(env, faces, consent, staff) -> None:
    vault = env.open()
    vault.enroll(
        [faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    vault.revoke("alice", purpose="checkin", actor=staff)
    env.close(vault)
    restarted = env.open()
    assert _match(restarted, faces.photo("alice"), staff, purpose="checkin") is None
    assert _match(restarted, faces.photo("alice"), staff, purpose="marketing") is not None


def test_expired_consent_stops_matching_exactly_at_expiry(vault, faces, consent, staff, clock):
    expiry = clock() + timedelta(days=30)
    vault.enroll(
        [faces.photo("alice")], consent(expires_at=expiry), actor=staff, customer_id="alice"
    )
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    clock.now = expiry - timedelta(microseconds=1)
    assert _match(vault, faces.photo("alice"), staff).customer_id == "alice"
    clock.now = expiry  # nothing runs in between: no job, no refresh
    assert _match(vault, faces.photo("alice"), staff) is None
    clock.now = expiry + timedelta(days=365)
    assert _match(vault, faces.photo("alice"), staff) is None
    assert _match(vault, faces.photo("bob"), staff).customer_id == "bob"
    assert vault.show("alice").consents[0].status(clock()) == "expired"


def test_expired_consent_is_not_loaded_after_restart(env, faces, consent, staff, clock):
    vault = env.open()
    expiry = clock() + timedelta(hours=2)
    vault.enroll(
        [faces.photo("alice")], consent(expires_at=expiry), actor=staff, customer_id="alice"
    )
    env.close(vault)
    clock.now = expiry
    restarted = env.open()
    assert "alice" not in restarted.index
    assert _match(restarted, faces.photo("alice"), staff) is None
    # Going back in time (clock skew) before expiry: a new process would load it again.
    clock.now = expiry - timedelta(seconds=1)
    assert _match(env.open(), faces.photo("alice"), staff).customer_id == "alice"


def test_a_later_consent_outlives_an_expired_one(vault, faces, consent, staff, clock) -> None:
    first_expiry = clock() + timedelta(days=1)
    vault.enroll(
        [faces.photo("alice")],
        consent(expires_at=first_expiry),
        actor=staff,
        customer_id="alice",
    )
    second = vault.grant("alice", consent(expires_at=clock() + timedelta(days=10)), actor=staff)
    clock.now = first_expiry
    hit = _match(vault, faces.photo("alice"), staff)
    assert hit is not None and hit.consent_id == second


def test_no_match_results_are_exactly_none(vault, faces, consent, staff, clock) -> None:
    vault.enroll([faces.photo("rev")], consent(), actor=staff, customer_id="rev")
    vault.enroll(
        [faces.photo("exp")],
        consent(expires_at=clock() + timedelta(minutes=1)),
        actor=staff,
        customer_id="exp",
    )
    vault.enroll([faces.photo("era")], consent(), actor=staff, customer_id="era")
    vault.enroll([faces.photo("live")], consent(), actor=staff, customer_id="live")
    vault.revoke("rev", actor=staff)
    vault.erase("era", reason="customer request", actor=staff)
    clock.advance(minutes=1)
    for name in ("rev", "exp", "era", "never-enrolled"):
        assert _match(vault, faces.photo(name), staff) is None, name
    assert _match(vault, faces.photo("live"), staff).customer_id == "live"


def test_index_is_rebuilt_after_restart(env, faces, consent, staff) -> None:
    vault = env.open()
    for name in ("alice", "bob", "carol"):
        vault.enroll(
            [faces.photo(name), faces.photo(name)], consent(), actor=staff, customer_id=name
        )
    vault.erase("carol", reason="customer request", actor=staff)
    env.close(vault)

    restarted = env.open(start=False)
    assert len(restarted.index) == 0  # nothing before start()
    assert _match(restarted, faces.photo("alice"), staff) is None
    restarted.start()
    assert restarted.index.customers() == 2 and len(restarted.index) == 4
    for name in ("alice", "bob"):
        hit = _match(restarted, faces.photo(name), staff)
        assert hit is not None and hit.customer_id == name
    assert _match(restarted, faces.photo("carol"), staff) is None


def test_show_exposes_no_biometric_data(vault, faces, consent, staff) -> None:
    enrolment = vault.enroll(
        [faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    view = vault.show("alice")
    assert view.status == "active" and view.key_state == "active"
    assert view.key_id == enrolment.key_id
    assert [t.template_id for t in view.templates] == list(enrolment.template_ids)
    assert view.consents[0].notice_text == consent().notice_text
    assert {p.purpose for p in view.consents[0].purposes} == {"checkin", "marketing"}
    with pytest.raises(CustomerNotFound):
        vault.show("nobody")
