"""The X (Twitter) sign-in emulator: OAuth 2.0 authorization code with PKCE, refresh-token
rotation, revocation, and ``GET /2/users/me``.

Mounted at ``/x``; the app points ``x.auth_base`` and ``x.api_base`` at
``http://127.0.0.1:PORT/x``::

    GET  /i/oauth2/authorize     consent page (also at /2/oauth2/authorize)     x.com
    POST /2/oauth2/token         code or refresh grant (form)                   api.x.com
    POST /2/oauth2/revoke        token=…                                        api.x.com
    GET  /2/users/me             the signed-in user (``user.fields``)           api.x.com
    POST /_consent/{consent_id}, GET|POST /_settings   (see :mod:`.core`)

Authorization: ``response_type=code``, ``client_id``, ``redirect_uri`` (loopback),
``scope`` (space separated, from X's list: ``tweet.read tweet.write users.read media.write
offline.access`` …; an unknown scope redirects with ``invalid_scope``), ``state`` (≤ 500
characters), ``code_challenge`` + ``code_challenge_method=S256`` (required; ``plain`` refused).

Token (form): public clients send ``client_id`` in the body; confidential clients authenticate
with HTTP Basic ``client_id:client_secret`` (a wrong or missing one: 401
``{"error": "unauthorized_client", "error_description": "Missing valid authorization header"}``).
``grant_type=authorization_code`` with ``code``, ``redirect_uri``, ``code_verifier``;
``grant_type=refresh_token`` with ``refresh_token``. Answer: ``token_type`` ``bearer``,
``expires_in`` 7200, ``access_token``, ``scope``, and ``refresh_token`` only when
``offline.access`` was granted. Each refresh rotates the refresh token; a rotated one presented
again revokes the family. Errors are 400 ``{"error", "error_description"}`` with the codes X
really sends: ``invalid_request`` "Value passed for the authorization code was invalid." for any
bad, used, expired or foreign code, redirect URI or verifier mismatch, and ``invalid_request``
"Value passed for the token was invalid." for a bad, revoked, expired or reused refresh token.

Revoke (form ``token``, ``token_type_hint``, ``client_id`` or Basic): ``{"revoked": true}``;
revoking a refresh token revokes its family, an access token only itself.

``/2/users/me`` needs ``tweet.read`` and ``users.read``: ``{"data": {"id", "name", "username",
…user.fields}}``. Errors are problem objects (``application/problem+json``): 401
``{"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}``
for an unknown, expired or revoked token, 403 for missing scopes, 400 ``invalid-request`` for an
unknown field; rate limit 75 requests per 15 minutes per token with ``x-rate-limit-*`` headers.

Demo client: ``sandbox-x`` / ``sandbox-x-secret`` (Basic) or ``sandbox-x`` alone (public).
Demo accounts: @maya_creates, @leo_lens, @nia_demo.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Sequence
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
    DemoAccount,
    GrantError,
    Issued,
    OAuthCore,
    ProviderProfile,
    Settings,
    avatar_url,
    basic_auth,
    is_demo_client,
    no_store,
    read_params,
    secret_ok,
)
from mbv_desktop.sandbox.social import x_api

PROVIDER = "x"
DEMO_CLIENT_ID = "sandbox-x"
DEMO_CLIENT_SECRET = "sandbox-x-secret"
PROBLEMS = "https://api.x.com/2/problems"
ME_LIMIT = 75
ME_WINDOW = 15 * 60.0

SCOPES = frozenset({
    "block.read", "block.write", "bookmark.read", "bookmark.write", "dm.read", "dm.write",
    "follows.read", "follows.write", "like.read", "like.write", "list.read", "list.write",
    "media.write", "mute.read", "mute.write", "offline.access", "space.read",
    "tweet.moderate.write", "tweet.read", "tweet.write", "users.email", "users.read",
})
USER_FIELDS = (
    "affiliation", "confirmed_email", "connection_status", "created_at", "description",
    "entities", "id", "is_identity_verified", "location", "most_recent_post_id", "name",
    "parody", "pinned_post_id", "profile_banner_url", "profile_image_url", "protected",
    "public_metrics", "receives_your_dm", "subscribes_to_you", "subscription",
    "subscription_type", "url", "username", "verified", "verified_followers_count",
    "verified_type", "withheld",
)

ACCOUNTS = (
    DemoAccount("1700000000000000001", "Maya Creator", "maya_creates",
                "maya.creator@sandbox.example",
                {"description": "Short videos about making things. 🎬", "location": "Lisbon",
                 "created_at": "2019-03-14T09:26:53.000Z", "verified": True,
                 "verified_type": "blue", "followers": 12840, "following": 311,
                 "tweets": 2207, "listed": 41, "likes": 5120, "media": 388}),
    DemoAccount("1700000000000000002", "Leo Lens", "leo_lens", "leo.lens@sandbox.example",
                {"description": "Photographer.", "location": "Montréal",
                 "created_at": "2021-07-02T18:04:10.000Z", "verified": False,
                 "verified_type": "none", "followers": 902, "following": 540,
                 "tweets": 611, "listed": 3, "likes": 1800, "media": 240}),
    DemoAccount("1700000000000000003", "Nia Demo", "nia_demo", "nia.demo@sandbox.example",
                {"description": "", "location": None,
                 "created_at": "2026-01-20T11:00:00.000Z", "verified": False,
                 "verified_type": "none", "followers": 0, "following": 0, "tweets": 0,
                 "listed": 0, "likes": 0, "media": 0}),
)


def _check_scope(scopes: Sequence[str]) -> str | None:
    return next((s for s in scopes if s not in SCOPES), None)


PROFILE = ProviderProfile(name=PROVIDER, display="X", check_scope=_check_scope, max_state=500,
                          code_factory=lambda: secrets.token_urlsafe(48))


def default_settings() -> Settings:
    return Settings(access_ttl=7200.0, refresh_ttl=None)


def problem(status: int, title: str, detail: str, type_: str = "about:blank",
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {**extra, "title": title, "detail": detail, "type": type_, "status": status}
    if type_ != "about:blank":
        body.pop("status")
    return JSONResponse(body, status, headers=headers, media_type="application/problem+json")


def _token_error(description: str, status: int = 400, error: str = "invalid_request") -> Response:
    return no_store(JSONResponse({"error": error, "error_description": description}, status))


BAD_CODE = "Value passed for the authorization code was invalid."
BAD_TOKEN = "Value passed for the token was invalid."


def fault_reply(fault: Fault) -> FaultReply:
    """X's answer for an injected 429, 500 or 503 (problem JSON, rate-limit headers)."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if status == 429:
        wait = retry_after_seconds(fault)
        headers.update({"x-rate-limit-limit": str(ME_LIMIT), "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": str(int(time.time()) + wait)})
        title = "Too Many Requests"
    elif status == 500:
        title = "Internal Server Error"
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        title = "Service Unavailable"
    body = {"title": title, "detail": title, "type": "about:blank", "status": status}
    return FaultReply(status, dump_json(body), headers, "application/problem+json")


