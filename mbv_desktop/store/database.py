"""Opening the profile's SQLite database: pragmas, sanity checks, migrations after a backup.

Every connection gets WAL, a busy timeout, foreign keys and ``synchronous=FULL`` (the outbox and
billing tables share this file, and an autosave is worth an fsync). The schema version lives in
``PRAGMA user_version``; migrations are ordered functions in ``migrations.py`` and run only after
a ``VACUUM INTO`` backup, never by copying the live file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from mbv_desktop.core.errors import (
    DataDirError,
    MbvError,
    NotADatabase,
    SchemaTooNew,
    StoreError,
)
from mbv_desktop.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
SQLITE_HEADER = b"SQLite format 3\x00"
# The WAL-reset corruption bug (sqlite.org wal.html#walresetbug) is fixed from 3.51.3 on.
WAL_RESET_FIXED = (3, 51, 3)


@dataclass(frozen=True)
class DatabaseInfo:
    path: Path
    sqlite_version: str
    schema_version: int
    latest_schema_version: int
    journal_mode: str
    integrity: str

    @property
    def wal_reset_bug(self) -> bool:
        return sqlite3.sqlite_version_info < WAL_RESET_FIXED


def check_database_file(path: Path) -> None:
    if path.is_dir():
        raise NotADatabase(f"{path} is a folder, not a database file.")
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as e:
        raise DataDirError(f"The database {path} cannot be read: {e.strerror or e}.") from e
    if header and header != SQLITE_HEADER:
        raise NotADatabase(
            f"{path} is not a Must Be Viral database (it is not an SQLite file). "
            "Move it away or start with another --data-dir; nothing was changed."
        )


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A configured connection to an existing, migrated database (see ``open_database``)."""
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=check_same_thread,
        )
    except sqlite3.OperationalError as e:
        raise DataDirError(f"The database {path} cannot be opened: {e}.") from e
    conn.row_factory = sqlite3.Row
    try:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            log.warning("journal_mode is %s, not wal, for %s", mode, path)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise translate_error(e, path) from e
    return conn


def translate_error(e: sqlite3.DatabaseError, path: Path) -> MbvError:
    msg = str(e).lower()
    if "not a database" in msg or "malformed" in msg:
        return NotADatabase(f"{path} is damaged or not an SQLite database ({e}).")
    if "readonly" in msg or "read-only" in msg:
        return DataDirError(f"The database {path} is read-only; changes cannot be saved.")
    if "disk is full" in msg or "full" in msg:
        return DataDirError(f"The disk holding {path} is full; free some space and try again.")
    return StoreError(f"The database {path} cannot be used: {e}.")


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def backup(conn: sqlite3.Connection, backups_dir: Path, version: int) -> Path:
    """A consistent copy made by SQLite itself (``VACUUM INTO``), safe while others read."""
    backups_dir.mkdir(parents=True, exist_ok=True)
    target = backups_dir / f"mbv-schema{version}-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3"
    n = 1
    while target.exists():
        target = target.with_name(f"{target.stem}-{n}.sqlite3")
        n += 1
    conn.execute("VACUUM INTO ?", (str(target),))
    return target


def migrate(conn: sqlite3.Connection, backups_dir: Path) -> int:
    """Bring the schema up to date; returns the number of migrations run."""
    current = schema_version(conn)
    latest = len(MIGRATIONS)
    if current > latest:
        raise SchemaTooNew(
            f"This database was written by a newer version of Must Be Viral (schema {current}; "
            f"this version knows up to {latest}). Update the app; nothing was changed."
        )
    if current == latest:
        return 0
    if current > 0:
        path = backup(conn, backups_dir, current)
        log.info("backed up schema %d to %s before migrating", current, path)
    for version in range(current, latest):
        # executescript commits any open transaction first, so the transaction is in the script.
        script = (f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\n"
                  f"PRAGMA user_version={version + 1};\nCOMMIT;")
        try:
            conn.executescript(script)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("migrated database to schema %d", version + 1)
    return latest - current


def open_database(path: Path, backups_dir: Path | None = None) -> sqlite3.Connection:
    """Checks, opens and migrates the database; the returned connection is ready to use."""
    check_database_file(path)
    conn = connect(path)
    try:
        migrate(conn, backups_dir or path.parent / "backups")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise translate_error(e, path) from e
    except BaseException:
        conn.close()
        raise
    return conn


def database_info(
    conn: sqlite3.Connection, path: Path, *, full_check: bool = False
) -> DatabaseInfo:
    pragma = "integrity_check" if full_check else "quick_check"
    rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    integrity = "ok" if [r[0] for r in rows] == ["ok"] else "; ".join(str(r[0]) for r in rows[:5])
    return DatabaseInfo(
        path=path,
        sqlite_version=sqlite3.sqlite_version,
        schema_version=schema_version(conn),
        latest_schema_version=len(MIGRATIONS),
        journal_mode=conn.execute("PRAGMA journal_mode").fetchone()[0],
        integrity=integrity,
    )
