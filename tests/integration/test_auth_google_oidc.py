"""Google-style sign-in against a real OpenID Connect provider nobody here wrote
(oidc-provider-mock, on loopback in a thread): discovery, PKCE, nonce, the id_token's signature
and claims, userinfo, refresh through TokenManager, a denied consent and a reused code.

The mock does not enforce PKCE, so the test proves it on the wire: the challenge on the captured
authorization URL must equal S256 of the verifier the app sent to the token endpoint.
"""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.parse
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mbv_desktop.integrations.auth import (
    AuthError,
    AuthTimeout,
    MemoryTokenStore,
    OAuthClient,
    ProviderRefresher,
    TokenManager,
    TokenSet,
    authorize,
    spec_from_settings,
)
from mbv_desktop.integrations.auth.pkce import s256_challenge

# The mock itself (authlib's server side) warns about its own use of deprecated authlib APIs.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CLIENT_ID = "mbv-desktop-test"
SECRET = "desktop-secret-not-confidential"


@pytest.fixture(scope="module")
def issuer() -> Iterator[str]:
    with warnings.catch_warnings():
        # The mock imports authlib.jose; authlib adds an "always" filter for its own warning
        # class when authlib.deprecate is first imported, so import it before ignoring.
        import authlib.deprecate  # noqa: F401
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import run_server_in_thread
    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def settings(issuer: str) -> dict[str, str]:
    return {"google.issuer": issuer, "google.client_id": CLIENT_ID,
            "google.client_secret": SECRET}


class Recorder:
    """Keeps every request the app's httpx client sends."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.requests.append(request)

    def forms(self, path: str) -> list[dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(r.content.decode())) for r in self.requests
                if r.url.path == path]


async def consent(url: str, *, sub: str = "ada@example.test", action: str | None = None,
                  codes: list[str] | None = None) -> None:
    """The provider's page: POST the consent form, then follow the redirect to the app."""
    form = {"sub": sub} if action is None else {"action": action}
    async with httpx.AsyncClient() as b:
        answer = await b.post(url, data=form)
        assert answer.status_code == 302, answer.text[:200]
        location = answer.headers["location"]
        if codes is not None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
            codes.append(query.get("code", ""))
        reply = await b.get(location)
        assert reply.status_code == 200
        assert "You can close this tab and return to Must Be Viral" in reply.text


def test_full_sign_in_with_pkce_and_a_verified_id_token(issuer: str) -> None:
    async def main() -> tuple[Any, list[str], Recorder]:
        recorder = Recorder()
        urls: list[str] = []
        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            urls.append(url)
            tasks.append(asyncio.get_running_loop().create_task(consent(url)))

        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            result = await authorize(spec_from_settings("google", settings(issuer)),
                                     open_url=open_url, timeout=20, http=http)
        await asyncio.gather(*tasks)
        return result, urls, recorder

    result, urls, recorder = asyncio.run(main())
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(urls[0]).query))
    assert urls[0].startswith(f"{issuer}/oauth2/authorize?")
    assert params["code_challenge_method"] == "S256"
    assert params["scope"] == "openid profile email" and params["nonce"]
    token_forms = recorder.forms("/oauth2/token")
    assert len(token_forms) == 1
    sent = token_forms[0]
    assert sent["grant_type"] == "authorization_code"
    assert "client_secret" not in sent  # HTTP Basic, never in the form
    token_request = next(r for r in recorder.requests if r.url.path == "/oauth2/token")
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {basic}"
    assert sent["redirect_uri"] == params["redirect_uri"]
    assert params["code_challenge"] == s256_challenge(sent["code_verifier"])
    assert urllib.parse.urlsplit(params["redirect_uri"]).hostname == "127.0.0.1"
    paths = [r.url.path for r in recorder.requests]
    assert paths == ["/.well-known/openid-configuration", "/oauth2/token", "/jwks", "/userinfo"]

    identity, tokens = result.identity, result.tokens
    assert identity.provider == "google"
    assert identity.account_id == "ada@example.test" == identity.email
    assert tokens.refresh_token and tokens.id_token and tokens.expires_at
    assert tokens.access_token not in repr(tokens)


def test_refresh_through_the_token_manager(issuer: str) -> None:
    async def main() -> None:
        specs = {"google": spec_from_settings("google", settings(issuer))}
        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            tasks.append(asyncio.get_running_loop().create_task(consent(url, sub="bob")))

        result = await authorize(specs["google"], open_url=open_url, timeout=20)
        await asyncio.gather(*tasks)
        store = MemoryTokenStore()
        recorder = Recorder()
        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            manager = TokenManager(store, ProviderRefresher(specs, http=http))
            stale = TokenSet(access_token=result.tokens.access_token,
                             refresh_token=result.tokens.refresh_token,
                             expires_at=time.time() - 1)
            await manager.save("google", result.identity.account_id, stale)
            fresh = await asyncio.gather(*(manager.access_token("google", "bob")
                                           for _ in range(10)))
            assert len(set(fresh)) == 1 and fresh[0] != result.tokens.access_token
            refreshes = recorder.forms("/oauth2/token")
            assert len(refreshes) == 1
            assert refreshes[0]["grant_type"] == "refresh_token"
            assert refreshes[0]["refresh_token"] == result.tokens.refresh_token
            # the new access token works at the provider
            me = await http.get(f"{issuer}/userinfo",
                                headers={"Authorization": f"Bearer {fresh[0]}"})
            assert me.status_code == 200 and me.json()["sub"] == "bob"
    asyncio.run(main())


def test_a_denial_without_state_cannot_end_the_attempt(issuer: str) -> None:
    """This mock's "deny" redirect omits ``state`` (RFC 6749 §4.1.2.1 requires it), so the
    listener must treat it like any forged request: 400, and the attempt goes on (here until
    its timeout). A provider that sends ``state`` ends it with AuthDenied (see
    test_auth_loopback_flows)."""
    async def main() -> None:
        recorder = Recorder()
        replies: list[int] = []

        async def deny(url: str) -> None:
            async with httpx.AsyncClient() as b:
                answer = await b.post(url, data={"action": "deny"})
                location = answer.headers["location"]
                assert "error=access_denied" in location and "state=" not in location
                replies.append((await b.get(location)).status_code)

        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            tasks.append(asyncio.get_running_loop().create_task(deny(url)))

        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            with pytest.raises(AuthTimeout):
                await authorize(spec_from_settings("google", settings(issuer)),
                                open_url=open_url, timeout=2, http=http)
        await asyncio.gather(*tasks)
        assert replies == [400]
        assert recorder.forms("/oauth2/token") == []
    asyncio.run(main())


def test_a_reused_code_is_refused(issuer: str) -> None:
    async def main() -> None:
        spec = spec_from_settings("google", settings(issuer))
        codes: list[str] = []
        recorder = Recorder()
        tasks: list[asyncio.Task[None]] = []

        def open_url(url: str) -> None:
            tasks.append(asyncio.get_running_loop().create_task(consent(url, codes=codes)))

        async with httpx.AsyncClient(event_hooks={"request": [recorder]}) as http:
            await authorize(spec, open_url=open_url, timeout=20, http=http)
            await asyncio.gather(*tasks)
            sent = recorder.forms("/oauth2/token")[0]
            with pytest.raises(AuthError) as info:
                await OAuthClient(spec, http).exchange_code(
                    codes[0], redirect_uri=sent["redirect_uri"],
                    code_verifier=sent["code_verifier"])
        assert "did not accept the sign-in code" in str(info.value)
        assert codes[0] not in str(info.value)
    asyncio.run(main())
