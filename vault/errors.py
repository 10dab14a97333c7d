"""Errors raised by the vault.

VaultError
 +-- InvalidRequest        a caller's input is malformed (code names which part)
 |    +-- InvalidEmbedding  not 128 finite numbers
 +-- CustomerNotFound      no such customer
 +-- CustomerExists        enrolment of an id that is already enrolled
 +-- CustomerErased        the customer was erased; their id is never reused
 +-- ConsentNotFound       no such consent, or not this customer's
 +-- EnrolmentInterrupted  a recovering replica discarded this enrolment's key; retry
 +-- ModelMismatch         the vault serves templates of another face model
 +-- GalleryFull           a venue's gallery for a purpose reached its configured cap
 +-- FacesDiffer           photos or frames that should show one person show several
 +-- ReenrolAtCounter      a retake cannot be compared with a template of the current model
 +-- SigningKeyMismatch    this process holds another audit signing key than the deployment
 +-- RestoreIncomplete     a restored copy has not yet re-applied the erasures made after it
 +-- AuditError            the audit log, a proof or a signature does not check out
      +-- AuditInconsistent the log no longer extends its last signed head: signing refused
      +-- ProofError        a Merkle proof (or its parameters) is invalid; also a ValueError
      +-- SignatureInvalid  an audit signature does not verify under the key
"""

from __future__ import annotations

from keys.signing import SignatureInvalid as _BadEd25519Signature


class VaultError(Exception):
    """Base class of every error from the ``vault`` package."""

    code = "vault_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> dict[str, object]:
        """Return the error's data attributes for an API answer (ids, counts, names;
        never an embedding, a distance or key material)."""
        return {}


class InvalidRequest(VaultError):
    """A caller's input is malformed."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidEmbedding(InvalidRequest):
    """An embedding that is not 128 finite numbers."""

    code = "invalid_embedding"


class _AboutCustomer(VaultError):
    """An error about one customer: ``template`` (formatted with ``customer_id``) is its
    message, and its details are the id."""

    template = "customer {customer_id!r}"

    def __init__(self, customer_id: str) -> None:
        super().__init__(self.template.format(customer_id=customer_id))
        self.customer_id = customer_id

    def details(self) -> dict[str, object]:
        """Return ``{"customer_id"}``."""
        return {"customer_id": self.customer_id}


class CustomerNotFound(_AboutCustomer):
    """No customer with this id."""

    code = "customer_not_found"
    template = "no customer {customer_id!r}"


class CustomerExists(_AboutCustomer):
    """The customer id is already enrolled."""

    code = "customer_exists"
    template = "customer {customer_id!r} is already enrolled"


class CustomerErased(_AboutCustomer):
    """The customer was erased; nothing can be done with their id any more."""

    code = "customer_erased"
    template = "customer {customer_id!r} was erased"


class ConsentNotFound(VaultError):
    """No such consent for this customer."""

    code = "consent_not_found"


class EnrolmentInterrupted(_AboutCustomer):
    """A restarting replica treated this in-flight enrolment as crashed; nothing was stored."""

    code = "enrolment_interrupted"
    template = "the enrolment of {customer_id!r} was interrupted; try again"


class ModelMismatch(VaultError):
    """The vault was set up for another face model than the one it is being opened with:
    its templates would never compare with this model's embeddings."""

    code = "engine_mismatch"

    def __init__(self, recorded: str, configured: str, message: str | None = None) -> None:
        super().__init__(
            message or f"this vault serves templates of model {recorded!r}, not {configured!r}"
        )
        self.recorded = recorded
        self.configured = configured

    def details(self) -> dict[str, object]:
        """Return ``{"recorded", "configured"}`` (model names)."""
        return {"recorded": self.recorded, "configured": self.configured}


class FacesDiffer(VaultError):
    """Photos (or frames) that must show one person do not: some pairs lie farther apart
    than the match threshold, or new photos do not show the enrolled person.

    ``pairs`` holds the 0-based positions of the photos that differ, in the order given
    (empty when new photos were compared with the enrolled person). Distances are never
    carried: they would tell a caller how close a face came.
    """

    code = "faces_differ"

    def __init__(
        self,
        pairs: tuple[tuple[int, int], ...] = (),
        *,
        noun: str = "photos",
        message: str | None = None,
    ) -> None:
        if message is None:
            named = ", ".join(f"{i} and {j}" for i, j in pairs)
            message = f"these {noun} do not show the same person: {named}"
        super().__init__(message)
        self.pairs = pairs

    def details(self) -> dict[str, object]:
        """Return ``{"pairs"}`` as lists of positions (nothing when none are named)."""
        return {"pairs": [list(p) for p in self.pairs]} if self.pairs else {}


class ReenrolAtCounter(_AboutCustomer):
    """The customer holds no template of the vault's current face model (the vault changed
    engine), so new photos cannot be checked against their face: only staff, who can see
    the person, may re-enrol them."""

    code = "reenrol_at_counter"
    # The message goes to the customer's phone: it names no id.
    template = (
        "your photos cannot be compared with the face enrolled earlier: "
        "please re-enrol at a venue's counter"
    )


class GalleryFull(VaultError):
    """A (venue, purpose) gallery holds the configured maximum of customers: one more
    would make false matches likelier than the deployment accepts."""

    code = "gallery_full"

    def __init__(self, venue: str, purpose: str, limit: int) -> None:
        super().__init__(
            f"the {purpose!r} gallery of venue {venue!r} holds its maximum of {limit} customers"
        )
        self.venue = venue
        self.purpose = purpose
        self.limit = limit

    def details(self) -> dict[str, object]:
        """Return ``{"venue", "purpose", "limit"}``."""
        return {"venue": self.venue, "purpose": self.purpose, "limit": self.limit}


class SigningKeyMismatch(VaultError):
    """A process would sign with another audit key than the one its deployment publishes:
    auditors pin one public key, so every replica must sign with the same key."""

    code = "signing_key_mismatch"


class RestoreIncomplete(VaultError):
    """A restored backup must first re-apply every erasure recorded after it was taken."""

    code = "restore_incomplete"


class AuditError(VaultError):
    """The audit log, one of its proofs or one of its signatures does not check out."""

    code = "audit_error"


class AuditInconsistent(AuditError):
    """The audit log in the database is not an extension of the last signed tree head
    (an event was edited or removed, or the log was cut short): the signer refuses to
    sign a new head over it and raises an alarm."""

    code = "audit_inconsistent"


class ProofError(AuditError, ValueError):
    """A Merkle proof (or its parameters) is invalid. Also a ``ValueError``, as callers
    of the Merkle functions have always caught it."""

    code = "audit_proof_invalid"


class SignatureInvalid(AuditError, _BadEd25519Signature):
    """An audit signature (tree head, receipt) does not verify under the given key. Also
    the key primitive's :class:`keys.signing.SignatureInvalid`, which callers catch."""

    code = "audit_signature_invalid"
