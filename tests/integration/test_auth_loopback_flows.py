"""The browser sign-in over real sockets (reliability.md 1-4): the loopback listener against
raw-socket attackers, and the whole flow for every provider against a fake provider server.

``FakeProvider`` is a small HTTP/1.1 server (``asyncio.start_server`` on 127.0.0.1, port 0) that
serves each provider's token, profile and revocation paths under ``/<provider>`` (as the
sandbox's emulators will) and records every request, so a test can say exactly what went over
the wire and how many token requests were made. The "browser" is the test itself: it reads the
authorization URL and sends the redirect the provider would send.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from mbv_desktop.integrations.auth import (
    Attempt,
    AuthDenied,
    AuthError,
    AuthTimeout,
    InvalidIdToken,
    LoopbackListener,
    MemoryTokenStore,
    ProviderRefresher,
    TokenManager,
    authorize,
    spec_from_settings,
)
from mbv_desktop.integrations.auth.pkce import s256_challenge

MARKER = "ZZmarkerZZ<script>"
DONE_TEXT = b"You can close this tab and return to Must Be Viral"


# --- the fake provider ---------------------------------------------------------------------------


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeProvider:
    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    id_token_mode: str = "good"
    nonce: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(
        2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}))
    server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def settings(self) -> dict[str, str]:
        b = self.base
        return {
            "google.issuer": f"{b}/google", "google.client_id": "g-client",
            "google.client_secret": "g-secret-000000",
            "github.base_url": f"{b}/github", "github.api_base": f"{b}/github",
            "github.client_id": "gh-client", "github.client_secret": "gh-secret-000000",
            "x.api_base": f"{b}/x", "x.auth_base": f"{b}/x", "x.client_id": "x-client",
            "instagram.client_id": "meta-app", "instagram.client_secret": "meta-secret-000000",
            "facebook.auth_base": f"{b}/facebook", "facebook.graph_base": f"{b}/facebook",
            "tiktok.api_base": f"{b}/tiktok", "tiktok.auth_base": f"{b}/tiktok",
            "tiktok.client_key": "tt-key", "tiktok.client_secret": "tt-secret-000000",
        }

    def token_calls(self) -> int:
        return sum(1 for h in self.hits if "token" in h.path)

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip()
                       for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            path, _, query = target.partition("?")
            form = (dict(urllib.parse.parse_qsl(body.decode()))
                    if "form-urlencoded" in headers.get("content-type", "") else {})
            hit = Hit(method, path, dict(urllib.parse.parse_qsl(query)), headers, form)
            self.hits.append(hit)
            status, payload = self.route(hit)
            data = json.dumps(payload).encode() if payload is not None else b""
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
                         + data)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def id_token(self) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": f"{self.base}/google", "aud": "g-client", "sub": "g-42",
                                  "iat": now, "exp": now + 3600, "nonce": self.nonce,
                                  "email": "ada@example.test", "name": "Ada"}
        key = self.key
        if self.id_token_mode == "expired":
            claims.update(iat=now - 7200, exp=now - 3600)
        elif self.id_token_mode == "wrong_nonce":
            claims["nonce"] = "not-the-attempts-nonce"
        elif self.id_token_mode == "forged":
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key, algorithms=["RS256"])

    def route(self, h: Hit) -> tuple[int, Any]:
        g = f"{self.base}/google"
        match (h.method, h.path):
            case ("GET", "/google/.well-known/openid-configuration"):
                return 200, {"issuer": g, "authorization_endpoint": f"{g}/authorize",
                             "token_endpoint": f"{g}/token", "jwks_uri": f"{g}/jwks",
                             "userinfo_endpoint": f"{g}/userinfo",
                             "revocation_endpoint": f"{g}/revoke"}
            case ("GET", "/google/jwks"):
                return 200, {"keys": [self.key.as_dict(private=False)]}
            case ("POST", "/google/token"):
                return 200, {"access_token": "ya29.google-access-000", "expires_in": 3599,
                             "refresh_token": "1//google-refresh-000", "token_type": "Bearer",
                             "scope": "openid profile email", "id_token": self.id_token()}
            case ("GET", "/google/userinfo"):
                return 200, {"sub": "g-42", "picture": "https://img.test/ada.png"}
            case ("POST", "/github/login/oauth/access_token"):
                return 200, {"access_token": "gho_github-access-000", "token_type": "bearer",
                             "scope": "read:user,user:email"}
            case ("GET", "/github/user"):
                return 200, {"id": 1, "login": "octocat", "name": "The Octocat",
                             "avatar_url": "https://avatars.test/1"}
            case ("POST", "/x/2/oauth2/token"):
                return 200, {"token_type": "bearer", "expires_in": 7200,
                             "access_token": "x-access-000000", "refresh_token": "x-refresh-000",
                             "scope": "tweet.read tweet.write users.read media.write "
                                      "offline.access"}
            case ("GET", "/x/2/users/me"):
                return 200, {"data": {"id": "2244994945", "name": "X Dev", "username": "XDevs",
                                      "profile_image_url": "https://pbs.test/x.jpg"}}
            case ("POST", "/facebook/v21.0/oauth/access_token"):
                if h.form.get("grant_type") == "fb_exchange_token":
                    return 200, {"access_token": "EAAB-long-lived-000", "token_type": "bearer",
                                 "expires_in": 5183944}
                return 200, {"access_token": "EAAB-short-lived-000", "token_type": "bearer",
                             "expires_in": 5400}
            case ("GET", "/facebook/v21.0/me/accounts"):
                return 200, {"data": [{"id": "111", "name": "No IG page"},
                                      {"id": "222", "instagram_business_account":
                                          {"id": "17841400000000001"}}]}
            case ("GET", "/facebook/v21.0/17841400000000001"):
                return 200, {"id": "17841400000000001", "username": "ada.creates",
                             "profile_picture_url": "https://cdn.test/ada.jpg"}
            case ("POST", "/tiktok/v2/oauth/token/"):
                return 200, {"access_token": "act.tiktok-access-000", "expires_in": 86400,
                             "open_id": "tt-open-1", "refresh_token": "rft.tiktok-refresh-000",
                             "refresh_expires_in": 31536000, "token_type": "Bearer",
                             "scope": "user.info.basic,user.info.profile,video.publish,"
                                      "video.upload,video.list"}
            case ("GET", "/tiktok/v2/user/info/"):
                return 200, {"data": {"user": {"open_id": "tt-open-1", "username": "ada_tt",
                                               "display_name": "Ada TT",
                                               "avatar_url": "https://tt.test/a.jpg"}},
                             "error": {"code": "ok", "message": "", "log_id": "1"}}
            case ("DELETE", "/github/applications/gh-client/grant"):
                return 204, None
            case ("DELETE", "/facebook/v21.0/me/permissions"):
                return 200, {"success": True}
            case ("POST", "/x/2/oauth2/revoke") | ("POST", "/tiktok/v2/oauth/revoke/") | (
                    "POST", "/google/revoke"):
                return 200, {}
        return 404, {"error": "not_found"}


@contextlib.asynccontextmanager
async def fake_provider() -> Any:
    provider = FakeProvider()
    await provider.start()
    try:
        yield provider
    finally:
        await provider.stop()


# --- the "browser" and raw-socket clients --------------------------------------------------------


async def raw(port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def get(path_and_query: str, port: int, *, host: str | None = None, method: str = "GET",
        extra: str = "") -> bytes:
    host_header = host if host is not None else f"127.0.0.1:{port}"
    return (f"{method} {path_and_query} HTTP/1.1\r\nHost: {host_header}\r\n{extra}"
            f"Connection: close\r\n\r\n").encode()


def status(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply else 0


@dataclass
class Captured:
    url: str = ""

    @property
    def params(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query))

    @property
    def port(self) -> int:
        return urllib.parse.urlsplit(self.params["redirect_uri"]).port or 0

    @property
    def callback_path(self) -> str:
        return urllib.parse.urlsplit(self.params["redirect_uri"]).path


def browser(script: Callable[[Captured], Coroutine[Any, Any, None]], captured: Captured,
            tasks: list[asyncio.Task[None]]) -> Callable[[str], None]:
    """An ``open_url`` that records the URL and runs ``script`` as the browser would: later."""
    def open_url(url: str) -> None:
        captured.url = url
        tasks.append(asyncio.get_running_loop().create_task(script(captured)))
    return open_url


# --- the listener alone --------------------------------------------------------------------------


def test_listener_binds_loopback_only_and_refuses_after_the_first_valid_callback() -> None:
    async def main() -> None:
        attempt = Attempt.new()
        listener = LoopbackListener("github", state=attempt.state)
        await listener.start()
        host, port = listener.sockname
        assert host == "127.0.0.1"
        assert listener.redirect_uri == f"http://127.0.0.1:{port}/callback/github"
        lan = _lan_address()
        if lan is not None:
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection(lan, port), 2)

        # Two connections open before the answer arrives (a browser's pre-connects).
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        query = f"code=the-code-123&state={attempt.state}&extra={urllib.parse.quote(MARKER)}"
        w1.write(get(f"/callback/github?{query}", port))
        done = await asyncio.wait_for(r1.read(), 5)
        assert status(done) == 200 and DONE_TEXT in done
        for echoed in (b"the-code-123", attempt.state.encode(), b"ZZmarker", b"<script>"):
            assert echoed not in done
        assert b"Content-Security-Policy: default-src 'none'" in done
        assert await listener.wait(1) == "the-code-123"

        w2.write(get(f"/callback/github?{query}", port))  # the same answer again
        second = await asyncio.wait_for(r2.read(), 5)
        assert status(second) == 400 and b"ZZmarker" not in second
        with pytest.raises(OSError):  # the port no longer accepts connections
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
        await listener.close()
        for w in (w1, w2):
            w.close()
    asyncio.run(main())


def test_listener_timeout_closes_the_port() -> None:
    async def main() -> None:
        async with LoopbackListener("google", state=Attempt.new().state) as listener:
            port = listener.port
            with pytest.raises(AuthTimeout) as info:
                await listener.wait(0.3)
            assert "Google" in str(info.value) and "start it again" in str(info.value)
            assert not listener.is_serving
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    asyncio.run(main())


def test_bad_requests_get_400_and_echo_nothing() -> None:
    async def main() -> None:
        attempt = Attempt.new()
        async with LoopbackListener("x", state=attempt.state) as listener:
            port = listener.port
            good = f"code=c0de&state={attempt.state}"
            m = urllib.parse.quote(MARKER)
            attacks = [
                get(f"/callback/x?code=c0de&state=wrong{m}", port),
                get(f"/callback/x?{good}", port, method="POST"),
                get(f"/callback/x?{good}", port, method="PUT"),
                get(f"/callback/x?{good}", port, host="evil.test"),
                get(f"/callback/x?{good}", port, host=f"localhost:{port}"),
                get(f"/callback/x?{good}", port, host=f"127.0.0.1:{port + 1}"),
                get(f"/callback/x?{good}", port, extra=f"Host: 127.0.0.1:{port}\r\n"),
                get(f"/callback/github?{good}", port),
                get(f"/callback/x/?{good}", port),
                get(f"/callback/X?{good}", port),
                get(f"/favicon.ico?{m}", port),
                get(f"/callback/x?code=c0de&state={attempt.state}&state={attempt.state}", port),
                get(f"/callback/x?state={attempt.state}", port),
                get(f"/callback/x?{good}", port, extra="Content-Length: 5\r\n") + b"hello",
                get(f"/callback/x?{good}", port, extra="Transfer-Encoding: chunked\r\n"),
                get(f"/callback/x?{good}&x=" + "A" * 9000, port),
                get(f"/callback/x?{good}", port, extra=f"X-Big: {'B' * 40000}\r\n"),
                f"GET /callback/x?{good}\r\n\r\n".encode(),
                f"GET /callback/x?{good} HTTP/2.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode(),
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\r\n\r\n",  # TLS hello
                f"GET /callback/x?{good} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-\xe9: 1\r\n\r\n"
                .encode("latin-1"),
            ]
            for attack in attacks:
                reply = await raw(port, attack)
                assert status(reply) == 400, attack[:80]
                assert b"ZZmarker" not in reply and b"evil" not in reply
                assert attempt.state.encode() not in reply and b"c0de" not in reply
                assert listener.is_serving  # none of them ended the attempt
            reply = await raw(port, get(f"/callback/x?{good}", port))
            assert status(reply) == 200
            assert await listener.wait(1) == "c0de"
    asyncio.run(main())


def test_provider_errors_end_the_attempt_with_a_sentence() -> None:
    async def main(error: str) -> BaseException:
        attempt = Attempt.new()
        async with LoopbackListener("tiktok", state=attempt.state) as listener:
            query = (f"error={error}&error_description={urllib.parse.quote(MARKER)}"
                     f"&state={attempt.state}")
            reply = await raw(listener.port, get(f"/callback/tiktok?{query}", listener.port))
            assert status(reply) == 200 and b"not completed" in reply
            assert b"ZZmarker" not in reply
            with pytest.raises(AuthError) as info:
                await listener.wait(1)
            assert MARKER not in str(info.value)
            return info.value
    denied = asyncio.run(main("access_denied"))
    assert isinstance(denied, AuthDenied)
    assert str(denied) == ("Access was not granted on TikTok's page, so nothing was connected; "
                           "start the sign-in again and choose Allow to connect.")
    other = asyncio.run(main("invalid_scope"))
    assert type(other) is AuthError
    assert str(other) == ("TikTok did not accept the permissions the app asked for, so the "
                          "sign-in did not complete; try again.")
    weird = asyncio.run(main("<b>weird</b>"))
    assert "<b>" not in str(weird) and str(weird).endswith("try again.")


def test_an_error_with_a_bad_state_does_not_end_the_attempt() -> None:
    async def main() -> None:
        attempt = Attempt.new()
        async with LoopbackListener("x", state=attempt.state) as listener:
            reply = await raw(listener.port, get("/callback/x?error=access_denied&state=nope",
                                                 listener.port))
            assert status(reply) == 400 and listener.is_serving
            with pytest.raises(AuthTimeout):
                await listener.wait(0.2)
    asyncio.run(main())


def test_listener_rejects_odd_provider_names() -> None:
    for name in ("", "../x", "X", "a b", "x" * 40):
        with pytest.raises(ValueError):
            LoopbackListener(name, state="s")


def _lan_address() -> str | None:
    """A non-loopback address of this machine, if it has one (no packet is sent)."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        address = s.getsockname()[0]
        if not address.startswith("127."):
            return str(address)
    return None