class XEmulator:
    """X's OAuth 2.0 endpoints and ``/2/users/me`` around an :class:`OAuthCore`."""

    def __init__(self, ctx: EmulatorContext, settings: Settings | None = None) -> None:
        self.core = OAuthCore(PROFILE, ctx, settings or default_settings(), ACCOUNTS,
                              access_factory=lambda: secrets.token_urlsafe(66),
                              refresh_factory=lambda: secrets.token_urlsafe(66))
        self.windows: dict[str, tuple[float, int]] = {}
        self.posting = x_api.XPosting(self.core)  # /2/tweets, /2/media/upload, trends…

    def _client(self, request: Request, params: dict[str, str]) -> tuple[str, bool] | None:
        """(client_id, public) of a token or revoke request; None when it fails."""
        basic = basic_auth(request)
        if basic is not None:
            return (basic[0], False) if secret_ok(*basic) else None
        client_id = params.get("client_id", "")
        return (client_id, True) if is_demo_client(client_id) else None

    @staticmethod
    def _body(issued: Issued) -> dict[str, Any]:
        body: dict[str, Any] = {"token_type": "bearer", "expires_in": issued.expires_in,
                                "access_token": issued.access_token,
                                "scope": " ".join(issued.grant.scopes)}
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
        return body

    async def token(self, request: Request) -> Response:
        params = await read_params(request)
        client = self._client(request, params)
        if client is None:
            return _token_error("Missing valid authorization header", 401,
                                "unauthorized_client")
        client_id, public = client
        grant_type = params.get("grant_type", "")
        if grant_type == "authorization_code":
            if not params.get("code"):
                return _token_error("Missing required parameter [code].")
            try:
                entry = self.core.redeem(params["code"], client_id, params.get("redirect_uri"),
                                         params.get("code_verifier"))
            except GrantError:
                return _token_error(BAD_CODE)
            offline = "offline.access" in entry.request.scopes
            issued = self.core.exchange(entry, public=public, refresh=offline)
            return no_store(JSONResponse(self._body(issued)))
        if grant_type == "refresh_token":
            if not params.get("refresh_token"):
                return _token_error("Missing required parameter [refresh_token].")
            try:
                issued = self.core.refresh(params["refresh_token"], client_id, rotate=True)
            except GrantError:
                return _token_error(BAD_TOKEN)
            return no_store(JSONResponse(self._body(issued)))
        return _token_error("Value passed for the grant type was invalid.", 400,
                            "unsupported_grant_type")

    async def revoke(self, request: Request) -> Response:
        params = await read_params(request)
        client = self._client(request, params)
        if client is None:
            return _token_error("Missing valid authorization header", 401,
                                "unauthorized_client")
        token = params.get("token", "")
        if not token:
            return _token_error("Missing required parameter [token].")
        record = self.core.store.find(PROVIDER, token)
        if record is not None and record.grant.client_id == client[0]:
            if record.kind == "refresh":
                self.core.store.revoke_family(record.grant.family, self.core.now())
            else:
                self.core.store.revoke_token(PROVIDER, token)
        return JSONResponse({"revoked": True})

    def _rate(self, token: str) -> tuple[bool, dict[str, str]]:
        now = self.core.now()
        start, count = self.windows.get(token, (now, 0))
        if now - start >= ME_WINDOW:
            start, count = now, 0
        allowed = count < ME_LIMIT
        count += int(allowed)
        self.windows[token] = (start, count)
        return allowed, {"x-rate-limit-limit": str(ME_LIMIT),
                         "x-rate-limit-remaining": str(ME_LIMIT - count),
                         "x-rate-limit-reset": str(math.ceil(start + ME_WINDOW))}

    async def users_me(self, request: Request) -> Response:
        token = bearer_token(request.headers.get("authorization"))
        grant, _ = self.core.authenticate(token)
        account = self.core.account(grant.account) if grant else None
        if grant is None or account is None or token is None:
            return problem(401, "Unauthorized", "Unauthorized")
        allowed, headers = self._rate(token)
        if not allowed:
            return problem(429, "Too Many Requests", "Too Many Requests", headers=headers)
        if not {"tweet.read", "users.read"} <= set(grant.scopes):
            return problem(403, "Forbidden", "Forbidden", headers=headers)
        raw = request.query_params.get("user.fields")
        fields = [f for f in (raw or "").split(",") if f] if raw is not None else []
        unknown = [f for f in fields if f not in USER_FIELDS]
        if raw is not None and (unknown or not fields):
            value = ",".join(unknown) or raw
            message = (f"The `user.fields` query parameter value [{value}] is not one of "
                       f"[{','.join(USER_FIELDS)}]")
            return problem(400, "Invalid Request",
                           "One or more parameters to your request was invalid.",
                           f"{PROBLEMS}/invalid-request", headers=headers,
                           errors=[{"parameters": {"user.fields": [value]},
                                    "message": message}])
        return JSONResponse({"data": self._user(request, account, fields)}, headers=headers)

    def _user(self, request: Request, account: DemoAccount,
              fields: Sequence[str]) -> dict[str, Any]:
        extra = account.extra
        available: dict[str, Any] = {
            "created_at": extra["created_at"],
            "description": extra["description"],
            "location": extra["location"],
            "profile_image_url": avatar_url(request, account.username),
            "protected": False,
            "public_metrics": self.posting.user_public_metrics(account),
            "url": "",
            "verified": extra["verified"],
            "verified_type": extra["verified_type"],
        }
        user: dict[str, Any] = {"id": account.id, "name": account.name,
                                "username": account.username}
        for name in fields:
            if available.get(name) is not None:
                user[name] = available[name]
        return user

    def app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 404
            return problem(status, "Not Found Error", f"Could not find {request.url.path}",
                           f"{PROBLEMS}/resource-not-found")

        return Starlette(routes=[
            Route("/i/oauth2/authorize", self.core.authorize, methods=["GET"]),
            Route("/2/oauth2/authorize", self.core.authorize, methods=["GET"]),
            Route("/2/oauth2/token", self.token, methods=["POST"]),
            Route("/2/oauth2/revoke", self.revoke, methods=["POST"]),
            Route("/2/users/me", self.users_me, methods=["GET"]),
            *self.core.shared_routes(),
            *self.posting.routes(),  # posting: /2/tweets, /2/media/upload… (sandbox.social)
        ], exception_handlers={HTTPException: not_found})


def create_app(ctx: EmulatorContext, settings: Settings | None = None) -> ASGIApp:
    """The X sign-in emulator, routing on paths below its mount (``/x``)."""
    return XEmulator(ctx, settings).app()
