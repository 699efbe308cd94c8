"""OpenID Connect: discovery, the issuer's signing keys, and id_token verification.

* **Discovery** (``{issuer}/.well-known/openid-configuration``): the document's ``issuer`` must
  equal the configured issuer exactly (OIDC Discovery §4.3) and every endpoint must be HTTPS or a
  loopback ``http`` address (the sandbox). Kept for an hour per issuer.
* **Keys** (``jwks_uri``): kept for an hour; a token signed with a ``kid`` the cached set does not
  have triggers exactly one refetch (key rotation), then fails.
* **id_token checks** (OIDC Core §3.1.3.7): a three-part JWS; ``alg`` RS256 or ES256 only (never
  ``none`` or an HMAC algorithm, so a public key can never be used as an HMAC secret); the
  signature against the issuer's key with that ``kid``; ``iss`` equals the issuer; ``aud``
  contains the client id, and when it names several audiences ``azp`` must be the client id;
  ``exp`` in the future and ``iat`` not in the future (``leeway`` seconds either way for clock
  skew) nor older than a day; ``nonce`` equal to this attempt's nonce (constant-time compare);
  ``sub`` present.

Each failure raises :class:`InvalidIdToken` whose ``reason`` is a short phrase; the token itself is
never part of a message. :mod:`joserfc` (authlib's maintained JOSE library; ``authlib.jose`` is
deprecated) is imported on first use, off the start-up path.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from mbv_desktop.core.errors import ProviderUnavailable

from . import _wire
from .errors import InvalidIdToken
from .providers import ProviderSpec

if TYPE_CHECKING:
    from joserfc.jwk import Key, KeySet

__all__ = [
    "ALLOWED_ALGORITHMS",
    "OidcCache",
    "OidcMetadata",
    "verify_id_token",
]

#: The only id_token signature algorithms accepted.
ALLOWED_ALGORITHMS = ("RS256", "ES256")
DEFAULT_LEEWAY = 120.0
MAX_TOKEN_AGE = 24 * 3600.0
CACHE_TTL = 3600.0

_ALG_LABEL = re.compile(r"^[A-Za-z0-9+_-]{1,16}$")


@dataclass(frozen=True)
class OidcMetadata:
    """The parts of a discovery document sign-in uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    revocation_endpoint: str | None = None


def _unavailable(spec: ProviderSpec, what: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"{spec.display_name[:1].upper() + spec.display_name[1:]} published {what}, so signing "
        f"in cannot continue; try again later, or check the {spec.name}.issuer setting.",
        provider=spec.name)


def parse_metadata(spec: ProviderSpec, body: Mapping[str, Any]) -> OidcMetadata:
    """Validate a discovery document against ``spec``; raises ``ProviderUnavailable``."""
    if body.get("issuer") != spec.issuer:
        raise _unavailable(spec, "sign-in details for a different issuer")
    required = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    if not all(_wire.acceptable_url(body.get(name)) for name in required):
        raise _unavailable(spec, "incomplete or insecure sign-in details")
    optional = {}
    for name in ("userinfo_endpoint", "revocation_endpoint"):
        value = body.get(name)
        optional[name] = value if _wire.acceptable_url(value) else None
    return OidcMetadata(
        issuer=str(body["issuer"]),
        authorization_endpoint=str(body["authorization_endpoint"]),
        token_endpoint=str(body["token_endpoint"]),
        jwks_uri=str(body["jwks_uri"]),
        **optional,
    )


