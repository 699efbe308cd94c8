"""TokenManager (reliability.md 6-7): single-flight refresh, rotation written before use,
invalid_grant without retries, and a crash between the token response and the store write.

The authorization server is a fake behind ``httpx.MockTransport`` that rotates refresh tokens and
revokes the whole family when a spent refresh token is used again (RFC 9700 §4.14.2). The real
``ProviderRefresher`` talks to it, so the requests on the wire are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import httpx
import pytest

from mbv_desktop.core.errors import KeyringLocked, ProviderUnavailable
from mbv_desktop.integrations.auth import (
    MemoryTokenStore,
    NeedsReconnect,
    ProviderRefresher,
    StoredGrant,
    TokenManager,
    TokenSet,
    spec_from_settings,
    token_key,
)

T = TypeVar("T")

BASE = "https://x.test"
SETTINGS = {"x.api_base": BASE, "x.auth_base": BASE, "x.client_id": "x-client"}
ACCOUNT = "1001"
KEY = token_key("x", ACCOUNT)
CANARY = "canary-refresh-token-0123456789"


class FakeAuthServer:
    """Refresh tokens come in families; a reused (spent) one revokes its family."""

    def __init__(self, *, rotate: bool = True, delay: float = 0.05, fail_with: int | None = None,
                 access_ttl: int = 3600) -> None:
        self.rotate = rotate
        self.delay = delay
        self.fail_with = fail_with
        self.access_ttl = access_ttl
        self.counter = itertools.count(1)
        self.family_of: dict[str, int] = {}
        self.spent: set[str] = set()
        self.revoked_families: set[int] = set()
        self.refresh_requests: list[dict[str, str]] = []
        self.revoke_requests: list[dict[str, str]] = []
        self.on_response: Callable[[], None] | None = None

    def new_family(self, token: str | None = None) -> str:
        family = next(self.counter)
        token = token or f"rt-{family}-0-{'x' * 16}"
        self.family_of[token] = family
        return token

    def valid(self, token: str) -> bool:
        family = self.family_of.get(token)
        return family is not None and family not in self.revoked_families and (
            token not in self.spent)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        if request.url.path == "/2/oauth2/revoke":
            self.revoke_requests.append(form)
            family = self.family_of.get(form.get("token", ""))
            if family is not None:
                self.revoked_families.add(family)
            return httpx.Response(200, json={"revoked": True})
        assert request.url.path == "/2/oauth2/token"
        assert form["grant_type"] == "refresh_token"
        assert form["client_id"] == "x-client"
        self.refresh_requests.append(form)
        await asyncio.sleep(self.delay)
        if self.fail_with is not None:
            return httpx.Response(self.fail_with, json={"error": "server_error"})
        token = form["refresh_token"]
        family = self.family_of.get(token)
        if family is None or family in self.revoked_families:
            return httpx.Response(400, json={"error": "invalid_grant",
                                             "error_description": "Value passed was invalid"})
        if token in self.spent:  # reuse of a rotated token: revoke the family
            self.revoked_families.add(family)
            return httpx.Response(400, json={"error": "invalid_grant"})
        body: dict[str, Any] = {"access_token": f"at-{next(self.counter)}-{'y' * 16}",
                                "token_type": "bearer", "expires_in": self.access_ttl,
                                "scope": "tweet.read offline.access"}
        if self.rotate:
            self.spent.add(token)
            new = f"rt-{family}-{next(self.counter)}-{'z' * 16}"
            self.family_of[new] = family
            body["refresh_token"] = new
        if self.on_response is not None:
            self.on_response()
        return httpx.Response(200, json=body)


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


class Env:
    def __init__(self, server: FakeAuthServer, store: MemoryTokenStore | None = None) -> None:
        self.server = server
        self.store = store or MemoryTokenStore()
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(server.handler))
        self.refresher = ProviderRefresher({"x": spec_from_settings("x", SETTINGS)},
                                           http=self.http)
        self.manager = TokenManager(self.store, self.refresher)

    async def sign_in(self, refresh_token: str, *, expired: bool = True) -> None:
        expires = time.time() + (-10 if expired else 3600)
        await self.manager.save("x", ACCOUNT, TokenSet(access_token="at-initial-0000000000",
                                                       refresh_token=refresh_token,
                                                       expires_at=expires))

    async def close(self) -> None:
        await self.http.aclose()


def stored_refresh_token(store: MemoryTokenStore) -> str | None:
    grant = StoredGrant.loads(store.values.get(KEY))
    return grant.token if grant else None


def test_ten_concurrent_callers_cause_exactly_one_refresh() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer())
        first = env.server.new_family()
        await env.sign_in(first)
        tokens = await asyncio.gather(*(env.manager.access_token("x", ACCOUNT)
                                        for _ in range(10)))
        assert len(env.server.refresh_requests) == 1
        assert len(set(tokens)) == 1 and tokens[0].startswith("at-")
        assert stored_refresh_token(env.store) not in (None, first)
        assert env.server.valid(stored_refresh_token(env.store) or "")
        # still fresh: no more requests
        assert await env.manager.access_token("x", ACCOUNT) == tokens[0]
        assert len(env.server.refresh_requests) == 1
        await env.close()
    run(main)


def test_the_rotated_refresh_token_is_stored_before_the_access_token_is_returned() -> None:
    class GatedStore(MemoryTokenStore):
        def __init__(self) -> None:
            super().__init__()
            self.entered = asyncio.Event()
            self.release = asyncio.Event()
            self.gate = False

        async def set(self, key: str, value: str) -> None:
            if self.gate:
                self.entered.set()
                await self.release.wait()
            await super().set(key, value)

    async def main() -> None:
        store = GatedStore()
        env = Env(FakeAuthServer(), store)
        await env.sign_in(env.server.new_family())
        store.gate = True
        task = asyncio.create_task(env.manager.access_token("x", ACCOUNT))
        await asyncio.wait_for(store.entered.wait(), 5)
        assert len(env.server.refresh_requests) == 1  # the server has answered...
        await asyncio.sleep(0.05)
        assert not task.done()  # ...but nobody gets the new access token before the write
        store.release.set()
        token = await task
        assert env.server.valid(stored_refresh_token(store) or "")
        assert token.startswith("at-")
        await env.close()
    run(main)


def test_invalid_grant_means_reconnect_without_retry() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer())
        await env.sign_in("rt-unknown-to-the-server-000")
        results = await asyncio.gather(*(env.manager.access_token("x", ACCOUNT)
                                         for _ in range(5)), return_exceptions=True)
        assert all(isinstance(r, NeedsReconnect) for r in results)
        assert len(env.server.refresh_requests) == 1
        error = results[0]
        assert isinstance(error, NeedsReconnect)
        assert error.provider == "x" and error.account_id == ACCOUNT
        assert str(error) == ("X no longer accepts the saved sign-in for this account; connect "
                              "the account to X again.")
        # Later calls fail at once, without a request, until a new sign-in is saved.
        with pytest.raises(NeedsReconnect):
            await env.manager.access_token("x", ACCOUNT)
        assert len(env.server.refresh_requests) == 1
        assert env.manager.is_dead("x", ACCOUNT)
        await env.sign_in(env.server.new_family())
        assert (await env.manager.access_token("x", ACCOUNT)).startswith("at-")
        assert len(env.server.refresh_requests) == 2
        await env.close()
    run(main)


class Killed(Exception):
    """Stands for kill -9 between the token response and the keyring write."""


@pytest.mark.parametrize("rotate", [True, False])
def test_crash_between_token_response_and_store_write(rotate: bool) -> None:
    class CrashingStore(MemoryTokenStore):
        crash = False

        async def set(self, key: str, value: str) -> None:
            if self.crash:
                raise Killed()
            await super().set(key, value)

    async def main() -> None:
        server = FakeAuthServer(rotate=rotate)
        store = CrashingStore()
        before = Env(server, store)
        original = server.new_family()
        await before.sign_in(original)
        store.crash = True
        if rotate:
            with pytest.raises(Killed):
                await before.manager.access_token("x", ACCOUNT)
        else:  # nothing to write: a non-rotating provider never needs the store here
            await before.manager.access_token("x", ACCOUNT)
        await before.close()
        assert stored_refresh_token(store) == original  # the write never happened
        store.crash = False

        # "Restart": a new manager, the same keyring.
        after = Env(server, store)
        requests_before = len(server.refresh_requests)
        if rotate:
            # The old token was spent: the server sees reuse, revokes the family -> reconnect.
            for _ in range(3):
                with pytest.raises(NeedsReconnect):
                    await after.manager.access_token("x", ACCOUNT)
            assert len(server.refresh_requests) == requests_before + 1  # once; never a loop
        else:
            token = await after.manager.access_token("x", ACCOUNT)
            assert token.startswith("at-")
            assert len(server.refresh_requests) == requests_before + 1
        await after.close()
    run(main)


def test_a_failed_store_write_is_finished_before_any_new_refresh() -> None:
    class FlakyStore(MemoryTokenStore):
        failures = 0

        async def set(self, key: str, value: str) -> None:
            if self.failures:
                self.failures -= 1
                raise KeyringLocked("The OS keyring did not answer in time.")
            await super().set(key, value)

    async def main() -> None:
        store = FlakyStore()
        env = Env(FakeAuthServer(), store)
        original = env.server.new_family()
        await env.sign_in(original)
        store.failures = 1
        with pytest.raises(KeyringLocked):
            await env.manager.access_token("x", ACCOUNT)
        assert stored_refresh_token(store) == original
        token = await env.manager.access_token("x", ACCOUNT)  # retries the write, no refresh
        assert len(env.server.refresh_requests) == 1
        assert env.server.valid(stored_refresh_token(store) or "")
        assert token.startswith("at-")
        await env.close()
    run(main)


def test_provider_down_is_shared_by_all_waiters_and_not_fatal() -> None:
    async def main() -> None:
        server = FakeAuthServer(fail_with=503)
        env = Env(server)
        await env.sign_in(server.new_family())
        results = await asyncio.gather(*(env.manager.access_token("x", ACCOUNT)
                                         for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, ProviderUnavailable) for r in results)
        assert not any(isinstance(r, NeedsReconnect) for r in results)
        assert len(server.refresh_requests) == 1
        server.fail_with = None
        assert (await env.manager.access_token("x", ACCOUNT)).startswith("at-")
        assert len(server.refresh_requests) == 2
        await env.close()
    run(main)


def test_invalidate_after_a_401_refreshes_once() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer())
        await env.sign_in(env.server.new_family(), expired=False)
        first = await env.manager.access_token("x", ACCOUNT)
        assert first == "at-initial-0000000000" and not env.server.refresh_requests
        env.manager.invalidate("x", ACCOUNT, first)
        second = await env.manager.access_token("x", ACCOUNT)
        assert second != first and len(env.server.refresh_requests) == 1
        env.manager.invalidate("x", ACCOUNT, first)  # a late 401 for the old token: ignored
        assert await env.manager.access_token("x", ACCOUNT) == second
        assert len(env.server.refresh_requests) == 1
        await env.close()
    run(main)


def test_a_cancelled_caller_does_not_cancel_the_shared_refresh() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer(delay=0.2))
        await env.sign_in(env.server.new_family())
        impatient = asyncio.create_task(env.manager.access_token("x", ACCOUNT))
        patient = asyncio.create_task(env.manager.access_token("x", ACCOUNT))
        await asyncio.sleep(0.05)
        impatient.cancel()
        assert (await patient).startswith("at-")
        assert len(env.server.refresh_requests) == 1
        assert env.server.valid(stored_refresh_token(env.store) or "")
        await env.close()
    run(main)


def test_long_lived_token_without_refresh_token() -> None:
    class NoRefresher:
        async def refresh(self, provider: str, account_id: str, refresh_token: str) -> TokenSet:
            raise AssertionError("a long-lived token is never refreshed")

        async def revoke(self, provider: str, account_id: str, *, access_token: str | None,
                         refresh_token: str | None) -> bool:
            return True

    async def main() -> None:
        store = MemoryTokenStore()
        manager = TokenManager(store, NoRefresher())
        token = TokenSet(access_token="EAAB-long-lived-token-0123", expires_at=time.time() + 86400,
                         long_lived=True)
        await manager.save("instagram", "17841400000000000", token)
        grant = StoredGrant.loads(store.values["oauth:instagram:17841400000000000"])
        assert grant is not None and grant.kind == "access"
        # a restart reads it back
        again = TokenManager(store, NoRefresher())
        assert await again.access_token("instagram", "17841400000000000") == token.access_token
        again.invalidate("instagram", "17841400000000000")  # a 401: it cannot be renewed
        with pytest.raises(NeedsReconnect):
            await again.access_token("instagram", "17841400000000000")

        expired = TokenSet(access_token="EAAB-expired-token-000000", expires_at=time.time() - 5,
                           long_lived=True)
        await manager.save("instagram", "2", expired)
        with pytest.raises(NeedsReconnect):
            await TokenManager(store, NoRefresher()).access_token("instagram", "2")
    run(main)


def test_no_saved_sign_in() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer())
        with pytest.raises(NeedsReconnect) as info:
            await env.manager.access_token("x", "nobody")
        assert "no saved sign-in" in str(info.value)
        assert not env.server.refresh_requests
        await env.close()
    run(main)


def test_revoke_then_forget() -> None:
    async def main() -> None:
        env = Env(FakeAuthServer())
        token = env.server.new_family()
        await env.sign_in(token, expired=False)
        assert await env.manager.revoke("x", ACCOUNT) is True
        assert env.server.revoke_requests == [{"token": token, "token_type_hint": "refresh_token",
                                               "client_id": "x-client"}]
        assert KEY not in env.store.values
        with pytest.raises(NeedsReconnect):
            await env.manager.access_token("x", ACCOUNT)
        await env.close()
    run(main)


def test_revoke_removes_local_tokens_even_when_the_provider_is_down() -> None:
    async def main() -> None:
        def down(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        store = MemoryTokenStore()
        http = httpx.AsyncClient(transport=httpx.MockTransport(down))
        manager = TokenManager(store, ProviderRefresher({"x": spec_from_settings("x", SETTINGS)},
                                                        http=http))
        await manager.save("x", ACCOUNT, TokenSet(access_token="at-000000000000",
                                                  refresh_token="rt-000000000000",
                                                  expires_at=time.time() + 3600))
        assert await manager.revoke("x", ACCOUNT) is False
        assert not store.values
        await http.aclose()
    run(main)


def test_no_token_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        env = Env(FakeAuthServer())
        env.server.new_family(CANARY)
        await env.sign_in(CANARY)
        token = await env.manager.access_token("x", ACCOUNT)
        env.manager.invalidate("x", ACCOUNT, token)
        # Another process still holding the spent CANARY: reuse -> invalid_grant.
        stale = MemoryTokenStore()
        await stale.set(token_key("x", "2"), StoredGrant("refresh", CANARY).dumps())
        with pytest.raises(NeedsReconnect) as info:
            await TokenManager(stale, env.refresher).access_token("x", "2")
        assert CANARY not in str(info.value) and CANARY not in repr(info.value)
        tokens = TokenSet(access_token=token, refresh_token=CANARY, id_token="id." * 5)
        assert CANARY not in repr(tokens) and token not in repr(tokens)
        assert CANARY not in repr(StoredGrant.loads(env.store.values[KEY]))
        await env.close()
    run(main)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert CANARY not in logged
