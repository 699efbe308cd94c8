"""Deterministic embedding vectors that make "similar drafts" demonstrable offline.

A text becomes a bag of hashed features: its lower-cased words (weight 1), word pairs (0.5)
and the character trigrams of each word (0.4, so "creator" and "creators" overlap). Each
feature adds ±weight at two positions chosen by BLAKE2b. The result is normalised and mixed
with a fixed dense background vector (one per dimension count), then normalised again: a paraphrase
sharing most words scores a cosine similarity near 0.5, unrelated texts about 0.2 (real models
also never reach 0 for unrelated texts).
The same text always gives the same vector.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import re

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
BACKGROUND_WEIGHT = 0.3


@functools.lru_cache(maxsize=8)
def _background(dims: int) -> tuple[float, ...]:
    rng = random.Random(f"mbv-sandbox-background-{dims}")
    values = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values))
    return tuple(v / norm for v in values)


def _features(text: str) -> list[tuple[str, float]]:
    words = [w.lower() for w in _WORD.findall(text)]
    features: list[tuple[str, float]] = [(f"w:{w}", 1.0) for w in words]
    features += [(f"b:{a} {b}", 0.5) for a, b in itertools.pairwise(words)]
    for w in words:
        padded = f"^{w}$"
        features += [(f"t:{padded[i:i + 3]}", 0.4) for i in range(len(padded) - 2)]
    if not features:
        features.append((f"x:{text}", 1.0))
    return features


def embed(text: str, dims: int) -> list[float]:
    """A unit-length vector of ``dims`` floats for ``text``."""
    sparse = [0.0] * dims
    for feature, weight in _features(text):
        digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=16).digest()
        for k in (0, 8):
            h = int.from_bytes(digest[k:k + 8], "little")
            sparse[h % dims] += weight if (h >> 63) & 1 else -weight
    norm = math.sqrt(sum(v * v for v in sparse)) or 1.0
    background = _background(dims)
    mixed = [s / norm + BACKGROUND_WEIGHT * b for s, b in zip(sparse, background, strict=True)]
    norm = math.sqrt(sum(v * v for v in mixed)) or 1.0
    return [round(v / norm, 8) for v in mixed]


def shorten(vector: list[float], dims: int) -> list[float]:
    """The first ``dims`` components, renormalised (OpenAI's ``dimensions`` parameter)."""
    head = vector[:dims]
    norm = math.sqrt(sum(v * v for v in head)) or 1.0
    return [round(v / norm, 8) for v in head]


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0
