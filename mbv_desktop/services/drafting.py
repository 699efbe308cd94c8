"""Drafting use cases: write, autosave, delete with undo, duplicate, search, export and import.

Writes go through the store's single writer thread; the list view reads pages through a
``DraftReader`` on its own thread. Every change is published as a ``DraftsChanged`` event.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from mbv_desktop.core.drafts import (
    Draft,
    DraftQuery,
    DraftRecord,
    DraftState,
    DraftSummary,
    ImportCounts,
    SearchResult,
    check_body,
    format_time,
    normalize_tags,
    parse_time,
)
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import Platform
from mbv_desktop.services.events import DraftChange, DraftsChanged, EventHub
from mbv_desktop.store.database import connect
from mbv_desktop.store.drafts import DraftRepository, DraftSearch, new_uid
from mbv_desktop.store.worker import StoreWorker

UNDO_KEEP = timedelta(days=7)
IMPORT_BATCH = 5000


@dataclass(frozen=True)
class ImportProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    counts: ImportCounts = field(default_factory=ImportCounts)
    problems: list[ImportProblem] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.counts.added,
            "updated": self.counts.updated,
            "unchanged": self.counts.unchanged,
            "rejected": len(self.problems),
            "problems": [{"line": p.line, "message": p.message} for p in self.problems],
        }


class DraftReader:
    """Read-only access for one thread (the draft list model pages through this)."""

    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._repo = DraftRepository(self._conn)
        self._search = DraftSearch(self._conn)

    def search(self, query: DraftQuery, limit: int) -> SearchResult:
        return self._search.run(query, limit)

    def page(self, query: DraftQuery, after: DraftSummary | None, limit: int) -> list[DraftSummary]:
        return self._repo.page(query, after=after, limit=limit)

    def summaries(self, ids: Sequence[int], query: DraftQuery) -> list[DraftSummary]:
        return self._search.summaries(ids, query)

    def get(self, draft_id: int) -> Draft:
        return self._repo.get(draft_id)

    def close(self) -> None:
        self._conn.close()


class DraftingService:
    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker
        self._search: DraftSearch | None = None
        self.events: EventHub[DraftsChanged] = EventHub()

    def reader(self) -> DraftReader:
        return DraftReader(self._worker.path)

    def _emit(self, kind: DraftChange, ids: Iterable[int], origin: object | None = None) -> None:
        self.events.publish(DraftsChanged(kind, tuple(ids), origin))

    def publish_change(self, kind: DraftChange, ids: Iterable[int]) -> None:
        """Tells the panels that drafts changed behind the service's back (sync wrote them)."""
        self._emit(kind, ids, origin=self)

    async def create(
        self,
        body: str = "",
        *,
        tags: Iterable[str] = (),
        platforms: Iterable[Platform] = (),
        origin: object | None = None,
    ) -> Draft:
        tags, platforms = tuple(tags), tuple(platforms)
        draft = await self._worker.call(
            lambda c: DraftRepository(c).create(body, tags=tags, platforms=platforms)
        )
        self._emit(DraftChange.CREATED, [draft.id], origin)
        return draft

    async def get(self, draft_id: int) -> Draft:
        return await self._worker.call(lambda c: DraftRepository(c).get(draft_id), write=False)

    async def update(
        self,
        draft_id: int,
        *,
        body: str | None = None,
        tags: Iterable[str] | None = None,
        platforms: Iterable[Platform] | None = None,
        state: DraftState | None = None,
        origin: object | None = None,
    ) -> Draft:
        tags = None if tags is None else tuple(tags)
        platforms = None if platforms is None else tuple(platforms)
        draft = await self._worker.call(
            lambda c: DraftRepository(c).update(
                draft_id, body=body, tags=tags, platforms=platforms, state=state
            )
        )
        self._emit(DraftChange.UPDATED, [draft_id], origin)
        return draft

    async def duplicate(self, draft_id: int) -> Draft:
        draft = await self._worker.call(lambda c: DraftRepository(c).duplicate(draft_id))
        self._emit(DraftChange.CREATED, [draft.id])
        return draft

    async def delete(self, ids: Iterable[int]) -> int:
        """Soft delete: ``restore`` undoes it for a week, then the drafts are purged."""
        ids = tuple(ids)
        n = await self._worker.call(lambda c: DraftRepository(c).soft_delete(ids))
        self._emit(DraftChange.DELETED, ids)
        return n

    async def restore(self, ids: Iterable[int]) -> int:
        ids = tuple(ids)
        n = await self._worker.call(lambda c: DraftRepository(c).restore(ids))
        self._emit(DraftChange.RESTORED, ids)
        return n

    async def purge_old_deleted(self) -> int:
        cutoff = datetime.now(UTC) - UNDO_KEEP
        return await self._worker.call(lambda c: DraftRepository(c).purge_deleted(cutoff))

    async def search(self, query: DraftQuery, limit: int = 100) -> SearchResult:
        def run(c: sqlite3.Connection) -> SearchResult:
            if self._search is None:  # made on the worker thread that owns ``c``
                self._search = DraftSearch(c)
            return self._search.run(query, limit)

        return await self._worker.call(run, write=False)

    async def tags(self) -> list[tuple[str, int]]:
        return await self._worker.call(lambda c: DraftRepository(c).tags(), write=False)

    # --- export / import (JSON Lines) ------------------------------------------------------

    async def export_jsonl(self, out: IO[str]) -> int:
        def run(c: sqlite3.Connection) -> int:
            n = 0
            for rec in DraftRepository(c).iter_records():
                out.write(json.dumps(rec.to_json(), ensure_ascii=False) + "\n")
                n += 1
            return n

        return await self._worker.call(run, write=False)

    async def import_jsonl(self, source: IO[bytes]) -> ImportReport:
        """Keeps every good line, reports each bad one with its number; never half-imports a
        line. Lines are committed in batches so a huge file does not hold the writer forever."""
        report = ImportReport()
        batch: list[DraftRecord] = []
        changed = False

        async def flush() -> None:
            nonlocal changed
            records = list(batch)
            batch.clear()
            counts = await self._worker.call(lambda c: DraftRepository(c).upsert_records(records))
            report.counts.added += counts.added
            report.counts.updated += counts.updated
            report.counts.unchanged += counts.unchanged
            changed = changed or bool(counts.added or counts.updated)

        for item in parse_jsonl(source):
            if isinstance(item, ImportProblem):
                report.problems.append(item)
                continue
            batch.append(item)
            if len(batch) >= IMPORT_BATCH:
                await flush()
        if batch:
            await flush()
        if changed:
            self._emit(DraftChange.IMPORTED, ())
        return report


