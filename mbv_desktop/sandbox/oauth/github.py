"""The GitHub sign-in emulator: the web application flow (with PKCE) and the device flow
(RFC 8628), issuing expiring user tokens with single-use refresh tokens, and the ``/user`` API.

Mounted at ``/github``; the app points both ``github.base_url`` and ``github.api_base`` at
``http://127.0.0.1:PORT/github``::

    GET    /login/oauth/authorize              consent page                     github.com
    POST   /login/oauth/access_token           code, refresh or device grant    github.com
    POST   /login/device/code                  start the device flow            github.com
    GET    /login/device[?user_code=]          page where the user types the code
    POST   /login/device                       that page's form (user_code, decision, account)
    POST   /_device/{user_code}                scripted approval (decision=allow|deny, account=n)
    GET    /user, /user/emails                 REST API (Bearer or ``token`` scheme)  api.github.com
    DELETE /applications/{client_id}/grant     revoke the authorization   (Basic client:secret,
    DELETE /applications/{client_id}/token     revoke one token            JSON {"access_token"})
    POST   /_consent/{consent_id}, GET|POST /_settings   (see :mod:`.core`)

Web flow: authorize takes ``client_id``, ``redirect_uri`` (loopback, any port), ``scope``,
``state``, ``login`` (pre-selects a demo account), ``code_challenge`` +
``code_challenge_method=S256`` (required here, although GitHub itself only recommends PKCE).
Deny redirects with ``error=access_denied``, ``error_description`` and ``error_uri``.

``/login/oauth/access_token`` takes its parameters as a form, a query string or JSON, and
answers form-encoded unless ``Accept`` asks for ``application/json`` (or ``application/xml``).
Errors come with HTTP 200, as on GitHub, in ``{"error", "error_description", "error_uri"}``:
``incorrect_client_credentials`` (unknown client, missing or wrong ``client_secret``: required for
the web flow and for refreshing a web-flow token), ``redirect_uri_mismatch``,
``bad_verification_code`` (unknown, used, expired or foreign code, wrong or missing
``code_verifier``), ``bad_refresh_token`` (unknown, expired, revoked or already used refresh
token; a used one also revokes the family), ``unsupported_grant_type``. Success:
``access_token`` ``ghu_…`` (``expires_in`` 28800), ``refresh_token`` ``ghr_…``
(``refresh_token_expires_in`` 15897600), ``scope`` (comma separated), ``token_type=bearer``.
A refresh rotates both: the old refresh token and the old access token stop working.

Device flow: ``POST /login/device/code`` (``client_id``, ``scope``; no secret) → ``device_code``,
``user_code`` (``XXXX-XXXX``), ``verification_uri`` (``{base}/login/device``), ``expires_in``
(900), ``interval`` (5; ``device_interval`` setting). Polling with
``grant_type=urn:ietf:params:oauth:grant-type:device_code``, ``client_id``, ``device_code``
answers ``authorization_pending``, ``slow_down`` (polled sooner than the interval: the interval
grows by 5 s and is returned as ``interval``), ``expired_token``, ``access_denied``,
``incorrect_device_code`` or the tokens (then the device code is used up). A device-flow token
refreshes without a client secret.

API errors: 401 ``{"message": "Bad credentials", "documentation_url": …, "status": "401"}``
for an unknown, expired or revoked token.

Demo client: ``sandbox-github`` / ``sandbox-github-secret``. Demo accounts: ``maya-creator``,
``leo-lens``, ``nia-demo``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape as xml_escape

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import (
    EmulatorContext,
    FaultReply,
    dump_json,
    retry_after_seconds,
)
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.oauth import pages
from mbv_desktop.sandbox.oauth.core import (
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
from mbv_desktop.sandbox.oauth.store import Grant

PROVIDER = "github"
DEMO_CLIENT_ID = "sandbox-github"
DEMO_CLIENT_SECRET = "sandbox-github-secret"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes
DOCS = "https://docs.github.com"
TOKEN_ERRORS_URI = (f"{DOCS}/apps/managing-oauth-apps/"
                    "troubleshooting-oauth-app-access-token-request-errors/")
DEVICE_ERRORS_URI = (f"{DOCS}/developers/apps/authorizing-oauth-apps#error-codes-for-the-"
                     "device-flow")

ACCOUNTS = (
    DemoAccount("90000001", "Maya Creator", "maya-creator", "maya.creator@sandbox.example",
                {"bio": "Short videos about making things.", "location": "Lisbon",
                 "public_repos": 12, "followers": 340, "following": 18}),
    DemoAccount("90000002", "Leo Lens", "leo-lens", "leo.lens@sandbox.example",
                {"bio": "Photographer. Presets and scripts.", "location": "Montréal",
                 "public_repos": 4, "followers": 57, "following": 90}),
    DemoAccount("90000003", "Nia Demo", "nia-demo", "nia.demo@sandbox.example",
                {"bio": "", "location": None, "public_repos": 0, "followers": 0,
                 "following": 0}),
)

PROFILE = ProviderProfile(
    name=PROVIDER, display="GitHub",
    deny_params={"error": "access_denied",
                 "error_description": "The user has denied your application access.",
                 "error_uri": f"{DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-"
                              "request-errors/#access-denied"},
    code_factory=lambda: secrets.token_hex(10))


def default_settings() -> Settings:
    return Settings(access_ttl=28800.0, refresh_ttl=15897600.0)


@dataclass
class DeviceRequest:
    """One device-flow authorization, from ``/login/device/code`` to the token."""

    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    interval: int
    last_poll: float | None = None
    status: str = "pending"  # pending | approved | denied
    account: DemoAccount | None = None
    consumed: bool = False


def normalize_user_code(raw: str) -> str:
    """``abcd1234`` / ``ABCD-1234`` → ``ABCD-1234``."""
    code = "".join(ch for ch in raw.upper() if ch.isalnum())
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else raw.strip().upper()


def _new_user_code() -> str:
    chars = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def _xml(body: Mapping[str, Any]) -> str:
    items = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in body.items())
    return f"<OAuth>{items}</OAuth>"


def negotiate(request: Request, body: Mapping[str, Any], status: int = 200) -> Response:
    """The login endpoints' answer in the format ``Accept`` asks for (form by default)."""
    accept = request.headers.get("accept", "").lower()
    response: Response
    if "application/json" in accept:
        response = JSONResponse(dict(body), status)
    elif "application/xml" in accept:
        response = Response(_xml(body), status, media_type="application/xml; charset=utf-8")
    else:
        form = urlencode({k: "" if v is None else str(v) for k, v in body.items()})
        response = Response(form, status,
                            media_type="application/x-www-form-urlencoded; charset=utf-8")
    return no_store(response)