# --- the whole flow ------------------------------------------------------------------------------


def test_attacks_during_a_flow_never_reach_the_token_endpoint() -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            spec = spec_from_settings("github", fake.settings())
            captured, tasks = Captured(), list[asyncio.Task[None]]()
            earlier_state = Attempt.new().state  # an answer meant for another attempt
            replies: list[int] = []

            async def attacker(c: Captured) -> None:
                port, state = c.port, c.params["state"]
                good = f"code=c0de&state={state}"
                for attack in [
                    get(f"/callback/github?code=c0de&state={earlier_state}", port),
                    get(f"/callback/github?code=c0de&state={state[:-1]}", port),
                    get(f"/callback/github?{good}", port, method="POST"),
                    get(f"/callback/github?{good}", port, host="evil.test"),
                    get(f"/callback/google?{good}", port),
                ]:
                    replies.append(status(await raw(port, attack)))
                assert fake.token_calls() == 0
                replies.append(status(await raw(port, get(
                    f"/callback/github?error=access_denied&state={state}", port))))

            with pytest.raises(AuthDenied):
                await authorize(spec, open_url=browser(attacker, captured, tasks), timeout=10)
            await asyncio.gather(*tasks)
            assert replies == [400, 400, 400, 400, 400, 200]
            assert fake.token_calls() == 0
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", captured.port)
    asyncio.run(main())


