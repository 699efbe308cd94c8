"""Similar drafts and duplicate warnings, from embeddings of the drafts' text.

Embeddings are made on demand, only for drafts that have none for the current model or whose
text changed since (``body_sha``), newest first and at most ``MAX_EMBED_PER_RUN`` at a time so a
first run over a big library stays cheap; they are kept in ``draft_embeddings``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from mbv_desktop.core.drafts import title_of
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.similarity import DUPLICATE_SCORE, most_similar, normalise, pack, unpack
from mbv_desktop.services.generation import GenerationService
from mbv_desktop.store.worker import StoreWorker

MAX_EMBED_PER_RUN = 256
BATCH = 64


@dataclass(frozen=True)
class SimilarDraft:
    id: int
    title: str
    score: float


@dataclass(frozen=True)
class SimilarReport:
    matches: list[SimilarDraft]
    embedded_now: int

    @property
    def duplicate_of(self) -> SimilarDraft | None:
        if self.matches and self.matches[0].score >= DUPLICATE_SCORE:
            return self.matches[0]
        return None


def _save_embeddings(c: sqlite3.Connection, rows: list[tuple[int, str, str, bytes]]) -> None:
    c.executemany(
        "INSERT INTO draft_embeddings (draft_id, model, body_sha, vector) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (draft_id, model) DO UPDATE SET body_sha = excluded.body_sha,"
        " vector = excluded.vector", rows)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SimilarityService:
    def __init__(self, worker: StoreWorker, generation: GenerationService) -> None:
        self._worker = worker
        self._generation = generation

    async def similar(self, draft_id: int, limit: int = 5) -> SimilarReport:
        provider = self._generation.default_provider()
        model_key = (f"{provider.value}:"
                     f"{self._generation.default_model(provider, 'embedding')}")

        def stale(c: sqlite3.Connection) -> list[tuple[int, str]]:
            """Drafts whose embedding is missing or was made from other text; the target
            first, then the most recently edited."""
            out: list[tuple[int, str]] = []
            for row in c.execute(
                    "SELECT d.id, d.body, e.body_sha FROM drafts d LEFT JOIN draft_embeddings e"
                    " ON e.draft_id = d.id AND e.model = ?"
                    " WHERE d.deleted_at IS NULL AND trim(d.body) != ''"
                    " ORDER BY (d.id = ?) DESC, d.updated_at DESC", (model_key, draft_id)):
                if row[2] != _sha(row[1]):
                    out.append((row[0], row[1]))
                    if len(out) == MAX_EMBED_PER_RUN:
                        break
            return out

        todo = await self._worker.call(stale, write=False)
        if draft_id not in {i for i, _ in todo} and not await self._has(draft_id, model_key):
            raise InvalidInput("Write something in the draft first.")
        embedded = 0
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            used_model, made = await self._generation.embed([body for _, body in batch],
                                                            provider=provider)
            rows = [(i, used_model, _sha(body), pack(normalise(v)))
                    for (i, body), v in zip(batch, made, strict=True)]
            await self._worker.call(functools.partial(_save_embeddings, rows=rows))
            embedded += len(batch)

        def load(c: sqlite3.Connection) -> list[tuple[int, str, bytes]]:
            return [(r[0], r[1], r[2]) for r in c.execute(
                "SELECT e.draft_id, substr(d.body, 1, 400), e.vector FROM draft_embeddings e"
                " JOIN drafts d ON d.id = e.draft_id"
                " WHERE e.model = ? AND d.deleted_at IS NULL", (model_key,))]

        stored = await self._worker.call(load, write=False)
        vectors: dict[int, Sequence[float]] = {i: unpack(v) for i, _, v in stored}
        titles = {i: title_of(head) for i, head, _ in stored}
        target = vectors.get(draft_id)
        if target is None:
            return SimilarReport([], embedded)
        others = [(i, v) for i, v in vectors.items() if i != draft_id]
        ranked = await asyncio.to_thread(most_similar, target, others, limit)
        return SimilarReport([SimilarDraft(i, titles[i], round(score, 3))
                              for i, score in ranked], embedded)

    async def _has(self, draft_id: int, model_key: str) -> bool:
        return bool(await self._worker.call(lambda c: c.execute(
            "SELECT 1 FROM draft_embeddings WHERE draft_id = ? AND model = ?",
            (draft_id, model_key)).fetchone(), write=False))

