"""Carrying out data-subject requests. facekeep does most at once: a withdrawal, an
objection or a restriction withdraws consent (the face stops matching before the call
returns), an erasure crypto-shreds the customer's key, an access request answers with
everything held about the customer. A correction needs new photos, so staff say what they
did. Requests made on the guest's own page are recorded already completed, by the vault
action that carries them out, in its transaction (:class:`vault.requests.SelfService`)."""

from __future__ import annotations

from typing import Any

from api.runtime import Runtime
from api.views import customer_json, erasure_json, match_history, revocations
from vault import Actor, CustomerErased, InvalidRequest
from vault.requests import RequestRegister, SubjectRequest

ERASURE_REASON = "data-subject request"


def carry_out(
    runtime: Runtime,
    register: RequestRegister,
    request_id: str,
    *,
    actor: Actor,
    customer_id: str | None = None,
    outcome: str | None = None,
) -> tuple[SubjectRequest, dict[str, Any]]:
    """Do what a request asks (where facekeep can), then mark it completed with what was
    done. Returns the closed request and the result (for an access request: the data)."""
    request = register.get(request_id)
    customer = customer_id or request.customer_id
    if customer is None:
        raise InvalidRequest(
            "name the customer (after checking who the requester is)", code="invalid_customer"
        )
    vault = runtime.vault
    result: dict[str, Any] = {}
    done: str
    try:
        if request.kind in ("withdrawal", "objection", "restriction"):
            purpose = request.purpose
            if request.kind == "objection":
                purpose = purpose or "marketing"
            if request.kind == "restriction":
                purpose = None
            reason = {"withdrawal": "withdrawn", "objection": "objection"}.get(
                request.kind, "restriction"
            )
            revoked = vault.revoke(customer, purpose=purpose, reason=reason, actor=actor)
            result = {"revoked": revocations(revoked)}
            done = f"{reason}: {purpose or 'every purpose'} stopped"
        elif request.kind == "erasure":
            erased = vault.erase(customer, reason=ERASURE_REASON, actor=actor)
            result = erasure_json(erased)
            done = "erased: data key destroyed (crypto-shred)"
        elif request.kind == "access":
            result = customer_json(vault.show(customer), vault.now())
            result["matches"] = match_history(vault, customer)
            done = "everything held was given to the requester"
        else:  # correction: new photos are taken at the counter or on the guest's page
            if not outcome:
                raise InvalidRequest(
                    "say how the data was corrected (outcome)", code="invalid_outcome"
                )
            done = "corrected"
    except CustomerErased:
        done = "nothing left to do: the customer's data was already erased"
    closed = register.complete(
        request_id,
        outcome=f"{done}; {outcome}" if outcome else done,
        actor=actor,
        customer_id=customer,
    )
    return closed, result
