"""Keeping accounts signed in: :class:`TokenManager` hands out valid access tokens.

* **Where tokens live.** Access tokens stay in memory only. What survives a restart goes to the
  injected :class:`TokenStore` under ``oauth:<provider>:<account_id>`` (the same key as
  ``mbv_desktop.config.secrets.oauth_secret_key``; the app passes its ``SecretStore``, which has
  exactly this interface and keeps the value in the OS keyring): the refresh token, or, for a
  grant without one (a Facebook long-lived token, a GitHub OAuth-app token that never expires),
  the access token itself. The value is a small JSON object (:class:`StoredGrant`), well under
  the keyring's 1,200-character limit.
* **Refreshing.** :meth:`TokenManager.access_token` refreshes ``skew`` seconds (60) before
  expiry, and after :meth:`TokenManager.invalidate` (call it when a provider answered 401, then
  ask once more; never loop). One refresh per account at a time: concurrent callers share the
  same in-flight refresh and its result or error (10 callers with an expired token make exactly
  one request).
* **Rotation.** When the provider returns a new refresh token, it is written to the store
  *before* the new access token is returned to anyone (RFC 9700 §4.14.2). If that write fails,
  the new tokens are kept in memory and the write is retried by the next call, which never
  spends the old refresh token again.
* **Dead grants.** ``invalid_grant`` (or any other refusal of the refresh token), an empty store
  or an expired token that cannot be refreshed raise :class:`NeedsReconnect`, and the account is
  remembered as dead for this session: later calls raise at once, without a request, until
  :meth:`TokenManager.save` stores a new sign-in. The stored entry is left for the caller (which
  marks the account and offers to reconnect); nothing retries.
* **Crash between the token response and the store write.** The store still holds the old refresh
  token. At a provider that does not rotate (Google) the next refresh works; at one that rotates
  and detects reuse, it answers ``invalid_grant`` → :class:`NeedsReconnect`, once. Never a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from mbv_desktop.core.errors import ProviderError, provider_display_name
from mbv_desktop.core.redaction import register_secret

from .errors import NeedsReconnect
from .models import TokenSet

__all__ = [
    "DEFAULT_SKEW",
    "MemoryTokenStore",
    "Refresher",
    "StoredGrant",
    "TokenManager",
    "TokenStore",
    "token_key",
]

log = logging.getLogger(__name__)

#: Refresh this many seconds before the access token expires.
DEFAULT_SKEW = 60.0


def token_key(provider: str, account_id: str) -> str:
    """``oauth:<provider>:<account_id>``: the store key of an account's saved sign-in."""
    return f"oauth:{provider}:{account_id}"


class TokenStore(Protocol):
    """Async secret storage (``mbv_desktop.config.secrets.SecretStore`` fits as it is)."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str) -> None: ...

    async def delete(self, key: str) -> None: ...


class Refresher(Protocol):
    """Talks to the providers for :class:`TokenManager` (:class:`~.client.ProviderRefresher`)."""

    async def refresh(self, provider: str, account_id: str, refresh_token: str) -> TokenSet:
        """New tokens; raises :class:`NeedsReconnect` when the refresh token is refused."""
        ...

    async def revoke(self, provider: str, account_id: str, *, access_token: str | None,
                     refresh_token: str | None) -> bool:
        """Revoke at the provider; ``True`` if it confirmed, ``False`` if not supported."""
        ...


class MemoryTokenStore:
    """A :class:`TokenStore` in a dict: for tests and session-only sign-ins."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def set(self, key: str, value: str) -> None:
        self.values[key] = value

    async def delete(self, key: str) -> None:
        self.values.pop(key, None)


