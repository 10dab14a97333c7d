"""Carrying out data-subject requests. facekeep does most at once: a withdrawal, an
objection or a restriction withdraws consent (the face stops matching before the call
returns), an erasure crypto-shreds the customer's key, an access request answers with
everything held about the customer. A correction needs new photos, so staff say what they
did.

Where a vault action carries a request out, the request is completed by that action, in
its transaction (:class:`vault.requests.Completion`): a withdrawal, objection or
restriction and its completion commit together or not at all; an erasure completes its
request in the transaction from which the erasure is sure to finish (the customer marked
``erasing``), and if the key's destruction then fails, carrying the request out again
finishes it. Requests made on the guest's own page are recorded already completed the
same way (:class:`vault.requests.SelfService`)."""

from __future__ import annotations

from typing import Any

from api.runtime import Runtime
from api.views import customer_json, erasure_json, match_history, revocations
from vault import Actor, CustomerErased, CustomerNotFound, InvalidRequest
from vault.requests import COMPLETED, PENDING, RequestClosed, RequestRegister, SubjectRequest

ERASURE_REASON = "data-subject request"
ALREADY_ERASED = "nothing left to do: the customer's data was already erased"


def carry_out(
    runtime: Runtime,
    register: RequestRegister,
    request_id: str,
    *,
    actor: Actor,
    customer_id: str | None = None,
    outcome: str | None = None,
) -> tuple[SubjectRequest, dict[str, Any]]:
    """Do what a request asks (where facekeep can) and mark it completed with what was
    done, in the action's transaction where there is one. Returns the closed request and
    the result (for an access request: the data). A completed erasure whose customer is
    still ``erasing`` (the key's destruction failed) is finished; any other closed request
    raises :class:`RequestClosed`."""
    request = register.get(request_id)
    if request.status not in PENDING:
        unfinished = _unfinished_erasure(runtime, request)
        if unfinished is None:
            raise RequestClosed(request_id, request.status)
        erased = runtime.vault.erase(unfinished, reason=ERASURE_REASON, actor=actor)
        return request, erasure_json(erased)
    customer = customer_id or request.customer_id
    if customer is None:
        raise InvalidRequest(
            "name the customer (after checking who the requester is)", code="invalid_customer"
        )
    if request.customer_id not in (None, customer):
        raise InvalidRequest("the request names another customer", code="invalid_customer")
    vault = runtime.vault
    result: dict[str, Any] = {}
    if request.kind in ("withdrawal", "objection", "restriction"):
        purpose = request.purpose
        if request.kind == "objection":
            purpose = purpose or "marketing"
        if request.kind == "restriction":
            purpose = None
        reason = {"withdrawal": "withdrawn", "objection": "objection"}.get(
            request.kind, "restriction"
        )
        done = f"{reason}: {purpose or 'every purpose'} stopped"
        entry = register.completion(request_id, outcome=_outcome(done, outcome))
        try:
            revoked = vault.revoke(
                customer, purpose=purpose, reason=reason, actor=actor, register_entry=entry
            )
        except CustomerErased:
            done = ALREADY_ERASED
        else:
            return register.get(request_id), {"revoked": revocations(revoked)}
    elif request.kind == "erasure":
        done = "erased: data key destroyed (crypto-shred)"
        entry = register.completion(request_id, outcome=_outcome(done, outcome))
        erased = vault.erase(customer, reason=ERASURE_REASON, actor=actor, register_entry=entry)
        result = erasure_json(erased)
        recorded = register.get(request_id)
        if recorded.status == COMPLETED:  # with the erasure
            return recorded, result
        done = ALREADY_ERASED  # erased before this request: nothing was recorded
    elif request.kind == "access":
        try:
            result = customer_json(vault.show(customer), vault.now())
            result["matches"] = match_history(vault, customer)
            done = "everything held was given to the requester"
        except CustomerErased:
            done = ALREADY_ERASED
    else:  # correction: new photos are taken at the counter or on the guest's page
        if not outcome:
            raise InvalidRequest("say how the data was corrected (outcome)", code="invalid_outcome")
        done = "corrected"
    closed = register.complete(
        request_id, outcome=_outcome(done, outcome), actor=actor, customer_id=customer
    )
    return closed, result


def _unfinished_erasure(runtime: Runtime, request: SubjectRequest) -> str | None:
    """The customer of a completed erasure request who is still ``erasing`` (None when
    there is none)."""
    if request.kind != "erasure" or request.status != COMPLETED or request.customer_id is None:
        return None
    try:
        view = runtime.vault.show(request.customer_id)
    except CustomerNotFound:
        return None
    return request.customer_id if view.status == "erasing" else None


def _outcome(done: str, said: str | None) -> str:
    """What was done, with what staff said."""
    return f"{done}; {said}" if said else done
