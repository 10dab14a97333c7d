"""Tampered template rows: ciphertexts swapped between customers or between templates.

A template that does not decrypt is left out of matching, logged and counted in
``Vault.unreadable`` (a metric and ``facekeep show`` report it); the customer's other,
authentic templates still serve, and a customer with none left is out of the index."""

from __future__ import annotations

import pytest

from keys import DecryptionFailed
from vault import Vault


def _match(vault: Vault, probe, actor):
    return vault.match(probe, purpose="checkin", venue="venue-1", actor=actor)


def _sealed(env, customer_id: str) -> list[tuple[str, bytes]]:
    return [
        (tid, bytes(blob))
        for tid, blob in env.sql(
            "SELECT template_id, sealed FROM templates WHERE customer_id = :customer_id "
            "ORDER BY template_id",
            {"customer_id": customer_id},
        )
    ]


def _set_sealed(env, template_id: str, blob: bytes) -> None:
    env.sql(
        "UPDATE templates SET sealed = :blob WHERE template_id = :template_id",
        {"blob": blob, "template_id": template_id},
    )


def _swap_between_customers(env) -> set[str]:
    (a_tid, a_blob), *_ = _sealed(env, "alice")
    (b_tid, b_blob), *_ = _sealed(env, "bob")
    _set_sealed(env, a_tid, b_blob)
    _set_sealed(env, b_tid, a_blob)
    return {"alice", "bob"}


def _swap_within_customer(env) -> set[str]:
    (t1, blob1), (t2, blob2) = _sealed(env, "alice")
    _set_sealed(env, t1, blob2)
    _set_sealed(env, t2, blob1)
    return {"alice"}


def _copy_other_customers_template(env) -> set[str]:
    (a_tid, _), *_ = _sealed(env, "alice")
    (_, b_blob), *_ = _sealed(env, "bob")
    _set_sealed(env, a_tid, b_blob)  # alice's row now holds bob's ciphertext
    return {"alice"}


def _flip_one_bit(env) -> set[str]:
    (tid, blob), *_ = _sealed(env, "alice")
    _set_sealed(env, tid, blob[:20] + bytes([blob[20] ^ 1]) + blob[21:])
    return {"alice"}


TAMPERS = {
    "swap between customers": _swap_between_customers,
    "swap within a customer": _swap_within_customer,
    "other customer's ciphertext": _copy_other_customers_template,
    "one bit flipped": _flip_one_bit,
}


def _enrol_three(vault: Vault, faces, consent, staff) -> None:
    for name in ("alice", "bob", "carol"):
        vault.enroll(
            [faces.photo(name), faces.photo(name)], consent(), actor=staff, customer_id=name
        )


@pytest.mark.parametrize("tamper", TAMPERS.values(), ids=TAMPERS.keys())
def test_tampered_template_rows_fail_to_decrypt(env, faces, consent, staff, tamper) -> None:
    vault = env.open()
    _enrol_three(vault, faces, consent, staff)
    for name in ("alice", "bob", "carol"):
        assert len(vault.open_templates(name)) == 2
    victims = tamper(env)
    for name in victims:
        with pytest.raises(DecryptionFailed):
            vault.open_templates(name)
    assert len(vault.open_templates("carol")) == 2


# How many of each victim's two templates stay readable after each tampering.
READABLE_AFTER = {
    "swap between customers": {"alice": 1, "bob": 1},
    "swap within a customer": {"alice": 0},
    "other customer's ciphertext": {"alice": 1},
    "one bit flipped": {"alice": 1},
}


@pytest.mark.parametrize("name", TAMPERS.keys())
def test_restart_with_tampered_rows_leaves_only_those_templates_out_and_says_so(
    env, faces, consent, staff, name, caplog
) -> None:
    vault = env.open()
    _enrol_three(vault, faces, consent, staff)
    env.close(vault)
    victims = TAMPERS[name](env)

    restarted = env.open(start=False)
    caplog.set_level("WARNING", logger="facekeep.vault")
    restarted.start()  # must not crash
    readable = READABLE_AFTER[name]
    assert set(readable) == victims
    for victim, left in readable.items():
        # Counted and logged, never silent.
        assert len(restarted.unreadable[victim]) == 2 - left
        assert any(victim in r.getMessage() for r in caplog.records)
        shown = restarted.show(victim, check_templates=True)
        assert sorted(t.readable for t in shown.templates) == [False] * (2 - left) + [True] * left
        hit = _match(restarted, faces.photo(victim), staff)
        if left:  # the authentic template still serves
            assert victim in restarted.index and hit is not None and hit.customer_id == victim
        else:
            assert victim not in restarted.index and hit is None
    for other in {"alice", "bob", "carol"} - victims:
        assert other not in restarted.unreadable
        assert _match(restarted, faces.photo(other), staff).customer_id == other
    assert all(t.readable for t in restarted.show("carol", check_templates=True).templates)