@dataclass(frozen=True, repr=False)
class StoredGrant:
    """What is kept in the store for one account.

    ``kind="refresh"``: ``token`` is a refresh token (``expires_at``: when it expires, if
    known). ``kind="access"``: ``token`` is a long-lived access token that is itself the
    credential (``expires_at``: its expiry, if any).
    """

    kind: Literal["refresh", "access"]
    token: str
    expires_at: float | None = None
    scope: str = ""

    @classmethod
    def from_tokens(cls, tokens: TokenSet) -> StoredGrant:
        if tokens.refresh_token:
            return cls("refresh", tokens.refresh_token, tokens.refresh_expires_at, tokens.scope)
        return cls("access", tokens.access_token, tokens.expires_at, tokens.scope)

    def dumps(self) -> str:
        data: dict[str, object] = {"v": 1, "kind": self.kind, "token": self.token}
        if self.expires_at is not None:
            data["expires_at"] = int(self.expires_at)
        if self.scope:
            data["scope"] = self.scope
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> StoredGrant | None:
        """Parse a stored value; a bare string (not JSON) is taken as a refresh token."""
        if not text:
            return None
        if not text.lstrip().startswith("{"):
            register_secret(text)
            return cls("refresh", text.strip())
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        kind, token = data.get("kind"), data.get("token")
        if kind not in ("refresh", "access") or not isinstance(token, str) or not token:
            return None
        register_secret(token)
        expires = data.get("expires_at")
        scope = data.get("scope")
        return cls(kind, token,
                   float(expires) if isinstance(expires, int | float) else None,
                   scope if isinstance(scope, str) else "")

    def __repr__(self) -> str:
        return f"StoredGrant(kind={self.kind!r}, token='***', expires_at={self.expires_at!r})"


Key = tuple[str, str]


