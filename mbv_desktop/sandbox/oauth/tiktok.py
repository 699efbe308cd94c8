"""The TikTok sign-in emulator: Login Kit v2 for desktop (authorization code with PKCE),
token refresh with rotation, revocation, and ``GET /v2/user/info/``.

Mounted at ``/tiktok``; the app points ``tiktok.auth_base`` and ``tiktok.api_base`` at
``http://127.0.0.1:PORT/tiktok``::

    GET  /v2/auth/authorize/     consent page                               www.tiktok.com
    POST /v2/oauth/token/        code or refresh grant (form)               open.tiktokapis.com
    POST /v2/oauth/revoke/       client_key, client_secret, token           open.tiktokapis.com
    GET  /v2/user/info/?fields=  the signed-in user                         open.tiktokapis.com
    POST /_consent/{consent_id}, GET|POST /_settings   (see :mod:`.core`)

Authorization: ``client_key`` (TikTok's client id), ``scope`` (comma separated:
``user.info.basic``, ``user.info.profile``, ``user.info.stats``, ``video.list``,
``video.upload``, ``video.publish``), ``response_type=code``, ``redirect_uri`` (loopback),
``state``, ``code_challenge`` + ``code_challenge_method=S256`` (required). The challenge may be
the RFC 7636 base64url SHA-256 or the hex SHA-256 TikTok's desktop guide shows. Allow redirects
with ``code``, ``scopes`` and ``state``; Deny with ``error=access_denied`` and
``error_description``.

Token (form): ``client_key``, ``client_secret``, ``grant_type``; ``authorization_code`` with
``code``, ``redirect_uri``, ``code_verifier``; ``refresh_token`` with ``refresh_token``.
Answer: ``access_token`` (``act.…``, ``expires_in`` 86400), ``refresh_token`` (``rft.…``,
``refresh_expires_in`` 31536000), ``open_id``, ``scope`` (comma separated), ``token_type``
``Bearer``. Every refresh rotates the refresh token; a rotated one presented again revokes the
family. Errors: HTTP 400 (401 for ``invalid_client``) with ``{"error", "error_description",
"log_id"}``: ``invalid_client``, ``invalid_request`` (missing parameter; redirect URI mismatch),
``invalid_grant`` (bad, used, expired or foreign code, wrong or missing verifier; bad, expired,
revoked or reused refresh token), ``unsupported_grant_type``.

Revoke: 200 with an empty body; it removes the app's whole authorization for that user.

User info: ``fields`` (comma separated) is required; ``open_id``, ``union_id``, ``avatar_url``,
``avatar_url_100``, ``avatar_large_url``, ``display_name`` need ``user.info.basic``;
``username``, ``bio_description``, ``profile_deep_link``, ``is_verified`` need
``user.info.profile``; ``follower_count``, ``following_count``, ``likes_count``,
``video_count`` need ``user.info.stats``. Answer ``{"data": {"user": {…}}, "error": {"code":
"ok", "message": "", "log_id"}}``; failures use the same envelope with ``data: {}``:
401 ``access_token_invalid`` (unknown, expired, revoked token), 401 ``scope_not_authorized``,
400 ``invalid_params``.

Demo client key: ``sandbox-tiktok`` / secret ``sandbox-tiktok-secret``. Demo accounts:
@maya.creates, @leo.lens, @nia.demo.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

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
    AuthRequest,
    DemoAccount,
    GrantError,
    Issued,
    OAuthCore,
    ProviderProfile,
    Settings,
    avatar_url,
    is_demo_client,
    no_store,
    random_token,
    read_params,
    secret_ok,
)
from mbv_desktop.sandbox.social import tiktok_api

PROVIDER = "tiktok"
DEMO_CLIENT_KEY = "sandbox-tiktok"
DEMO_CLIENT_SECRET = "sandbox-tiktok-secret"
BASIC, PROFILE_SCOPE, STATS = "user.info.basic", "user.info.profile", "user.info.stats"
SCOPES = frozenset({BASIC, PROFILE_SCOPE, STATS, "video.list", "video.upload",
                    "video.publish"})
FIELD_SCOPES = {
    "open_id": BASIC, "union_id": BASIC, "avatar_url": BASIC, "avatar_url_100": BASIC,
    "avatar_large_url": BASIC, "display_name": BASIC,
    "bio_description": PROFILE_SCOPE, "profile_deep_link": PROFILE_SCOPE,
    "is_verified": PROFILE_SCOPE, "username": PROFILE_SCOPE,
    "follower_count": STATS, "following_count": STATS, "likes_count": STATS,
    "video_count": STATS,
}

ACCOUNTS = (
    DemoAccount("-000aMayaCreatorSbx0000000000000001", "Maya Creator", "maya.creates",
                "maya.creator@sandbox.example",
                {"union_id": "c9b1e5a0-5d1f-4d2a-9c11-000000000001",
                 "bio": "Short videos about making things.", "verified": True,
                 "followers": 48200, "following": 210, "likes": 1203000, "videos": 312}),
    DemoAccount("-000aLeoLensSbx00000000000000000002", "Leo Lens", "leo.lens",
                "leo.lens@sandbox.example",
                {"union_id": "c9b1e5a0-5d1f-4d2a-9c11-000000000002",
                 "bio": "Photographer.", "verified": False, "followers": 1310,
                 "following": 402, "likes": 22800, "videos": 57}),
    DemoAccount("-000aNiaDemoSbx00000000000000000003", "Nia Demo", "nia.demo",
                "nia.demo@sandbox.example",
                {"union_id": "c9b1e5a0-5d1f-4d2a-9c11-000000000003", "bio": "",
                 "verified": False, "followers": 0, "following": 0, "likes": 0,
                 "videos": 0}),
)


def _check_scope(scopes: Sequence[str]) -> str | None:
    return next((s for s in scopes if s not in SCOPES), None)


def _success_params(pending: AuthRequest) -> Mapping[str, str]:
    return {"scopes": ",".join(pending.scopes)}


PROFILE = ProviderProfile(
    name=PROVIDER, display="TikTok", client_param="client_key", scope_separator=",",
    pkce_hex=True, check_scope=_check_scope, success_params=_success_params,
    deny_params={"error": "access_denied",
                 "error_description": "The user denied the authorization request."},
    code_factory=lambda: random_token("", 48) + "*0!" + random_token("", 12))


def default_settings() -> Settings:
    return Settings(access_ttl=86400.0, refresh_ttl=31536000.0)


def log_id() -> str:
    """A TikTok-style log id: UTC time to the second, then hex."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def oauth_error(error: str, description: str, status: int = 400) -> Response:
    return no_store(JSONResponse({"error": error, "error_description": description,
                                  "log_id": log_id()}, status))