def parse_jsonl(source: IO[bytes]) -> Iterator[DraftRecord | ImportProblem]:
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        try:
            yield record_from_json(raw)
        except InvalidInput as e:
            yield ImportProblem(number, str(e))


def record_from_json(raw: bytes) -> DraftRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"not valid UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise InvalidInput("expected a JSON object with at least a 'body'")
    body = obj.get("body")
    if not isinstance(body, str):
        raise InvalidInput("'body' must be a string")
    try:
        body = check_body(body)
    except InvalidInput as e:
        raise InvalidInput(str(e).rstrip(".")) from None
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InvalidInput("'tags' must be a list of strings")
    platforms_raw = obj.get("platforms", [])
    if not isinstance(platforms_raw, list) or not all(isinstance(p, str) for p in platforms_raw):
        raise InvalidInput("'platforms' must be a list of platform names")
    now = format_time(datetime.now(UTC))
    created = _time_field(obj, "created_at", now)
    updated = _time_field(obj, "updated_at", created)
    uid = obj.get("uid") or new_uid()
    if not isinstance(uid, str) or not (1 <= len(uid) <= 64) or not uid.isprintable():
        raise InvalidInput("'uid' must be a short printable string")
    return DraftRecord(
        uid=uid,
        body=body,
        tags=normalize_tags(tags),
        platforms=tuple(dict.fromkeys(Platform.parse(p) for p in platforms_raw)),
        state=DraftState.parse(obj.get("state", "draft")),
        created_at=created,
        updated_at=updated,
    )


def _time_field(obj: dict[str, object], key: str, default: str) -> str:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be an ISO 8601 time")
    try:
        parsed = parse_time(value)
    except ValueError:
        raise InvalidInput(f"'{key}' is not an ISO 8601 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"'{key}' needs a time zone offset (e.g. Z or +01:00)")
    return format_time(parsed)
