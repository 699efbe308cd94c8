"""The Google sign-in emulator: OpenID Connect with the authorization-code flow and PKCE, as
a desktop ("installed app") client uses it.

Mounted at ``/google``; the issuer and every endpoint live under that one base URL
(``http://127.0.0.1:PORT/google``), at the paths the real hosts use::

    GET  /.well-known/openid-configuration  discovery (issuer = this base URL)
    GET  /o/oauth2/v2/auth                  authorization (consent page)  accounts.google.com
    POST /token                             code → tokens; refresh        oauth2.googleapis.com
    POST /revoke                            token=… (form or query)       oauth2.googleapis.com
    GET  /v1/userinfo                       OIDC userinfo (Bearer)   openidconnect.googleapis.com
    GET  /oauth2/v3/certs                   JWKS                          www.googleapis.com
    POST /_consent/{consent_id}             the consent form (decision=allow|deny, account=n)
    GET|POST /_settings                     lifetimes and clock (see :mod:`.core`)

Authorization: ``client_id``, ``redirect_uri`` (loopback), ``response_type=code``, ``scope``
(space separated: ``openid``, ``email``, ``profile`` or ``https://www.googleapis.com/auth/…``),
``state``, ``code_challenge`` + ``code_challenge_method=S256`` (required), optional ``nonce``,
``access_type=offline`` (gives a refresh token), ``prompt``, ``login_hint`` (pre-selects a demo
account by e-mail). The redirect carries ``code``, ``scope``, ``authuser``, ``prompt`` and
``state``; Deny gives ``error=access_denied``.

Token request (form, ``client_secret_post`` or ``client_secret_basic``; the secret is required,
as Google requires it of desktop clients): ``grant_type=authorization_code``, ``code``,
``redirect_uri``, ``code_verifier`` → ``access_token`` (``ya29.…``), ``expires_in`` (3599),
``scope`` (``email``/``profile`` spelled as the userinfo URLs, as Google answers), ``token_type``
``Bearer``, ``id_token`` (with ``openid``) and ``refresh_token`` (``1//…``, with
``access_type=offline``). ``grant_type=refresh_token`` answers the same without a new refresh
token: Google does not rotate. Errors are ``{"error", "error_description"}``: ``invalid_grant``
for a bad, used, expired or foreign code or a wrong/missing ``code_verifier``,
``redirect_uri_mismatch``, ``invalid_client`` (401), ``invalid_request``,
``unsupported_grant_type``; a revoked or unknown refresh token is ``invalid_grant`` "Token has
been expired or revoked.".

The id_token is an RS256 JWT (header ``kid``) with ``iss``, ``azp``, ``aud`` (= client id),
``sub``, ``at_hash``, ``iat``, ``exp`` (one hour), ``nonce`` when one was sent, ``email`` and
``email_verified`` (scope email), ``name``, ``given_name``, ``family_name``, ``picture`` (scope
profile). The RSA key is made on first start and kept in the state directory
(``oauth-google-rs256.pem``, mode 0600), so a restart keeps the JWKS.

``/v1/userinfo`` answers the same claims for a valid access token; an unknown, expired or
revoked one gets 401 ``{"error": "invalid_token", "error_description": "Invalid
Credentials"}`` with ``WWW-Authenticate: Bearer … error="invalid_token"``. ``/revoke`` revokes
the whole grant of an access or refresh token (200 ``{}``; unknown: 400 ``invalid_token``).

Demo client: ``sandbox-google`` / ``sandbox-google-secret`` (any ``sandbox-…`` id works, with
secret id + ``-secret``). Demo accounts: Maya Creator, Leo Lens, Nia Demo (her e-mail is not
verified).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import (
    EmulatorContext,
    FaultReply,
    bearer_token,
    dump_json,
    retry_after_seconds,
)
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.oauth.core import (
    AuthCode,
    AuthRequest,
    DemoAccount,
    GrantError,
    Issued,
    OAuthCore,
    ProviderProfile,
    Settings,
    avatar_url,
    base_url,
    basic_auth,
    is_demo_client,
    no_store,
    random_token,
    read_params,
    secret_ok,
)

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

PROVIDER = "google"
DEMO_CLIENT_ID = "sandbox-google"
DEMO_CLIENT_SECRET = "sandbox-google-secret"
KEY_FILE = "oauth-google-rs256.pem"
ID_TOKEN_TTL = 3600
SCOPE_URLS = {"email": "https://www.googleapis.com/auth/userinfo.email",
              "profile": "https://www.googleapis.com/auth/userinfo.profile"}
GOOGLE_SCOPE_PREFIX = "https://www.googleapis.com/auth/"

ACCOUNTS = (
    DemoAccount("104857600000000000001", "Maya Creator", "maya.creator",
                "maya.creator@sandbox.example",
                {"given_name": "Maya", "family_name": "Creator", "email_verified": True}),
    DemoAccount("104857600000000000002", "Leo Lens", "leo.lens", "leo.lens@sandbox.example",
                {"given_name": "Leo", "family_name": "Lens", "email_verified": True}),
    DemoAccount("104857600000000000003", "Nia Demo", "nia.demo", "nia.demo@sandbox.example",
                {"given_name": "Nia", "family_name": "Demo", "email_verified": False}),
)


def default_settings() -> Settings:
    return Settings(access_ttl=3599.0, refresh_ttl=None)


def normalize_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Scopes as Google reports them (``email`` → the userinfo.email URL)."""
    out: dict[str, None] = {}
    for scope in scopes:
        out.setdefault(SCOPE_URLS.get(scope, scope), None)
    return tuple(out)


