"""One thread that owns the database's writing connection.

SQLite allows one writer at a time; funnelling every write through a single thread keeps the GUI
thread free of disk waits and makes ``BEGIN IMMEDIATE`` the only locking anybody needs to think
about. Callers pass a function of the connection; it runs inside one transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mbv_desktop.store.database import connect, translate_error

T = TypeVar("T")


class StoreWorker:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mbv-store"
        )
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            self._connections.append(conn)
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], T], write: bool) -> T:
        conn = self._conn()
        try:
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except sqlite3.DatabaseError as e:
            raise translate_error(e, self.path) from e

    def submit(
        self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True
    ) -> concurrent.futures.Future[T]:
        return self._executor.submit(self._run, fn, write)

    async def call(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        return await asyncio.wrap_future(self.submit(fn, write=write))

    def close(self) -> None:
        """Closes the connections and the thread; safe to call more than once."""
        if self._closed:
            return
        self._closed = True

        def _close_all() -> None:
            for conn in self._connections:
                conn.close()
            self._connections.clear()

        self._executor.submit(_close_all).result()
        self._executor.shutdown(wait=True)
