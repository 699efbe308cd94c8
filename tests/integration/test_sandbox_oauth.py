"""The sign-in emulators (Google, GitHub, X, Facebook, TikTok) over real sockets: the full
authorization-code flow through the consent page, the rules every one enforces (registered
client, loopback redirect URI, PKCE S256, single-use codes bound to client, redirect URI and
challenge, refresh rotation with family revocation, expiring access tokens), each provider's
error shapes, GitHub's device flow, Google's id_token against its JWKS, and Facebook's
long-lived token and Instagram account look-up."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mbv_desktop.sandbox.host import SandboxHost

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
REDIRECT = "http://127.0.0.1:53682/callback"
NAMES = ("google", "github", "x", "facebook", "tiktok")
Clients = dict[str, httpx.Client]


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge), computed here rather than with the emulator's helper."""
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# -- one adapter per provider: how to ask for tokens and the profile, how errors look ----------

class Provider:
    name: ClassVar[str]
    authorize_path: ClassVar[str]
    client_param: ClassVar[str] = "client_id"
    client_id: ClassVar[str]
    scope: ClassVar[str]
    errors: ClassVar[dict[str, str]]
    """Error code answered for: a reused, expired or foreign code, a PKCE mismatch, a redirect
    URI mismatch, a bad refresh token."""

    def auth_params(self) -> dict[str, str]:
        return {}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        raise NotImplementedError

    def refresh(self, c: httpx.Client, token: str) -> httpx.Response:
        raise NotImplementedError

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        raise NotImplementedError

    def token_error(self, r: httpx.Response) -> str:
        assert r.status_code in (400, 401), r.text
        return str(r.json()["error"])

    def assert_unauthorized(self, r: httpx.Response) -> None:
        raise NotImplementedError

    @property
    def secret(self) -> str:
        return self.client_id + "-secret"


class Google(Provider):
    name = "google"
    authorize_path = "/o/oauth2/v2/auth"
    client_id = "sandbox-google"
    scope = "openid email profile"
    errors: ClassVar[dict[str, str]] = {
        "reuse": "invalid_grant", "expired": "invalid_grant", "pkce": "invalid_grant",
        "redirect": "redirect_uri_mismatch", "refresh": "invalid_grant",
        "client": "invalid_grant"}

    def auth_params(self) -> dict[str, str]:
        return {"access_type": "offline", "nonce": "n-0S6_WzA2Mj"}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                "client_id": self.client_id, "client_secret": self.secret}
        if verifier is not None:
            data["code_verifier"] = verifier
        return c.post("/token", data=data)

    def refresh(self, c: httpx.Client, token: str) -> httpx.Response:
        return c.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                      auth=(self.client_id, self.secret))

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        return c.get("/v1/userinfo", headers={"Authorization": f"Bearer {access}"})

    def assert_unauthorized(self, r: httpx.Response) -> None:
        assert r.status_code == 401
        assert r.json() == {"error": "invalid_token", "error_description": "Invalid Credentials"}
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


class GitHub(Provider):
    name = "github"
    authorize_path = "/login/oauth/authorize"
    client_id = "sandbox-github"
    scope = "read:user user:email"
    errors: ClassVar[dict[str, str]] = {
        "reuse": "bad_verification_code", "expired": "bad_verification_code",
        "pkce": "bad_verification_code", "redirect": "redirect_uri_mismatch",
        "refresh": "bad_refresh_token", "client": "bad_verification_code"}
    json: ClassVar[dict[str, str]] = {"Accept": "application/json"}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        data = {"client_id": self.client_id, "client_secret": self.secret, "code": code,
                "redirect_uri": redirect}
        if verifier is not None:
            data["code_verifier"] = verifier
        return c.post("/login/oauth/access_token", data=data, headers=self.json)

    def refresh(self, c: httpx.Client, token: str) -> httpx.Response:
        return c.post("/login/oauth/access_token", headers=self.json,
                      data={"client_id": self.client_id, "client_secret": self.secret,
                            "grant_type": "refresh_token", "refresh_token": token})

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        return c.get("/user", headers={"Authorization": f"Bearer {access}"})

    def token_error(self, r: httpx.Response) -> str:
        assert r.status_code == 200, r.text  # GitHub answers token errors with 200
        body = r.json()
        assert "access_token" not in body
        assert body["error_uri"].startswith("https://docs.github.com/")
        return str(body["error"])

    def assert_unauthorized(self, r: httpx.Response) -> None:
        assert r.status_code == 401
        assert r.json() == {"message": "Bad credentials",
                            "documentation_url": "https://docs.github.com/rest",
                            "status": "401"}


class X(Provider):
    name = "x"
    authorize_path = "/i/oauth2/authorize"
    client_id = "sandbox-x"
    scope = "tweet.read tweet.write users.read media.write offline.access"
    errors: ClassVar[dict[str, str]] = {
        "reuse": "invalid_request", "expired": "invalid_request", "pkce": "invalid_request",
        "redirect": "invalid_request", "refresh": "invalid_request",
        "client": "invalid_request"}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                "client_id": self.client_id}
        if verifier is not None:
            data["code_verifier"] = verifier
        return c.post("/2/oauth2/token", data=data)

    def refresh(self, c: httpx.Client, token: str) -> httpx.Response:
        return c.post("/2/oauth2/token", data={"grant_type": "refresh_token",
                                               "refresh_token": token,
                                               "client_id": self.client_id})

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        return c.get("/2/users/me", params={"user.fields": "profile_image_url"},
                     headers={"Authorization": f"Bearer {access}"})

    def assert_unauthorized(self, r: httpx.Response) -> None:
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                            "detail": "Unauthorized"}


