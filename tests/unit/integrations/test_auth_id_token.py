"""id_token verification (``oidc.verify_id_token``) and discovery, against keys made here.

Tokens are signed with joserfc and this test's own RSA/EC keys; the issuer's discovery document
and JWKS are served through ``httpx.MockTransport`` (no network), which also counts JWKS fetches.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from mbv_desktop.core.errors import ProviderUnavailable
from mbv_desktop.integrations.auth import InvalidIdToken, OidcCache, spec_from_settings
from mbv_desktop.integrations.auth.oidc import verify_id_token

ISSUER = "https://issuer.test"
CLIENT_ID = "client-123"
NONCE = "nonce-0123456789abcdef"

SPEC = spec_from_settings("google", {"google.issuer": ISSUER, "google.client_id": CLIENT_ID})


class Issuer:
    """Discovery + JWKS over MockTransport; ``published`` are the public keys it serves."""

    def __init__(self, *published: RSAKey | ECKey) -> None:
        self.published = list(published)
        self.jwks_calls = 0
        self.discovery: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/auth",
            "token_endpoint": f"{ISSUER}/token",
            "jwks_uri": f"{ISSUER}/jwks",
            "userinfo_endpoint": f"{ISSUER}/userinfo",
        }

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery)
        if request.url.path == "/jwks":
            self.jwks_calls += 1
            return httpx.Response(200, json={"keys": [k.as_dict(private=False)
                                                      for k in self.published]})
        return httpx.Response(404)


def rsa(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


RSA_KEY = rsa("rsa-1")
EC_KEY = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "user-1", "iat": now,
                            "exp": now + 3600, "nonce": NONCE, "email": "a@example.test"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey | ECKey = RSA_KEY, alg: str = "RS256",
         kid: str | None = "rsa-1") -> str:
    header: dict[str, Any] = {"alg": alg}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, payload, key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify(token: str, issuer: Issuer, *, nonce: str | None = NONCE,
           cache: OidcCache | None = None) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)) as http:
            the_cache = cache or OidcCache()
            meta = await the_cache.metadata(http, SPEC)
            return await verify_id_token(token, spec=SPEC, metadata=meta, nonce=nonce, http=http,
                                         cache=the_cache)
    return asyncio.run(run())


def rejected(token: str, issuer: Issuer | None = None, **kw: Any) -> InvalidIdToken:
    with pytest.raises(InvalidIdToken) as info:
        verify(token, issuer or Issuer(RSA_KEY), **kw)
    message = str(info.value)
    assert token not in message and token[:20] not in message
    assert message.startswith("Google sent a sign-in answer that failed a security check")
    return info.value


def test_a_good_rs256_token_passes() -> None:
    got = verify(sign(claims()), Issuer(RSA_KEY))
    assert got["sub"] == "user-1" and got["email"] == "a@example.test"


def test_a_good_es256_token_passes() -> None:
    token = sign(claims(), EC_KEY, "ES256", "ec-1")
    assert verify(token, Issuer(RSA_KEY, EC_KEY))["sub"] == "user-1"


def test_audience_list_needs_azp() -> None:
    ok = claims(aud=[CLIENT_ID, "other"], azp=CLIENT_ID)
    assert verify(sign(ok), Issuer(RSA_KEY))["azp"] == CLIENT_ID
    assert "different app" in rejected(sign(claims(aud=[CLIENT_ID, "other"]))).reason
    assert "different app" in rejected(
        sign(claims(aud=[CLIENT_ID, "other"], azp="other"))).reason


def test_forged_signature_with_the_published_kid() -> None:
    forger = rsa("rsa-1")  # same kid, different key
    assert "signature" in rejected(sign(claims(), forger)).reason


def test_tampered_payload() -> None:
    header, _, signature = sign(claims()).split(".")
    forged_payload = b64(json.dumps(claims(sub="admin")).encode())
    assert "signature" in rejected(f"{header}.{forged_payload}.{signature}").reason


def test_alg_none_and_hmac_are_refused() -> None:
    none_header = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    unsigned = f"{none_header}.{b64(json.dumps(claims()).encode())}."
    assert "not a signed token" in rejected(unsigned).reason
    none_with_sig = unsigned + "AAAA"
    assert "none signature algorithm" in rejected(none_with_sig).reason
    # HS256 "signed" with the issuer's public key as the shared secret (alg confusion).
    signing_input = (f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa-1'}).encode())}."
                     f"{b64(json.dumps(claims()).encode())}")
    mac = hmac.new(RSA_KEY.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    hs = f"{signing_input}.{b64(mac.digest())}"
    assert "HS256" in rejected(hs).reason


def test_wrong_issuer_audience_expired_and_future_iat() -> None:
    now = int(time.time())
    assert "someone else" in rejected(sign(claims(iss="https://evil.test"))).reason
    assert "different app" in rejected(sign(claims(aud="another-client"))).reason
    assert "expired" in rejected(sign(claims(iat=now - 7200, exp=now - 3600))).reason
    assert "issue time" in rejected(sign(claims(iat=now + 3600))).reason
    assert "issue time" in rejected(sign(claims(iat=None))).reason
    assert "expired" in rejected(sign(claims(exp=None))).reason
    # within the leeway a little skew is fine
    assert verify(sign(claims(exp=now - 30)), Issuer(RSA_KEY))


def test_nonce_missing_or_mismatched() -> None:
    assert "this sign-in attempt" in rejected(sign(claims(nonce=None))).reason
    assert "this sign-in attempt" in rejected(sign(claims(nonce="someone-elses"))).reason
    assert "this sign-in attempt" in rejected(sign(claims()), nonce=None).reason


def test_unknown_kid_refetches_the_keys_exactly_once() -> None:
    issuer = Issuer(RSA_KEY)
    cache = OidcCache()
    verify(sign(claims()), issuer, cache=cache)
    assert issuer.jwks_calls == 1
    verify(sign(claims()), issuer, cache=cache)
    assert issuer.jwks_calls == 1  # cached

    rotated = rsa("rsa-2")
    issuer.published.append(rotated)
    verify(sign(claims(), rotated, kid="rsa-2"), issuer, cache=cache)
    assert issuer.jwks_calls == 2  # one refetch found the new key

    stranger = rsa("rsa-unknown")
    with pytest.raises(InvalidIdToken) as info:
        verify(sign(claims(), stranger, kid="rsa-unknown"), issuer, cache=cache)
    assert "does not publish" in info.value.reason
    assert issuer.jwks_calls == 3  # exactly one more fetch, then it gives up


def test_discovery_for_another_issuer_is_refused() -> None:
    issuer = Issuer(RSA_KEY)
    issuer.discovery["issuer"] = "https://evil.test"
    with pytest.raises(ProviderUnavailable) as info:
        verify(sign(claims()), issuer)
    assert "different issuer" in str(info.value)


def test_insecure_endpoints_in_discovery_are_refused() -> None:
    issuer = Issuer(RSA_KEY)
    issuer.discovery["token_endpoint"] = "http://evil.test/token"
    with pytest.raises(ProviderUnavailable):
        verify(sign(claims()), issuer)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b", "a.b.c", "....", "e30.e30.e30"])
def test_garbage_tokens(garbage: str) -> None:
    with pytest.raises(InvalidIdToken):
        verify(garbage, Issuer(RSA_KEY))


def test_google_accepts_both_forms_of_its_issuer() -> None:
    spec = spec_from_settings("google", {"google.issuer": "https://accounts.google.com",
                                         "google.client_id": CLIENT_ID})
    assert spec.accepted_issuers == ("https://accounts.google.com", "accounts.google.com")
