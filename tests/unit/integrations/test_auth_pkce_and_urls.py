"""PKCE, state and nonce (reliability.md 4) and the authorization URL of every provider.

The challenge is checked against an independent implementation (authlib's
``create_s256_code_challenge``) as well as against the RFC 7636 formula written out here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from mbv_desktop.config.secrets import oauth_secret_key
from mbv_desktop.core.errors import NotConfigured
from mbv_desktop.integrations.auth import (
    PROVIDERS,
    Attempt,
    authorization_url,
    spec_from_settings,
    specs_from_settings,
    token_key,
)
from mbv_desktop.integrations.auth.pkce import new_verifier, s256_challenge

RFC7636 = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
REDIRECT = "http://127.0.0.1:54321/callback/{provider}"

SETTINGS = {
    "google.issuer": "https://accounts.google.com",
    "google.client_id": "g-client.apps.googleusercontent.com",
    "google.client_secret": "g-secret-not-confidential",
    "github.base_url": "https://github.com",
    "github.api_base": "https://api.github.com",
    "github.client_id": "Iv1.abc123",
    "github.client_secret": "gh-secret-0123456789",
    "x.api_base": "https://api.x.com",
    "x.auth_base": "https://x.com",
    "x.client_id": "x-client-id",
    "instagram.client_id": "1234567890",
    "instagram.client_secret": "meta-app-secret-xyz",
    "facebook.auth_base": "https://www.facebook.com",
    "facebook.graph_base": "https://graph.facebook.com",
    "tiktok.api_base": "https://open.tiktokapis.com",
    "tiktok.auth_base": "https://www.tiktok.com",
    "tiktok.client_key": "tt-client-key",
    "tiktok.client_secret": "tt-client-secret-123",
}


def b64url_sha256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


# --- PKCE -----------------------------------------------------------------------------------------


def test_verifier_shape_and_s256_challenge() -> None:
    for _ in range(200):
        verifier = new_verifier()
        assert RFC7636.fullmatch(verifier)
        challenge = s256_challenge(verifier)
        assert challenge == b64url_sha256(verifier) == create_s256_code_challenge(verifier)
        assert "=" not in challenge and len(challenge) == 43


def test_rfc7636_appendix_b_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize("bad", ["short", "a" * 129, "a" * 42 + "!", "é" * 43, ""])
def test_invalid_verifiers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        s256_challenge(bad)


def test_every_attempt_is_fresh_and_masked() -> None:
    attempts = [Attempt.new(oidc=True) for _ in range(50)]
    assert len({a.state for a in attempts}) == 50
    assert len({a.verifier for a in attempts}) == 50
    assert len({a.nonce for a in attempts}) == 50
    assert all(a.state != a.verifier != a.nonce for a in attempts)
    assert Attempt.new().nonce is None
    text = repr(attempts[0])
    assert attempts[0].state not in text and attempts[0].verifier not in text


def test_two_flows_produce_different_urls() -> None:
    spec = spec_from_settings("x", SETTINGS)
    first = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url(
        spec, spec.authorize_url or "", Attempt.new(), REDIRECT.format(provider="x"))).query)
    second = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url(
        spec, spec.authorize_url or "", Attempt.new(), REDIRECT.format(provider="x"))).query)
    assert first["state"] != second["state"]
    assert first["code_challenge"] != second["code_challenge"]


# --- authorization URLs --------------------------------------------------------------------------


def _url(provider: str, attempt: Attempt,
         endpoint: str | None = None) -> tuple[str, dict[str, str]]:
    spec = spec_from_settings(provider, SETTINGS)
    url = authorization_url(spec, endpoint or spec.authorize_url or "", attempt,
                            REDIRECT.format(provider=provider))
    parts = urllib.parse.urlsplit(url)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    params = dict(pairs)
    assert len(params) == len(pairs), "no parameter is sent twice"
    return url, params


def test_google_url() -> None:
    attempt = Attempt.new(oidc=True)
    url, p = _url("google", attempt, "https://accounts.google.com/o/oauth2/v2/auth")
    assert url.startswith("https://accounts.google.com/o/oauth2/v2/auth?")
    assert p == {
        "response_type": "code",
        "client_id": "g-client.apps.googleusercontent.com",
        "redirect_uri": "http://127.0.0.1:54321/callback/google",
        "scope": "openid profile email",
        "state": attempt.state,
        "code_challenge": b64url_sha256(attempt.verifier),
        "code_challenge_method": "S256",
        "nonce": attempt.nonce,
        "access_type": "offline",
        "prompt": "consent",
    }
    assert "client_secret" not in url and attempt.verifier not in url


def test_github_url() -> None:
    attempt = Attempt.new()
    url, p = _url("github", attempt)
    assert url.startswith("https://github.com/login/oauth/authorize?")
    assert p["client_id"] == "Iv1.abc123"
    assert p["redirect_uri"] == "http://127.0.0.1:54321/callback/github"
    assert p["code_challenge"] == b64url_sha256(attempt.verifier)
    assert p["code_challenge_method"] == "S256"
    assert p["scope"] == "read:user user:email"
    assert "nonce" not in p and "client_secret" not in p


def test_x_url_space_separated_scopes_as_percent_20() -> None:
    attempt = Attempt.new()
    url, p = _url("x", attempt)
    assert url.startswith("https://x.com/i/oauth2/authorize?")
    assert p["scope"] == "tweet.read tweet.write users.read media.write offline.access"
    assert "scope=tweet.read%20tweet.write%20users.read%20media.write%20offline.access" in url
    assert p["code_challenge_method"] == "S256"
    assert p["code_challenge"] == b64url_sha256(attempt.verifier)
    assert p["client_id"] == "x-client-id"


def test_instagram_url_facebook_dialog_without_pkce() -> None:
    attempt = Attempt.new()
    url, p = _url("instagram", attempt)
    assert url.startswith("https://www.facebook.com/v21.0/dialog/oauth?")
    assert p["scope"] == ("instagram_basic,instagram_content_publish,pages_show_list,"
                          "pages_read_engagement,instagram_manage_insights")
    assert p["client_id"] == "1234567890"
    assert p["state"] == attempt.state
    assert "code_challenge" not in p and "code_challenge_method" not in p


def test_tiktok_url_client_key_and_comma_scopes() -> None:
    attempt = Attempt.new()
    url, p = _url("tiktok", attempt)
    assert url.startswith("https://www.tiktok.com/v2/auth/authorize/?")
    assert p["client_key"] == "tt-client-key"
    assert "client_id" not in p
    assert p["scope"] == ("user.info.basic,user.info.profile,user.info.stats,video.publish,"
                          "video.upload,video.list")
    assert p["code_challenge"] == b64url_sha256(attempt.verifier)
    assert p["code_challenge_method"] == "S256"


# --- specs from settings -------------------------------------------------------------------------


def test_endpoints_derive_from_the_settings_values() -> None:
    base = "http://127.0.0.1:4000"
    values = {**SETTINGS,
              "google.issuer": f"{base}/google/",
              "github.base_url": f"{base}/github", "github.api_base": f"{base}/github/",
              "x.api_base": f"{base}/x", "x.auth_base": f"{base}/x",
              "facebook.auth_base": f"{base}/facebook", "facebook.graph_base": f"{base}/facebook",
              "tiktok.api_base": f"{base}/tiktok", "tiktok.auth_base": f"{base}/tiktok"}
    specs = specs_from_settings(values)
    assert list(specs) == list(PROVIDERS)
    g = specs["google"]
    assert g.issuer == f"{base}/google"
    assert g.discovery_url == f"{base}/google/.well-known/openid-configuration"
    gh = specs["github"]
    assert gh.authorize_url == f"{base}/github/login/oauth/authorize"
    assert gh.token_url == f"{base}/github/login/oauth/access_token"
    assert gh.device_code_url == f"{base}/github/login/device/code"
    assert gh.profile_url == f"{base}/github/user"
    assert gh.revoke_url == f"{base}/github/applications/Iv1.abc123/grant"
    x = specs["x"]
    assert x.authorize_url == f"{base}/x/i/oauth2/authorize"
    assert x.token_url == f"{base}/x/2/oauth2/token"
    assert x.revoke_url == f"{base}/x/2/oauth2/revoke"
    assert x.profile_url == f"{base}/x/2/users/me?user.fields=profile_image_url"
    ig = specs["instagram"]
    assert ig.authorize_url == f"{base}/facebook/v21.0/dialog/oauth"
    assert ig.token_url == f"{base}/facebook/v21.0/oauth/access_token"
    assert ig.graph_base == f"{base}/facebook/v21.0"
    tt = specs["tiktok"]
    assert tt.authorize_url == f"{base}/tiktok/v2/auth/authorize/"
    assert tt.token_url == f"{base}/tiktok/v2/oauth/token/"
    assert tt.revoke_url == f"{base}/tiktok/v2/oauth/revoke/"
    assert tt.profile_url == (f"{base}/tiktok/v2/user/info/"
                              "?fields=open_id,avatar_url,display_name,username")


def test_missing_settings_are_named_in_not_configured() -> None:
    spec = spec_from_settings("tiktok", {"tiktok.api_base": "https://open.tiktokapis.com",
                                         "tiktok.auth_base": "https://www.tiktok.com"})
    assert not spec.configured
    assert spec.missing == ("tiktok.client_key", "tiktok.client_secret")
    with pytest.raises(NotConfigured) as info:
        spec.require_configured()
    assert "tiktok.client_key" in str(info.value) and "tiktok.client_secret" in str(info.value)
    # Google's and GitHub's secrets are optional (not confidential; device flow needs none).
    assert spec_from_settings("google", {k: v for k, v in SETTINGS.items()
                                         if k != "google.client_secret"}).configured
    assert spec_from_settings("github", {k: v for k, v in SETTINGS.items()
                                         if k != "github.client_secret"}).configured
    no_secret = spec_from_settings("github", {k: v for k, v in SETTINGS.items()
                                              if k != "github.client_secret"})
    with pytest.raises(NotConfigured) as web:
        no_secret.require_web_flow()
    assert "github.client_secret" in str(web.value) and "device code" in str(web.value)
    with pytest.raises(ValueError):
        spec_from_settings("myspace", SETTINGS)


def test_spec_repr_hides_the_client_secret() -> None:
    for spec in specs_from_settings(SETTINGS).values():
        if spec.client_secret:
            assert spec.client_secret not in repr(spec)


def test_store_key_matches_the_secret_store_convention() -> None:
    assert token_key("x", "12345") == oauth_secret_key("x", "12345") == "oauth:x:12345"
