"""The sign-in client against the project's own sign-in emulators (``mbv_desktop.sandbox.oauth``),
which enforce what the fakes elsewhere do not: registered clients, PKCE S256, single-use codes
bound to the redirect URI, refresh-token rotation and each provider's scopes.

The consent page is completed the documented way (``sandbox/oauth/__init__.py``): GET the
authorization URL, POST ``decision=allow|deny`` to the form's action, follow the 302 to the
app's loopback callback.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mbv_desktop.integrations.auth import (
    AuthDenied,
    DeviceCode,
    MemoryTokenStore,
    ProviderRefresher,
    TokenManager,
    authorize,
    device_authorize,
    specs_from_settings,
)
from mbv_desktop.sandbox.host import SandboxHost


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with SandboxHost(Path(tmp_path_factory.mktemp("sandbox-auth"))) as host:
        yield host.urls()


def settings(urls: dict[str, str]) -> dict[str, str]:
    return {
        "google.issuer": urls["google"], "google.client_id": "sandbox-google",
        "google.client_secret": "sandbox-google-secret",
        "github.base_url": urls["github"], "github.api_base": urls["github"],
        "github.client_id": "sandbox-github", "github.client_secret": "sandbox-github-secret",
        "x.api_base": urls["x"], "x.auth_base": urls["x"], "x.client_id": "sandbox-x",
        "instagram.client_id": "sandbox-facebook",
        "instagram.client_secret": "sandbox-facebook-secret",
        "facebook.auth_base": urls["facebook"], "facebook.graph_base": urls["facebook"],
        "tiktok.api_base": urls["tiktok"], "tiktok.auth_base": urls["tiktok"],
        "tiktok.client_key": "sandbox-tiktok", "tiktok.client_secret": "sandbox-tiktok-secret",
    }


async def consent(url: str, decision: str = "allow") -> None:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(url)
        assert page.status_code == 200, page.text[:300]
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action is not None
        answer = await browser.post(urllib.parse.urljoin(str(page.url), action.group(1)),
                                    data={"decision": decision, "account": "0"})
        assert answer.status_code == 302
        reply = await browser.get(answer.headers["location"])
        assert reply.status_code == 200


@pytest.mark.parametrize("provider", ["google", "github", "x", "instagram", "tiktok"])
def test_sign_in_refresh_and_sign_out(urls: dict[str, str], provider: str) -> None:
    async def main() -> None:
        specs = specs_from_settings(settings(urls))
        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            tasks.append(asyncio.get_running_loop().create_task(consent(url)))

        result = await authorize(specs[provider], open_url=open_url, timeout=10)
        await asyncio.gather(*tasks)
        identity = result.identity
        assert identity.provider == provider and identity.account_id and identity.handle

        store = MemoryTokenStore()
        refresher = ProviderRefresher(specs)
        manager = TokenManager(store, refresher)
        await manager.save(provider, identity.account_id, result.tokens)
        if result.tokens.refresh_token:  # a 401 → one refresh (rotated and stored)
            manager.invalidate(provider, identity.account_id, result.tokens.access_token)
            fresh = await asyncio.gather(*(manager.access_token(provider, identity.account_id)
                                           for _ in range(5)))
            assert len(set(fresh)) == 1 and fresh[0] != result.tokens.access_token
        else:  # Facebook's long-lived token is itself the credential
            assert result.tokens.long_lived
            assert (await manager.access_token(provider, identity.account_id)
                    == result.tokens.access_token)
        assert await manager.revoke(provider, identity.account_id) is True
        assert store.values == {}
        await refresher.aclose()
    asyncio.run(main())


def test_deny_ends_the_attempt(urls: dict[str, str]) -> None:
    async def main() -> None:
        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            tasks.append(asyncio.get_running_loop().create_task(consent(url, "deny")))

        with pytest.raises(AuthDenied):
            await authorize(specs_from_settings(settings(urls))["x"], open_url=open_url,
                            timeout=10)
        await asyncio.gather(*tasks)
    asyncio.run(main())


def test_github_device_flow(urls: dict[str, str]) -> None:
    async def main() -> None:
        async def approve(code: DeviceCode) -> None:
            async with httpx.AsyncClient() as browser:
                answer = await browser.post(f"{urls['github']}/_device/{code.user_code}",
                                            data={"decision": "allow", "account": "0"})
                assert answer.status_code == 200

        async def no_wait(seconds: float) -> None:
            await asyncio.sleep(0)

        result = await device_authorize(specs_from_settings(settings(urls))["github"],
                                        show_code=approve, sleep=no_wait)
        assert result.identity.provider == "github" and result.identity.handle
    asyncio.run(main())
