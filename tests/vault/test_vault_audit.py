"""The audit log: one event per operation, consecutive sequence numbers, no biometrics,
no key material."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from keys.store import _wrap_context
from vault import CustomerExists, CustomerNotFound, InvalidEmbedding, Vault, read_events
from vault.audit.merkle import leaf_hash
from vault.consent import notice_sha256


def _events(vault: Vault):
    return list(read_events(vault.engine))


class Log:
    """Checks that each operation appended exactly the expected events, in order."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.seen = 0

    def expect(self, *actions: str, customer: str | None, actor=None) -> list:
        events = _events(self.vault)
        new = events[self.seen :]
        assert [e.action for e in new] == list(actions)
        assert [e.seq for e in new] == list(range(self.seen, self.seen + len(actions)))
        for e in new:
            assert e.customer_id == customer
            assert e.body["seq"] == e.seq and e.body["action"] == e.action
            assert e.body["customer"] == customer
            assert e.ts == self.vault.now()
            if actor is not None:
                assert e.body["actor"] == {"role": actor.role, "id": actor.id}
        self.seen = len(events)
        return new


def test_each_operation_appends_its_events_with_consecutive_seq(
    vault, faces, consent, staff, clock
) -> None:
    log = Log(vault)
    enrolment = vault.enroll(
        [faces.photo("alice")],
        consent(["checkin", "marketing"]),
        actor=staff,
        customer_id="alice",
    )
    (ev,) = log.expect("enrol", customer="alice", actor=staff)
    assert enrolment.audit_seq == ev.seq == 0
    details = ev.body["details"]
    assert details["consent"] == enrolment.consent_id
    assert details["key_id"] == enrolment.key_id
    assert details["templates"] == 1
    assert sorted(details["purposes"]) == ["checkin", "marketing"]

    clock.advance(seconds=1)
    hit = vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=staff)
    (ev,) = log.expect("match", customer="alice", actor=staff)
    assert ev.body["outcome"] == "match"
    assert ev.body["details"]["consent"] == hit.consent_id
    assert ev.body["details"]["distance"] == pytest.approx(hit.distance, abs=1e-4)

    clock.advance(seconds=1)
    assert vault.match(faces.photo("zed"), purpose="checkin", venue="venue-1", actor=staff) is None
    (ev,) = log.expect("match", customer=None, actor=staff)
    assert ev.body["outcome"] == "no_match"
    assert ev.body["details"] == {"purpose": "checkin", "venue": "venue-1"}

    clock.advance(seconds=1)
    revocation = vault.revoke("alice", purpose="marketing", actor=staff)
    (ev,) = log.expect("consent.revoke", customer="alice", actor=staff)
    assert revocation.audit_seq == ev.seq
    assert ev.body["details"]["purpose"] == "marketing"

    clock.advance(seconds=1)
    granted = consent(["marketing"], ["venue-2"])
    grant_id = vault.grant("alice", granted, actor=staff)
    (ev,) = log.expect("consent.grant", customer="alice", actor=staff)
    # The grant records the notice shown like an enrolment does (never its text).
    assert ev.body["details"] == {
        "consent": grant_id,
        "purposes": ["marketing"],
        "venues": ["venue-2"],
        "notice_version": granted.notice_version,
        "notice_sha256": notice_sha256(granted.notice_text),
        "lang": granted.lang,
    }

    clock.advance(seconds=1)
    vault.revoke("alice", actor=staff)
    (ev,) = log.expect("consent.revoke", customer="alice", actor=staff)
    assert ev.body["details"]["purpose"] == "all"

    clock.advance(seconds=1)
    erasure = vault.erase("alice", reason="customer request", actor=staff)
    # An erase spans two databases, so it is recorded as a begin/complete pair.
    begin, complete = log.expect("erase.begin", "erase.complete", customer="alice", actor=staff)
    assert erasure.audit_seq == complete.seq == begin.seq + 1
    assert complete.body["details"]["key_ids"] == [enrolment.key_id]

    # Refused or idempotent operations append nothing.
    vault.erase("alice", reason="again", actor=staff)
    with pytest.raises(CustomerNotFound):
        vault.revoke("nobody", actor=staff)
    with pytest.raises(InvalidEmbedding):
        vault.match([0.0] * 3, purpose="checkin", venue="venue-1", actor=staff)
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    log.expect("enrol", customer="bob", actor=staff)
    with pytest.raises(CustomerExists):
        vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    log.expect(customer=None)

    # Every match is audited: there is no unaudited path, and a match writes one event.
    with pytest.raises(TypeError):
        vault.match(
            faces.photo("bob"), purpose="checkin", venue="venue-1", actor=staff, audit=False
        )
    log.expect(customer=None)
    vault.match(faces.photo("bob"), purpose="checkin", venue="venue-1", actor=staff)
    log.expect("match", customer="bob", actor=staff)


