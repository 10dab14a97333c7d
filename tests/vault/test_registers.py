"""The data-subject request register and the breach register, on the engine under test:
deadlines counted in working days of the venues' local time (weekends and holidays
skipped), what is late and when, each change audited in its transaction (and passive for
other replicas' indexes); breach files list the pseudonymous customers a scope and time
window touched, run the 72-hour clock from discovery and are kept 5 years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from vault import Actor, read_events
from vault.breaches import BreachClosed, BreachNotFound, BreachRegister, BreachRules, Scope
from vault.errors import InvalidRequest
from vault.requests import (
    RequestClosed,
    RequestNotFound,
    RequestRegister,
    RequestRules,
    summary,
)

DESK = Actor(role="admin", id="key_desk")
VN = timedelta(hours=7)


def local(*args: int) -> datetime:
    """A wall-clock time in Vietnam, as an aware UTC datetime."""
    return (datetime(*args, tzinfo=UTC) - VN).astimezone(UTC)  # type: ignore[misc]


def test_working_days_skip_weekends_holidays_and_count_in_local_time() -> None:
    rules = RequestRules(holidays=frozenset({date(2025, 4, 30), date(2025, 5, 1)}))
    # Saturday 1 March 2025, 16:00 in Hanoi: Monday and Tuesday are the two working days.
    assert rules.ack_due(local(2025, 3, 1, 16)) == local(2025, 3, 4, 23, 59, 59)
    assert rules.complete_due(local(2025, 3, 1, 16)) == local(2025, 3, 16, 23, 59, 59)
    # Tuesday 29 April: 30 April and 1 May are holidays, then Friday, (weekend), Monday.
    assert rules.ack_due(local(2025, 4, 29, 10)) == local(2025, 5, 5, 23, 59, 59)
    # 20:30 UTC on a Thursday is already Friday 03:30 in Hanoi.
    thursday_night = datetime(2025, 3, 6, 20, 30, tzinfo=UTC)
    assert rules.ack_due(thursday_night) == local(2025, 3, 11, 23, 59, 59)  # Mon, Tue
    assert RequestRules(ack_working_days=0).ack_due(thursday_night) == local(2025, 3, 7, 23, 59, 59)


def test_a_phone_request_is_opened_acknowledged_and_completed_with_its_deadlines(
    vault: Any, clock: Any
) -> None:
    register = RequestRegister(vault.engine, clock=clock)
    opened = register.open(kind="erasure", channel="phone", actor=DESK, note="called at 9:00")
    assert opened.status == "open" and opened.customer_id is None
    assert opened.received_at == clock.now
    assert opened.ack_due == local(2025, 3, 4, 23, 59, 59)
    assert opened.late(clock.now) == []
    assert [r.request_id for r in register.find(pending_only=True)] == [opened.request_id]

    clock.advance(days=4)  # Wednesday: the acknowledgement is late
    assert register.get(opened.request_id).late(clock.now) == ["acknowledge"]
    assert summary(register.find(), clock.now) == {
        "open": 1,
        "late": 1,
        "completed": 0,
        "refused": 0,
    }
    acked = register.acknowledge(opened.request_id, actor=DESK)
    assert acked.status == "acknowledged" and acked.acknowledged_at == clock.now
    assert acked.next_deadline() == acked.due_at
    done = register.complete(
        opened.request_id, outcome="erased", actor=DESK, customer_id="c_caller"
    )
    assert done.status == "completed" and done.customer_id == "c_caller"
    assert done.late(clock.now) == ["acknowledge"]  # stays on the record
    assert done.next_deadline() is None
    with pytest.raises(RequestClosed):
        register.complete(opened.request_id, outcome="again", actor=DESK)

    events = [e for e in read_events(vault.engine) if e.action.startswith("request.")]
    assert [e.action for e in events] == ["request.open", "request.acknowledge", "request.complete"]
    assert events[0].body["details"]["kind"] == "erasure"
    assert events[0].body["details"]["acknowledge_by"] == opened.ack_due.isoformat()
    assert events[2].customer_id == "c_caller"
    assert events[2].body["details"]["late"] == ["acknowledge"]
    assert all(e.body["actor"] == {"role": "admin", "id": "key_desk"} for e in events)


def test_self_service_requests_are_recorded_completed_at_once(vault: Any, clock: Any) -> None:
    register = RequestRegister(vault.engine, clock=clock)
    done = register.record_completed(
        kind="withdrawal",
        customer_id="c_self",
        purpose="checkin",
        outcome="check-in withdrawn",
        actor=Actor("customer", "c_self"),
    )
    assert (done.status, done.channel, done.purpose) == ("completed", "self-service", "checkin")
    assert done.received_at == done.completed_at == done.acknowledged_at == clock.now
    assert done.late(clock.now) == []
    assert register.find(pending_only=True) == []
    assert [r.request_id for r in register.find(customer_id="c_self")] == [done.request_id]


def test_a_letter_received_earlier_counts_from_its_arrival(vault: Any, clock: Any) -> None:
    register = RequestRegister(vault.engine, clock=clock)
    letter = register.open(
        kind="access", channel="letter", actor=DESK, received_at=clock.now - timedelta(days=20)
    )
    assert letter.late(clock.now) == ["acknowledge", "complete"]
    assert register.find(pending_only=True)[0].request_id == letter.request_id


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "delete-me"}, "invalid_kind"),
        ({"channel": "pigeon"}, "invalid_channel"),
        ({"purpose": "sales"}, "invalid_purpose"),
        ({"customer_id": "bad id!"}, "invalid_customer"),
        ({"received_at": datetime(2025, 1, 1)}, "invalid_time"),
        ({"received_at": datetime(2026, 1, 1, tzinfo=UTC)}, "invalid_time"),
        ({"note": "x" * 2001}, "invalid_request"),
    ],
)
def test_bad_requests_are_refused_with_a_code(
    vault: Any, clock: Any, kwargs: dict[str, Any], code: str
) -> None:
    register = RequestRegister(vault.engine, clock=clock)
    args: dict[str, Any] = {"kind": "access", "channel": "counter", "actor": DESK, **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        register.open(**args)
    assert caught.value.code == code
    assert register.find() == []


def test_closing_needs_an_outcome_and_a_known_request(vault: Any, clock: Any) -> None:
    register = RequestRegister(vault.engine, clock=clock)
    opened = register.open(kind="restriction", channel="email", actor=DESK, customer_id="c_1")
    with pytest.raises(InvalidRequest):
        register.complete(opened.request_id, outcome="  ", actor=DESK)
    with pytest.raises(InvalidRequest):
        register.complete(opened.request_id, outcome="done", actor=DESK, customer_id="c_2")
    with pytest.raises(RequestNotFound):
        register.acknowledge("dsr_0000000000000000", actor=DESK)
    refused = register.refuse(opened.request_id, reason="could not identify them", actor=DESK)
    assert refused.status == "refused" and refused.outcome == "could not identify them"


def test_request_events_are_passive_for_other_replicas(env: Any, faces: Any, consent: Any) -> None:
    first, second = env.open(), env.open()
    first.enroll([faces.photo("ann")], consent(), actor=DESK, customer_id="ann")
    second.follow_changes()
    register = RequestRegister(first.engine, clock=env.clock)
    register.record_completed(kind="access", customer_id="ann", outcome="shown", actor=DESK)
    assert second.follow_changes() == 0


# ------------------------------------------------------------------------ breaches


def _customers(vault: Any, faces: Any, consent: Any, clock: Any) -> None:
    vault.enroll([faces.photo("a")], consent(venues=["hoa-sen"]), actor=DESK, customer_id="a")
    vault.enroll([faces.photo("b")], consent(venues=["sen-vang"]), actor=DESK, customer_id="b")
    vault.enroll(
        [faces.photo("c")], consent(venues=["hoa-sen", "sen-vang"]), actor=DESK, customer_id="c"
    )
    clock.advance(days=1)
    vault.erase("b", reason="customer request", actor=DESK)
    clock.advance(days=1)
    vault.enroll([faces.photo("d")], consent(venues=["hoa-sen"]), actor=DESK, customer_id="d")
    clock.advance(days=1)


def test_a_breach_lists_the_customers_its_scope_and_window_touched(
    vault: Any, faces: Any, consent: Any, clock: Any
) -> None:
    start = clock.now
    _customers(vault, faces, consent, clock)
    register = BreachRegister(vault.engine, clock=clock)
    everyone = register.open(description="backup disk lost", actor=DESK)
    assert register.subjects(everyone.breach_id) == ["a", "b", "c", "d"]
    # A window after b's erasure and before d's enrolment.
    window = register.open(
        description="replica exposed",
        actor=DESK,
        occurred_from=start + timedelta(days=1, hours=1),
        occurred_to=start + timedelta(days=1, hours=12),
    )
    assert register.subjects(window.breach_id) == ["a", "c"]
    venue = register.open(
        description="kiosk stolen", actor=DESK, scope=Scope("venues", ("sen-vang",))
    )
    assert register.subjects(venue.breach_id) == ["b", "c"]
    named = register.open(
        description="one record", actor=DESK, scope=Scope("customers", ("d", "zz"))
    )
    assert register.subjects(named.breach_id) == ["d"]
    assert named.affected == 1
    assert {b.breach_id for b in register.find()} == {
        b.breach_id for b in (everyone, window, venue, named)
    }


def test_the_72_hour_clock_steps_and_five_years(vault: Any, clock: Any) -> None:
    register = BreachRegister(vault.engine, clock=clock)
    discovered = clock.now - timedelta(hours=10)
    breach = register.open(description="laptop stolen", actor=DESK, discovered_at=discovered)
    assert breach.notify_due == discovered + timedelta(hours=72)
    assert breach.retain_until == discovered.replace(year=discovered.year + 5)
    assert breach.to_json(clock.now)["hours_left"] == 62.0
    clock.advance(hours=50)
    breach = register.step(breach.breach_id, "contained", actor=DESK, note="disk wiped")
    breach = register.step(breach.breach_id, "authority_notified", actor=DESK, note="form sent")
    assert breach.authority_notified_at == clock.now
    assert breach.late(clock.now) == []  # no affected guest: nobody else to notify
    assert breach.to_json(clock.now)["hours_left"] is None
    clock.advance(hours=30)
    breach = register.step(breach.breach_id, "closed", actor=DESK, note="done")
    assert breach.status == "closed"
    assert [s.step for s in breach.steps] == ["opened", "contained", "authority_notified", "closed"]
    with pytest.raises(BreachClosed):
        register.step(breach.breach_id, "note", actor=DESK, note="late thought")
    with pytest.raises(BreachNotFound):
        register.get("br_nope")
    events = [e for e in read_events(vault.engine) if e.action.startswith("breach.")]
    assert [e.body["details"].get("step") for e in events] == [
        None,
        "contained",
        "authority_notified",
        "closed",
    ]
    assert all(e.customer_id is None for e in events)


def test_a_late_notification_stays_late(vault: Any, faces: Any, consent: Any, clock: Any) -> None:
    vault.enroll([faces.photo("a")], consent(), actor=DESK, customer_id="a")
    register = BreachRegister(vault.engine, rules=BreachRules(notify_within=timedelta(hours=1)))
    register = BreachRegister(vault.engine, rules=register.rules, clock=clock)
    breach = register.open(description="leak", actor=DESK)
    clock.advance(hours=2)
    assert breach.late(clock.now) == ["authority", "subjects"]
    breach = register.step(breach.breach_id, "authority_notified", actor=DESK)
    breach = register.step(breach.breach_id, "subjects_notified", actor=DESK)
    assert breach.late(clock.now + timedelta(days=9)) == ["authority", "subjects"]


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"description": " "}, "invalid_description"),
        ({"scope": Scope("venues")}, "invalid_scope"),
        ({"scope": Scope("all", ("x",))}, "invalid_scope"),
        ({"scope": Scope("planet", ("x",))}, "invalid_scope"),
        ({"discovered_at": datetime(2025, 1, 1)}, "invalid_time"),
        ({"discovered_at": datetime(2030, 1, 1, tzinfo=UTC)}, "invalid_time"),
        (
            {
                "occurred_from": datetime(2025, 2, 2, tzinfo=UTC),
                "occurred_to": datetime(2025, 2, 1, tzinfo=UTC),
            },
            "invalid_time",
        ),
    ],
)
def test_bad_breach_files_are_refused(
    vault: Any, clock: Any, kwargs: dict[str, Any], code: str
) -> None:
    register = BreachRegister(vault.engine, clock=clock)
    args: dict[str, Any] = {"description": "leak", "actor": DESK, **kwargs}
    with pytest.raises(InvalidRequest) as caught:
        register.open(**args)
    assert caught.value.code == code
    assert register.find() == []