class Facebook(Provider):
    name = "facebook"
    authorize_path = "/v21.0/dialog/oauth"
    client_id = "sandbox-facebook"
    scope = "instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement"
    errors: ClassVar[dict[str, str]] = {
        "reuse": "100/36009", "expired": "100/36007", "pkce": "100/None",
        "redirect": "100/36008", "refresh": "-", "client": "100/36008"}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        params = {"client_id": self.client_id, "client_secret": self.secret,
                  "redirect_uri": redirect, "code": code}
        if verifier is not None:
            params["code_verifier"] = verifier
        return c.get("/v21.0/oauth/access_token", params=params)

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        return c.get("/v21.0/me", params={"fields": "id,name", "access_token": access})

    def token_error(self, r: httpx.Response) -> str:
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] in ("OAuthException", "GraphMethodException")
        assert error["fbtrace_id"]
        return f"{error['code']}/{error.get('error_subcode')}"

    def assert_unauthorized(self, r: httpx.Response) -> None:
        assert r.status_code == 400  # Graph answers token errors with 400 and code 190
        error = r.json()["error"]
        assert error["type"] == "OAuthException" and error["code"] == 190
        assert r.headers["www-authenticate"].startswith('OAuth "Facebook Platform" '
                                                        '"invalid_token"')


class TikTok(Provider):
    name = "tiktok"
    authorize_path = "/v2/auth/authorize/"
    client_param = "client_key"
    client_id = "sandbox-tiktok"
    scope = "user.info.basic,user.info.profile,video.publish"
    errors: ClassVar[dict[str, str]] = {
        "reuse": "invalid_grant", "expired": "invalid_grant", "pkce": "invalid_grant",
        "redirect": "invalid_request", "refresh": "invalid_grant", "client": "invalid_grant"}

    def exchange(self, c: httpx.Client, code: str, verifier: str | None,
                 redirect: str = REDIRECT) -> httpx.Response:
        data = {"client_key": self.client_id, "client_secret": self.secret, "code": code,
                "grant_type": "authorization_code", "redirect_uri": redirect}
        if verifier is not None:
            data["code_verifier"] = verifier
        return c.post("/v2/oauth/token/", data=data)

    def refresh(self, c: httpx.Client, token: str) -> httpx.Response:
        return c.post("/v2/oauth/token/", data={"client_key": self.client_id,
                                                "client_secret": self.secret,
                                                "grant_type": "refresh_token",
                                                "refresh_token": token})

    def me(self, c: httpx.Client, access: str) -> httpx.Response:
        return c.get("/v2/user/info/",
                     params={"fields": "open_id,union_id,avatar_url,display_name,username"},
                     headers={"Authorization": f"Bearer {access}"})

    def token_error(self, r: httpx.Response) -> str:
        body = r.json()
        assert r.status_code in (400, 401) and body["log_id"], r.text
        return str(body["error"])

    def assert_unauthorized(self, r: httpx.Response) -> None:
        assert r.status_code == 401
        body = r.json()
        assert body["data"] == {} and body["error"]["code"] == "access_token_invalid"


PROVIDERS: dict[str, Provider] = {p.name: p for p in (Google(), GitHub(), X(), Facebook(),
                                                      TikTok())}
PKCE_REQUIRED = ("google", "github", "x", "tiktok")
ROTATING = ("github", "x", "tiktok")


# -- fixtures and helpers -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-oauth")) as running:
        yield running


@pytest.fixture(scope="module")
def clients(host: SandboxHost) -> Iterator[Clients]:
    """One keep-alive client per emulator (making a client costs more than a request)."""
    made = {name: httpx.Client(base_url=host.urls()[name], timeout=5) for name in NAMES}
    yield made
    for c in made.values():
        c.close()


@pytest.fixture(autouse=True)
def _reset_settings(clients: Clients) -> Iterator[None]:
    yield
    for c in clients.values():
        c.post("/_settings", json={"reset": True}).raise_for_status()


@pytest.fixture(params=NAMES)
def provider(request: pytest.FixtureRequest,
             clients: Clients) -> tuple[Provider, httpx.Client]:
    return PROVIDERS[request.param], clients[request.param]


def settings(c: httpx.Client, **changes: Any) -> dict[str, Any]:
    r = c.post("/_settings", json=changes)
    assert r.status_code == 200, r.text
    return dict(r.json())


def consent_id(page: httpx.Response) -> str:
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    found = re.search(r'<form method="post" action="[^"]*/_consent/([^"]+)" '
                      r'data-consent-id="([^"]+)"', page.text)
    assert found is not None and found.group(1) == found.group(2), page.text
    cid = found.group(2)
    assert f'<input type="hidden" name="consent_id" value="{cid}">' in page.text
    return cid


