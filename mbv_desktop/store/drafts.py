"""The drafts table: create, edit, soft-delete and restore, list pages and full-text search.

Methods run on whichever thread owns the connection (services keep writes on one worker thread).
Lists page by keyset (no OFFSET), so the 100,000th draft is as cheap to fetch as the first.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from mbv_desktop.core.drafts import (
    Draft,
    DraftQuery,
    DraftRecord,
    DraftState,
    DraftSummary,
    ImportCounts,
    SearchResult,
    SortOrder,
    check_body,
    format_time,
    normalize_tags,
    parse_time,
    title_of,
)
from mbv_desktop.core.errors import NotFound
from mbv_desktop.core.platforms import Platform
from mbv_desktop.core.search import make_snippet, to_fts_query

PLATFORM_BITS: dict[Platform, int] = {Platform.X: 1, Platform.INSTAGRAM: 2, Platform.TIKTOK: 4}

_COLUMNS = "d.id, d.uid, d.body, d.tags, d.platforms, d.state, d.created_at, d.updated_at"
_SUMMARY_COLUMNS = (
    "d.id, substr(d.body, 1, 400) AS head, d.tags, d.platforms, d.state, d.updated_at"
)
# (sort key, direction) per order; ties are broken by id in the same direction. Relevance
# only means something with a search, so a plain list falls back to last edited.
_ORDER: dict[SortOrder, tuple[str, str]] = {
    SortOrder.UPDATED: ("d.updated_at", "DESC"),
    SortOrder.RELEVANCE: ("d.updated_at", "DESC"),
    SortOrder.CREATED: ("d.created_at", "DESC"),
    SortOrder.OLDEST: ("d.created_at", "ASC"),
}


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
            # one JSON parameter, however many ids (SQLite caps bound parameters)
            where.append("d.id IN (SELECT value FROM json_each(?))")
            args.append(json.dumps(list(query.ids)))
        return where, args

    def count(self, query: DraftQuery = DraftQuery()) -> int:
        """How many drafts the filters select (the search text is not applied here)."""
        where, args = self._where(query)
        return int(self._conn.execute(
            f"SELECT count(*) FROM drafts d WHERE {' AND '.join(where) or '1'}", args
        ).fetchone()[0])

    def page(
        self,
        query: DraftQuery = DraftQuery(),
        *,
        after: DraftSummary | None = None,
        limit: int = 200,
    ) -> list[DraftSummary]:
        """The next ``limit`` rows of the filtered list after ``after`` (None: from the top).

        Keyset paging: the cursor is the previous page's last (sort key, id). The search text
        is not applied here; searches go through ``matching_ids`` and ``summaries``.
        """
        where, args = self._where(query)
        key_expr, direction = _ORDER[query.sort]
        if after is not None:
            op = "<" if direction == "DESC" else ">"
            where.append(f"({key_expr}, d.id) {op} (?, ?)")
            args.extend([after.sort_key, after.id])
        rows = self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS}, {key_expr} AS sort_key, '' AS snip FROM drafts d"
            f" WHERE {' AND '.join(where) or '1'}"
            f" ORDER BY {key_expr} {direction}, d.id {direction} LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [_summary(r) for r in rows]

    def ordered_ids(self, query: DraftQuery) -> list[int]:
        """Ids of every draft the filters select, in the list's order (search text ignored)."""
        where, args = self._where(query)
        key_expr, direction = _ORDER[query.sort]
        return [r[0] for r in self._conn.execute(
            f"SELECT d.id FROM drafts d WHERE {' AND '.join(where) or '1'}"
            f" ORDER BY {key_expr} {direction}, d.id {direction}", args)]

    def matching_ids(self, fts_query: str) -> set[int]:
        """Ids of drafts (live or deleted) whose text or tags match; FTS5 alone, no join.

        One JSON array instead of a row per id: half the time for tens of thousands of ids.
        """
        row = self._conn.execute(
            "SELECT json_group_array(rowid) FROM drafts_fts WHERE drafts_fts MATCH ?",
            (fts_query,)).fetchone()
        return set(json.loads(row[0]))

    def ranked_ids(self, query: DraftQuery, fts_query: str) -> list[int]:
        """Matching ids that pass the filters, best match first (bm25)."""
        where, args = self._where(query)
        return [r[0] for r in self._conn.execute(
            "SELECT d.id FROM drafts_fts JOIN drafts d ON d.id = drafts_fts.rowid"
            f" WHERE drafts_fts MATCH ? AND {' AND '.join(where) or '1'}"
            " ORDER BY drafts_fts.rank, d.id", [fts_query, *args])]

    def summaries(self, ids: Sequence[int], search_text: str = "") -> list[DraftSummary]:
        """List rows for ``ids`` in that order; with a search, each carries its snippet."""
        if not ids:
            return []
        rows = {r["id"]: r for r in self._conn.execute(
            f"SELECT {_SUMMARY_COLUMNS}, d.id AS sort_key,"
            " CASE WHEN ? THEN substr(d.body, 1, 1500) ELSE '' END AS long_head"
            " FROM drafts d WHERE d.id IN (SELECT value FROM json_each(?))",
            (bool(search_text), json.dumps(list(ids))))}
        return [
            _summary(rows[i], make_snippet(rows[i]["long_head"], search_text)
                     if search_text else "")
            for i in ids if i in rows
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


class DraftSearch:
    """Full-text search over drafts, fast with 100,000 of them.

    Sorting all matches of a common word by date costs a join and a sort of tens of thousands
    of rows (~100 ms). Instead FTS5 alone yields the matching ids (~2 ms), and they are picked
    out of the list's order, which is cached per filter set until the database changes.
    Few matches are ordered by SQL directly, so a rare word never pays for the cache.
    Not thread-safe: one instance per connection.
    """

    SMALL = 5000

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._repo = DraftRepository(conn)
        self._orders: dict[tuple[object, ...], list[int]] = {}
        self._stamp: tuple[int, int] | None = None

    def run(self, query: DraftQuery, limit: int) -> SearchResult:
        fts = to_fts_query(query.text)
        if fts is None:
            return SearchResult(query, self._repo.count(query), self._repo.page(query, limit=limit))
        if query.sort is SortOrder.RELEVANCE:
            ids = self._repo.ranked_ids(query, fts)
        else:
            matches = self._repo.matching_ids(fts)
            if len(matches) <= self.SMALL:
                ids = self._repo.ordered_ids(replace(query, ids=tuple(matches)))
            else:
                ids = list(filter(matches.__contains__, self._ordered(query)))
        return SearchResult(query, len(ids), self.summaries(ids[:limit], query), tuple(ids))

    def summaries(self, ids: Sequence[int], query: DraftQuery) -> list[DraftSummary]:
        return self._repo.summaries(ids, query.text)

    def _ordered(self, query: DraftQuery) -> list[int]:
        # total_changes moves with this connection's writes, data_version with everybody else's.
        stamp = (self._conn.total_changes,
                 self._conn.execute("PRAGMA data_version").fetchone()[0])
        if stamp != self._stamp:
            self._orders.clear()
            self._stamp = stamp
        key = (query.tag, query.platform, query.state, query.sort)
        if key not in self._orders:
            if len(self._orders) >= 8:
                self._orders.clear()
            self._orders[key] = self._repo.ordered_ids(replace(query, text=""))
        return self._orders[key]


def _summary(r: sqlite3.Row, snippet: str = "") -> DraftSummary:
    return DraftSummary(
        id=r["id"],
        title=title_of(r["head"]),
        snippet=snippet,
        tags=tuple(json.loads(r["tags"])),
        platforms=bits_to_platforms(r["platforms"]),
        state=DraftState(r["state"]),
        updated_at=r["updated_at"],
        sort_key=str(r["sort_key"]),
    )


def _marks(ids: Sequence[int]) -> str:
    if not ids:
        return "NULL"
    return ", ".join("?" * len(ids))


def new_uid() -> str:
    return uuid.uuid4().hex
