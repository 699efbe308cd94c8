"""The emulators' SQLite files (sign-in, posting, Stripe): made once with their schema in WAL
mode, then opened for each call with a short connection, as several processes (a sandbox and
a command line) may use the same file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def create(path: Path, schema: str) -> None:
    """Makes ``path`` (and its folder) with ``schema`` if they are not there yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)


@contextmanager
def connect(path: Path, *, write: bool = False, rows: bool = False
            ) -> Iterator[sqlite3.Connection]:
    """A short connection in autocommit mode (rows as :class:`sqlite3.Row` when ``rows``).
    ``write`` takes the write lock first (``BEGIN IMMEDIATE``) and commits at the end, or
    rolls back on an exception."""
    db = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    if rows:
        db.row_factory = sqlite3.Row
    try:
        db.execute("PRAGMA busy_timeout=5000")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: no fsync per commit; fine for a demo
        if write:
            db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if db.in_transaction:
            db.execute("COMMIT")
    finally:
        db.close()
