"""Opening the database: pragmas, refusing files that are not ours, migrations after a backup."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mbv_desktop.core.errors import NotADatabase, SchemaTooNew
from mbv_desktop.store import database
from mbv_desktop.store.database import connect, database_info, migrate, open_database
from mbv_desktop.store.migrations import MIGRATIONS


def test_new_database_is_wal_with_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "db.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    info = database_info(conn, tmp_path / "db.sqlite3", full_check=True)
    assert info.integrity == "ok"


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"my holiday notes, definitely not a database\n" * 10)
    before = path.read_bytes()
    with pytest.raises(NotADatabase, match="not an SQLite file"):
        open_database(path)
    assert path.read_bytes() == before


def test_a_database_from_a_newer_version_is_refused_without_change(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    open_database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(MIGRATIONS) + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer version"):
        open_database(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 5


def test_migration_of_an_existing_database_makes_a_backup_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite3"
    conn = open_database(path)
    conn.execute("INSERT INTO drafts (uid, body, created_at, updated_at) "
                 "VALUES ('u1', 'keep me', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    conn.close()
    extra = "CREATE TABLE later_feature (id INTEGER PRIMARY KEY);"
    monkeypatch.setattr(database, "MIGRATIONS", [*MIGRATIONS, extra])
    conn = connect(path)
    assert migrate(conn, tmp_path / "backups") == 1
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
    backups = list((tmp_path / "backups").glob("*.sqlite3"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("SELECT body FROM drafts").fetchone()[0] == "keep me"
    assert old.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_failing_migration_leaves_the_schema_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite3"
    open_database(path).close()
    broken = "CREATE TABLE half_done (id INTEGER); THIS IS NOT SQL;"
    monkeypatch.setattr(database, "MIGRATIONS", [*MIGRATIONS, broken])
    conn = connect(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, tmp_path / "backups")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    from mbv_desktop.core.errors import DataDirError
    from mbv_desktop.store.drafts import DraftRepository
    from mbv_desktop.store.worker import StoreWorker

    path = tmp_path / "db.sqlite3"
    conn = open_database(path)
    DraftRepository(conn).create("already saved")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    worker = StoreWorker(path)
    try:
        # SQLite's own "database or disk is full", by capping the file at its current size.
        worker.submit(lambda c: c.execute(f"PRAGMA max_page_count={pages + 1}"),
                      write=False).result()
        with pytest.raises(DataDirError, match="full"):
            worker.submit(lambda c: DraftRepository(c).create("y" * 150_000)).result()
        bodies = worker.submit(
            lambda c: [r[0] for r in c.execute("SELECT body FROM drafts")], write=False
        ).result()
        assert bodies == ["already saved"]
    finally:
        worker.close()
