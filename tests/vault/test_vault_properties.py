"""Property: over random sequences of operations, a match is returned only for a customer
whose modelled state has an active, unexpired consent for that purpose and venue; revoked,
expired, erased and never-enrolled faces never match."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import KeyDestroyed
from vault import CustomerErased, CustomerExists, CustomerNotFound, read_events

IDENTITIES = ["ann", "ben", "cat"]
STRANGER = "zed"  # a face that is never enrolled
PURPOSES = ["checkin", "marketing"]
VENUES = ["v1", "v2"]


@dataclass
class ModelConsent:
    consent_id: str
    purposes: set[str]  # purposes not revoked
    venues: frozenset[str]
    expires_at: datetime | None

    def allows(self, purpose: str, venue: str, now: datetime) -> bool:
        return (
            purpose in self.purposes
            and venue in self.venues
            and (self.expires_at is None or now < self.expires_at)
        )


@dataclass
class ModelCustomer:
    status: str = "absent"  # absent -> active -> erased
    consents: list[ModelConsent] = field(default_factory=list)

    def eligible(self, purpose: str, venue: str, now: datetime) -> set[str]:
        if self.status != "active":
            return set()
        return {c.consent_id for c in self.consents if c.allows(purpose, venue, now)}


names = st.sampled_from(IDENTITIES)
purposes_st = st.sets(st.sampled_from(PURPOSES), min_size=1).map(sorted)
venues_st = st.sets(st.sampled_from(VENUES), min_size=1).map(sorted)
# None, or whole minutes ahead, so the clock (moved in whole minutes) can land on an expiry.
expiry_st = st.one_of(st.none(), st.integers(min_value=1, max_value=240))
match_op = st.tuples(
    st.just("match"),
    st.sampled_from([*IDENTITIES, STRANGER]),
    st.sampled_from(PURPOSES),
    st.sampled_from(VENUES),
)
operations = st.one_of(
    st.tuples(st.just("enrol"), names, purposes_st, venues_st, expiry_st, st.integers(1, 3)),
    st.tuples(st.just("grant"), names, purposes_st, venues_st, expiry_st),
    st.tuples(st.just("revoke"), names, st.sampled_from([*PURPOSES, None])),
    st.tuples(st.just("erase"), names),
    st.tuples(st.just("advance"), st.sampled_from([1, 5, 30, 60, 120, 240])),
    st.tuples(st.just("restart")),
    match_op,
    match_op,  # listed twice: matching is what the property is about
)


class Run:
    """Applies operations to a real vault and to the model, checking every outcome."""

    def __init__(self, env, clock, faces, consent, staff) -> None:
        self.env, self.clock, self.faces = env, clock, faces
        self.consent, self.staff = consent, staff
        self.vault = env.open()
        self.model = {name: ModelCustomer() for name in IDENTITIES}
        self.events = 0

    def _request(self, purposes, venues, expiry):
        expires = None if expiry is None else self.clock() + timedelta(minutes=expiry)
        return self.consent(purposes, venues, expires_at=expires), expires

    def enrol(self, name, purposes, venues, expiry, templates) -> None:
        request, expires = self._request(purposes, venues, expiry)
        customer = self.model[name]
        vectors = [self.faces.photo(name) for _ in range(templates)]
        if customer.status == "absent":
            e = self.vault.enroll(vectors, request, actor=self.staff, customer_id=name)
            customer.status = "active"
            customer.consents.append(
                ModelConsent(e.consent_id, set(purposes), frozenset(venues), expires)
            )
            self.events += 1
        else:
            error = CustomerExists if customer.status == "active" else CustomerErased
            with pytest.raises(error):
                self.vault.enroll(vectors, request, actor=self.staff, customer_id=name)

    def grant(self, name, purposes, venues, expiry) -> None:
        request, expires = self._request(purposes, venues, expiry)
        customer = self.model[name]
        if customer.status == "active":
            consent_id = self.vault.grant(name, request, actor=self.staff)
            customer.consents.append(
                ModelConsent(consent_id, set(purposes), frozenset(venues), expires)
            )
            self.events += 1
        else:
            error = CustomerNotFound if customer.status == "absent" else CustomerErased
            with pytest.raises(error):
                self.vault.grant(name, request, actor=self.staff)

    def revoke(self, name, purpose) -> None:
        customer = self.model[name]
        if customer.status != "active":
            error = CustomerNotFound if customer.status == "absent" else CustomerErased
            with pytest.raises(error):
                self.vault.revoke(name, purpose=purpose, actor=self.staff)
            return
        result = self.vault.revoke(name, purpose=purpose, actor=self.staff)
        withdrawn = set(PURPOSES) if purpose is None else {purpose}
        assert set(result.revoked) == {
            (c.consent_id, p) for c in customer.consents for p in c.purposes & withdrawn
        }
        for c in customer.consents:
            c.purposes -= withdrawn
        self.events += 1

    def erase(self, name) -> None:
        customer = self.model[name]
        if customer.status == "absent":
            with pytest.raises(CustomerNotFound):
                self.vault.erase(name, reason="customer request", actor=self.staff)
            return
        erasure = self.vault.erase(name, reason="customer request", actor=self.staff)
        assert erasure.already_erased == (customer.status == "erased")
        if customer.status == "active":
            self.events += 2  # erase.begin + erase.complete
        customer.status = "erased"
        with pytest.raises(KeyDestroyed):
            self.vault.open_templates(name)

    def advance(self, minutes) -> None:
        self.clock.advance(minutes=minutes)

    def restart(self) -> None:
        self.env.close(self.vault)
        self.vault = self.env.open()

    def match(self, name, purpose, venue) -> bool:
        hit = self.vault.match(
            self.faces.photo(name), purpose=purpose, venue=venue, actor=self.staff
        )
        return self.expect(name, purpose, venue, hit)

    def expect(self, name, purpose, venue, hit) -> bool:
        """Check a match's answer against the model (every match is audited)."""
        self.events += 1
        customer = self.model.get(name, ModelCustomer())
        eligible = customer.eligible(purpose, venue, self.clock())
        if eligible:
            assert hit is not None, (name, purpose, venue, customer)
            assert hit.customer_id == name
            assert hit.consent_id in eligible
            assert hit.distance < self.vault.threshold
        else:
            assert hit is None, (name, purpose, venue, customer, hit)
        return hit is not None

    def check_everything(self) -> None:
        """Every face at every purpose and venue, matched concurrently (each match is
        audited; the audit writer commits them together); and the index's members."""
        probes = [(n, p, v) for n in [*IDENTITIES, STRANGER] for p in PURPOSES for v in VENUES]

        async def match_all() -> list:
            return await asyncio.gather(
                *(
                    self.vault.match_async(
                        self.faces.photo(n), purpose=p, venue=v, actor=self.staff
                    )
                    for n, p, v in probes
                )
            )

        for probe, hit in zip(probes, asyncio.run(match_all()), strict=True):
            self.expect(*probe, hit)
        for name, customer in self.model.items():
            if customer.status != "active":
                assert name not in self.vault.index

    def check_audit(self) -> None:
        seqs = [e.seq for e in read_events(self.vault.engine)]
        assert seqs == list(range(self.events))


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    initial=st.tuples(*[st.one_of(st.none(), st.tuples(purposes_st, venues_st, expiry_st))] * 3),
    ops=st.lists(operations, min_size=5, max_size=15),
)
def test_only_consenting_customers_ever_match(
    env_factory, new_clock, faces, consent, staff, initial, ops
) -> None:
    clock = new_clock()
    # A fresh data directory and the same synthetic identities for every example.
    run = Run(env_factory(clock), clock, type(faces)(seed=20250301), consent, staff)
    try:
        # Most examples start with some identities enrolled, so most steps probe them.
        for name, start in zip(IDENTITIES, initial, strict=True):
            if start is not None:
                run.enrol(name, *start, templates=1)
        for op, *args in ops:
            getattr(run, op)(*args)
        run.check_everything()
        run.check_audit()
        run.restart()  # and once more from disk alone
        run.check_everything()
    finally:
        run.env.close_all()
