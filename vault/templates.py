"""Face templates sealed under the customer's own data key.

The vault never learns about faces: a template is 128 float32 numbers, sealed with
associated data that binds it to its customer, its template id and the model version.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from keys import KeyStore
from vault.errors import InvalidEmbedding

DIM = 128
MAX_TEMPLATES = 5


def template_context(customer_id: str, template_id: str, model_version: str) -> tuple[str, ...]:
    """The associated data of a template."""
    return ("facekeep/template/v1", customer_id, template_id, model_version)


def check_embedding(value: object) -> npt.NDArray[np.float32]:
    """Return a (128,) float32 copy of ``value`` or raise InvalidEmbedding."""
    if isinstance(value, list | tuple):
        # JSON numbers only: strings such as "0.1" and booleans are not embeddings.
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value):
            raise InvalidEmbedding("an embedding must be a list of 128 numbers")
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise InvalidEmbedding("an embedding must be a list of 128 numbers")
    else:
        raise InvalidEmbedding("an embedding must be a list of 128 numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidEmbedding("an embedding must be a list of 128 numbers") from None
    except OverflowError:  # an integer beyond any float, such as 10**400 written out
        raise InvalidEmbedding("embedding values are out of range") from None
    if array.shape != (DIM,):
        raise InvalidEmbedding(f"an embedding must have exactly {DIM} numbers")
    if not np.isfinite(array).all():
        raise InvalidEmbedding("an embedding must not contain NaN or infinite values")
    if np.abs(array).max(initial=0.0) > 10.0:
        raise InvalidEmbedding("embedding values are out of range")
    return array.astype(np.float32)


def check_embeddings(values: Sequence[object]) -> list[npt.NDArray[np.float32]]:
    """Check 1 to 5 embeddings for one customer."""
    if not 1 <= len(values) <= MAX_TEMPLATES:
        raise InvalidEmbedding(
            f"between 1 and {MAX_TEMPLATES} templates per customer, got {len(values)}"
        )
    return [check_embedding(v) for v in values]


def seal_template(
    keys: KeyStore,
    customer_id: str,
    template_id: str,
    model_version: str,
    vector: npt.NDArray[np.float32],
) -> bytes:
    """Encrypt a template under the customer's data key."""
    plain = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return keys.seal(customer_id, plain, template_context(customer_id, template_id, model_version))


def open_template(
    keys: KeyStore, customer_id: str, template_id: str, model_version: str, sealed: bytes
) -> npt.NDArray[np.float32]:
    """Decrypt a template; raises keys.DecryptionFailed or keys.KeyDestroyed."""
    plain = keys.open(
        customer_id, sealed, template_context(customer_id, template_id, model_version)
    )
    return np.frombuffer(plain, dtype="<f4").astype(np.float32)
