"""Decrypted templates leave nothing readable behind in the vault's own buffers: the match
index zeroes a leaving customer's rows (and its old matrix when it grows), and every copy
the vault makes on the way in (the embeddings of an enrolment or a retake, templates
decrypted at start, for a retake's comparison or for a follower's re-index) is
overwritten once the index holds its own."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vault.index import Grant, MatchIndex

VENUE = "venue-1"


def recorder(target: Any, name: str, pick: Any) -> list[Any]:
    """Wrap ``target.name`` to keep (a reference to) the buffers ``pick`` finds in its
    arguments or result."""
    seen: list[Any] = []
    original = getattr(target, name)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen.extend(pick(args, result))
        return result

    setattr(target, name, wrapped)
    return seen


@pytest.mark.engine_neutral
def test_a_growing_index_zeroes_its_old_matrix() -> None:
    index = MatchIndex(capacity=4)
    grant = (Grant("cs", "checkin", frozenset({VENUE}), None),)
    rng = np.random.default_rng(3)
    vectors = {f"c{i}": rng.normal(0, 0.1, (2, 128)).astype(np.float32) for i in range(6)}
    index.put("c0", vectors["c0"], grant)
    index.put("c1", vectors["c1"], grant)
    old = index.matrix.vectors
    for name in ("c2", "c3", "c4", "c5"):
        index.put(name, vectors[name], grant)
    assert index.matrix.vectors is not old and not old.any()
    assert np.array_equal(index.vectors_of("c1"), vectors["c1"])
    rows = list(index.matrix.rows_of("c1"))
    assert index.remove("c1") and not index.matrix.vectors[rows].any()


def test_no_copy_made_by_the_vault_stays_readable(env, faces, consent, staff) -> None:
    vault = env.open()
    put = recorder(vault.index, "put", lambda args, _: [args[1]])
    alice = [faces.photo("alice"), faces.photo("alice")]
    vault.enroll(alice, consent(), actor=staff, customer_id="alice")
    vault.enroll([faces.photo("bob")], consent(), actor=staff, customer_id="bob")
    assert len(put) == 2 and not any(buffer.any() for buffer in put)
    assert vault.match(faces.photo("alice"), purpose="checkin", venue=VENUE, actor=staff)

    # A retake: the templates decrypted to compare with the new photos, and the new ones.
    opened = recorder(vault.loader, "open_templates", lambda _, result: result)
    vault.replace_templates("alice", [faces.photo("alice")], actor=staff)
    assert opened and not any(t.any() for t in opened)
    assert not any(buffer.any() for buffer in put)

    # A follower's re-index decrypts again; so does a cold start, batch by batch.
    vault.loader.index_customer("bob")
    assert len(put) == 4 and not put[-1].any()
    env.close(vault)
    restarted = env.open(start=False)
    fed: list[Any] = []
    bulk = restarted.index.bulk_load

    def recording(batches: Any, expected: int = 0) -> int:
        def each() -> Any:
            for batch in batches:
                fed.append(batch.vectors)
                yield batch

        return bulk(each(), expected)

    restarted.index.bulk_load = recording  # type: ignore[method-assign]
    restarted.start()
    assert fed and not any(buffer.any() for buffer in fed)
    hit = restarted.match(faces.photo("bob"), purpose="checkin", venue=VENUE, actor=staff)
    assert hit is not None and hit.customer_id == "bob"
    # Erasure: the customer leaves every partition, each zeroing the rows they held.
    (partition,) = restarted.index.partitions_of("bob")
    part = restarted.index.gallery(partition)
    assert part is not None
    rows = list(part.matrix.rows_of("bob"))
    assert part.matrix.vectors[rows].any()
    restarted.erase("bob", reason="test", actor=staff)
    assert not part.matrix.vectors[rows].any() and "bob" not in restarted.index