def _check_scope(scopes: Sequence[str]) -> str | None:
    for scope in scopes:
        if scope not in ("openid", *SCOPE_URLS) and not scope.startswith(GOOGLE_SCOPE_PREFIX):
            return scope
    return None


def _success_params(pending: AuthRequest) -> Mapping[str, str]:
    return {"scope": " ".join(normalize_scopes(pending.scopes)), "authuser": "0",
            "prompt": "consent"}


PROFILE = ProviderProfile(
    name=PROVIDER, display="Google", check_scope=_check_scope,
    success_params=_success_params,
    code_factory=lambda: "4/0" + random_token("A", 70))


# -- the signing key ----------------------------------------------------------------------------

def load_or_create_key(state_dir: Path) -> RSAKey:
    """The RS256 key in ``state_dir`` (made, mode 0600, when missing or unreadable)."""
    from joserfc.jwk import RSAKey  # imported here: keeps joserfc off the host's import path

    path = Path(state_dir) / KEY_FILE
    key: RSAKey | None = None
    if path.exists():
        with contextlib.suppress(ValueError, TypeError, OSError):
            key = RSAKey.import_key(path.read_bytes())
    if key is None:
        key = RSAKey.generate_key(2048, private=True)
        temp = path.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.as_pem(private=True))
        os.replace(temp, path)
    kid = key.thumbprint()
    return RSAKey.import_key(key.as_pem(private=True), {"kid": kid, "use": "sig",
                                                        "alg": "RS256"})


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


# -- error shapes --------------------------------------------------------------------------------

def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return no_store(JSONResponse({"error": error, "error_description": description}, status))


_GRANT_ERRORS = {
    "invalid_code": ("invalid_grant", "Malformed auth code."),
    "expired_code": ("invalid_grant", "Bad Request"),
    "used_code": ("invalid_grant", "Bad Request"),
    "client_mismatch": ("invalid_grant", "Bad Request"),
    "redirect_mismatch": ("redirect_uri_mismatch", "Bad Request"),
    "pkce_missing": ("invalid_grant", "Missing code verifier."),
    "pkce_mismatch": ("invalid_grant", "Invalid code verifier."),
    "invalid_refresh": ("invalid_grant", "Token has been expired or revoked."),
    "reused_refresh": ("invalid_grant", "Token has been expired or revoked."),
}


def _unauthorized() -> Response:
    return JSONResponse({"error": "invalid_token", "error_description": "Invalid Credentials"},
                        401, headers={"www-authenticate": 'Bearer realm="https://accounts.'
                                      'google.com/", error="invalid_token"'})


def fault_reply(fault: Fault) -> FaultReply:
    """Google's answer for an injected 429, 500 or 503 (Google API error shape)."""
    status = int(fault.kind)
    reason = {429: ("RESOURCE_EXHAUSTED", "Quota exceeded."),
              500: ("INTERNAL", "Internal error encountered."),
              503: ("UNAVAILABLE", "The service is currently unavailable.")}[status]
    headers: dict[str, str] = {}
    if status == 429 or fault.retry_after is not None:
        headers["retry-after"] = str(retry_after_seconds(fault))
    body = {"error": {"code": status, "message": reason[1], "status": reason[0]}}
    return FaultReply(status, dump_json(body), headers)


# -- the app -------------------------------------------------------------------------------------

