"""Media assets, content-addressed by SHA-256 (the file itself lives in the data dir)."""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from mbv_desktop.core.drafts import format_time


@dataclass(frozen=True)
class AssetRecord:
    id: int
    sha256: str
    kind: str
    mime: str
    ext: str
    bytes: int
    width: int | None
    height: int | None
    source: str
    prompt: str | None
    duration_s: float | None = None  # videos: length in seconds, when known


class AssetRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, *, sha256: str, kind: str, mime: str, ext: str, size: int,
            width: int | None, height: int | None, source: str, at: datetime,
            prompt: str | None = None, ai_run_id: int | None = None,
            original_name: str = "", duration_s: float | None = None) -> AssetRecord:
        """Adds the asset, or returns the one already stored with the same content (whose
        length, if it was not known yet, is filled in from ``duration_s``)."""
        self._conn.execute(
            "INSERT INTO assets (sha256, kind, mime, ext, bytes, width, height, original_name,"
            " source, prompt, ai_run_id, created_at, duration_s)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE"
            " SET duration_s = excluded.duration_s"
            " WHERE assets.duration_s IS NULL AND excluded.duration_s IS NOT NULL",
            (sha256, kind, mime, ext, size, width, height, original_name, source, prompt,
             ai_run_id, format_time(at), duration_s),
        )
        return self.by_sha(sha256)

    def by_sha(self, sha256: str) -> AssetRecord:
        r = self._conn.execute(
            "SELECT id, sha256, kind, mime, ext, bytes, width, height, source, prompt,"
            " duration_s FROM assets WHERE sha256 = ?", (sha256,)).fetchone()
        return AssetRecord(*r)

    def attach(self, draft_id: int, asset_id: int) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO draft_assets (draft_id, asset_id, position) VALUES"
            " (?, ?, (SELECT coalesce(max(position), -1) + 1 FROM draft_assets"
            " WHERE draft_id = ?))", (draft_id, asset_id, draft_id))

    def recent(self, limit: int = 10_000, text: str = "") -> list[tuple[AssetRecord, str]]:
        """Newest first, with each asset's original name. ``text`` filters by name, type
        ("video", "png"), the prompt that made it, or a tag of a draft it is attached to (media
        carry no tags of their own: they are found by the posts they belong to)."""
        like = f"%{text.strip()}%"
        tag = unicodedata.normalize("NFC", text.strip().lstrip("#")).lower()  # as tags are kept
        return [(AssetRecord(*r[:11]), r[11]) for r in self._conn.execute(
            "SELECT id, sha256, kind, mime, ext, bytes, width, height, source, prompt,"
            " duration_s, original_name FROM assets a WHERE ? = '%%' OR original_name LIKE ?"
            " OR mime LIKE ? OR coalesce(prompt, '') LIKE ?"
            " OR EXISTS (SELECT 1 FROM draft_assets da JOIN draft_tags dt"
            " ON dt.draft_id = da.draft_id WHERE da.asset_id = a.id AND dt.tag = ?)"
            " ORDER BY id DESC LIMIT ?",
            (like, like, like, like, tag, limit))]

    def for_draft(self, draft_id: int) -> list[tuple[AssetRecord, str]]:
        """The draft's media in order, with each one's original name."""
        return [(AssetRecord(*r[:11]), r[11]) for r in self._conn.execute(
            "SELECT a.id, a.sha256, a.kind, a.mime, a.ext, a.bytes, a.width, a.height, a.source,"
            " a.prompt, a.duration_s, a.original_name FROM assets a"
            " JOIN draft_assets da ON da.asset_id = a.id"
            " WHERE da.draft_id = ? ORDER BY da.position", (draft_id,))]
