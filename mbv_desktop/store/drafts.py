"""The drafts table: create, edit, soft-delete and restore, list pages and full-text search.

Methods run on whichever thread owns the connection (services keep writes on one worker thread).
Lists page by keyset (no OFFSET), so the 100,000th draft is as cheap to fetch as the first.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from mbv_desktop.core.drafts import (
    Draft,
    DraftQuery,
    DraftRecord,
    DraftState,
    DraftSummary,
    ImportCounts,
    SortOrder,
    check_body,
    format_time,
    normalize_tags,
    parse_time,
    title_of,
)
from mbv_desktop.core.errors import NotFound
from mbv_desktop.core.platforms import Platform
from mbv_desktop.core.search import HIGHLIGHT_MARKS, to_fts_query

PLATFORM_BITS: dict[Platform, int] = {Platform.X: 1, Platform.INSTAGRAM: 2, Platform.TIKTOK: 4}

_COLUMNS = "d.id, d.uid, d.body, d.tags, d.platforms, d.state, d.created_at, d.updated_at"


def now_iso() -> str:
    return format_time(datetime.now(UTC))


def platforms_to_bits(platforms: Iterable[Platform]) -> int:
    bits = 0
    for p in platforms:
        bits |= PLATFORM_BITS[p]
    return bits


def bits_to_platforms(bits: int) -> tuple[Platform, ...]:
    return tuple(p for p, bit in PLATFORM_BITS.items() if bits & bit)


def _row_to_draft(row: sqlite3.Row) -> Draft:
    return Draft(
        id=row["id"],
        uid=row["uid"],
        body=row["body"],
        tags=tuple(json.loads(row["tags"])),
        platforms=bits_to_platforms(row["platforms"]),
        state=DraftState(row["state"]),
        created_at=parse_time(row["created_at"]),
        updated_at=parse_time(row["updated_at"]),
    )


class DraftRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- single drafts -------------------------------------------------------------------

    def create(
        self,
        body: str = "",
        *,
        tags: Iterable[str] = (),
        platforms: Iterable[Platform] = (),
        state: DraftState = DraftState.DRAFT,
    ) -> Draft:
        body = check_body(body)
        now = now_iso()
        cur = self._conn.execute(
            "INSERT INTO drafts (uid, body, tags, platforms, state, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, body, json.dumps(list(normalize_tags(tags))),
             platforms_to_bits(platforms), state.value, now, now),
        )
        assert cur.lastrowid is not None
        return self.get(cur.lastrowid)

    def get(self, draft_id: int, *, include_deleted: bool = False) -> Draft:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM drafts d WHERE d.id = ?"
            + ("" if include_deleted else " AND d.deleted_at IS NULL"),
            (draft_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"There is no draft {draft_id}.")
        return _row_to_draft(row)

    def update(
        self,
        draft_id: int,
        *,
        body: str | None = None,
        tags: Iterable[str] | None = None,
        platforms: Iterable[Platform] | None = None,
        state: DraftState | None = None,
    ) -> Draft:
        sets: list[str] = []
        args: list[object] = []
        if body is not None:
            sets.append("body = ?")
            args.append(check_body(body))
        if tags is not None:
            sets.append("tags = ?")
            args.append(json.dumps(list(normalize_tags(tags))))
        if platforms is not None:
            sets.append("platforms = ?")
            args.append(platforms_to_bits(platforms))
        if state is not None:
            sets.append("state = ?")
            args.append(state.value)
        if not sets:
            return self.get(draft_id)
        sets.append("updated_at = ?")
        args.append(now_iso())
        cur = self._conn.execute(
            f"UPDATE drafts SET {', '.join(sets)} WHERE id = ? AND deleted_at IS NULL",
            (*args, draft_id),
        )
        if cur.rowcount == 0:
            raise NotFound(f"There is no draft {draft_id}; it may have been deleted.")
        return self.get(draft_id)

    def duplicate(self, draft_id: int) -> Draft:
        src = self.get(draft_id)
        return self.create(src.body, tags=src.tags, platforms=src.platforms)

    def soft_delete(self, ids: Sequence[int]) -> int:
        """Hides drafts (undo brings them back with ``restore``); returns how many."""
        return self._conn.execute(
            f"UPDATE drafts SET deleted_at = ? WHERE deleted_at IS NULL AND id IN ({_marks(ids)})",
            (now_iso(), *ids),
        ).rowcount

    def restore(self, ids: Sequence[int]) -> int:
        return self._conn.execute(
            f"UPDATE drafts SET deleted_at = NULL WHERE id IN ({_marks(ids)})", tuple(ids)
        ).rowcount

    def purge_deleted(self, before: datetime) -> int:
        """Removes for good drafts deleted before ``before`` (kept that long for undo)."""
        return self._conn.execute(
            "DELETE FROM drafts WHERE deleted_at IS NOT NULL AND deleted_at < ?",
            (format_time(before),),
        ).rowcount

    # --- lists and search ----------------------------------------------------------------

    def _where(self, query: DraftQuery) -> tuple[list[str], list[object]]:
        where = [] if query.include_deleted else ["d.deleted_at IS NULL"]
        args: list[object] = []
        if query.tag:
            where.append("d.id IN (SELECT draft_id FROM draft_tags WHERE tag = ?)")
            args.append(query.tag)
        if query.platform is not None:
            where.append("(d.platforms & ?) != 0")
            args.append(PLATFORM_BITS[query.platform])
        if query.state is not None:
            where.append("d.state = ?")
            args.append(query.state.value)
        if query.ids is not None:
            where.append(f"d.id IN ({_marks(query.ids)})")
            args.extend(query.ids)
        return where, args

    def count(self, query: DraftQuery = DraftQuery()) -> int:
        where, args = self._where(query)
        fts = to_fts_query(query.text)
        source = "drafts d"
        if fts:
            source = "drafts_fts JOIN drafts d ON d.id = drafts_fts.rowid"
            where.insert(0, "drafts_fts MATCH ?")
            args.insert(0, fts)
        return int(self._conn.execute(
            f"SELECT count(*) FROM {source} WHERE {' AND '.join(where) or '1'}", args
        ).fetchone()[0])

    def page(
        self,
        query: DraftQuery = DraftQuery(),
        *,
        after: DraftSummary | None = None,
        limit: int = 200,
    ) -> list[DraftSummary]:
        """The next ``limit`` rows of the list after ``after`` (None: from the top)."""
        where, args = self._where(query)
        fts = to_fts_query(query.text)
        sort = query.sort
        if sort is SortOrder.RELEVANCE and not fts:
            sort = SortOrder.UPDATED
        if sort is SortOrder.RELEVANCE:
            key_expr, direction = "drafts_fts.rank", "ASC"
        elif sort is SortOrder.UPDATED:
            key_expr, direction = "d.updated_at", "DESC"
        elif sort is SortOrder.CREATED:
            key_expr, direction = "d.created_at", "DESC"
        else:
            key_expr, direction = "d.created_at", "ASC"
        if fts:
            source = "drafts_fts JOIN drafts d ON d.id = drafts_fts.rowid"
            where.insert(0, "drafts_fts MATCH ?")
            args.insert(0, fts)
            start, end = HIGHLIGHT_MARKS
            snippet = "snippet(drafts_fts, 0, ?, ?, '…', 16)"
            snippet_args: list[object] = [start, end]
        else:
            source = "drafts d"
            snippet, snippet_args = "''", []
        if after is not None:
            op = "<" if direction == "DESC" else ">"
            if sort is SortOrder.RELEVANCE:
                # rank is a float; the cursor holds its repr. Ties fall back to id.
                where.append(f"({key_expr}, d.id) {op} (CAST(? AS REAL), ?)")
            else:
                where.append(f"({key_expr}, d.id) {op} (?, ?)")
            args.extend([after.sort_key, after.id])
        sql = (
            "SELECT d.id, substr(d.body, 1, 400) AS head, d.tags, d.platforms, d.state,"
            f" d.updated_at, {key_expr} AS sort_key, {snippet} AS snip FROM {source}"
            f" WHERE {' AND '.join(where) or '1'}"
            f" ORDER BY {key_expr} {direction}, d.id {direction} LIMIT ?"
        )
        rows = self._conn.execute(sql, [*snippet_args, *args, limit]).fetchall()
        return [
            DraftSummary(
                id=r["id"],
                title=title_of(r["head"]),
                snippet=r["snip"] if fts else "",
                tags=tuple(json.loads(r["tags"])),
                platforms=bits_to_platforms(r["platforms"]),
                state=DraftState(r["state"]),
                updated_at=r["updated_at"],
                sort_key=str(r["sort_key"]),
            )
            for r in rows
        ]

    def tags(self) -> list[tuple[str, int]]:
        """Every tag in use on a live draft, with how many drafts carry it."""
        return [(r[0], r[1]) for r in self._conn.execute(
            "SELECT t.tag, count(*) FROM draft_tags t JOIN drafts d ON d.id = t.draft_id"
            " WHERE d.deleted_at IS NULL GROUP BY t.tag ORDER BY count(*) DESC, t.tag"
        )]

    # --- export and import ---------------------------------------------------------------

    def iter_records(self) -> Iterator[DraftRecord]:
        cur = self._conn.execute(
            f"SELECT {_COLUMNS} FROM drafts d WHERE d.deleted_at IS NULL ORDER BY d.id"
        )
        for row in cur:
            yield DraftRecord.from_draft(_row_to_draft(row))

    def upsert_records(self, records: Iterable[DraftRecord]) -> ImportCounts:
        """Adds new drafts and takes newer versions of known ones (by uid); caller commits."""
        counts = ImportCounts()
        for rec in records:
            tags_json = json.dumps(list(rec.tags))
            bits = platforms_to_bits(rec.platforms)
            existing = self._conn.execute(
                "SELECT id, body, tags, platforms, state, updated_at, deleted_at"
                " FROM drafts WHERE uid = ?", (rec.uid,),
            ).fetchone()
            if existing is None:
                self._conn.execute(
                    "INSERT INTO drafts (uid, body, tags, platforms, state, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rec.uid, rec.body, tags_json, bits, rec.state.value,
                     rec.created_at, rec.updated_at),
                )
                counts.added += 1
            elif (
                existing["deleted_at"] is None
                and (existing["body"], existing["tags"], existing["platforms"], existing["state"])
                == (rec.body, tags_json, bits, rec.state.value)
            ):
                counts.unchanged += 1
            elif parse_time(rec.updated_at) >= parse_time(existing["updated_at"]):
                self._conn.execute(
                    "UPDATE drafts SET body = ?, tags = ?, platforms = ?, state = ?,"
                    " updated_at = ?, deleted_at = NULL WHERE id = ?",
                    (rec.body, tags_json, bits, rec.state.value, rec.updated_at,
                     existing["id"]),
                )
                counts.updated += 1
            else:
                counts.unchanged += 1
        return counts


def _marks(ids: Sequence[int]) -> str:
    if not ids:
        return "NULL"
    return ", ".join("?" * len(ids))


def new_uid() -> str:
    return uuid.uuid4().hex
