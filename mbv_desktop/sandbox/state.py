"""The sandbox's own persistent state: one SQLite file (``sandbox.sqlite3``) in the host's
state directory, separate from the app's database.

It holds the API keys the sandbox issued or the emulators have seen (as SHA-256 digests plus a
redacted hint, never the key itself, in case a real key is pasted while the sandbox is on) and
which were revoked, the request log (method, path, status, fault, time, milliseconds until the
answer started) that tests count hits with, usage counters
per provider and model, and files the emulators serve back (generated images behind URLs).
Everything survives a host restart with the same directory.

One connection is shared by the server thread and callers (tests, the control API) behind a
lock; writes are small and the file uses WAL, so this stays cheap.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FILE_NAME = "sandbox.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    provider     TEXT NOT NULL,
    key_sha256   TEXT NOT NULL,
    hint         TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at   REAL NOT NULL,
    last_used_at REAL,
    uses         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, key_sha256)
);
CREATE TABLE IF NOT EXISTS requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER,
    fault       TEXT,
    at          REAL NOT NULL,
    duration_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_provider ON requests (provider, id);
CREATE TABLE IF NOT EXISTS usage (
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    requests          INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    images            INTEGER NOT NULL DEFAULT 0,
    embeddings        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, model)
);
CREATE TABLE IF NOT EXISTS files (
    name         TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created_at   REAL NOT NULL,
    data         BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class RequestRecord:
    """One line of the request log; ``status`` is None when the connection was reset."""

    id: int
    provider: str
    method: str
    path: str
    status: int | None
    fault: str | None
    at: float
    duration_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "provider": self.provider, "method": self.method,
                "path": self.path, "status": self.status, "fault": self.fault,
                "at": self.at, "duration_ms": self.duration_ms}


@dataclass(frozen=True)
class Usage:
    """Usage counters for one provider and model."""

    provider: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    images: int
    embeddings: int

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "requests": self.requests,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "images": self.images,
                "embeddings": self.embeddings}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _hint(key: str) -> str:
    return key if len(key) <= 8 else f"{key[:4]}…{key[-4:]}"


class SandboxState:
    """The sandbox's SQLite store. Close it when done (the host does)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        with self._lock:  # executescript manages its own transaction
            self._db.executescript(f"BEGIN;\n{_SCHEMA}\nPRAGMA user_version={SCHEMA_VERSION};"
                                   "\nCOMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- API keys ---------------------------------------------------------------------------

    def authenticate(self, provider: str, key: str, accepted_by_default: bool) -> bool:
        """Whether ``key`` may call ``provider``: a revoked key never may; otherwise the
        emulator's default rule decides. Accepted keys are recorded with a use count."""
        digest = _digest(key)
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT status FROM api_keys WHERE provider=? AND key_sha256=?",
                             (provider, digest)).fetchone()
            if row is not None and row[0] == "revoked":
                return False
            if not accepted_by_default:
                return False
            db.execute(
                "INSERT INTO api_keys (provider, key_sha256, hint, status, created_at,"
                " last_used_at, uses) VALUES (?, ?, ?, 'active', ?, ?, 1)"
                " ON CONFLICT (provider, key_sha256) DO UPDATE SET"
                " last_used_at=excluded.last_used_at, uses=uses+1",
                (provider, digest, _hint(key), now, now))
        return True

    def issue_key(self, provider: str, key: str) -> None:
        """Records ``key`` as issued (active, not used yet)."""
        with self._write() as db:
            db.execute(
                "INSERT INTO api_keys (provider, key_sha256, hint, status, created_at)"
                " VALUES (?, ?, ?, 'active', ?) ON CONFLICT (provider, key_sha256)"
                " DO UPDATE SET status='active'",
                (provider, _digest(key), _hint(key), time.time()))

    def revoke_key(self, provider: str, key: str) -> None:
        """Makes ``key`` fail with the provider's 401 from now on (persisted)."""
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO api_keys (provider, key_sha256, hint, status, created_at)"
                " VALUES (?, ?, ?, 'revoked', ?) ON CONFLICT (provider, key_sha256)"
                " DO UPDATE SET status='revoked'",
                (provider, _digest(key), _hint(key), now))

    def keys(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Keys seen, with redacted hints, status and use counts."""
        sql = "SELECT provider, hint, status, created_at, last_used_at, uses FROM api_keys"
        params: tuple[Any, ...] = ()
        if provider is not None:
            sql += " WHERE provider=?"
            params = (provider,)
        names = ("provider", "hint", "status", "created_at", "last_used_at", "uses")
        return [dict(zip(names, row, strict=True)) for row in self._read(sql + " ORDER BY rowid",
                                                                          params)]

    # -- request log ------------------------------------------------------------------------

    def log_request(self, provider: str, method: str, path: str, status: int | None,
                    fault: str | None, at: float, duration_ms: float) -> None:
        with self._write() as db:
            db.execute("INSERT INTO requests (provider, method, path, status, fault, at,"
                       " duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (provider, method, path, status, fault, at, round(duration_ms, 3)))

    def requests(self, provider: str | None = None, path_prefix: str | None = None,
                 limit: int | None = None) -> list[RequestRecord]:
        """The request log, oldest first (the last ``limit`` entries when given)."""
        where, params = self._request_filter(provider, path_prefix)
        sql = ("SELECT id, provider, method, path, status, fault, at, duration_ms FROM requests"
               f"{where} ORDER BY id DESC")
        if limit is not None:
            sql += " LIMIT ?"
            params += (int(limit),)
        rows = self._read(sql, params)
        return [RequestRecord(*row) for row in reversed(rows)]

    def count_requests(self, provider: str | None = None, path_prefix: str | None = None) -> int:
        """How many requests were logged (for one provider, under one path prefix)."""
        where, params = self._request_filter(provider, path_prefix)
        return int(self._read(f"SELECT count(*) FROM requests{where}", params)[0][0])

    def clear_requests(self, provider: str | None = None) -> int:
        with self._write() as db:
            if provider is None:
                return db.execute("DELETE FROM requests").rowcount
            return db.execute("DELETE FROM requests WHERE provider=?", (provider,)).rowcount

    @staticmethod
    def _request_filter(provider: str | None, path_prefix: str | None,
                        ) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        params: tuple[Any, ...] = ()
        if provider is not None:
            clauses.append("provider=?")
            params += (provider,)
        if path_prefix:
            clauses.append("substr(path, 1, ?)=?")
            params += (len(path_prefix), path_prefix)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    # -- usage ------------------------------------------------------------------------------

    def add_usage(self, provider: str, model: str, *, prompt_tokens: int = 0,
                  completion_tokens: int = 0, images: int = 0, embeddings: int = 0) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO usage (provider, model, requests, prompt_tokens, completion_tokens,"
                " images, embeddings) VALUES (?, ?, 1, ?, ?, ?, ?)"
                " ON CONFLICT (provider, model) DO UPDATE SET requests=requests+1,"
                " prompt_tokens=prompt_tokens+excluded.prompt_tokens,"
                " completion_tokens=completion_tokens+excluded.completion_tokens,"
                " images=images+excluded.images, embeddings=embeddings+excluded.embeddings",
                (provider, model, prompt_tokens, completion_tokens, images, embeddings))

    def usage(self, provider: str | None = None) -> list[Usage]:
        sql = ("SELECT provider, model, requests, prompt_tokens, completion_tokens, images,"
               " embeddings FROM usage")
        params: tuple[Any, ...] = ()
        if provider is not None:
            sql += " WHERE provider=?"
            params = (provider,)
        return [Usage(*row) for row in self._read(sql + " ORDER BY provider, model", params)]

    # -- files ------------------------------------------------------------------------------

    def put_file(self, provider: str, name: str, content_type: str, data: bytes) -> None:
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO files (name, provider, content_type, created_at,"
                       " data) VALUES (?, ?, ?, ?, ?)",
                       (name, provider, content_type, time.time(), data))

    def get_file(self, name: str) -> tuple[str, bytes] | None:
        """(content type, bytes) of a stored file, or None."""
        rows = self._read("SELECT content_type, data FROM files WHERE name=?", (name,))
        return (rows[0][0], bytes(rows[0][1])) if rows else None
