"""Signed-in identities and connected publishing accounts (ids, handles, status; no tokens)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from mbv_desktop.core.drafts import format_time, parse_time

_COLUMNS = ("id, provider, role, account_id, handle, display_name, avatar_url, email, scopes,"
            " status, expires_at, connected_at")


@dataclass(frozen=True)
class AccountRecord:
    id: int
    provider: str
    role: str  # 'sign_in' or 'publish'
    account_id: str
    handle: str
    display_name: str
    avatar_url: str
    email: str
    scopes: str
    status: str  # 'ok' or 'needs_reconnect'
    expires_at: datetime | None
    connected_at: datetime

    @property
    def label(self) -> str:
        """How the account is shown: @handle (an e-mail as it is), else the name, else the
        e-mail, else the id."""
        if self.handle:
            return self.handle if "@" in self.handle else f"@{self.handle}"
        return self.display_name or self.email or self.account_id


def _record(row: tuple[object, ...]) -> AccountRecord:
    values = list(row)
    values[10] = parse_time(str(values[10])) if values[10] else None
    values[11] = parse_time(str(values[11]))
    return AccountRecord(*values)  # type: ignore[arg-type]


class AccountRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def upsert(self, *, provider: str, role: str, account_id: str, handle: str = "",
               display_name: str = "", avatar_url: str = "", email: str = "", scopes: str = "",
               expires_at: datetime | None = None, at: datetime) -> AccountRecord:
        """Adds the account, or refreshes its profile and marks it ok when it is there."""
        now = format_time(at)
        self._conn.execute(
            "INSERT INTO accounts (provider, role, account_id, handle, display_name, avatar_url,"
            " email, scopes, status, expires_at, connected_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?, ?)"
            " ON CONFLICT (provider, account_id) DO UPDATE SET handle = excluded.handle,"
            " display_name = excluded.display_name, avatar_url = excluded.avatar_url,"
            " email = excluded.email, scopes = excluded.scopes, status = 'ok',"
            " expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            (provider, role, account_id, handle, display_name, avatar_url, email, scopes,
             format_time(expires_at) if expires_at else None, now, now))
        return self.get(provider, account_id)

    def get(self, provider: str, account_id: str) -> AccountRecord:
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE provider = ? AND"
                                 " account_id = ?", (provider, account_id)).fetchone()
        if row is None:
            raise KeyError((provider, account_id))
        return _record(row)

    def all(self) -> list[AccountRecord]:
        """Sign-in identities first, then publishing accounts by platform and handle."""
        return [_record(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM accounts ORDER BY role = 'publish', provider, handle, id")]

    def set_status(self, provider: str, account_id: str, status: str, at: datetime) -> None:
        self._conn.execute("UPDATE accounts SET status = ?, updated_at = ? WHERE provider = ?"
                           " AND account_id = ?", (status, format_time(at), provider, account_id))

    def delete(self, provider: str, account_id: str) -> bool:
        return self._conn.execute("DELETE FROM accounts WHERE provider = ? AND account_id = ?",
                                  (provider, account_id)).rowcount > 0
