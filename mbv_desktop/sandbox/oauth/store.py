"""Grants and tokens issued by the sign-in emulators, kept in ``oauth.sqlite3`` in the sandbox's
state directory so a signed-in app stays signed in across a sandbox restart.

A *grant* is one authorization (one consent, or one device-flow approval): it is the token
*family* of RFC 9700 §4.14.2. Every access and refresh token descends from exactly one grant;
revoking the grant revokes all of them. Tokens are stored as SHA-256 digests, never in clear.

Token status: ``active``; ``used`` (a refresh token that was rotated: presenting it again is
reuse and revokes the family); ``revoked``. Expiry is kept as an absolute time and compared
with the emulator's clock (which tests can move forward), so it is not a status.

Each call opens its own short SQLite connection: the emulators have no shutdown hook, and the
few writes per sign-in make the cost irrelevant.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mbv_desktop.sandbox import sqlite_files

FILE_NAME = "oauth.sqlite3"

TokenKind = Literal["access", "refresh"]
Verdict = Literal["ok", "unknown", "expired", "revoked", "used"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
    family     TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    account    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    public     INTEGER NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    data       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS grants_by_account ON grants (provider, client_id, account);
CREATE TABLE IF NOT EXISTS tokens (
    provider   TEXT NOT NULL,
    digest     TEXT NOT NULL,
    family     TEXT NOT NULL REFERENCES grants (family),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    tag        TEXT NOT NULL DEFAULT '',
    status     TEXT NOT NULL CHECK (status IN ('active', 'used', 'revoked')),
    issued_at  REAL NOT NULL,
    expires_at REAL,
    PRIMARY KEY (provider, digest)
);
CREATE INDEX IF NOT EXISTS tokens_by_family ON tokens (family);
"""