def test_flow_timeout_closes_the_port_and_sends_nothing() -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            captured = Captured()

            def open_url(url: str) -> None:
                captured.url = url

            with pytest.raises(AuthTimeout):
                await authorize(spec_from_settings("x", fake.settings()), open_url=open_url,
                                timeout=0.5)
            with pytest.raises(OSError):
                await asyncio.open_connection("127.0.0.1", captured.port)
            assert fake.hits == []
    asyncio.run(main())


async def _consent(c: Captured) -> None:
    """The provider's page: the person approves; the browser follows the redirect.

    Raw sockets rather than httpx, so the browser's own requests do not show up in the app's
    (httpx's) log records.
    """
    query = f"code=auth-code-1&state={urllib.parse.quote(c.params['state'])}"
    reply = await raw(c.port, get(f"{c.callback_path}?{query}", c.port))
    assert status(reply) == 200 and DONE_TEXT in reply


@pytest.mark.parametrize("provider", ["github", "x", "instagram", "tiktok"])
def test_full_flow_on_the_wire(provider: str) -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            spec = spec_from_settings(provider, fake.settings())
            captured, tasks = Captured(), list[asyncio.Task[None]]()
            result = await authorize(spec, open_url=browser(_consent, captured, tasks),
                                     timeout=10)
            await asyncio.gather(*tasks)
            params = captured.params
            redirect = f"http://127.0.0.1:{captured.port}/callback/{provider}"
            assert params["redirect_uri"] == redirect
            token_hits = [h for h in fake.hits if "token" in h.path]
            exchange = token_hits[0]
            assert exchange.method == "POST" and exchange.headers["accept"] == "application/json"
            assert exchange.form["code"] == "auth-code-1"
            assert exchange.form["redirect_uri"] == redirect
            assert exchange.form["grant_type"] == "authorization_code"
            assert all(not h.query.get("access_token") for h in fake.hits)  # no token in URLs
            verifier = exchange.form.get("code_verifier")
            if provider == "instagram":
                assert verifier is None and "code_challenge" not in params
            else:
                assert verifier and params["code_challenge"] == s256_challenge(verifier)
                assert params["code_challenge_method"] == "S256"
            identity, tokens = result.identity, result.tokens
            if provider == "github":
                assert urllib.parse.urlsplit(captured.url).path == "/github/login/oauth/authorize"
                assert exchange.form["client_id"] == "gh-client"
                assert exchange.form["client_secret"] == "gh-secret-000000"
                assert (identity.account_id, identity.handle) == ("1", "octocat")
                user = next(h for h in fake.hits if h.path == "/github/user")
                assert user.headers["authorization"] == "Bearer gho_github-access-000"
            elif provider == "x":
                assert urllib.parse.urlsplit(captured.url).path == "/x/i/oauth2/authorize"
                assert exchange.form["client_id"] == "x-client"
                assert "client_secret" not in exchange.form and "authorization" not in (
                    exchange.headers)
                me = next(h for h in fake.hits if h.path == "/x/2/users/me")
                assert me.query == {"user.fields": "profile_image_url"}
                assert (identity.account_id, identity.handle) == ("2244994945", "XDevs")
                assert tokens.refresh_token == "x-refresh-000"
            elif provider == "instagram":
                assert urllib.parse.urlsplit(captured.url).path == "/facebook/v21.0/dialog/oauth"
                assert exchange.form["client_secret"] == "meta-secret-000000"
                swap = token_hits[1]
                assert swap.form == {"grant_type": "fb_exchange_token",
                                     "fb_exchange_token": "EAAB-short-lived-000",
                                     "client_id": "meta-app",
                                     "client_secret": "meta-secret-000000"}
                accounts = next(h for h in fake.hits if h.path == "/facebook/v21.0/me/accounts")
                assert accounts.query == {"fields": "instagram_business_account"}
                assert accounts.headers["authorization"] == "Bearer EAAB-long-lived-000"
                assert identity.account_id == "17841400000000001"
                assert identity.handle == "ada.creates"
                assert tokens.long_lived and tokens.access_token == "EAAB-long-lived-000"
                assert tokens.refresh_token is None
            else:
                assert urllib.parse.urlsplit(captured.url).path == "/tiktok/v2/auth/authorize/"
                assert params["client_key"] == "tt-key"
                assert exchange.form["client_key"] == "tt-key"
                assert exchange.form["client_secret"] == "tt-secret-000000"
                assert "client_id" not in exchange.form
                info = next(h for h in fake.hits if h.path == "/tiktok/v2/user/info/")
                assert info.query == {"fields": "open_id,avatar_url,display_name,username"}
                assert (identity.account_id, identity.handle) == ("tt-open-1", "ada_tt")
            assert identity.provider == provider
    asyncio.run(main())