def callback(r: httpx.Response, redirect: str = REDIRECT) -> dict[str, str]:
    """The query of the 302 back to the app (checked to go to ``redirect``)."""
    assert r.status_code == 302, r.text
    location = urlsplit(r.headers["location"])
    wanted = urlsplit(redirect)
    assert (location.scheme, location.netloc, location.path) == \
        (wanted.scheme, wanted.netloc, wanted.path)
    return dict(parse_qsl(location.query, keep_blank_values=True))


def auth_params(p: Provider, challenge: str | None, *, state: str = "st-1",
                redirect: str = REDIRECT, client_id: str | None = None,
                **extra: str) -> dict[str, str]:
    params = {p.client_param: client_id or p.client_id, "redirect_uri": redirect,
              "response_type": "code",
              "scope": p.scope, "state": state, **p.auth_params(), **extra}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    return params


def get_code(p: Provider, c: httpx.Client, *, account: int | None = None,
             state: str = "st-1", redirect: str = REDIRECT,
             challenge: str | None = None, client_id: str | None = None,
             **extra: str) -> tuple[str, str]:
    """Authorize → consent page → Allow: (code, verifier)."""
    verifier, made = pkce_pair()
    page = c.get(p.authorize_path, params=auth_params(p, challenge or made, state=state,
                                                      redirect=redirect, client_id=client_id,
                                                      **extra))
    data = {"decision": "allow"} if account is None else {"decision": "allow",
                                                          "account": str(account)}
    query = callback(c.post(f"/_consent/{consent_id(page)}", data=data), redirect)
    assert query["state"] == state
    return query["code"], verifier


def sign_in(p: Provider, c: httpx.Client, **kwargs: Any) -> dict[str, Any]:
    code, verifier = get_code(p, c, **kwargs)
    r = p.exchange(c, code, verifier)
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert "error" not in body, body
    return body


# -- layout and the consent page ------------------------------------------------------------------

def test_sign_in_emulators_are_registered(host: SandboxHost) -> None:
    urls = host.urls()
    for name in NAMES:
        assert urls[name] == f"{host.origin}/{name}"


def test_consent_page_is_a_plain_form_with_demo_accounts(clients: Clients) -> None:
    p = PROVIDERS["google"]
    c = clients["google"]
    page = c.get(p.authorize_path, params=auth_params(p, pkce_pair()[1]))
    cid = consent_id(page)
    assert page.headers["cache-control"] == "no-store"
    assert f'action="/google/_consent/{cid}"' in page.text
    accounts = re.findall(r'<input type="radio" name="account" value="(\d+)"', page.text)
    assert accounts == ["0", "1", "2"]
    assert '<button type="submit" name="decision" value="allow">' in page.text
    assert '<button type="submit" name="decision" value="deny">' in page.text
    assert "<script" not in page.text
    # a bad decision leaves the consent usable; a decision uses it up
    assert c.post(f"/_consent/{cid}", data={"decision": "maybe"}).status_code == 400
    assert c.post(f"/_consent/{cid}", data={"decision": "allow",
                                            "account": "7"}).status_code == 400
    callback(c.post(f"/_consent/{cid}", data={"decision": "allow", "account": "2"}))
    again = c.post(f"/_consent/{cid}", data={"decision": "allow"})
    assert again.status_code == 400 and 'data-error="invalid_consent"' in again.text