def digest(token: str) -> str:
    """SHA-256 hex of a token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Grant:
    """One authorization: who (``account``, the demo account's id) allowed which client what.

    ``public`` is true when the grant was obtained without a client secret (GitHub's device
    flow, X's public clients), which lets a refresh go without one too. ``data`` is a JSON
    object for provider extras (none of the current emulators needs one).
    """

    family: str
    provider: str
    client_id: str
    account: str
    scopes: tuple[str, ...]
    public: bool
    created_at: float
    revoked_at: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenRecord:
    """A stored token and its grant; ``tag`` marks variants (Facebook's ``long_lived``)."""

    kind: TokenKind
    tag: str
    status: str
    issued_at: float
    expires_at: float | None
    grant: Grant

    def verdict(self, now: float) -> Verdict:
        """Whether the token may be used at ``now``, and if not, why."""
        if self.status == "revoked" or self.grant.revoked_at is not None:
            return "revoked"
        if self.status == "used":
            return "used"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "ok"


class TokenStore:
    """The emulators' grant and token table (one file shared by every sign-in emulator)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        sqlite_files.create(self.path, _SCHEMA)

    def _connect(self, write: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_files.connect(self.path, write=write)

    # -- grants ----------------------------------------------------------------------------

    def create_grant(self, provider: str, client_id: str, account: str,
                     scopes: Sequence[str], *, public: bool, now: float,
                     data: Mapping[str, Any] | None = None) -> Grant:
        grant = Grant(family="fam_" + secrets.token_hex(12), provider=provider,
                      client_id=client_id, account=account, scopes=tuple(scopes),
                      public=public, created_at=now, data=dict(data or {}))
        with self._connect(write=True) as db:
            db.execute("INSERT INTO grants (family, provider, client_id, account, scopes, public,"
                       " created_at, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (grant.family, provider, client_id, account, " ".join(grant.scopes),
                        int(public), now, json.dumps(grant.data)))
        return grant

    def add_token(self, grant: Grant, kind: TokenKind, token: str, *, now: float,
                  ttl: float | None, tag: str = "") -> float | None:
        """Records ``token`` in ``grant``'s family; returns its absolute expiry (None: never)."""
        expires_at = None if ttl is None else now + ttl
        with self._connect(write=True) as db:
            db.execute("INSERT INTO tokens (provider, digest, family, kind, tag, status,"
                       " issued_at, expires_at) VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
                       (grant.provider, digest(token), grant.family, kind, tag, now,
                        expires_at))
        return expires_at

    def find(self, provider: str, token: str) -> TokenRecord | None:
        """The stored token (any status), or None when this provider never issued it."""
        with self._connect() as db:
            row = db.execute(
                "SELECT t.kind, t.tag, t.status, t.issued_at, t.expires_at, g.family,"
                " g.provider, g.client_id, g.account, g.scopes, g.public, g.created_at,"
                " g.revoked_at, g.data FROM tokens t JOIN grants g ON g.family = t.family"
                " WHERE t.provider=? AND t.digest=?", (provider, digest(token))).fetchone()
        if row is None:
            return None
        grant = Grant(family=row[5], provider=row[6], client_id=row[7], account=row[8],
                      scopes=tuple(s for s in row[9].split(" ") if s), public=bool(row[10]),
                      created_at=row[11], revoked_at=row[12], data=json.loads(row[13]))
        return TokenRecord(kind=row[0], tag=row[1], status=row[2], issued_at=row[3],
                           expires_at=row[4], grant=grant)

    def check(self, provider: str, token: str, kind: TokenKind,
              now: float) -> tuple[TokenRecord | None, Verdict]:
        """Looks ``token`` up as a ``kind`` token: (record, "ok") when it may be used."""
        record = self.find(provider, token)
        if record is None or record.kind != kind:
            return None, "unknown"
        return record, record.verdict(now)

    def mark_used(self, provider: str, token: str) -> bool:
        """Marks an active refresh token as rotated; False when it was not active (a race
        with another refresh: the caller treats that as reuse)."""
        with self._connect(write=True) as db:
            cursor = db.execute("UPDATE tokens SET status='used' WHERE provider=? AND digest=?"
                                " AND status='active'", (provider, digest(token)))
            return cursor.rowcount == 1

    # -- revocation ------------------------------------------------------------------------

    def revoke_family(self, family: str, now: float) -> None:
        """Revokes the grant and every token descended from it."""
        with self._connect(write=True) as db:
            db.execute("UPDATE grants SET revoked_at=coalesce(revoked_at, ?) WHERE family=?",
                       (now, family))
            db.execute("UPDATE tokens SET status='revoked' WHERE family=?", (family,))

    def revoke_access_tokens(self, family: str) -> None:
        """Revokes the family's access tokens (the old pair stops working on rotation)."""
        with self._connect(write=True) as db:
            db.execute("UPDATE tokens SET status='revoked' WHERE family=? AND kind='access'",
                       (family,))

    def revoke_token(self, provider: str, token: str) -> bool:
        """Revokes one token; False when unknown."""
        with self._connect(write=True) as db:
            cursor = db.execute("UPDATE tokens SET status='revoked' WHERE provider=? AND"
                                " digest=?", (provider, digest(token)))
            return cursor.rowcount == 1

    def revoke_account(self, provider: str, client_id: str, account: str, now: float) -> int:
        """Revokes every grant ``account`` gave ``client_id`` (an app's authorization is
        removed); returns how many grants were still live."""
        with self._connect(write=True) as db:
            families = [row[0] for row in db.execute(
                "SELECT family FROM grants WHERE provider=? AND client_id=? AND account=?"
                " AND revoked_at IS NULL", (provider, client_id, account))]
            for family in families:
                db.execute("UPDATE grants SET revoked_at=? WHERE family=?", (now, family))
                db.execute("UPDATE tokens SET status='revoked' WHERE family=?", (family,))
        return len(families)

    def live_grants(self, provider: str | None = None) -> int:
        """How many grants are not revoked (for tests and the control surface)."""
        sql = "SELECT count(*) FROM grants WHERE revoked_at IS NULL"
        params: tuple[Any, ...] = ()
        if provider is not None:
            sql += " AND provider=?"
            params = (provider,)
        with self._connect() as db:
            return int(db.execute(sql, params).fetchone()[0])
