"""Malformed input is refused with the right exception class and code, and writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from vault import (
    ConsentRequest,
    CustomerNotFound,
    InvalidEmbedding,
    InvalidRequest,
    VaultError,
)

GOOD = np.random.default_rng(7).normal(0.0, 0.09, 128)


def _with(index: int, value: float) -> list[float]:
    v = GOOD.tolist()
    v[index] = value
    return v


BAD_EMBEDDINGS = {
    "127 numbers": [GOOD[:127]],
    "129 numbers": [np.concatenate([GOOD, [0.1]])],
    "empty vector": [[]],
    "2-d (1, 128)": [GOOD.reshape(1, 128)],
    "nan": [_with(5, float("nan"))],
    "+inf": [_with(0, float("inf"))],
    "-inf": [_with(127, float("-inf"))],
    "out of range": [_with(3, 11.0)],
    "strings": [["a"] * 128],
    "None": [None],
    "zero templates": [],
    "six templates": [GOOD] * 6,
    "one good one bad": [GOOD, _with(1, float("nan"))],
}


def _nothing_written(env) -> None:
    for table in ("customers", "consents", "templates", "audit_events"):
        assert env.count(table) == 0, table
    assert env.count("data_keys", db="keys") == 0


@pytest.mark.parametrize("embeddings", BAD_EMBEDDINGS.values(), ids=BAD_EMBEDDINGS.keys())
def test_bad_embeddings_are_refused(env, consent, staff, embeddings) -> None:
    vault = env.open()
    with pytest.raises(InvalidEmbedding) as info:
        vault.enroll(embeddings, consent(), actor=staff, customer_id="alice")
    assert info.value.code == "invalid_embedding"
    assert isinstance(info.value, InvalidRequest)
    _nothing_written(env)


def test_one_to_five_templates_are_accepted(vault, faces, consent, staff) -> None:
    for n in (1, 5):
        e = vault.enroll([faces.photo(f"p{n}")] * n, consent(), actor=staff, customer_id=f"p{n}")
        assert len(e.template_ids) == n


@pytest.mark.parametrize(
    "probe", [GOOD[:127], _with(2, float("nan")), _with(2, float("inf")), None, "x" * 128]
)
def test_bad_probes_are_refused(vault, faces, consent, staff, probe) -> None:
    vault.enroll([GOOD], consent(), actor=staff, customer_id="alice")
    with pytest.raises(InvalidEmbedding) as info:
        vault.match(probe, purpose="checkin", venue="venue-1", actor=staff)
    assert info.value.code == "invalid_embedding"


BAD_CONSENTS = {
    "unknown purpose": ({"purposes": ("advertising",)}, "invalid_purpose"),
    "unknown among known": ({"purposes": ("checkin", "CHECKIN")}, "invalid_purpose"),
    "no purposes": ({"purposes": ()}, "invalid_purpose"),
    "empty venues": ({"venues": ()}, "invalid_venue"),
    "empty venue id": ({"venues": ("",)}, "invalid_venue"),
    "venue with space": ({"venues": ("venue 1",)}, "invalid_venue"),
    "venue too long": ({"venues": ("v" * 65,)}, "invalid_venue"),
    "bad lang": ({"lang": "fr"}, "invalid_lang"),
    "lang case": ({"lang": "EN"}, "invalid_lang"),
    "empty lang": ({"lang": ""}, "invalid_lang"),
    "empty notice": ({"notice_text": ""}, "invalid_notice"),
    "blank notice": ({"notice_text": " \n\t "}, "invalid_notice"),
    "bad notice version": ({"notice_version": "v 1/2"}, "invalid_notice_version"),
    "method too long": ({"method": "m" * 65}, "invalid_request"),
    "device too long": ({"device": "d" * 129}, "invalid_request"),
}


@pytest.mark.parametrize(("change", "code"), BAD_CONSENTS.values(), ids=BAD_CONSENTS.keys())
def test_bad_consents_are_refused(env, consent, staff, change, code) -> None:
    vault = env.open()
    request = replace(consent(), **change)
    with pytest.raises(InvalidRequest) as info:
        vault.enroll([GOOD], request, actor=staff, customer_id="alice")
    assert type(info.value) is InvalidRequest
    assert info.value.code == code
    _nothing_written(env)


@pytest.mark.parametrize(
    "customer_id",
    ["bad id", "-leading-dash", ".dot", "a" * 65, "ünïcode", "a/b", "a\nb", "x;DROP"],
)
def test_bad_customer_ids_are_refused(env, consent, staff, customer_id) -> None:
    vault = env.open()
    with pytest.raises(InvalidRequest) as info:
        vault.enroll([GOOD], consent(), actor=staff, customer_id=customer_id)
    assert info.value.code == "invalid_customer"
    _nothing_written(env)


def test_longest_valid_customer_id_is_accepted(vault, consent, staff) -> None:
    cid = "A" + "b.c_d-9" * 9
    assert len(cid) == 64
    assert vault.enroll([GOOD], consent(), actor=staff, customer_id=cid).customer_id == cid


def test_consent_already_expired_is_refused(env, faces, consent, staff, clock) -> None:
    vault = env.open()
    for expires_at in (clock(), clock() - timedelta(days=1)):
        with pytest.raises(InvalidRequest) as info:
            vault.enroll([GOOD], consent(expires_at=expires_at), actor=staff, customer_id="alice")
        assert info.value.code == "invalid_expiry"
    assert env.count("customers") == 0 and env.count("audit_events") == 0
    # The id is still free for a valid enrolment.
    vault.enroll([GOOD], consent(), actor=staff, customer_id="alice")
    assert vault.match(GOOD, purpose="checkin", venue="venue-1", actor=staff) is not None


def test_naive_expiry_is_refused_as_invalid_request(env, consent, staff) -> None:
    vault = env.open()
    request = consent(expires_at=datetime(2030, 1, 1))  # no tzinfo
    with pytest.raises(InvalidRequest) as info:
        vault.enroll([GOOD], request, actor=staff, customer_id="alice")
    assert info.value.code == "invalid_expiry"


def test_revoke_bad_inputs(vault, faces, consent, staff) -> None:
    vault.enroll([GOOD], consent(), actor=staff, customer_id="alice")
    with pytest.raises(InvalidRequest) as info:
        vault.revoke("alice", purpose="advertising", actor=staff)
    assert info.value.code == "invalid_purpose"
    with pytest.raises(CustomerNotFound) as nf:
        vault.revoke("nobody", actor=staff)
    assert nf.value.code == "customer_not_found"
    # Nothing was revoked by the refused call.
    assert vault.match(GOOD, purpose="checkin", venue="venue-1", actor=staff) is not None


@pytest.mark.parametrize("reason", ["", "   ", "r" * 201])
def test_erase_requires_a_reason(vault, consent, staff, reason) -> None:
    vault.enroll([GOOD], consent(), actor=staff, customer_id="alice")
    with pytest.raises(InvalidRequest) as info:
        vault.erase("alice", reason=reason, actor=staff)
    assert info.value.code == "invalid_reason"
    assert vault.show("alice").status == "active"
    assert vault.keys.record("alice").state == "active"


def test_every_vault_error_has_a_stable_code() -> None:
    assert issubclass(InvalidEmbedding, InvalidRequest)
    assert issubclass(InvalidRequest, VaultError)
    request = ConsentRequest(
        purposes=("checkin",), venues=("v",), notice_text="n", notice_version="1", lang="vi"
    )
    assert request.validated() is request