class TokenManager:
    """Valid access tokens for signed-in accounts, refreshed once per account at a time.

    Belongs to one event loop. ``clock`` is the wall clock (``time.time``) that token expiry
    times are compared with.
    """

    def __init__(self, store: TokenStore, refresher: Refresher, *, skew: float = DEFAULT_SKEW,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._refresher = refresher
        self._skew = skew
        self._clock = clock
        self._access: dict[Key, TokenSet] = {}
        self._inflight: dict[Key, asyncio.Task[str]] = {}
        self._unsaved: dict[Key, TokenSet] = {}
        self._dead: set[Key] = set()

    # -- signing in and out --

    async def save(self, provider: str, account_id: str, tokens: TokenSet) -> None:
        """Keep a fresh sign-in: the refresh token (or long-lived token) to the store first,
        then the access token in memory."""
        key = (provider, account_id)
        await self._store.set(token_key(provider, account_id),
                              StoredGrant.from_tokens(tokens).dumps())
        self._dead.discard(key)
        self._unsaved.pop(key, None)
        self._access[key] = self._memory_copy(tokens)

    async def forget(self, provider: str, account_id: str) -> None:
        """Drop the account's tokens here and in the store (no call to the provider)."""
        key = (provider, account_id)
        self._access.pop(key, None)
        self._unsaved.pop(key, None)
        self._dead.discard(key)
        await self._store.delete(token_key(provider, account_id))

    async def revoke(self, provider: str, account_id: str) -> bool:
        """Revoke the grant at the provider where it can be revoked, then :meth:`forget` it.

        Returns whether the provider confirmed the revocation. The local tokens are deleted
        even when the provider cannot be reached (the person asked to sign out).
        """
        key = (provider, account_id)
        inflight = self._inflight.get(key)
        if inflight is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(inflight)
        revoked = False
        try:
            grant = StoredGrant.loads(await self._store.get(token_key(provider, account_id)))
            cached = self._access.get(key)
            access = cached.access_token if cached and not cached.expires_within(
                0, now=self._clock()) else None
            refresh = grant.token if grant and grant.kind == "refresh" else None
            if grant and grant.kind == "access":
                access = grant.token
            if access is None and refresh is not None:
                with contextlib.suppress(ProviderError):
                    access = await self.access_token(provider, account_id)
                grant = StoredGrant.loads(await self._store.get(token_key(provider, account_id)))
                refresh = grant.token if grant and grant.kind == "refresh" else None
            if access or refresh:
                revoked = await self._refresher.revoke(provider, account_id, access_token=access,
                                                       refresh_token=refresh)
        except ProviderError as exc:
            log.info("Could not revoke the %s sign-in at the provider (%s); removing it here.",
                     provider_display_name(provider), type(exc).__name__)
        finally:
            await self.forget(provider, account_id)
        return revoked

    # -- access tokens --

    async def access_token(self, provider: str, account_id: str) -> str:
        """A valid access token for the account, refreshing it if needed.

        Raises :class:`NeedsReconnect` (connect the account again), ``ProviderUnavailable`` /
        ``RateLimited`` (try later; nothing was lost), ``NotConfigured``, or the store's own
        errors (``KeyringLocked``...).
        """
        key = (provider, account_id)
        cached = self._access.get(key)
        if cached is not None and not cached.expires_within(self._skew, now=self._clock()):
            return cached.access_token
        if key in self._dead:
            raise NeedsReconnect(provider=provider, account_id=account_id)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._renew(provider, account_id))
            self._inflight[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        # shield: one caller giving up (cancelled) does not cancel the others' refresh
        return await asyncio.shield(task)

    def invalidate(self, provider: str, account_id: str, access_token: str | None = None) -> None:
        """Forget the in-memory access token after the provider refused it (HTTP 401).

        With ``access_token``, only that token is dropped (a newer one, refreshed meanwhile,
        stays). A long-lived token that cannot be refreshed is then dead: the next
        :meth:`access_token` raises :class:`NeedsReconnect`.
        """
        key = (provider, account_id)
        cached = self._access.get(key)
        if cached is None or (access_token is not None and cached.access_token != access_token):
            return
        del self._access[key]
        if cached.long_lived:
            self._dead.add(key)

    def is_dead(self, provider: str, account_id: str) -> bool:
        """Whether the account needs to be connected again (known in this session)."""
        return (provider, account_id) in self._dead

    # -- internals --

    def _finished(self, key: Key, task: asyncio.Task[str]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved: no "exception was never retrieved" if all gave up

    @staticmethod
    def _memory_copy(tokens: TokenSet) -> TokenSet:
        # Memory keeps what is needed to call the API; the refresh token is read from the
        # store when it is needed.
        return replace(tokens, refresh_token=None, id_token=None,
                       long_lived=tokens.long_lived or not tokens.refresh_token)

    async def _renew(self, provider: str, account_id: str) -> str:
        key = (provider, account_id)
        store_key = token_key(provider, account_id)
        now = self._clock()
        unsaved = self._unsaved.get(key)
        if unsaved is not None:  # a rotation whose store write failed: finish it first
            await self._store.set(store_key, StoredGrant.from_tokens(unsaved).dumps())
            del self._unsaved[key]
            if not unsaved.expires_within(self._skew, now=now):
                self._access[key] = self._memory_copy(unsaved)
                return unsaved.access_token
            grant: StoredGrant | None = StoredGrant.from_tokens(unsaved)
        else:
            grant = StoredGrant.loads(await self._store.get(store_key))
        if grant is None:
            self._dead.add(key)
            raise NeedsReconnect(
                f"There is no saved sign-in for this {provider_display_name(provider)} account; "
                f"connect it again.", provider=provider, account_id=account_id)
        if grant.kind == "access":
            tokens = TokenSet(access_token=grant.token, expires_at=grant.expires_at,
                              scope=grant.scope, long_lived=True)
            if tokens.expires_within(0, now=now):
                self._dead.add(key)
                raise NeedsReconnect(provider=provider, account_id=account_id)
            self._access[key] = tokens
            return tokens.access_token
        try:
            fresh = await self._refresher.refresh(provider, account_id, grant.token)
        except NeedsReconnect as exc:
            self._dead.add(key)
            self._access.pop(key, None)
            if not exc.account_id:
                exc.account_id = account_id
            log.info("The saved %s sign-in was refused; the account needs to be connected "
                     "again.", provider_display_name(provider))
            raise
        if fresh.refresh_token and fresh.refresh_token != grant.token:
            try:
                # Rotation: the new refresh token is saved before anyone uses the new access
                # token; the old one is spent.
                await self._store.set(store_key, StoredGrant.from_tokens(fresh).dumps())
            except BaseException:
                self._unsaved[key] = fresh
                raise
        self._access[key] = self._memory_copy(replace(fresh, refresh_token=grant.token))
        return fresh.access_token