class GoogleEmulator:
    """Google's OIDC endpoints around an :class:`OAuthCore`."""

    def __init__(self, ctx: EmulatorContext, settings: Settings | None = None) -> None:
        self.core = OAuthCore(PROFILE, ctx, settings or default_settings(), ACCOUNTS,
                              access_factory=lambda: "ya29.a0" + random_token("A", 150),
                              refresh_factory=lambda: "1//0" + random_token("g", 100))
        self.key = load_or_create_key(ctx.state.path.parent)

    def claims(self, request: Request, account: DemoAccount,
               scopes: Sequence[str]) -> dict[str, Any]:
        """The userinfo claims ``scopes`` allow."""
        claims: dict[str, Any] = {"sub": account.id}
        if SCOPE_URLS["profile"] in scopes:
            claims.update(name=account.name, given_name=account.extra["given_name"],
                          family_name=account.extra["family_name"],
                          picture=avatar_url(request, account.username))
        if SCOPE_URLS["email"] in scopes:
            claims.update(email=account.email,
                          email_verified=bool(account.extra["email_verified"]))
        return claims

    def id_token(self, request: Request, issued: Issued, account: DemoAccount,
                 nonce: str | None) -> str:
        now = int(self.core.now())
        claims: dict[str, Any] = {"iss": base_url(request), "azp": issued.grant.client_id,
                                  "aud": issued.grant.client_id, "sub": account.id,
                                  "at_hash": _at_hash(issued.access_token),
                                  "iat": now, "exp": now + ID_TOKEN_TTL}
        claims.update(self.claims(request, account, issued.grant.scopes))
        if nonce:
            claims["nonce"] = nonce
        from joserfc import jwt

        header = {"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key)

    async def discovery(self, request: Request) -> Response:
        base = base_url(request)
        return JSONResponse({
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name",
                                 "given_name", "iat", "iss", "name", "picture", "sub",
                                 "nonce", "at_hash", "azp"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        })

    async def certs(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]},
                            headers={"cache-control": "public, max-age=3600"})

    async def token(self, request: Request) -> Response:
        params = await read_params(request)
        basic = basic_auth(request)
        client_id, secret = basic if basic else (params.get("client_id", ""),
                                                 params.get("client_secret"))
        if not is_demo_client(client_id):
            return oauth_error("invalid_client", "The OAuth client was not found.", 401)
        if not secret:
            return oauth_error("invalid_request", "client_secret is missing.")
        if not secret_ok(client_id, secret):
            return oauth_error("invalid_client", "Unauthorized", 401)
        grant_type = params.get("grant_type", "")
        try:
            if grant_type == "authorization_code":
                code = params.get("code")
                if not code:
                    return oauth_error("invalid_request", "Missing required parameter: code")
                entry = self.core.redeem(code, client_id, params.get("redirect_uri"),
                                         params.get("code_verifier"))
                return self._tokens(request, entry)
            if grant_type == "refresh_token":
                refresh = params.get("refresh_token")
                if not refresh:
                    return oauth_error("invalid_request",
                                       "Missing required parameter: refresh_token")
                issued = self.core.refresh(refresh, client_id, rotate=False)
                account = self.core.account(issued.grant.account)
                assert account is not None
                return self._token_body(request, issued, account, None)
        except GrantError as error:
            return oauth_error(*_GRANT_ERRORS[error.reason])
        if not grant_type:
            return oauth_error("invalid_request", "Missing required parameter: grant_type")
        return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _tokens(self, request: Request, entry: AuthCode) -> Response:
        offline = entry.request.params.get("access_type") == "offline"
        issued = self.core.exchange(entry, public=False, refresh=offline,
                                    scopes=normalize_scopes(entry.request.scopes))
        return self._token_body(request, issued, entry.account,
                                entry.request.params.get("nonce"))

    def _token_body(self, request: Request, issued: Issued, account: DemoAccount,
                    nonce: str | None) -> Response:
        body: dict[str, Any] = {"access_token": issued.access_token,
                                "expires_in": issued.expires_in,
                                "scope": " ".join(issued.grant.scopes),
                                "token_type": "Bearer"}
        if "openid" in issued.grant.scopes:
            body["id_token"] = self.id_token(request, issued, account, nonce)
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        return no_store(JSONResponse(body))

    async def revoke(self, request: Request) -> Response:
        params = await read_params(request)
        token = params.get("token", "")
        record = self.core.store.find(PROVIDER, token) if token else None
        if record is None or record.verdict(self.core.now()) in ("revoked", "used"):
            return oauth_error("invalid_token", "Token expired or revoked")
        self.core.store.revoke_family(record.grant.family, self.core.now())
        return JSONResponse({})

    async def userinfo(self, request: Request) -> Response:
        token = bearer_token(request.headers.get("authorization")) \
            or request.query_params.get("access_token")
        grant, _ = self.core.authenticate(token)
        account = self.core.account(grant.account) if grant else None
        if grant is None or account is None:
            return _unauthorized()
        return JSONResponse(self.claims(request, account, grant.scopes))

    def app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 404
            return JSONResponse({"error": {"code": status, "message": "Not Found",
                                           "status": "NOT_FOUND"}}, status)

        return Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route("/o/oauth2/v2/auth", self.core.authorize, methods=["GET"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/revoke", self.revoke, methods=["POST"]),
            Route("/v1/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route("/oauth2/v3/certs", self.certs, methods=["GET"]),
            *self.core.shared_routes(),
        ], exception_handlers={HTTPException: not_found})


def create_app(ctx: EmulatorContext, settings: Settings | None = None) -> ASGIApp:
    """The Google emulator, routing on paths below its mount (``/google``)."""
    return GoogleEmulator(ctx, settings).app()
