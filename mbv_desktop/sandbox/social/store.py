"""What the posting emulators keep: one SQLite file, ``social.sqlite3``, in the sandbox's state
directory (beside ``oauth.sqlite3``), so posts, uploads and containers survive a host restart
within one data directory and several processes (a sandbox and a CLI killed and started again)
see the same posts.

Tables, one family per provider:

``x_media`` / ``x_segments``
    X media uploads: the upload session (owner, type, category, declared size, state, when
    processing ends, dimensions and duration when known) and the segments received (index and
    size only; the first bytes of segment 0 are kept to recognise the file type).
``x_tweets``
    Posts: id (and its number, for ordering), author, text, reply and quote links, media ids,
    poll, creation time, deletion flag.
``ig_containers`` / ``ig_media``
    Instagram media containers (kind, caption, fetched URL, children, when processing ends, the
    error a bad file produced, the media id once published) and published media.
``tt_publish``
    TikTok publish attempts (mode, post info, chunk plan, bytes received, the first bytes kept
    for checks, failure, post id).

Each call opens its own short connection (WAL, ``busy_timeout``), as the sign-in store does;
a write that must not race (duplicate check then insert) runs in one ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from mbv_desktop.sandbox import sqlite_files

FILE_NAME = "social.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS x_media (
    id              TEXT PRIMARY KEY,
    media_key       TEXT NOT NULL,
    owner           TEXT NOT NULL,
    additional      TEXT NOT NULL DEFAULT '[]',
    media_type      TEXT NOT NULL,
    category        TEXT NOT NULL,
    total_bytes     INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('uploading', 'finalized')),
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    finalized_at    REAL,
    ready_at        REAL,
    fail_name       TEXT,
    fail_message    TEXT,
    width           INTEGER,
    height          INTEGER,
    duration        REAL,
    head            BLOB
);
CREATE TABLE IF NOT EXISTS x_segments (
    media_id  TEXT NOT NULL REFERENCES x_media (id),
    idx       INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (media_id, idx)
);
CREATE TABLE IF NOT EXISTS x_tweets (
    id              TEXT PRIMARY KEY,
    num             INTEGER NOT NULL,
    author          TEXT NOT NULL,
    text            TEXT NOT NULL,
    norm_text       TEXT NOT NULL,
    created_at      REAL NOT NULL,
    conversation_id TEXT NOT NULL,
    reply_to        TEXT,
    reply_to_user   TEXT,
    quote_of        TEXT,
    media_ids       TEXT NOT NULL DEFAULT '[]',
    poll            TEXT,
    reply_settings  TEXT,
    deleted         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS x_tweets_by_author ON x_tweets (author, num);
CREATE TABLE IF NOT EXISTS ig_containers (
    id            TEXT PRIMARY KEY,
    ig_user       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    carousel_item INTEGER NOT NULL DEFAULT 0,
    caption       TEXT NOT NULL DEFAULT '',
    media_url     TEXT,
    children      TEXT NOT NULL DEFAULT '[]',
    created_at    REAL NOT NULL,
    ready_at      REAL NOT NULL,
    error_subcode INTEGER,
    width         INTEGER,
    height        INTEGER,
    duration      REAL,
    share_to_feed INTEGER NOT NULL DEFAULT 1,
    media_id      TEXT,
    published_at  REAL
);
CREATE TABLE IF NOT EXISTS ig_media (
    id             TEXT PRIMARY KEY,
    ig_user        TEXT NOT NULL,
    container_id   TEXT NOT NULL UNIQUE,
    media_type     TEXT NOT NULL,
    product_type   TEXT NOT NULL,
    caption        TEXT NOT NULL DEFAULT '',
    media_url      TEXT,
    children       TEXT NOT NULL DEFAULT '[]',
    published_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ig_media_by_user ON ig_media (ig_user, published_at);
CREATE TABLE IF NOT EXISTS tt_publish (
    id             TEXT PRIMARY KEY,
    open_id        TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('direct', 'inbox')),
    source         TEXT NOT NULL CHECK (source IN ('FILE_UPLOAD', 'PULL_FROM_URL')),
    post_info      TEXT NOT NULL DEFAULT '{}',
    video_url      TEXT,
    video_size     INTEGER NOT NULL DEFAULT 0,
    chunk_size     INTEGER NOT NULL DEFAULT 0,
    total_chunks   INTEGER NOT NULL DEFAULT 0,
    received       INTEGER NOT NULL DEFAULT 0,
    chunks_done    INTEGER NOT NULL DEFAULT 0,
    upload_token   TEXT,
    head           BLOB,
    duration       REAL,
    created_at     REAL NOT NULL,
    transfer_done  REAL,
    ready_at       REAL,
    public_at      REAL,
    fail_reason    TEXT,
    post_id        TEXT
);
CREATE INDEX IF NOT EXISTS tt_publish_by_user ON tt_publish (open_id, created_at);
"""


class SocialStore:
    """The posting emulators' tables (one file shared by the X, Instagram and TikTok parts)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        sqlite_files.create(self.path, _SCHEMA)

    def connect(self, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """A short connection (rows as :class:`sqlite3.Row`); ``write`` takes the write lock
        first (``BEGIN IMMEDIATE``) and commits at the end, or rolls back on an exception."""
        return sqlite_files.connect(self.path, write=write, rows=True)