@pytest.mark.parametrize("mode,reason", [
    ("forged", "signature does not match"),
    ("expired", "expired"),
    ("wrong_nonce", "does not belong to this sign-in attempt"),
])
def test_oidc_flow_rejects_bad_id_tokens(mode: str, reason: str) -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            fake.id_token_mode = mode
            captured, tasks = Captured(), list[asyncio.Task[None]]()

            async def consent(c: Captured) -> None:
                fake.nonce = c.params["nonce"]
                await _consent(c)

            with pytest.raises(InvalidIdToken) as info:
                await authorize(spec_from_settings("google", fake.settings()),
                                open_url=browser(consent, captured, tasks), timeout=10)
            await asyncio.gather(*tasks)
            assert reason in info.value.reason
            assert not any(h.path == "/google/userinfo" for h in fake.hits)
    asyncio.run(main())


def test_oidc_flow_with_a_good_id_token() -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            captured, tasks = Captured(), list[asyncio.Task[None]]()

            async def consent(c: Captured) -> None:
                fake.nonce = c.params["nonce"]
                await _consent(c)

            result = await authorize(spec_from_settings("google", fake.settings()),
                                     open_url=browser(consent, captured, tasks), timeout=10)
            await asyncio.gather(*tasks)
            assert urllib.parse.urlsplit(captured.url).path == "/google/authorize"
            assert captured.params["access_type"] == "offline"
            identity = result.identity
            assert (identity.account_id, identity.email, identity.display_name) == (
                "g-42", "ada@example.test", "Ada")
            assert identity.avatar_url == "https://img.test/ada.png"
    asyncio.run(main())


