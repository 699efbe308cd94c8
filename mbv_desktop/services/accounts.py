"""Signing in (Google, GitHub) and connecting the accounts posts go to (X, Instagram, TikTok).

The browser step and the token handling live in ``integrations.auth``; this service ties them to
the profile: the account's id, handle and status go to SQLite (``accounts``), its refresh token
(or Facebook's long-lived token) to the OS keyring through the token manager, its access token
stays in memory. Tokens are written to the keyring *before* the account is recorded, so a crash
in between leaves at worst a keyring entry nobody points at, never an account without a way to
refresh. A refresh answered ``invalid_grant`` marks the account "needs reconnect" (shown in the
Accounts panel); nothing retries it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore, setting_secret_key
from mbv_desktop.config.settings import Settings, spec_for
from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.accounts import AccountRecord, AccountRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    import httpx

    from mbv_desktop.integrations.auth import Authorization, DeviceCode, TokenManager
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.plan_limits import PlanGuard

log = logging.getLogger(__name__)

SIGN_IN_PROVIDERS = ("google", "github")
PUBLISH_PROVIDERS = ("x", "instagram", "tiktok")
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class AccountsChanged:
    provider: str
    account_id: str


def _prepare_http() -> httpx.AsyncClient:
    """Worker thread: the sign-in package and its heavier imports (httpx, joserfc with
    cryptography: ~200 ms in all) are loaded here, so the event loop finds them loaded."""
    import joserfc.jwk
    import joserfc.jwt

    import mbv_desktop.integrations.auth
    from mbv_desktop.integrations.auth._wire import new_http_client

    del joserfc, mbv_desktop
    return new_http_client()


def role_of(provider: str) -> str:
    if provider in SIGN_IN_PROVIDERS:
        return "sign_in"
    if provider in PUBLISH_PROVIDERS:
        return "publish"
    raise InvalidInput(f"There is no sign-in for '{provider}'; use one of "
                       f"{', '.join(SIGN_IN_PROVIDERS + PUBLISH_PROVIDERS)}.")


class AccountsService:
    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 analytics: AnalyticsService | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._analytics = analytics
        #: Holds connected publishing accounts to the plan's limit (None: no limits known).
        self.plan_guard: PlanGuard | None = None
        self._tokens: TokenManager | None = None
        self._refresher: object | None = None
        self._http: httpx.AsyncClient | None = None
        self.events: EventHub[AccountsChanged] = EventHub()

    # -- configuration --

    async def _values(self) -> dict[str, str]:
        """Every sign-in setting, secrets from the setting or else the keyring."""
        from mbv_desktop.integrations.auth import SETTING_KEYS

        values: dict[str, str] = {}
        for keys in SETTING_KEYS.values():
            for key in keys:
                value = str(self._settings.get(key) or "")
                if not value and spec_for(key).secret:
                    try:
                        value = await self._secrets.get(setting_secret_key(key)) or ""
                    except MbvError:
                        value = ""
                values[key] = value
        return values

    async def http(self) -> httpx.AsyncClient:
        """One HTTP client for every sign-in request, made on a worker thread: building its TLS
        context reads the CA bundle (~100 ms), and the id_token checks' first import of joserfc
        and cryptography (~80 ms) happens there too, not on the GUI thread."""
        if self._http is None:
            self._http = await asyncio.to_thread(_prepare_http)
        return self._http

    async def token_manager(self) -> TokenManager:
        if self._tokens is None:
            from mbv_desktop.integrations.auth import (
                ProviderRefresher,
                TokenManager,
                specs_from_settings,
            )

            refresher = ProviderRefresher(specs_from_settings(await self._values()),
                                          http=await self.http())
            self._refresher = refresher
            self._tokens = TokenManager(self._secrets, refresher)
        return self._tokens

    # -- reading --

    async def accounts(self) -> list[AccountRecord]:
        return await self._worker.call(lambda c: AccountRepository(c).all(), write=False)

    # -- signing in and connecting --

    async def authorize(self, provider: str, *,
                        open_url: Callable[[str], Awaitable[object] | object],
                        timeout: float = DEFAULT_TIMEOUT_S) -> AccountRecord:
        """The browser flow for ``provider``; the account as recorded (new or reconnected)."""
        role = role_of(provider)
        http = await self.http()  # first: it loads the sign-in package off the event loop
        from mbv_desktop.integrations.auth import authorize, spec_from_settings

        spec = spec_from_settings(provider, await self._values())
        result = await authorize(spec, open_url=open_url, timeout=timeout, http=http)
        return await self._keep(result, role)

    async def device_sign_in(self, provider: str, *,
                             show_code: Callable[[DeviceCode], Awaitable[object] | object]
                             ) -> AccountRecord:
        """GitHub's device flow (no browser on this machine): ``show_code`` tells the person
        where to go and which code to type."""
        role = role_of(provider)
        http = await self.http()
        from mbv_desktop.integrations.auth import device_authorize, spec_from_settings

        spec = spec_from_settings(provider, await self._values())
        result = await device_authorize(spec, show_code=show_code, http=http)
        return await self._keep(result, role)

    async def _keep(self, result: Authorization, role: str) -> AccountRecord:
        identity = result.identity
        if role == "publish" and self.plan_guard is not None and not any(
                a.provider == identity.provider and a.account_id == identity.account_id
                for a in await self.accounts()):
            await self.plan_guard.check_connect()  # a reconnect is never held back
        tokens = await self.token_manager()
        await tokens.save(identity.provider, identity.account_id, result.tokens)  # keyring first
        refresh_expiry = result.tokens.refresh_expires_at or (
            result.tokens.expires_at if result.tokens.long_lived else None)
        now = datetime.now(UTC)

        def record(c: object) -> tuple[AccountRecord, bool]:
            repo = AccountRepository(c)  # type: ignore[arg-type]
            try:
                repo.get(identity.provider, identity.account_id)
                new = False
            except KeyError:
                new = True
            saved = repo.upsert(
                provider=identity.provider, role=role, account_id=identity.account_id,
                handle=identity.handle or "", display_name=identity.display_name or "",
                avatar_url=identity.avatar_url or "", email=identity.email or "",
                scopes=result.tokens.scope,
                expires_at=datetime.fromtimestamp(refresh_expiry, UTC) if refresh_expiry else None,
                at=now)
            return saved, new

        account, new = await self._worker.call(record)
        self.events.publish(AccountsChanged(account.provider, account.account_id))
        if role == "sign_in" and self._analytics is not None:
            method = {"google": "Google", "github": "GitHub"}[account.provider]
            await self._analytics.track("sign_up" if new else "login", {"method": method})
        return account

    async def disconnect(self, provider: str, account_id: str) -> bool:
        """Signs out / disconnects: revokes at the provider where it can, deletes the keyring
        entry and the account row. Returns whether the provider confirmed the revocation."""
        tokens = await self.token_manager()
        revoked = await tokens.revoke(provider, account_id)
        await self._worker.call(lambda c: AccountRepository(c).delete(provider, account_id))
        self.events.publish(AccountsChanged(provider, account_id))
        return revoked

    async def access_token(self, provider: str, account_id: str) -> str:
        """A valid access token for a connected account (refreshed when needed); an account
        whose grant is gone is marked "needs reconnect" and NeedsReconnect is raised."""
        from mbv_desktop.integrations.auth import NeedsReconnect

        tokens = await self.token_manager()
        try:
            return await tokens.access_token(provider, account_id)
        except NeedsReconnect:
            await self.mark_needs_reconnect(provider, account_id)
            raise

    async def check(self, account: AccountRecord) -> str:
        """Makes sure the account still works (refreshing its token if needed); returns its
        status afterwards: ``ok``, ``needs_reconnect`` when the provider refused it, or
        ``unreachable`` when the provider could not be asked (nothing is marked then)."""
        from mbv_desktop.core.errors import ProviderError
        from mbv_desktop.integrations.auth import NeedsReconnect

        if account.status == "needs_reconnect":
            return account.status  # never ask again until the creator reconnects
        try:
            await self.access_token(account.provider, account.account_id)
        except NeedsReconnect:
            return "needs_reconnect"
        except ProviderError as exc:
            log.info("accounts: could not check %s %s: %s", account.provider,
                     account.account_id, exc)
            return "unreachable"
        return "ok"

    async def mark_needs_reconnect(self, provider: str, account_id: str) -> None:
        now = datetime.now(UTC)
        await self._worker.call(lambda c: AccountRepository(c).set_status(
            provider, account_id, "needs_reconnect", now))
        self.events.publish(AccountsChanged(provider, account_id))

    async def aclose(self) -> None:
        """Closes the HTTP client; a later call makes a new one (in the loop it runs on)."""
        refresher, http = self._refresher, self._http
        self._refresher, self._http, self._tokens = None, None, None
        close = getattr(refresher, "aclose", None)
        if close is not None:
            await close()
        if http is not None:
            await http.aclose()
