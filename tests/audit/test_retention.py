"""Retention on a clock the test controls: a customer falls due ``grace`` after their last
consent ended (expired or fully revoked) and is then erased with reason "retention"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from keys import KeyDestroyed
from vault.audit.receipts import read_receipts

GRACE = timedelta(days=30)


def _deadlines(d) -> dict[str, datetime | None]:
    return dict(d.vault.retention_deadlines(GRACE))


def _status(d, customer: str) -> str:
    return d.sql("SELECT status FROM customers WHERE customer_id = ?", [customer])[0][0]


def _destruction(d, customer: str) -> dict:
    found = [
        r for r in read_receipts(d.vault.engine, customer_id=customer) if r.kind == "destruction"
    ]
    assert len(found) == 1
    return json.loads(found[0].body)


def test_deadlines_and_sweeps_follow_the_clock(deployment, consent, staff) -> None:
    d = deployment
    t0 = d.clock()
    # Expiring consent: due 10 days + grace after enrolment.
    d.enroll("exp", consent(expires_at=t0 + timedelta(days=10)))
    # Open-ended consent: never due.
    d.enroll("open")
    # Open-ended, then every purpose revoked a day later: due grace after the revocation.
    d.enroll("rev", consent(("checkin", "marketing")))
    # Two consents ending at different times: due grace after the LAST one ends.
    d.enroll("two", consent(expires_at=t0 + timedelta(days=5)))
    d.vault.grant("two", consent(("marketing",), expires_at=t0 + timedelta(days=20)), actor=staff)
    # Only one purpose revoked, the other open-ended: never due.
    d.enroll("part", consent(("checkin", "marketing")))

    d.clock.now = t0 + timedelta(days=1)
    revoked_at = d.clock()
    d.vault.revoke("rev", actor=staff)
    d.vault.revoke("part", purpose="marketing", actor=staff)

    exp_deadline = t0 + timedelta(days=10) + GRACE
    rev_deadline = revoked_at + GRACE
    two_deadline = t0 + timedelta(days=20) + GRACE
    assert _deadlines(d) == {
        "exp": exp_deadline,
        "open": None,
        "rev": rev_deadline,
        "two": two_deadline,
        "part": None,
    }

    # After expiry but before the deadline: not matched any more, but not erased either.
    d.clock.now = t0 + timedelta(days=11)
    assert d.match("exp") is None
    d.clock.now = rev_deadline - timedelta(seconds=1)
    assert d.vault.retention_sweep(GRACE) == []
    assert {_status(d, c) for c in _deadlines(d)} == {"active"}

    # At the revoked customer's deadline exactly: only "rev" goes.
    d.clock.now = rev_deadline
    swept = d.vault.retention_sweep(GRACE)
    assert [e.customer_id for e in swept] == ["rev"]
    assert swept[0].reason == "retention"
    assert _status(d, "rev") == "erased"

    d.clock.now = exp_deadline - timedelta(seconds=1)
    assert d.vault.retention_sweep(GRACE) == []
    d.clock.now = exp_deadline
    assert [e.customer_id for e in d.vault.retention_sweep(GRACE)] == ["exp"]

    d.clock.now = two_deadline - timedelta(seconds=1)
    assert d.vault.retention_sweep(GRACE) == []
    d.clock.now = two_deadline + timedelta(days=1)
    assert [e.customer_id for e in d.vault.retention_sweep(GRACE)] == ["two"]

    # Years later the open-ended customers are still there; nothing is swept twice.
    d.clock.now = t0 + timedelta(days=3650)
    assert d.vault.retention_sweep(GRACE) == []
    assert _status(d, "open") == "active"
    assert _status(d, "part") == "active"
    assert set(_deadlines(d)) == {"open", "part"}
    assert d.match("open").customer_id == "open"

    # Each sweep erased with reason "retention": log, receipt, key state.
    for customer, deadline in (("rev", rev_deadline), ("exp", exp_deadline)):
        receipt = _destruction(d, customer)
        assert receipt["reason"] == "retention"
        assert receipt["timestamp"] == deadline.isoformat()
        events = [e for e in d.events() if e["customer"] == customer]
        begin = next(e for e in events if e["action"] == "erase.begin")
        assert begin["details"]["reason"] == "retention"
        assert begin["actor"] == {"role": "system", "id": "facekeep"}
        record = d.runtime.keys.record(customer)
        assert record.state == "destroyed"
        with pytest.raises(KeyDestroyed):
            d.vault.open_templates(customer)
    assert _destruction(d, "two")["reason"] == "retention"


def test_grace_zero_sweeps_at_the_moment_consent_ends(deployment, consent, staff) -> None:
    d = deployment
    t0 = d.clock()
    d.enroll("exp", consent(expires_at=t0 + timedelta(hours=1)))
    d.clock.now = t0 + timedelta(minutes=59)
    assert d.vault.retention_sweep(timedelta(0)) == []
    d.clock.now = t0 + timedelta(hours=1)
    assert [e.customer_id for e in d.vault.retention_sweep(timedelta(0))] == ["exp"]


def test_revoking_an_already_expired_consent_does_not_postpone_erasure(
    deployment, consent, staff
) -> None:
    d = deployment
    t0 = d.clock()
    d.enroll("late", consent(expires_at=t0 + timedelta(days=10)))
    d.clock.now = t0 + timedelta(days=25)  # long after expiry the customer also withdraws
    d.vault.revoke("late", actor=staff)
    assert _deadlines(d)["late"] == t0 + timedelta(days=10) + GRACE


# --------------------------------------------------------------------------- command line


def test_retention_status_and_run_from_the_command_line(deployment_at, clock_at, consent) -> None:
    """The command line runs on the real clock, so the customers are set up three days ago
    through an injected clock: one consent already expired, one fully revoked, one
    open-ended."""
    past = datetime.now(UTC) - timedelta(days=3)
    d = deployment_at("cli", clock_at(past))
    d.enroll("expired", consent(expires_at=past + timedelta(days=1)))
    d.enroll("withdrawn")
    d.revoke("withdrawn")
    d.enroll("forever")

    # Default grace (30 days): both are pending but not yet due; a run erases nobody.
    status = d.cli("retention", "status")
    assert status.exit_code == 0, status.stdout
    assert status.json["grace_days"] == 30
    assert status.json["open_ended"] == 1
    pending = {p["customer"]: p for p in status.json["pending"]}
    assert set(pending) == {"expired", "withdrawn"}
    assert not any(p["due"] for p in pending.values())
    assert datetime.fromisoformat(pending["expired"]["deadline"]) == past + timedelta(days=31)
    assert d.cli("retention", "run").json == {"erased": []}

    # Grace 0: both are due now, a run erases exactly them, with reason "retention".
    env = {"FACEKEEP_RETENTION_GRACE_DAYS": "0"}
    status = d.cli("retention", "status", env=env)
    assert status.json["grace_days"] == 0
    assert {p["customer"]: p["due"] for p in status.json["pending"]} == {
        "expired": True,
        "withdrawn": True,
    }
    run = d.cli("retention", "run", env=env)
    assert run.exit_code == 0, run.stdout
    erased = {e["customer"]: e for e in run.json["erased"]}
    assert set(erased) == {"expired", "withdrawn"}
    assert {e["reason"] for e in erased.values()} == {"retention"}
    assert all(e["destroyed_key_ids"] for e in erased.values())

    after = d.cli("retention", "status", env=env).json
    assert after["pending"] == []
    assert after["open_ended"] == 1
    assert d.cli("retention", "run", env=env).json == {"erased": []}

    for customer in ("expired", "withdrawn"):
        assert _status(d, customer) == "erased"
        receipt = _destruction(d, customer)
        assert receipt["reason"] == "retention"
        assert [k["key_id"] for k in receipt["destroyed_keys"]] == erased[customer][
            "destroyed_key_ids"
        ]
    assert _status(d, "forever") == "active"
    assert d.match("forever").customer_id == "forever"
