"""Matching with embeddings computed by the real face model from sample photos."""

from __future__ import annotations

import pytest

from vault import Vault

pytestmark = pytest.mark.faces

PEOPLE = ["obama", "biden", "kit_harington", "rose_leslie"]


def _enrol_people(vault: Vault, face_embedding, consent, staff) -> None:
    for person in PEOPLE:
        vault.enroll([face_embedding(f"{person}_1")], consent(), actor=staff, customer_id=person)


def test_second_photos_match_their_own_customer(env, face_embedding, consent, staff) -> None:
    vault = env.open()  # default threshold 0.5
    _enrol_people(vault, face_embedding, consent, staff)
    for person in PEOPLE:
        hit = vault.match(
            face_embedding(f"{person}_2"), purpose="checkin", venue="venue-1", actor=staff
        )
        assert hit is not None, person
        assert hit.customer_id == person
        assert hit.distance < 0.5


def test_a_stranger_matches_nobody(env, face_embedding, consent, staff) -> None:
    vault = env.open()
    _enrol_people(vault, face_embedding, consent, staff)
    for stranger in ("lin_manuel_miranda_1", "alex_lacamoire_1", "alex_lacamoire_2"):
        probe = face_embedding(stranger)
        for purpose in ("checkin", "marketing"):
            assert vault.match(probe, purpose=purpose, venue="venue-1", actor=staff) is None


def test_real_faces_survive_restart_and_erase(env, face_embedding, consent, staff) -> None:
    vault = env.open()
    _enrol_people(vault, face_embedding, consent, staff)
    vault.erase("obama", reason="customer request", actor=staff)
    vault.revoke("biden", actor=staff)
    env.close(vault)
    restarted = env.open()
    probe = {p: face_embedding(f"{p}_2") for p in PEOPLE}
    m = {
        p: restarted.match(probe[p], purpose="checkin", venue="venue-1", actor=staff)
        for p in PEOPLE
    }
    assert m["obama"] is None and m["biden"] is None
    assert m["kit_harington"].customer_id == "kit_harington"
    assert m["rose_leslie"].customer_id == "rose_leslie"