class OidcCache:
    """Discovery documents and key sets, per issuer / ``jwks_uri``, for ``ttl`` seconds.

    One fetch at a time per document (concurrent sign-ins share it). Belongs to one event loop.
    """

    def __init__(self, ttl: float = CACHE_TTL, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._metadata: dict[str, tuple[float, OidcMetadata]] = {}
        self._keys: dict[str, tuple[float, KeySet]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _fresh(self, stamp: float) -> bool:
        return self._clock() - stamp < self._ttl

    async def metadata(self, http: httpx.AsyncClient, spec: ProviderSpec) -> OidcMetadata:
        """The issuer's discovery document (cached)."""
        if not spec.issuer or not spec.discovery_url:
            spec.require_configured()
            raise _unavailable(spec, "no discovery address")
        cached = self._metadata.get(spec.issuer)
        if cached is not None and self._fresh(cached[0]):
            return cached[1]
        async with self._lock(f"meta:{spec.issuer}"):
            cached = self._metadata.get(spec.issuer)
            if cached is not None and self._fresh(cached[0]):
                return cached[1]
            response = await _wire.send(http, spec.name, "GET", spec.discovery_url)
            try:
                body = _wire.checked_json(response, spec.name)
            except _wire.OAuthErrorAnswer:
                raise _unavailable(spec, "no readable sign-in details") from None
            metadata = parse_metadata(spec, body)
            self._metadata[spec.issuer] = (self._clock(), metadata)
            return metadata

    async def keys(self, http: httpx.AsyncClient, spec: ProviderSpec, jwks_uri: str, *,
                   refresh: bool = False) -> KeySet:
        """The issuer's signing keys (cached; ``refresh=True`` fetches them again)."""
        cached = self._keys.get(jwks_uri)
        if not refresh and cached is not None and self._fresh(cached[0]):
            return cached[1]
        async with self._lock(f"keys:{jwks_uri}"):
            again = self._keys.get(jwks_uri)
            if again is not None and again is not cached and self._fresh(again[0]):
                return again[1]  # another caller fetched them while this one waited
            response = await _wire.send(http, spec.name, "GET", jwks_uri)
            try:
                body = _wire.checked_json(response, spec.name)
            except _wire.OAuthErrorAnswer:
                raise _unavailable(spec, "no readable signing keys") from None
            keyset = _import_keyset(spec, body)
            self._keys[jwks_uri] = (self._clock(), keyset)
            return keyset


def _import_keyset(spec: ProviderSpec, body: Mapping[str, Any]) -> KeySet:
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    keys = body.get("keys")
    if not isinstance(keys, list):
        raise _unavailable(spec, "unreadable signing keys")
    usable = [k for k in keys if isinstance(k, dict) and k.get("kty") in ("RSA", "EC")
              and "d" not in k]  # public keys only
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError):
        raise _unavailable(spec, "unreadable signing keys") from None


def _b64json(segment: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _matching_keys(keyset: KeySet, kid: str | None, alg: str) -> list[Key]:
    kty, crv = ("RSA", None) if alg == "RS256" else ("EC", "P-256")
    found = []
    for key in keyset:
        if kid is not None and key.kid != kid:
            continue
        if key.key_type != kty or (crv is not None and key.get("crv") != crv):
            continue
        if key.get("use") not in (None, "sig") or key.get("alg") not in (None, alg):
            continue
        found.append(key)
    return found


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


async def verify_id_token(id_token: str | None, *, spec: ProviderSpec, metadata: OidcMetadata,
                          nonce: str | None, http: httpx.AsyncClient, cache: OidcCache,
                          now: float | None = None,
                          leeway: float = DEFAULT_LEEWAY) -> dict[str, Any]:
    """The verified claims of ``id_token``; raises :class:`InvalidIdToken` on any failed check.

    ``nonce`` is the nonce sent with this attempt (required: a token without it, or with another
    one, is refused).
    """
    from joserfc import jwt
    from joserfc.errors import BadSignatureError, JoseError

    def fail(reason: str) -> InvalidIdToken:
        return InvalidIdToken(reason, provider=spec.name)

    if not id_token:
        raise fail("it contained no identity token")
    parts = id_token.split(".")
    if len(parts) != 3 or not all(parts):
        raise fail("the identity token is not a signed token")
    header = _b64json(parts[0])
    if header is None:
        raise fail("the identity token could not be read")
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        label = alg if isinstance(alg, str) and _ALG_LABEL.fullmatch(alg) else "unknown"
        raise fail(f"the identity token uses the {label} signature algorithm, which the app "
                   f"does not accept")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise fail("the identity token names its key in a way the app cannot read")

    keyset = await cache.keys(http, spec, metadata.jwks_uri)
    candidates = _matching_keys(keyset, kid, alg)
    if not candidates:  # the provider may have rotated its keys: look once more
        keyset = await cache.keys(http, spec, metadata.jwks_uri, refresh=True)
        candidates = _matching_keys(keyset, kid, alg)
    if not candidates:
        raise fail("the identity token is signed with a key the provider does not publish")

    claims: dict[str, Any] | None = None
    for key in candidates:
        try:
            claims = dict(jwt.decode(id_token, key, algorithms=[alg]).claims)
            break
        except BadSignatureError:
            continue
        except (JoseError, ValueError, TypeError):
            raise fail("the identity token could not be read") from None
    if claims is None:
        raise fail("the identity token's signature does not match")

    current = time.time() if now is None else now
    issuers = spec.accepted_issuers or (metadata.issuer,)
    if claims.get("iss") not in issuers:
        raise fail("the identity token was issued by someone else")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if (not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)
            or spec.client_id not in audiences):
        raise fail("the identity token was issued for a different app")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != spec.client_id:
        raise fail("the identity token was issued for a different app")
    exp = _numeric(claims.get("exp"))
    if exp is None or exp + leeway <= current:
        raise fail("the identity token has expired")
    iat = _numeric(claims.get("iat"))
    if iat is None or iat > current + leeway or iat < current - MAX_TOKEN_AGE:
        raise fail("the identity token's issue time is not plausible")
    nbf = _numeric(claims.get("nbf"))
    if "nbf" in claims and (nbf is None or nbf > current + leeway):
        raise fail("the identity token is not valid yet")
    sent = claims.get("nonce")
    if not nonce or not isinstance(sent, str) or not hmac.compare_digest(
            sent.encode("utf-8"), nonce.encode("utf-8")):
        raise fail("the identity token does not belong to this sign-in attempt")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise fail("the identity token names no account")
    return claims