def test_sequence_continues_across_restarts_and_leaves_hash(env, faces, consent, staff):
    vault = env.open()
    vault.enroll([faces.photo("alice")], consent(), actor=staff, customer_id="alice")
    vault.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=staff)
    env.close(vault)
    restarted = env.open()
    restarted.match(faces.photo("alice"), purpose="checkin", venue="venue-1", actor=staff)
    restarted.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    events = _events(restarted)
    assert [e.seq for e in events] == [0, 1, 2, 3]
    raw = env.sql("SELECT seq, leaf FROM audit_events ORDER BY seq")
    for (seq, leaf), event in zip(raw, events, strict=True):
        assert seq == event.seq
        assert json.loads(leaf) == event.body
        assert event.leaf_hash == leaf_hash(leaf.encode("utf-8"))
        # Canonical JSON: sorted keys, no spaces.
        assert leaf == json.dumps(
            event.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )


def _numbers(value, path=""):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _numbers(v, f"{path}[{i}]")


def _key_forms(raw: bytes) -> list[str]:
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ]


def test_events_hold_no_embedding_numbers_and_no_key_bytes(env, faces, consent, staff, clock):
    vault = env.open()
    vectors = {}
    for name in ("alice", "bob", "carol"):
        vectors[name] = [faces.photo(name), faces.photo(name)]
        vault.enroll(vectors[name], consent(), actor=staff, customer_id=name)
    probes = [faces.photo(name) for name in ("alice", "bob", "carol", "stranger")]
    for probe in probes:
        clock.advance(seconds=1)
        vault.match(probe, purpose="checkin", venue="venue-1", actor=staff)
    vault.replace_templates("bob", [faces.photo("bob")], actor=staff)
    vault.revoke("bob", purpose="checkin", actor=staff)
    vault.erase("carol", reason="customer request", actor=staff)

    components = np.concatenate([np.concatenate(v) for v in vectors.values()] + probes)
    as_f32 = components.astype(np.float32).astype(np.float64)
    leaves = [leaf for (leaf,) in env.sql("SELECT leaf FROM audit_events ORDER BY seq")]
    assert len(leaves) == 3 + 4 + 1 + 1 + 2

    for leaf in leaves:
        body = json.loads(leaf)
        for path, number in _numbers(body):
            if isinstance(number, float):
                # The only real number an event may carry is a match distance.
                assert path == ".details.distance", (path, number)
            assert not np.isclose(components, number, rtol=0, atol=1e-9).any(), path
            assert not np.isclose(as_f32, number, rtol=0, atol=1e-9).any(), path
        for x in components:
            if abs(x) >= 1e-3:
                assert f"{abs(x):.6f}" not in leaf
                assert f"{abs(np.float32(x)):.6f}" not in leaf

    # Key material: no data key (raw or wrapped) and no KEK in any form.
    secrets = [p.read_bytes() for p in env.kek_dir.iterdir()]
    for name in ("alice", "bob"):
        record = vault.keys.record(name)
        wrapped = env.wrapped_key(name)
        secrets.append(wrapped)
        secrets.append(
            bytes(
                vault.keys.kek.unwrap(
                    wrapped,
                    epoch=record.kek_epoch,
                    context=_wrap_context(name, record.key_id, record.kek_epoch),
                )
            )
        )
    for leaf in leaves:
        for secret in secrets:
            for form in _key_forms(secret):
                assert form not in leaf
