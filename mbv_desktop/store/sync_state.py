"""Draft sync's tables: each draft as a sync *document*, and the last-agreed base per draft.

A sync document is the JSON-able dict one draft is stored as in the bucket
(``{account}/drafts/{uid}.json``)::

    {"schema": 1, "uid": "…", "body": "…", "tags": ["a", "b"], "platforms": ["x", "tiktok"],
     "state": "draft", "created_at": "…Z", "updated_at": "…Z", "deleted_at": null,
     "media": ["<sha256>.<ext>", …]}

Times are the store's own format (:func:`~mbv_desktop.core.drafts.format_time`); platforms are
names in a fixed order; media are the draft's attachments in their order. Two documents are equal
exactly when the drafts they describe are, so "changed since the base" is ``!=``.

``sync_drafts`` keeps, per uid, the document this profile and the bucket last agreed on (the
base of the next three-way merge) and the ETag the bucket had for it then.

Functions take the connection of the caller's thread (the store worker) and never commit: the
worker runs each call in one transaction. Drafts are inserted and updated with plain SQL on the
``drafts`` table, so the triggers keep the search index and tag table in step.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mbv_desktop.core.drafts import format_time
from mbv_desktop.core.platforms import Platform
from mbv_desktop.store.drafts import PLATFORM_BITS

DOC_SCHEMA = 1
"""The version of the document format; a document with another version is not read."""

Doc = dict[str, Any]
"""A sync document (see the module notes)."""

Change = Literal["created", "updated", "deleted", "restored", ""]
"""What writing a document did to the local draft ("" nothing); the values are those of
``services.events.DraftChange``."""

PLATFORM_ORDER: tuple[Platform, ...] = tuple(PLATFORM_BITS)
"""The order platform names have in a document."""

_DRAFT_COLUMNS = ("id, uid, body, tags, platforms, state, created_at, updated_at, deleted_at")


@dataclass(frozen=True)
class Base:
    """What this profile and the bucket last agreed on for one draft."""

    doc: Doc
    etag: str


@dataclass(frozen=True)
class Applied:
    """The outcome of writing a document to the local drafts table."""

    draft_id: int | None  # None when nothing exists locally (a deletion of an unknown draft)
    change: Change


def encode(doc: Doc) -> bytes:
    """The stable bytes of a document (sorted keys, UTF-8): the same draft gives the same bytes."""
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8")


def platforms_to_names(bits: int) -> list[str]:
    return [p.value for p in PLATFORM_ORDER if bits & PLATFORM_BITS[p]]


def names_to_bits(names: Iterable[str]) -> int:
    bits = 0
    for name in names:
        bits |= PLATFORM_BITS[Platform(name)]
    return bits


def now_iso() -> str:
    return format_time(datetime.now(UTC))


def _json_list(uids: Iterable[str]) -> str:
    return json.dumps(list(uids))


# --- reading drafts as documents -----------------------------------------------------------------

def local_uids(conn: sqlite3.Connection) -> list[str]:
    """The uid of every local draft, deleted ones included."""
    return [r[0] for r in conn.execute("SELECT uid FROM drafts ORDER BY id")]


def read_documents(conn: sqlite3.Connection, uids: Sequence[str]) -> dict[str, Doc]:
    """The documents of the local drafts among ``uids`` (deleted ones included)."""
    if not uids:
        return {}
    param = _json_list(uids)
    media: dict[int, list[str]] = {}
    for draft_id, sha, ext in conn.execute(
        "SELECT da.draft_id, a.sha256, a.ext FROM draft_assets da"
        " JOIN assets a ON a.id = da.asset_id JOIN drafts d ON d.id = da.draft_id"
        " WHERE d.uid IN (SELECT value FROM json_each(?))"
        " ORDER BY da.draft_id, da.position, da.asset_id", (param,)):
        media.setdefault(draft_id, []).append(f"{sha}.{ext}")
    docs: dict[str, Doc] = {}
    for r in conn.execute(
        f"SELECT {_DRAFT_COLUMNS} FROM drafts WHERE uid IN (SELECT value FROM json_each(?))",
        (param,)):
        docs[r["uid"]] = {
            "schema": DOC_SCHEMA,
            "uid": r["uid"],
            "body": r["body"],
            "tags": list(json.loads(r["tags"])),
            "platforms": platforms_to_names(r["platforms"]),
            "state": r["state"],
            "created_at": r["created_at"],
            "updated_at": r["updated_at"],
            "deleted_at": r["deleted_at"],
            "media": media.get(r["id"], []),
        }
    return docs


def read_document(conn: sqlite3.Connection, uid: str) -> Doc | None:
    return read_documents(conn, [uid]).get(uid)


def draft_id(conn: sqlite3.Connection, uid: str) -> int | None:
    row = conn.execute("SELECT id FROM drafts WHERE uid = ?", (uid,)).fetchone()
    return None if row is None else int(row[0])


def asset_id(conn: sqlite3.Connection, sha256: str, ext: str) -> int | None:
    """The local asset with that content, or None when this profile does not have it."""
    row = conn.execute("SELECT id FROM assets WHERE sha256 = ? AND ext = ?",
                       (sha256, ext)).fetchone()
    return None if row is None else int(row[0])


# --- bases ---------------------------------------------------------------------------------------

def base_uids(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT uid FROM sync_drafts ORDER BY uid")]


def read_bases(conn: sqlite3.Connection, uids: Sequence[str]) -> dict[str, Base]:
    if not uids:
        return {}
    return {
        r[0]: Base(json.loads(r[2]), r[1])
        for r in conn.execute(
            "SELECT uid, etag, base FROM sync_drafts"
            " WHERE uid IN (SELECT value FROM json_each(?))", (_json_list(uids),))
    }


def read_base(conn: sqlite3.Connection, uid: str) -> Base | None:
    return read_bases(conn, [uid]).get(uid)


def save_base(conn: sqlite3.Connection, uid: str, doc: Doc, etag: str) -> None:
    conn.execute(
        "INSERT INTO sync_drafts (uid, etag, base, synced_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (uid) DO UPDATE SET etag = excluded.etag, base = excluded.base,"
        " synced_at = excluded.synced_at",
        (uid, etag, encode(doc).decode("utf-8"), now_iso()),
    )


def drop_base(conn: sqlite3.Connection, uid: str) -> None:
    conn.execute("DELETE FROM sync_drafts WHERE uid = ?", (uid,))


# --- writing documents to the drafts table -------------------------------------------------------

def _set_media(conn: sqlite3.Connection, draft: int, asset_ids: Sequence[int]) -> None:
    conn.execute("DELETE FROM draft_assets WHERE draft_id = ?", (draft,))
    conn.executemany(
        "INSERT OR IGNORE INTO draft_assets (draft_id, asset_id, position) VALUES (?, ?, ?)",
        [(draft, asset, position) for position, asset in enumerate(asset_ids)],
    )


def insert_document(conn: sqlite3.Connection, doc: Doc, media_ids: Sequence[int]) -> int:
    """Adds ``doc`` as a new local draft (its uid must be new here); returns the draft id."""
    cur = conn.execute(
        "INSERT INTO drafts (uid, body, tags, platforms, state, created_at, updated_at,"
        " deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (doc["uid"], doc["body"], json.dumps(list(doc["tags"])), names_to_bits(doc["platforms"]),
         doc["state"], doc["created_at"], doc["updated_at"], doc["deleted_at"]),
    )
    assert cur.lastrowid is not None
    _set_media(conn, cur.lastrowid, media_ids)
    return cur.lastrowid


def apply_document(conn: sqlite3.Connection, doc: Doc, media_ids: Sequence[int], *,
                   expected: Doc | None) -> Applied | None:
    """Makes the local draft ``doc["uid"]`` say what ``doc`` says, but only if it still is
    ``expected`` (None: there is no such local draft); returns None, changing nothing, when the
    draft was changed meanwhile (an autosave during the sync), so no edit is overwritten.

    ``media_ids`` are the local asset ids of ``doc["media"]``, in order. A deleted document for
    a draft that does not exist here adds nothing.
    """
    uid = doc["uid"]
    current = read_document(conn, uid)
    if current != expected:
        return None
    if current is None:
        if doc["deleted_at"] is not None:
            return Applied(None, "")
        return Applied(insert_document(conn, doc, media_ids), "created")
    draft = draft_id(conn, uid)
    assert draft is not None
    if current == doc:
        return Applied(draft, "")
    sets: list[str] = []
    args: list[object] = []
    if doc["body"] != current["body"]:
        sets.append("body = ?")
        args.append(doc["body"])
    if doc["tags"] != current["tags"]:
        sets.append("tags = ?")
        args.append(json.dumps(list(doc["tags"])))
    for column in ("state", "created_at", "updated_at", "deleted_at"):
        if doc[column] != current[column]:
            sets.append(f"{column} = ?")
            args.append(doc[column])
    if doc["platforms"] != current["platforms"]:
        sets.append("platforms = ?")
        args.append(names_to_bits(doc["platforms"]))
    if sets:
        conn.execute(f"UPDATE drafts SET {', '.join(sets)} WHERE id = ?", (*args, draft))
    if doc["media"] != current["media"]:
        _set_media(conn, draft, media_ids)
    change: Change
    if doc["deleted_at"] is not None and current["deleted_at"] is None:
        change = "deleted"
    elif doc["deleted_at"] is None and current["deleted_at"] is not None:
        change = "restored"
    else:
        change = "updated"
    return Applied(draft, change)
