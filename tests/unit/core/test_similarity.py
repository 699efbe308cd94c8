"""Cosine similarity and the duplicate rule."""

from __future__ import annotations

import pytest

from mbv_desktop.core.similarity import cosine, most_similar, normalise, pack, unpack


def test_pack_round_trips_float32() -> None:
    assert list(unpack(pack([0.5, -1.0, 2.0]))) == [0.5, -1.0, 2.0]


def test_cosine_of_normalised_vectors() -> None:
    a, b = normalise([1.0, 0.0]), normalise([1.0, 1.0])
    assert cosine(a, a) == pytest.approx(1.0)
    assert cosine(a, b) == pytest.approx(0.7071, abs=1e-4)
    assert cosine(a, [1.0, 0.0, 0.0]) == 0.0  # different models' vectors never match


def test_most_similar_orders_and_limits() -> None:
    target = normalise([1.0, 0.0])
    ranked = most_similar(target, [(1, normalise([0.0, 1.0])), (2, normalise([1.0, 0.1])),
                                   (3, normalise([1.0, 1.0]))], limit=2)
    assert [k for k, _ in ranked] == [2, 3]
