"""vault.likeness: which photos differ, whether new photos show the enrolled person, and
how frames combine into one probe (pure numpy over opaque vectors)."""

from __future__ import annotations

import numpy as np
import pytest

from vault import FacesDiffer, InvalidEmbedding
from vault.likeness import combine, differing_pairs, require_one_person, require_same_person


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v / np.linalg.norm(v)


def test_pairs_farther_apart_than_the_threshold_are_named_by_position() -> None:
    a, b, c = np.array([0.0, 0.0]), np.array([0.5, 0.0]), np.array([3.0, 0.0])
    assert differing_pairs([a, b], 0.5) == ()  # exactly at the threshold is one person
    assert differing_pairs([a, b, c], 1.0) == ((0, 2), (1, 2))
    with pytest.raises(FacesDiffer) as caught:
        require_one_person([a, b, c], 1.0, noun="frames")
    assert caught.value.pairs == ((0, 2), (1, 2))
    assert caught.value.code == "faces_differ"
    assert str(caught.value) == "these frames do not show the same person: 0 and 2, 1 and 2"
    require_one_person([a], 0.0)  # a single photo is always one person


def test_new_photos_must_come_near_one_enrolled_template() -> None:
    enrolled = [np.array([0.0, 0.0]), np.array([10.0, 0.0])]
    require_same_person([np.array([9.5, 0.0]), np.array([9.0, 0.0])], enrolled, 0.6)
    with pytest.raises(FacesDiffer) as caught:
        require_same_person([np.array([5.0, 0.0])], enrolled, 0.6)
    assert caught.value.pairs == ()
    assert "enrolled" in str(caught.value)


def test_frames_combine_to_their_mean_back_on_the_unit_sphere() -> None:
    a, b = unit(1.0, 0.0, 0.0), unit(0.0, 1.0, 0.0)
    probe = combine([a, b])
    assert probe.dtype == np.float32
    np.testing.assert_allclose(probe, unit(1.0, 1.0, 0.0), rtol=1e-6)
    np.testing.assert_allclose(combine([a]), a, rtol=1e-6)
    # Vectors of another scale (such as dlib's) are averaged as they are.
    np.testing.assert_allclose(combine([[0.2, 0.0], [0.0, 0.4]]), [0.1, 0.2], rtol=1e-6)


@pytest.mark.parametrize("vectors", [[], [[1.0, 2.0], [1.0]], [["x", "y"]], [[]]])
def test_malformed_vectors_are_invalid_embeddings(vectors: list[object]) -> None:
    with pytest.raises(InvalidEmbedding):
        combine(vectors)