def api_error(code: str, message: str, status: int) -> Response:
    return JSONResponse({"data": {}, "error": {"code": code, "message": message,
                                               "log_id": log_id()}}, status)


_GRANT_ERRORS = {
    "invalid_code": ("invalid_grant", "Authorization code is invalid."),
    "expired_code": ("invalid_grant", "Authorization code is expired."),
    "used_code": ("invalid_grant", "Authorization code has been used."),
    "client_mismatch": ("invalid_grant", "Authorization code was issued to another client."),
    "redirect_mismatch": ("invalid_request",
                          "Redirect_uri is not matched with the uri when requesting code."),
    "pkce_missing": ("invalid_grant", "Code verifier or code challenge is invalid."),
    "pkce_mismatch": ("invalid_grant", "Code verifier or code challenge is invalid."),
    "invalid_refresh": ("invalid_grant", "Refresh token is invalid or expired."),
    "reused_refresh": ("invalid_grant", "Refresh token is invalid or expired."),
}


def fault_reply(fault: Fault) -> FaultReply:
    """TikTok's answer for an injected 429, 500 or 503 (the v2 error envelope)."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if status == 429 or fault.retry_after is not None:
        headers["retry-after"] = str(retry_after_seconds(fault))
    if status == 429:
        code, message = "rate_limit_exceeded", "The API rate limit was exceeded. Please try " \
                                               "again later."
    else:
        code, message = "internal_error", "Something went wrong. Please try again later."
    body = {"data": {}, "error": {"code": code, "message": message, "log_id": log_id()}}
    return FaultReply(status, dump_json(body), headers)


class TikTokEmulator:
    """TikTok's Login Kit endpoints and ``/v2/user/info/`` around an :class:`OAuthCore`."""

    def __init__(self, ctx: EmulatorContext, settings: Settings | None = None) -> None:
        self.core = OAuthCore(PROFILE, ctx, settings or default_settings(), ACCOUNTS,
                              access_factory=lambda: "act." + random_token("", 60) + "!4218",
                              refresh_factory=lambda: "rft." + random_token("", 60) + "!4218")

    @staticmethod
    def _body(issued: Issued) -> dict[str, Any]:
        return {"access_token": issued.access_token, "expires_in": issued.expires_in,
                "open_id": issued.grant.account,
                "refresh_expires_in": issued.refresh_expires_in or 0,
                "refresh_token": issued.refresh_token,
                "scope": ",".join(issued.grant.scopes), "token_type": "Bearer"}

    async def token(self, request: Request) -> Response:
        params = await read_params(request)
        client_key = params.get("client_key", "")
        if not is_demo_client(client_key) or not secret_ok(client_key,
                                                           params.get("client_secret")):
            return oauth_error("invalid_client", "Client key or secret is invalid.", 401)
        grant_type = params.get("grant_type", "")
        try:
            if grant_type == "authorization_code":
                if not params.get("code"):
                    return oauth_error("invalid_request", "Code is required.")
                entry = self.core.redeem(params["code"], client_key,
                                         params.get("redirect_uri"),
                                         params.get("code_verifier"))
                issued = self.core.exchange(entry, public=False, refresh=True)
                return no_store(JSONResponse(self._body(issued)))
            if grant_type == "refresh_token":
                if not params.get("refresh_token"):
                    return oauth_error("invalid_request", "Refresh token is required.")
                issued = self.core.refresh(params["refresh_token"], client_key, rotate=True)
                return no_store(JSONResponse(self._body(issued)))
        except GrantError as error:
            return oauth_error(*_GRANT_ERRORS[error.reason])
        if not grant_type:
            return oauth_error("invalid_request", "Grant type is required.")
        return oauth_error("unsupported_grant_type", "Grant type is not supported.")

    async def revoke(self, request: Request) -> Response:
        params = await read_params(request)
        client_key = params.get("client_key", "")
        if not is_demo_client(client_key) or not secret_ok(client_key,
                                                           params.get("client_secret")):
            return oauth_error("invalid_client", "Client key or secret is invalid.", 401)
        token = params.get("token", "")
        if not token:
            return oauth_error("invalid_request", "Token is required.")
        record = self.core.store.find(PROVIDER, token)
        if record is not None and record.grant.client_id == client_key:
            self.core.store.revoke_account(PROVIDER, client_key, record.grant.account,
                                           self.core.now())
        return no_store(Response(b"", 200))

    async def user_info(self, request: Request) -> Response:
        grant, _ = self.core.authenticate(bearer_token(request.headers.get("authorization")))
        account = self.core.account(grant.account) if grant else None
        if grant is None or account is None:
            return api_error("access_token_invalid", "The access token is invalid or not "
                                                     "found in the request.", 401)
        fields = [f.strip() for f in request.query_params.get("fields", "").split(",")
                  if f.strip()]
        if not fields:
            return api_error("invalid_params", "The fields parameter is required.", 400)
        unknown = [f for f in fields if f not in FIELD_SCOPES]
        if unknown:
            return api_error("invalid_params", f"Invalid fields: {','.join(unknown)}.", 400)
        missing = sorted({FIELD_SCOPES[f] for f in fields} - set(grant.scopes))
        if missing:
            return api_error("scope_not_authorized", "The user did not authorize the scope "
                             f"required for completing this request: {','.join(missing)}.",
                             401)
        extra = account.extra
        avatar = avatar_url(request, account.username)
        values: dict[str, Any] = {
            "open_id": account.id, "union_id": extra["union_id"], "avatar_url": avatar,
            "avatar_url_100": avatar, "avatar_large_url": avatar,
            "display_name": account.name, "bio_description": extra["bio"],
            "profile_deep_link": f"https://vm.tiktok.com/sandbox/@{account.username}",
            "is_verified": extra["verified"], "username": account.username,
            "follower_count": extra["followers"], "following_count": extra["following"],
            "likes_count": extra["likes"], "video_count": extra["videos"],
        }
        return JSONResponse({"data": {"user": {f: values[f] for f in fields}},
                             "error": {"code": "ok", "message": "", "log_id": log_id()}})

    def app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 404
            return api_error("invalid_params", f"No endpoint at {request.url.path}.", status)

        return Starlette(routes=[
            Route("/v2/auth/authorize/", self.core.authorize, methods=["GET"]),
            Route("/v2/oauth/token/", self.token, methods=["POST"]),
            Route("/v2/oauth/revoke/", self.revoke, methods=["POST"]),
            Route("/v2/user/info/", self.user_info, methods=["GET"]),
            *self.core.shared_routes(),
            *tiktok_api.routes(self.core),  # Content Posting (sandbox.social)
        ], exception_handlers={HTTPException: not_found})


def create_app(ctx: EmulatorContext, settings: Settings | None = None) -> ASGIApp:
    """The TikTok sign-in emulator, routing on paths below its mount (``/tiktok``)."""
    return TikTokEmulator(ctx, settings).app()