def test_full_flow_for_every_provider(provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    tokens = sign_in(p, c, account=1)
    assert tokens["access_token"]
    me = p.me(c, tokens["access_token"])
    assert me.status_code == 200, me.text
    assert "Leo Lens" in me.text  # account 1 on every provider


def test_unregistered_client_gets_an_error_page(
        provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    for client_id in ("", "my-real-app", "sandbox-"):
        params = {**auth_params(p, pkce_pair()[1]), p.client_param: client_id}
        r = c.get(p.authorize_path, params=params)
        assert r.status_code == 400
        assert 'data-error="unauthorized_client"' in r.text
        assert "data-consent-id" not in r.text


@pytest.mark.parametrize("redirect", [
    "http://localhost:53682/callback", "https://127.0.0.1:53682/callback",
    "http://192.168.1.20:53682/callback", "http://127.0.0.1/callback",
    "http://127.0.0.1:53682/callback#frag", "urn:ietf:wg:oauth:2.0:oob", ""])
def test_redirect_uri_must_be_loopback_ip_with_a_port(clients: Clients, redirect: str) -> None:
    for name in NAMES:
        p = PROVIDERS[name]
        c = clients[name]
        r = c.get(p.authorize_path, params=auth_params(p, pkce_pair()[1],
                                                       redirect=redirect))
        assert r.status_code == 400, (name, r.text)
        assert 'data-error="redirect_uri_mismatch"' in r.text


def test_any_loopback_port_works_and_must_be_repeated_exactly(
        provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    for redirect in ("http://127.0.0.1:1/cb", "http://127.0.0.1:65535/a/b?x=1",
                     "http://[::1]:8080/cb"):
        code, verifier = get_code(p, c, redirect=redirect)
        assert p.exchange(c, code, verifier, redirect).status_code == 200
    code, verifier = get_code(p, c, redirect="http://127.0.0.1:40001/cb")
    mismatch = p.exchange(c, code, verifier, "http://127.0.0.1:40002/cb")
    assert p.token_error(mismatch) == p.errors["redirect"]


@pytest.mark.parametrize("name", PKCE_REQUIRED)
def test_pkce_s256_is_required(clients: Clients, name: str) -> None:
    p = PROVIDERS[name]
    c = clients[name]
    verifier, challenge = pkce_pair()
    base = auth_params(p, None, state="keep me")
    for extra in ({}, {"code_challenge": verifier, "code_challenge_method": "plain"},
                  {"code_challenge": challenge},
                  {"code_challenge": "short", "code_challenge_method": "S256"}):
        query = callback(c.get(p.authorize_path, params={**base, **extra}))
        assert query["error"] == "invalid_request", (extra, query)
        assert query["state"] == "keep me"
        assert "code" not in query


def test_facebook_pkce_is_optional(clients: Clients) -> None:
    p = PROVIDERS["facebook"]
    c = clients["facebook"]
    page = c.get(p.authorize_path, params=auth_params(p, None))
    code = callback(c.post(f"/_consent/{consent_id(page)}",
                           data={"decision": "allow"}))["code"]
    assert p.exchange(c, code, None).status_code == 200


def test_pkce_mismatch_and_missing_verifier(provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    code, _ = get_code(p, c)
    other, _ = pkce_pair()
    assert p.token_error(p.exchange(c, code, other)) == p.errors["pkce"]
    code, _ = get_code(p, c)
    assert p.token_error(p.exchange(c, code, None)) == p.errors["pkce"]


def test_code_is_single_use_and_reuse_revokes_its_tokens(
        provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    code, verifier = get_code(p, c)
    first = p.exchange(c, code, verifier)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert p.me(c, access).status_code == 200
    assert p.token_error(p.exchange(c, code, verifier)) == p.errors["reuse"]
    p.assert_unauthorized(p.me(c, access))


def test_code_expires_after_code_ttl(provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    code, verifier = get_code(p, c)
    settings(c, advance=61)
    assert p.token_error(p.exchange(c, code, verifier)) == p.errors["expired"]
    settings(c, reset=True, code_ttl=1)
    code, verifier = get_code(p, c)
    settings(c, advance=1.5)
    assert p.token_error(p.exchange(c, code, verifier)) == p.errors["expired"]


def test_code_is_bound_to_its_client(provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    code, verifier = get_code(p, c, client_id="sandbox-other-app")
    assert p.token_error(p.exchange(c, code, verifier)) == p.errors["client"]


def test_deny_redirects_with_access_denied(provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    state = "a b&c=d/é?#x"
    page = c.get(p.authorize_path, params=auth_params(p, pkce_pair()[1], state=state))
    r = c.post(f"/_consent/{consent_id(page)}", data={"decision": "deny"})
    query = callback(r)
    assert query["error"] == "access_denied"
    assert query["state"] == state
    assert "code" not in query
    if p.name == "facebook":
        assert query["error_reason"] == "user_denied" and query["error_code"] == "200"
        assert r.headers["location"].endswith("#_=_")
    if p.name == "github":
        assert query["error_uri"].startswith("https://docs.github.com/")


def test_state_comes_back_untouched_and_absent_state_stays_absent(
        provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    get_code(p, c, state="x" * 400 + "%20+/=")
    params = auth_params(p, pkce_pair()[1])
    del params["state"]
    page = c.get(p.authorize_path, params=params)
    query = callback(c.post(f"/_consent/{consent_id(page)}", data={"decision": "allow"}))
    assert "state" not in query and query["code"]


@pytest.mark.parametrize("name", ROTATING)
def test_refresh_rotates_and_reuse_revokes_the_family(clients: Clients, name: str) -> None:
    p = PROVIDERS[name]
    c = clients[name]
    first = sign_in(p, c)
    r1 = first["refresh_token"]
    second = p.refresh(c, r1)
    assert second.status_code == 200, second.text
    a2, r2 = second.json()["access_token"], second.json()["refresh_token"]
    assert r2 != r1 and a2 != first["access_token"]
    assert p.me(c, a2).status_code == 200
    # the old refresh token again: refused, and every token of the grant dies with it
    assert p.token_error(p.refresh(c, r1)) == p.errors["refresh"]
    assert p.token_error(p.refresh(c, r2)) == p.errors["refresh"]
    p.assert_unauthorized(p.me(c, a2))
    # another sign-in (another family) is untouched
    other = sign_in(p, c)
    assert p.me(c, other["access_token"]).status_code == 200
    assert p.refresh(c, other["refresh_token"]).status_code == 200


def test_expired_access_token_is_refused_in_the_providers_format(
        provider: tuple[Provider, httpx.Client]) -> None:
    p, c = provider
    tokens = sign_in(p, c)
    assert p.me(c, tokens["access_token"]).status_code == 200
    ttl = settings(c)["access_ttl"]
    assert tokens["expires_in"] == int(ttl)
    settings(c, advance=ttl + 1)
    p.assert_unauthorized(p.me(c, tokens["access_token"]))
    p.assert_unauthorized(p.me(c, "not-a-token"))


def test_settings_reject_unknown_names_and_bad_values(clients: Clients) -> None:
    c = clients["x"]
    assert c.post("/_settings", json={"acces_ttl": 5}).status_code == 400
    assert c.post("/_settings", json={"access_ttl": -1}).status_code == 400
    assert c.post("/_settings", json={"access_ttl": "5"}).status_code == 400
    assert settings(c, access_ttl=5, refresh_ttl=None)["access_ttl"] == 5


# -- Google ---------------------------------------------------------------------------------------

def test_google_discovery_id_token_and_userinfo(clients: Clients, host: SandboxHost) -> None:
    p = PROVIDERS["google"]
    base = host.urls()["google"]
    c = clients["google"]
    config = c.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == base
    assert config["authorization_endpoint"] == base + "/o/oauth2/v2/auth"
    assert config["token_endpoint"] == base + "/token"
    assert config["userinfo_endpoint"] == base + "/v1/userinfo"
    assert config["revocation_endpoint"] == base + "/revoke"
    assert config["jwks_uri"] == base + "/oauth2/v3/certs"
    assert config["code_challenge_methods_supported"] == ["S256"]

    tokens = sign_in(p, c, account=2)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3599
    assert tokens["access_token"].startswith("ya29.")
    assert tokens["refresh_token"].startswith("1//")
    assert tokens["scope"].split() == [
        "openid", "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile"]

    keys = KeySet.import_key_set(c.get(config["jwks_uri"]).json())
    token = jwt.decode(tokens["id_token"], keys, algorithms=["RS256"])
    assert token.header["alg"] == "RS256" and token.header["kid"]
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": base},
        aud={"essential": True, "value": "sandbox-google"},
        nonce={"essential": True, "value": "n-0S6_WzA2Mj"},
        sub={"essential": True}, exp={"essential": True}, iat={"essential": True})
    registry.validate(token.claims)
    claims = token.claims
    assert claims["email"] == "nia.demo@sandbox.example"
    assert claims["email_verified"] is False
    assert claims["name"] == "Nia Demo"
    assert claims["picture"].startswith(base + "/_avatar/")
    assert claims["exp"] - claims["iat"] == 3600
    assert c.get(urlsplit(claims["picture"]).path.removeprefix("/google")
                 ).headers["content-type"] == "image/png"

    userinfo = p.me(c, tokens["access_token"]).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == claims["email"]


def test_google_id_token_without_nonce_and_without_email_scope(clients: Clients) -> None:
    p = PROVIDERS["google"]
    c = clients["google"]
    code, verifier = get_code(p, c, scope="openid profile", access_type="online",
                              nonce="")
    tokens = p.exchange(c, code, verifier).json()
    assert "refresh_token" not in tokens  # no access_type=offline, no refresh token
    keys = KeySet.import_key_set(c.get("/oauth2/v3/certs").json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert "nonce" not in claims and "email" not in claims and claims["name"]


def test_google_refresh_does_not_rotate_and_revoke_ends_the_grant(clients: Clients) -> None:
    p = PROVIDERS["google"]
    c = clients["google"]
    tokens = sign_in(p, c)
    for _ in range(2):
        again = p.refresh(c, tokens["refresh_token"])
        assert again.status_code == 200
        assert "refresh_token" not in again.json() and again.json()["id_token"]
    new_access = again.json()["access_token"]
    assert c.post("/revoke", data={"token": tokens["access_token"]}).json() == {}
    assert p.token_error(p.refresh(c, tokens["refresh_token"])) == "invalid_grant"
    p.assert_unauthorized(p.me(c, new_access))
    gone = c.post("/revoke", params={"token": tokens["refresh_token"]})
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_token"


def test_google_client_authentication(clients: Clients) -> None:
    p = PROVIDERS["google"]
    c = clients["google"]
    code, verifier = get_code(p, c)
    base = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier, "client_id": p.client_id}
    missing = c.post("/token", data=base)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    wrong = c.post("/token", data={**base, "client_secret": "nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    basic = c.post("/token", data={k: v for k, v in base.items() if k != "client_id"},
                   auth=(p.client_id, p.secret))
    assert basic.status_code == 200 and basic.headers["cache-control"] == "no-store"
    odd = c.post("/token", data={"grant_type": "password"}, auth=(p.client_id, p.secret))
    assert odd.json()["error"] == "unsupported_grant_type"


def test_google_key_and_tokens_survive_a_restart(tmp_path: Path) -> None:
    p = PROVIDERS["google"]
    with SandboxHost(tmp_path) as first, \
            httpx.Client(base_url=first.urls()["google"], timeout=5) as c:
        kid = c.get("/oauth2/v3/certs").json()["keys"][0]["kid"]
        tokens = sign_in(p, c)
    assert (tmp_path / "oauth-google-rs256.pem").stat().st_mode & 0o077 == 0
    with SandboxHost(tmp_path) as second, \
            httpx.Client(base_url=second.urls()["google"], timeout=5) as c:
        assert c.get("/oauth2/v3/certs").json()["keys"][0]["kid"] == kid
        assert p.me(c, tokens["access_token"]).status_code == 200
        assert p.refresh(c, tokens["refresh_token"]).status_code == 200


# -- GitHub ---------------------------------------------------------------------------------------

def test_github_web_flow_details(clients: Clients) -> None:
    p = PROVIDERS["github"]
    c = clients["github"]
    code, verifier = get_code(p, c, login="nia-demo")
    form = c.post("/login/oauth/access_token",
                  data={"client_id": p.client_id, "client_secret": p.secret, "code": code,
                        "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    tokens = dict(parse_qsl(form.text))
    assert tokens["access_token"].startswith("ghu_") and len(tokens["access_token"]) == 40
    assert tokens["refresh_token"].startswith("ghr_")
    assert (tokens["expires_in"], tokens["refresh_token_expires_in"]) == ("28800",
                                                                          "15897600")
    assert tokens["token_type"] == "bearer" and tokens["scope"] == "read:user,user:email"
    user = p.me(c, tokens["access_token"])
    assert user.json()["login"] == "nia-demo"  # pre-selected by login=
    assert user.headers["x-oauth-scopes"] == "read:user, user:email"
    emails = c.get("/user/emails", headers={"Authorization": f"token {tokens['access_token']}"})
    assert emails.json()[0]["email"] == "nia.demo@sandbox.example"

    code, verifier = get_code(p, c)
    no_secret = c.post("/login/oauth/access_token", headers=GitHub.json,
                       data={"client_id": p.client_id, "code": code,
                             "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert p.token_error(no_secret) == "incorrect_client_credentials"
    refresh = c.post("/login/oauth/access_token", headers=GitHub.json,
                     data={"client_id": p.client_id, "grant_type": "refresh_token",
                           "refresh_token": tokens["refresh_token"]})
    assert p.token_error(refresh) == "incorrect_client_credentials"


def test_github_refresh_makes_the_old_access_token_stop(clients: Clients) -> None:
    p = PROVIDERS["github"]
    c = clients["github"]
    tokens = sign_in(p, c)
    assert p.refresh(c, tokens["refresh_token"]).status_code == 200
    p.assert_unauthorized(p.me(c, tokens["access_token"]))


def test_github_revoke_grant(clients: Clients) -> None:
    p = PROVIDERS["github"]
    c = clients["github"]
    tokens = sign_in(p, c)
    url = f"/applications/{p.client_id}/grant"
    body = json.dumps({"access_token": tokens["access_token"]})
    assert c.request("DELETE", url, content=body, auth=(p.client_id, "x")).status_code == 404
    r = c.request("DELETE", url, content=body, auth=(p.client_id, p.secret),
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 204
    p.assert_unauthorized(p.me(c, tokens["access_token"]))
    assert p.token_error(p.refresh(c, tokens["refresh_token"])) == "bad_refresh_token"


def _device_start(c: httpx.Client) -> dict[str, Any]:
    r = c.post("/login/device/code", data={"client_id": "sandbox-github", "scope": "read:user"},
               headers=GitHub.json)
    assert r.status_code == 200
    return dict(r.json())


def _poll(c: httpx.Client, device_code: str) -> dict[str, Any]:
    r = c.post("/login/oauth/access_token", headers=GitHub.json,
               data={"client_id": "sandbox-github", "device_code": device_code,
                     "grant_type": "urn:ietf:params:oauth:grant-type:device_code"})
    assert r.status_code == 200
    return dict(r.json())


def test_github_device_flow(clients: Clients, host: SandboxHost) -> None:
    p = PROVIDERS["github"]
    c = clients["github"]
    settings(c, device_interval=0)
    start = _device_start(c)
    assert re.fullmatch(r"[A-Z]{4}-[A-Z]{4}", start["user_code"])
    assert start["verification_uri"] == host.urls()["github"] + "/login/device"
    assert (start["expires_in"], start["interval"]) == (900, 0)
    assert _poll(c, start["device_code"])["error"] == "authorization_pending"
    approve = c.post(f"/_device/{start['user_code'].lower().replace('-', '')}",
                     data={"decision": "allow", "account": "1"})
    assert approve.json() == {"user_code": start["user_code"], "status": "approved"}
    tokens = _poll(c, start["device_code"])
    assert tokens["access_token"].startswith("ghu_")
    assert p.me(c, tokens["access_token"]).json()["login"] == "leo-lens"
    assert _poll(c, start["device_code"])["error"] == "incorrect_device_code"
    # a device-flow token refreshes without the client secret
    refreshed = c.post("/login/oauth/access_token", headers=GitHub.json,
                       data={"client_id": "sandbox-github", "grant_type": "refresh_token",
                             "refresh_token": tokens["refresh_token"]})
    assert refreshed.json()["refresh_token"] != tokens["refresh_token"]


def test_github_device_flow_slow_down_expiry_and_denial(clients: Clients) -> None:
    c = clients["github"]
    start = _device_start(c)
    assert start["interval"] == 5
    assert _poll(c, start["device_code"])["error"] == "authorization_pending"
    slow = _poll(c, start["device_code"])
    assert (slow["error"], slow["interval"]) == ("slow_down", 10)
    settings(c, advance=10)
    assert _poll(c, start["device_code"])["error"] == "authorization_pending"
    settings(c, advance=901)
    assert _poll(c, start["device_code"])["error"] == "expired_token"
    assert c.post(f"/_device/{start['user_code']}",
                  data={"decision": "allow"}).status_code == 400

    settings(c, reset=True, device_interval=0)
    denied = _device_start(c)
    page = c.get("/login/device", params={"user_code": denied["user_code"]})
    assert "data-device-form" in page.text and denied["user_code"] in page.text
    result = c.post("/login/device", data={"user_code": denied["user_code"],
                                           "decision": "deny"})
    assert 'data-device-result="denied"' in result.text
    assert _poll(c, denied["device_code"])["error"] == "access_denied"
    assert c.post("/_device/ZZZZ-ZZZZ", data={"decision": "allow"}).status_code == 404

    approved = _device_start(c)
    result = c.post("/login/device", data={"user_code": approved["user_code"],
                                           "decision": "allow", "account": "2"})
    assert 'data-device-result="approved"' in result.text
    assert _poll(c, approved["device_code"])["access_token"]


# -- X ---------------------------------------------------------------------------------------------

@functools.cache
def _x_registry() -> Registry:
    doc = json.loads((SPECS / "x" / "openapi.json").read_text(encoding="utf-8"))
    return Registry().with_resource("urn:spec:x", DRAFT202012.create_resource(doc))


def test_x_tokens_scopes_and_users_me(clients: Clients) -> None:
    p = PROVIDERS["x"]
    c = clients["x"]
    tokens = sign_in(p, c)
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 7200
    assert tokens["scope"] == p.scope
    me = p.me(c, tokens["access_token"])
    data = me.json()["data"]
    assert set(data) == {"id", "name", "username", "profile_image_url"}
    assert data["username"] == "maya_creates"
    assert me.headers["x-rate-limit-limit"] == "75"
    if (SPECS / "x" / "openapi.json").exists():
        Draft202012Validator(
            {"$ref": "urn:spec:x#/components/schemas/GetUsersMeResponse"},
            registry=_x_registry()).validate(me.json())
    bad = c.get("/2/users/me", params={"user.fields": "bogus"},
                headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "https://api.x.com/2/problems/invalid-request"

    online = sign_in(p, c, scope="tweet.read users.read")
    assert "refresh_token" not in online  # offline.access gives the refresh token
    narrow = sign_in(p, c, scope="tweet.write")
    assert p.me(c, narrow["access_token"]).status_code == 403

    page = c.get(p.authorize_path, params=auth_params(p, pkce_pair()[1],
                                                      scope="tweet.read dm.everything"))
    assert callback(page)["error"] == "invalid_scope"


def test_x_confidential_client_and_revoke(clients: Clients) -> None:
    p = PROVIDERS["x"]
    c = clients["x"]
    code, verifier = get_code(p, c)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "code_verifier": verifier}
    unauth = c.post("/2/oauth2/token", data=data, auth=(p.client_id, "wrong"))
    assert unauth.status_code == 401 and unauth.json()["error"] == "unauthorized_client"
    code, verifier = get_code(p, c)
    tokens = c.post("/2/oauth2/token", auth=(p.client_id, p.secret),
                    data={**data, "code": code, "code_verifier": verifier}).json()
    revoked = c.post("/2/oauth2/revoke", data={"token": tokens["refresh_token"],
                                               "token_type_hint": "refresh_token",
                                               "client_id": p.client_id})
    assert revoked.json() == {"revoked": True}
    p.assert_unauthorized(p.me(c, tokens["access_token"]))


# -- Facebook / Instagram --------------------------------------------------------------------------

def test_facebook_long_lived_token_and_instagram_lookup(clients: Clients,
                                                        host: SandboxHost) -> None:
    p = PROVIDERS["facebook"]
    c = clients["facebook"]
    short = sign_in(p, c)
    assert short["token_type"] == "bearer" and short["expires_in"] == 3600
    assert short["access_token"].startswith("EAA")
    long_lived = c.get("/v21.0/oauth/access_token", params={
        "grant_type": "fb_exchange_token", "client_id": p.client_id,
        "client_secret": p.secret, "fb_exchange_token": short["access_token"]}).json()
    assert long_lived["expires_in"] == 60 * 86400
    token = long_lived["access_token"]

    pages = c.get("/v20.0/me/accounts", params={
        "fields": "instagram_business_account", "access_token": token}).json()
    ig_ids = [page["instagram_business_account"]["id"] for page in pages["data"]]
    assert ig_ids == ["17841400000000001"] and "cursors" in pages["paging"]
    ig = c.get(f"/v21.0/{ig_ids[0]}", params={"fields": "username,profile_picture_url"},
               headers={"Authorization": f"Bearer {token}"}).json()
    assert ig["username"] == "maya.makes" and ig["id"] == ig_ids[0]
    assert ig["profile_picture_url"].startswith(host.urls()["facebook"] + "/_avatar/")
    nested = c.get("/v21.0/me/accounts", params={
        "fields": "name,instagram_business_account{id,username}",
        "access_token": token}).json()["data"][0]
    assert nested["instagram_business_account"] == {"id": ig_ids[0],
                                                    "username": "maya.makes"}

    # the short-lived token expires; the long-lived one goes on
    settings(c, advance=3601)
    p.assert_unauthorized(p.me(c, short["access_token"]))
    error = p.me(c, short["access_token"]).json()["error"]
    assert error["error_subcode"] == 463
    assert p.me(c, token).json()["name"] == "Maya Creator"

    # revoking the app's permissions ends every token of the user
    assert c.delete("/v21.0/me/permissions",
                    params={"access_token": token}).json() == {"success": True}
    revoked = p.me(c, token)
    p.assert_unauthorized(revoked)
    assert revoked.json()["error"]["error_subcode"] == 458


def test_facebook_pages_without_instagram_and_missing_permissions(clients: Clients) -> None:
    p = PROVIDERS["facebook"]
    c = clients["facebook"]
    leo = sign_in(p, c, account=1)["access_token"]
    pages = c.get("/v21.0/me/accounts", params={
        "fields": "id,name,instagram_business_account", "access_token": leo}).json()["data"]
    assert [("instagram_business_account" in page) for page in pages] == [True, False]
    nia = sign_in(p, c, account=2)["access_token"]
    pages = c.get("/v21.0/me/accounts", params={
        "fields": "instagram_business_account", "access_token": nia}).json()["data"]
    assert pages == [{"id": "101000000000004"}]
    other = c.get("/v21.0/17841400000000001", params={"access_token": nia})
    assert p.token_error(other) == "100/33"

    narrow = sign_in(p, c, scope="pages_show_list")["access_token"]
    ig = c.get("/v21.0/17841400000000001", params={"access_token": narrow})
    assert p.token_error(ig) == "10/None"
    nothing = sign_in(p, c, scope="instagram_basic")["access_token"]
    assert c.get("/v21.0/me/accounts",
                 params={"access_token": nothing}).json() == {"data": []}
    missing = c.get("/v21.0/me")
    assert p.token_error(missing) == "2500/None"
    bogus = c.get("/v21.0/me", params={"fields": "id,shoe_size", "access_token": nia})
    assert p.token_error(bogus) == "100/None"
    secret = c.get("/v21.0/oauth/access_token", params={
        "client_id": p.client_id, "client_secret": "nope", "code": "x",
        "redirect_uri": REDIRECT})
    assert p.token_error(secret) == "1/None"


# -- TikTok ----------------------------------------------------------------------------------------

def test_tiktok_tokens_user_info_and_revoke(clients: Clients) -> None:
    p = PROVIDERS["tiktok"]
    c = clients["tiktok"]
    page = c.get(p.authorize_path, params=auth_params(p, pkce_pair()[1]))
    query = callback(c.post(f"/_consent/{consent_id(page)}", data={"decision": "allow"}))
    assert query["scopes"] == p.scope

    tokens = sign_in(p, c)
    assert tokens["access_token"].startswith("act.")
    assert tokens["refresh_token"].startswith("rft.")
    assert (tokens["expires_in"], tokens["refresh_expires_in"]) == (86400, 31536000)
    assert tokens["scope"] == p.scope and tokens["token_type"] == "Bearer"
    info = p.me(c, tokens["access_token"]).json()
    assert info["error"]["code"] == "ok" and info["error"]["log_id"]
    user = info["data"]["user"]
    assert user["open_id"] == tokens["open_id"]
    assert set(user) == {"open_id", "union_id", "avatar_url", "display_name", "username"}
    stats = c.get("/v2/user/info/", params={"fields": "follower_count"},
                  headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert stats.status_code == 401
    assert stats.json()["error"]["code"] == "scope_not_authorized"
    unknown = c.get("/v2/user/info/", params={"fields": "open_id,shoe_size"},
                    headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalid_params"

    revoke = c.post("/v2/oauth/revoke/", data={"client_key": p.client_id,
                                               "client_secret": p.secret,
                                               "token": tokens["access_token"]})
    assert revoke.status_code == 200 and revoke.content == b""
    p.assert_unauthorized(p.me(c, tokens["access_token"]))
    assert p.token_error(p.refresh(c, tokens["refresh_token"])) == "invalid_grant"


def test_tiktok_accepts_a_hex_code_challenge(clients: Clients, host: SandboxHost) -> None:
    p = PROVIDERS["tiktok"]
    c = clients["tiktok"]
    verifier = secrets.token_urlsafe(40)
    hexed = hashlib.sha256(verifier.encode()).hexdigest()
    code, _ = get_code(p, c, challenge=hexed)
    assert p.exchange(c, code, verifier).status_code == 200
    bad = c.post("/v2/oauth/token/", data={"client_key": p.client_id,
                                           "client_secret": "nope", "code": "x",
                                           "grant_type": "authorization_code"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


# -- faults go through the host's layer ------------------------------------------------------------

def test_injected_faults_use_the_providers_error_shape(clients: Clients, host: SandboxHost) -> None:
    from mbv_desktop.sandbox.faults import Fault

    try:
        host.faults.add("x", Fault(kind="429", times=1, retry_after=3))
        host.faults.add("tiktok", Fault(kind="503", times=1))
        c = clients["x"]
        r = c.get("/2/users/me")
        assert r.status_code == 429 and r.json()["title"] == "Too Many Requests"
        assert r.headers["x-rate-limit-remaining"] == "0"
        c = clients["tiktok"]
        r = c.get("/v2/user/info/")
        assert r.status_code == 503 and r.json()["error"]["code"] == "internal_error"
        assert host.request_count("x", "/x/2/users/me") >= 1
    finally:
        host.faults.clear()