def test_no_secret_reaches_a_log_record(caplog: pytest.LogCaptureFixture) -> None:
    """reliability.md 24: DEBUG logging across a whole sign-in and a refresh holds no token,
    code, state or verifier (checked on the raw messages, before any redaction filter)."""
    caplog.set_level(logging.DEBUG)
    secrets_seen: list[str] = []

    async def main() -> None:
        async with fake_provider() as fake:
            spec = spec_from_settings("x", fake.settings())
            captured = Captured()
            tasks = list[asyncio.Task[None]]()
            recorder: list[httpx.Request] = []

            async def record(request: httpx.Request) -> None:
                recorder.append(request)

            async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
                result = await authorize(spec, open_url=browser(_consent, captured, tasks),
                                         timeout=10, http=http)
                await asyncio.gather(*tasks)
                manager = TokenManager(MemoryTokenStore(), ProviderRefresher({"x": spec},
                                                                              http=http))
                await manager.save("x", result.identity.account_id, result.tokens)
                manager.invalidate("x", result.identity.account_id)
                await manager.access_token("x", result.identity.account_id)
            form = dict(urllib.parse.parse_qsl(recorder[0].content.decode()))
            secrets_seen.extend([
                result.tokens.access_token, result.tokens.refresh_token or "",
                captured.params["state"], captured.params["code_challenge"],
                form["code_verifier"], "auth-code-1", "x-access-000000", "x-refresh-000",
            ])
    asyncio.run(main())
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # the flow did log (listener, sign-in, httpx requests)
    for secret in secrets_seen:
        assert secret and secret not in logged, secret