def _error(request: Request, error: str, description: str, uri: str = TOKEN_ERRORS_URI,
           **extra: Any) -> Response:
    anchor = "#" + error.replace("_", "-")
    return negotiate(request, {"error": error, "error_description": description,
                               "error_uri": uri + anchor, **extra})


def _api_error(message: str, status: int) -> Response:
    return JSONResponse({"message": message, "documentation_url": f"{DOCS}/rest",
                         "status": str(status)}, status)


def fault_reply(fault: Fault) -> FaultReply:
    """GitHub's answer for an injected 429, 500 or 503."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if status == 429:
        wait = retry_after_seconds(fault)
        headers.update({"retry-after": str(wait), "x-ratelimit-limit": "5000",
                        "x-ratelimit-remaining": "0", "x-ratelimit-used": "5000",
                        "x-ratelimit-resource": "core"})
        message = "API rate limit exceeded for user."
    elif status == 500:
        message = "Server Error"
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        message = "Service Unavailable"
    body = {"message": message, "documentation_url": f"{DOCS}/rest", "status": str(status)}
    return FaultReply(status, dump_json(body), headers)


class GitHubEmulator:
    """GitHub's login and API endpoints around an :class:`OAuthCore`."""

    def __init__(self, ctx: EmulatorContext, settings: Settings | None = None) -> None:
        self.core = OAuthCore(PROFILE, ctx, settings or default_settings(), ACCOUNTS,
                              access_factory=lambda: random_token("ghu_", 36),
                              refresh_factory=lambda: random_token("ghr_", 76))
        self.devices: dict[str, DeviceRequest] = {}

    # -- tokens ------------------------------------------------------------------------------

    @staticmethod
    def _token_body(issued: Issued) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": issued.access_token,
                                "expires_in": issued.expires_in}
        if issued.refresh_token is not None:
            body["refresh_token"] = issued.refresh_token
            if issued.refresh_expires_in is not None:
                body["refresh_token_expires_in"] = issued.refresh_expires_in
        body.update(scope=",".join(issued.grant.scopes), token_type="bearer")
        return body

    async def access_token(self, request: Request) -> Response:
        params = await read_params(request)
        basic = basic_auth(request)
        client_id, secret = basic if basic else (params.get("client_id", ""),
                                                 params.get("client_secret"))
        grant_type = params.get("grant_type") or "authorization_code"
        if not is_demo_client(client_id):
            return _error(request, "incorrect_client_credentials",
                          "The client_id and/or client_secret passed are incorrect.")
        if grant_type == DEVICE_GRANT:
            return self._poll(request, client_id, params.get("device_code", ""))
        if grant_type == "authorization_code":
            if not secret_ok(client_id, secret):
                return _error(request, "incorrect_client_credentials",
                              "The client_id and/or client_secret passed are incorrect.")
            try:
                entry = self.core.redeem(params.get("code", ""), client_id,
                                         params.get("redirect_uri"),
                                         params.get("code_verifier"))
            except GrantError as error:
                if error.reason == "redirect_mismatch":
                    return _error(request, "redirect_uri_mismatch",
                                  "The redirect_uri MUST match the registered callback URL "
                                  "for this application.")
                return _error(request, "bad_verification_code",
                              "The code passed is incorrect or expired.")
            issued = self.core.exchange(entry, public=False, refresh=True)
            return negotiate(request, self._token_body(issued))
        if grant_type == "refresh_token":
            token = params.get("refresh_token", "")
            record = self.core.store.find(PROVIDER, token) if token else None
            public = record is not None and record.grant.public
            if not public and not secret_ok(client_id, secret):
                return _error(request, "incorrect_client_credentials",
                              "The client_id and/or client_secret passed are incorrect.")
            try:
                issued = self.core.refresh(token, client_id, rotate=True,
                                           revoke_old_access=True)
            except GrantError:
                return _error(request, "bad_refresh_token",
                              "The refresh token passed is incorrect or expired.")
            return negotiate(request, self._token_body(issued))
        return _error(request, "unsupported_grant_type",
                      "The grant type is not supported.")

    # -- device flow -------------------------------------------------------------------------

    def _purge_devices(self) -> None:
        now = self.core.now()
        for code in [c for c, d in self.devices.items() if now >= d.expires_at + 3600]:
            del self.devices[code]

    def _device_by_user_code(self, user_code: str) -> DeviceRequest | None:
        wanted = normalize_user_code(user_code)
        return next((d for d in self.devices.values() if d.user_code == wanted), None)

    async def device_code(self, request: Request) -> Response:
        params = await read_params(request)
        client_id = params.get("client_id", "")
        if not is_demo_client(client_id):
            return _error(request, "incorrect_client_credentials",
                          "The client_id passed is incorrect.", DEVICE_ERRORS_URI)
        self._purge_devices()
        settings = self.core.settings
        user_code = _new_user_code()
        while self._device_by_user_code(user_code) is not None:
            user_code = _new_user_code()
        device = DeviceRequest(device_code=secrets.token_hex(20), user_code=user_code,
                               client_id=client_id,
                               scopes=PROFILE.split_scopes(params.get("scope")),
                               expires_at=self.core.now() + settings.device_ttl,
                               interval=int(settings.device_interval))
        self.devices[device.device_code] = device
        return negotiate(request, {"device_code": device.device_code,
                                   "user_code": device.user_code,
                                   "verification_uri": f"{base_url(request)}/login/device",
                                   "expires_in": int(settings.device_ttl),
                                   "interval": device.interval})

    def _poll(self, request: Request, client_id: str, device_code: str) -> Response:
        device = self.devices.get(device_code)
        now = self.core.now()
        if device is None or device.client_id != client_id or device.consumed:
            return _error(request, "incorrect_device_code",
                          "The device_code provided is not valid.", DEVICE_ERRORS_URI)
        if now >= device.expires_at:
            return _error(request, "expired_token", "The device_code has expired.",
                          DEVICE_ERRORS_URI)
        too_soon = device.last_poll is not None and now - device.last_poll < device.interval
        device.last_poll = now
        if too_soon:
            device.interval += SLOW_DOWN_STEP
            return _error(request, "slow_down",
                          "Too many requests have been made in the same timeframe.",
                          DEVICE_ERRORS_URI, interval=device.interval)
        if device.status == "denied":
            return _error(request, "access_denied", "The authorization request was denied.",
                          DEVICE_ERRORS_URI)
        if device.status == "pending" or device.account is None:
            return _error(request, "authorization_pending",
                          "The authorization request is still pending.", DEVICE_ERRORS_URI)
        device.consumed = True
        grant = self.core.store.create_grant(PROVIDER, client_id, device.account.id,
                                             device.scopes, public=True, now=now)
        return negotiate(request, self._token_body(self.core.issue(grant, refresh=True)))

    def _decide_device(self, user_code: str, decision: str,
                       account_raw: str | None) -> tuple[DeviceRequest | None, str]:
        """Approves or denies a device code; (device, "") or (None, error code)."""
        account = self.core.pick_account(account_raw)
        if decision not in ("allow", "deny") or account is None:
            return None, "invalid_request"
        device = self._device_by_user_code(user_code)
        if device is None or device.consumed or device.status != "pending":
            return None, "incorrect_user_code"
        if self.core.now() >= device.expires_at:
            return None, "expired_token"
        device.status = "approved" if decision == "allow" else "denied"
        device.account = account if decision == "allow" else None
        return device, ""

    async def device_page(self, request: Request) -> Response:
        return pages.device_page(action=f"{request.scope.get('root_path', '')}/login/device",
                                 user_code=request.query_params.get("user_code", ""),
                                 accounts=[a.picker_line for a in ACCOUNTS])

    async def device_form(self, request: Request) -> Response:
        params = await read_params(request)
        device, error = self._decide_device(params.get("user_code", ""),
                                            params.get("decision", ""), params.get("account"))
        if device is None:
            return pages.error_page("GitHub", error, _DEVICE_PAGE_ERRORS[error])
        return pages.device_result_page(device.status == "approved")

    async def device_scripted(self, request: Request) -> Response:
        params = await read_params(request)
        user_code = request.path_params["user_code"]
        device, error = self._decide_device(user_code, params.get("decision", ""),
                                            params.get("account"))
        if device is None:
            status = 404 if error == "incorrect_user_code" else 400
            return JSONResponse({"error": error,
                                 "error_description": _DEVICE_PAGE_ERRORS[error]}, status)
        return JSONResponse({"user_code": device.user_code, "status": device.status})

    # -- REST API ----------------------------------------------------------------------------

    def _api_grant(self, request: Request) -> tuple[Grant | None, DemoAccount | None]:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None, None
        grant, _ = self.core.authenticate(token.strip())
        return grant, (self.core.account(grant.account) if grant else None)

    @staticmethod
    def _api_headers(scopes: tuple[str, ...]) -> dict[str, str]:
        return {"x-oauth-scopes": ", ".join(scopes), "x-accepted-oauth-scopes": "",
                "x-github-media-type": "github.v3; format=json",
                "x-github-api-version-selected": "2022-11-28"}

    async def user(self, request: Request) -> Response:
        grant, account = self._api_grant(request)
        if grant is None or account is None:
            return _api_error("Bad credentials", 401)
        base = base_url(request)
        extra = account.extra
        return JSONResponse({
            "login": account.username, "id": int(account.id),
            "node_id": f"U_kgDOB{account.id}", "avatar_url": avatar_url(request, account.username),
            "gravatar_id": "", "url": f"{base}/users/{account.username}",
            "html_url": f"{base}/{account.username}", "type": "User", "site_admin": False,
            "name": account.name, "company": None, "blog": "", "location": extra["location"],
            "email": account.email, "hireable": None, "bio": extra["bio"] or None,
            "twitter_username": None, "public_repos": extra["public_repos"],
            "public_gists": 0, "followers": extra["followers"],
            "following": extra["following"], "created_at": "2019-03-14T09:26:53Z",
            "updated_at": "2026-01-05T17:02:11Z",
        }, headers=self._api_headers(grant.scopes))

    async def user_emails(self, request: Request) -> Response:
        grant, account = self._api_grant(request)
        if grant is None or account is None:
            return _api_error("Bad credentials", 401)
        if not {"user", "user:email"} & set(grant.scopes):
            return _api_error("Not Found", 404)
        return JSONResponse([{"email": account.email, "primary": True, "verified": True,
                              "visibility": "public"}],
                            headers=self._api_headers(grant.scopes))

    async def revoke(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        basic = basic_auth(request)
        if basic is None or basic[0] != client_id or not secret_ok(*basic):
            return _api_error("Not Found", 404)
        params = await read_params(request)
        token = params.get("access_token")
        if not token:
            return _api_error('Invalid request.\n\n"access_token" wasn\'t supplied.', 422)
        record = self.core.store.find(PROVIDER, token)
        if record is None or record.kind != "access" or record.grant.client_id != client_id:
            return _api_error("Not Found", 404)
        if request.url.path.endswith("/grant"):
            self.core.store.revoke_account(PROVIDER, client_id, record.grant.account,
                                           self.core.now())
        else:
            self.core.store.revoke_token(PROVIDER, token)
        return Response(status_code=204)

    def app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            status = exc.status_code if isinstance(exc, HTTPException) else 404
            return _api_error("Not Found", status)

        return Starlette(routes=[
            Route("/login/oauth/authorize", self.core.authorize, methods=["GET"]),
            Route("/login/oauth/access_token", self.access_token, methods=["POST"]),
            Route("/login/device/code", self.device_code, methods=["POST"]),
            Route("/login/device", self.device_page, methods=["GET"]),
            Route("/login/device", self.device_form, methods=["POST"]),
            Route("/_device/{user_code}", self.device_scripted, methods=["POST"]),
            Route("/user", self.user, methods=["GET"]),
            Route("/user/emails", self.user_emails, methods=["GET"]),
            Route("/applications/{client_id}/grant", self.revoke, methods=["DELETE"]),
            Route("/applications/{client_id}/token", self.revoke, methods=["DELETE"]),
            *self.core.shared_routes(),
        ], exception_handlers={HTTPException: not_found})


_DEVICE_PAGE_ERRORS = {
    "invalid_request": "decision must be allow or deny, and account the number of a demo "
                       "account.",
    "incorrect_user_code": "That code is not valid, was already used or has been answered.",
    "expired_token": "That code has expired; start again from the app.",
}


def create_app(ctx: EmulatorContext, settings: Settings | None = None) -> ASGIApp:
    """The GitHub emulator, routing on paths below its mount (``/github``)."""
    return GitHubEmulator(ctx, settings).app()
