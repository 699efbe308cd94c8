"""Vector maths for "similar drafts": cosine similarity over float32 vectors, and the rule for
calling two drafts duplicates. Stdlib only (``array``), fast enough for a few thousand drafts."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

DUPLICATE_SCORE = 0.92


def pack(vector: Sequence[float]) -> bytes:
    return array("f", vector).tobytes()


def unpack(blob: bytes) -> array[float]:
    a = array("f")
    a.frombytes(blob)
    return a


def normalise(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm else list(vector)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """For normalised vectors this is just the dot product."""
    if len(a) != len(b):
        return 0.0
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def most_similar(target: Sequence[float], candidates: Iterable[tuple[int, Sequence[float]]],
                 limit: int = 5) -> list[tuple[int, float]]:
    scored = [(key, cosine(target, vec)) for key, vec in candidates]
    scored.sort(key=lambda kv: kv[1], reverse=True)
    return scored[:limit]