@pytest.mark.parametrize("provider", ["google", "github", "x", "instagram", "tiktok"])
def test_sign_out_revokes_on_the_wire_and_deletes_the_stored_entry(provider: str) -> None:
    async def main() -> None:
        async with fake_provider() as fake:
            spec = spec_from_settings(provider, fake.settings())
            captured, tasks = Captured(), list[asyncio.Task[None]]()

            async def consent(c: Captured) -> None:
                fake.nonce = c.params.get("nonce", "")
                await _consent(c)

            result = await authorize(spec, open_url=browser(consent, captured, tasks), timeout=10)
            await asyncio.gather(*tasks)
            store = MemoryTokenStore()
            refresher = ProviderRefresher({provider: spec})
            manager = TokenManager(store, refresher)
            account = result.identity.account_id
            await manager.save(provider, account, result.tokens)
            assert list(store.values) == [f"oauth:{provider}:{account}"]
            assert await manager.revoke(provider, account) is True
            await refresher.aclose()
            assert store.values == {}
            revoke = fake.hits[-1]
            tokens = result.tokens
            if provider == "github":
                assert (revoke.method, revoke.path) == ("DELETE",
                                                        "/github/applications/gh-client/grant")
                basic = base64.b64encode(b"gh-client:gh-secret-000000").decode()
                assert revoke.headers["authorization"] == f"Basic {basic}"
            elif provider == "instagram":
                assert (revoke.method, revoke.path) == ("DELETE",
                                                        "/facebook/v21.0/me/permissions")
                assert revoke.headers["authorization"] == f"Bearer {tokens.access_token}"
            elif provider == "x":
                assert revoke.form == {"token": tokens.refresh_token,
                                       "token_type_hint": "refresh_token",
                                       "client_id": "x-client"}
            elif provider == "tiktok":
                assert revoke.path == "/tiktok/v2/oauth/revoke/"
                assert revoke.form == {"token": tokens.access_token,
                                       "token_type_hint": "access_token",
                                       "client_key": "tt-key",
                                       "client_secret": "tt-secret-000000"}
            else:
                assert revoke.path == "/google/revoke"
                assert revoke.form == {"token": tokens.refresh_token,
                                       "token_type_hint": "refresh_token"}
    asyncio.run(main())
