"""The Facebook Login emulator, as used to connect an Instagram professional account: the
login dialog, the code exchange, the long-lived token exchange, and the Graph API reads that
find the Instagram account linked to one of the user's Pages.

Mounted at ``/facebook``; the app points ``facebook.auth_base`` and ``facebook.graph_base`` at
``http://127.0.0.1:PORT/facebook``. Any Graph version ``v<N>.0`` works in place of ``v21.0``::

    GET        /v21.0/dialog/oauth            login dialog (consent page)       www.facebook.com
    GET|POST   /v21.0/oauth/access_token      code → short-lived token;          graph.facebook.com
                                              grant_type=fb_exchange_token → long-lived (60 days)
    GET        /v21.0/me                      ?fields=id,name,email,picture…
    GET        /v21.0/me/accounts             Pages; ?fields=instagram_business_account{id,…}
    GET        /v21.0/{ig-user-id}            ?fields=username,profile_picture_url,…
    GET        /v21.0/{page-id}               a Page of the user
    GET|DELETE /v21.0/me/permissions          granted permissions / revoke the app's access
    POST /_consent/{consent_id}, GET|POST /_settings   (see :mod:`.core`)

Dialog: ``client_id``, ``redirect_uri`` (loopback), ``state``, ``response_type=code``, ``scope``
(comma separated permissions such as ``instagram_basic,instagram_content_publish,
pages_show_list,pages_read_engagement,business_management``; ``public_profile`` is always
granted). PKCE is optional; when ``code_challenge`` is sent it must be S256 and the exchange
must bring ``code_verifier``. Every redirect ends with ``#_=_``, as Facebook's do. Deny gives
``error=access_denied&error_code=200&error_description=Permissions+error&
error_reason=user_denied``.

Token exchange (query string or form): ``client_id``, ``client_secret`` (required),
``redirect_uri``, ``code`` [, ``code_verifier``] → ``{"access_token": "EAA…", "token_type":
"bearer", "expires_in": 3600}`` (short-lived). ``grant_type=fb_exchange_token`` with
``client_id``, ``client_secret``, ``fb_exchange_token`` → a long-lived token
(``expires_in`` 5184000) in the same grant. Facebook has no refresh tokens.

Graph calls take ``access_token`` as a query/form parameter or an ``Authorization: Bearer``
(or ``OAuth``) header. Errors are Graph errors, HTTP 400, ``{"error": {"message", "type",
"code", "error_subcode"?, "fbtrace_id"}}``: 190 for an unknown (no subcode), expired (463) or
revoked (458) token, with ``WWW-Authenticate: OAuth "Facebook Platform" "invalid_token" …``;
2500 without a token; 100 for a bad code (36007 expired, 36008 redirect URI mismatch, 36009
used), unknown field or object (subcode 33); 10 for a missing permission (reading an Instagram
account without ``instagram_basic``); 1 and 101 for a bad client secret / app id.
``/me/accounts`` without ``pages_show_list`` is an empty list, as on Facebook.

Demo app: ``sandbox-facebook`` / ``sandbox-facebook-secret``. Demo users: Maya Creator (one Page,
linked to Instagram @maya.makes), Leo Lens (two Pages, one linked to @leo.lens), Nia Demo (one
Page with no Instagram account, the "nothing to connect" case).
"""

from __future__ import annotations

import re
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
    DemoAccount,
    GrantError,
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
from mbv_desktop.sandbox.oauth.store import Grant
from mbv_desktop.sandbox.social import instagram_api

PROVIDER = "facebook"
DEMO_CLIENT_ID = "sandbox-facebook"
DEMO_CLIENT_SECRET = "sandbox-facebook-secret"
VERSION_RE = re.compile(r"^v\d+\.0$")
PERMISSIONS = frozenset({
    "public_profile", "email", "pages_show_list", "pages_read_engagement",
    "pages_manage_posts", "pages_manage_metadata", "instagram_basic",
    "instagram_content_publish", "instagram_manage_insights", "instagram_manage_comments",
    "business_management",
})
USER_FIELDS = ("id", "name", "first_name", "last_name", "email", "picture")
PAGE_FIELDS = ("id", "name", "category", "tasks", "instagram_business_account",
               "connected_instagram_account")
PAGE_DEFAULT_FIELDS = "id,name,category,tasks"
IG_FIELDS = ("id", "username", "name", "profile_picture_url", "biography", "followers_count",
             "follows_count", "media_count", "website")
PAGE_TASKS = ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT", "MANAGE"]


def _page(page_id: str, name: str, category: str,
          ig: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"id": page_id, "name": name, "category": category, "ig": ig}


ACCOUNTS = (
    DemoAccount("10150000000000001", "Maya Creator", "maya.creator",
                "maya.creator@sandbox.example",
                {"pages": (_page("101000000000001", "Maya Makes", "Digital creator",
                                 {"id": "17841400000000001", "username": "maya.makes",
                                  "name": "Maya Makes", "biography": "Making things, daily.",
                                  "followers_count": 48210, "follows_count": 310,
                                  "media_count": 512}),)}),
    DemoAccount("10150000000000002", "Leo Lens", "leo.lens", "leo.lens@sandbox.example",
                {"pages": (_page("101000000000002", "Leo Lens Photography", "Photographer",
                                 {"id": "17841400000000002", "username": "leo.lens",
                                  "name": "Leo Lens", "biography": "Light and places.",
                                  "followers_count": 1310, "follows_count": 402,
                                  "media_count": 96}),
                           _page("101000000000003", "Leo's Notes", "Blogger"))}),
    DemoAccount("10150000000000003", "Nia Demo", "nia.demo", "nia.demo@sandbox.example",
                {"pages": (_page("101000000000004", "Nia's Bakery", "Bakery"),)}),
)


def _check_scope(scopes: Sequence[str]) -> str | None:
    return next((s for s in scopes if s not in PERMISSIONS), None)


PROFILE = ProviderProfile(
    name=PROVIDER, display="Facebook", scope_separator=",", pkce_required=False,
    check_scope=_check_scope, fragment="#_=_",
    deny_params={"error": "access_denied", "error_code": "200",
                 "error_description": "Permissions error", "error_reason": "user_denied"},
    code_factory=lambda: "AQ" + random_token("", 300))


def default_settings() -> Settings:
    return Settings(access_ttl=3600.0, refresh_ttl=None, long_lived_ttl=60 * 86400.0)


class GraphError(Exception):
    """A Graph API error (always HTTP 400 here, as Graph answers)."""

    def __init__(self, code: int, message: str, *, subcode: int | None = None,
                 type_: str = "OAuthException", token_error: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type_
        self.token_error = token_error

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = random_token("A", 10)
        return {"error": error}

    def response(self) -> Response:
        headers = {}
        if self.token_error:
            headers["www-authenticate"] = ('OAuth "Facebook Platform" "invalid_token" '
                                           f'"{self.message}"')
        return JSONResponse(self.body(), 400, headers=headers)


_GRANT_ERRORS: dict[str, tuple[str, int | None]] = {
    "invalid_code": ("Invalid verification code format.", None),
    "expired_code": ("This authorization code has expired.", 36007),
    "used_code": ("This authorization code has been used.", 36009),
    "client_mismatch": ("Error validating verification code.", 36008),
    "redirect_mismatch": ("Error validating verification code. Please make sure your "
                          "redirect_uri is identical to the one you used in the OAuth dialog "
                          "request", 36008),
    "pkce_missing": ("Missing code_verifier.", None),
    "pkce_mismatch": ("Invalid code_verifier.", None),
}


def _unknown_field(field: str, node_type: str) -> GraphError:
    return GraphError(100, f"(#100) Tried accessing nonexisting field ({field}) on node type "
                           f"({node_type})")


def parse_fields(raw: str | None, default: str) -> dict[str, dict[str, Any] | None]:
    """Graph's ``fields`` syntax: ``a,b{c,d{e}}`` → ``{"a": None, "b": {"c": None, ...}}``."""
    text = (raw if raw is not None and raw.strip() else default).replace(" ", "")

    def parse(pos: int, nested: bool) -> tuple[dict[str, dict[str, Any] | None], int]:
        out: dict[str, dict[str, Any] | None] = {}
        name = ""
        while pos < len(text):
            ch = text[pos]
            if ch == "{":
                if not name:
                    raise GraphError(2500, "Syntax error: expected a field name before '{'.")
                sub, pos = parse(pos + 1, True)
                out[name], name = sub, ""
                continue
            if ch == "}":
                if not nested:
                    raise GraphError(2500, "Syntax error: unexpected '}'.")
                if name:
                    out[name] = None
                return out, pos + 1
            if ch == ",":
                if name:
                    out[name] = None
                name = ""
            elif ch.isalnum() or ch in "_.":
                name += ch
            else:
                raise GraphError(2500, f"Syntax error \"Expected end of string instead of "
                                       f"\"{ch}\".\" at character {pos}: {text}")
            pos += 1
        if nested:
            raise GraphError(2500, "Syntax error: missing '}'.")
        if name:
            out[name] = None
        return out, pos

    return parse(0, False)[0]


def fault_reply(fault: Fault) -> FaultReply:
    """Graph's answer for an injected 429, 500 or 503 (transient Graph errors)."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if status == 429 or fault.retry_after is not None:
        headers["retry-after"] = str(retry_after_seconds(fault))
    code, message = {429: (4, "(#4) Application request limit reached"),
                     500: (1, "An unknown error has occurred."),
                     503: (2, "Service temporarily unavailable")}[status]
    body = {"error": {"message": message, "type": "OAuthException", "code": code,
                      "is_transient": True, "fbtrace_id": random_token("A", 10)}}
    return FaultReply(status, dump_json(body), headers)


class FacebookEmulator:
    """Facebook Login and the Graph reads behind an Instagram connection."""

    def __init__(self, ctx: EmulatorContext, settings: Settings | None = None) -> None:
        self.core = OAuthCore(PROFILE, ctx, settings or default_settings(), ACCOUNTS,
                              access_factory=lambda: random_token("EAA", 180),
                              refresh_factory=lambda: random_token("EAA", 180))

    @staticmethod
    def _version(request: Request) -> None:
        version = request.path_params.get("version", "")
        if not VERSION_RE.match(version):
            raise GraphError(2500, f"Unknown path components: /{version}")

    def _stamp(self, at: float) -> str:
        return time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime(at))

    async def _token_grant(self, request: Request,
                           params: Mapping[str, str]) -> tuple[Grant, DemoAccount]:
        token = params.get("access_token") or bearer_token(request.headers.get("authorization"))
        header = request.headers.get("authorization", "")
        if not token and header.lower().startswith("oauth "):
            token = header[6:].strip()
        if not token:
            raise GraphError(2500, "An active access token must be used to query information "
                                   "about the current user.")
        record = self.core.store.find(PROVIDER, token)
        now = self.core.now()
        if record is None or record.kind != "access":
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token",
                             token_error=True)
        verdict = record.verdict(now)
        if verdict == "expired" and record.expires_at is not None:
            raise GraphError(190, "Error validating access token: Session has expired on "
                                  f"{self._stamp(record.expires_at)}. The current time is "
                                  f"{self._stamp(now)}.", subcode=463, token_error=True)
        if verdict != "ok":
            raise GraphError(190, "Error validating access token: The user has not authorized "
                                  f"application {record.grant.client_id}.", subcode=458,
                             token_error=True)
        account = self.core.account(record.grant.account)
        assert account is not None
        return record.grant, account

    def _graph(self, handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                self._version(request)
                response: Response = await handler(request)
                return response
            except GraphError as error:
                return error.response()
        return run

    # -- login ---------------------------------------------------------------------------------

    async def dialog(self, request: Request) -> Response:
        return await self.core.authorize(request)

    async def access_token(self, request: Request) -> Response:
        params = await read_params(request)
        client_id = params.get("client_id", "")
        if not is_demo_client(client_id):
            raise GraphError(101, "Error validating application. Invalid application ID.")
        if not secret_ok(client_id, params.get("client_secret")):
            raise GraphError(1, "Error validating client secret.")
        if params.get("grant_type") == "fb_exchange_token":
            return self._exchange_long_lived(params, client_id)
        code = params.get("code")
        if not code:
            raise GraphError(100, "Missing authorization code")
        try:
            entry = self.core.redeem(code, client_id, params.get("redirect_uri"),
                                     params.get("code_verifier"))
        except GrantError as error:
            message, subcode = _GRANT_ERRORS[error.reason]
            raise GraphError(100, message, subcode=subcode) from None
        scopes = ("public_profile", *(s for s in entry.request.scopes if s != "public_profile"))
        issued = self.core.exchange(entry, public=False, refresh=False, scopes=scopes)
        return no_store(JSONResponse({"access_token": issued.access_token,
                                      "token_type": "bearer",
                                      "expires_in": issued.expires_in}))

    def _exchange_long_lived(self, params: Mapping[str, str], client_id: str) -> Response:
        token = params.get("fb_exchange_token", "")
        record = self.core.store.find(PROVIDER, token) if token else None
        if record is None or record.kind != "access" or record.grant.client_id != client_id:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token",
                             token_error=True)
        if record.verdict(self.core.now()) != "ok":
            raise GraphError(190, "Error validating access token: The session is invalid or "
                                  "has expired.", subcode=463, token_error=True)
        issued = self.core.issue(record.grant, refresh=False,
                                 access_ttl=self.core.settings.long_lived_ttl, tag="long_lived")
        return no_store(JSONResponse({"access_token": issued.access_token,
                                      "token_type": "bearer",
                                      "expires_in": issued.expires_in}))

    # -- Graph reads ------------------------------------------------------------------------------

    async def me(self, request: Request) -> Response:
        params = await read_params(request)
        grant, account = await self._token_grant(request, params)
        fields = parse_fields(params.get("fields"), "id,name")
        first, _, last = account.name.partition(" ")
        values: dict[str, Any] = {
            "id": account.id, "name": account.name, "first_name": first, "last_name": last,
            "picture": {"data": {"height": 50, "width": 50, "is_silhouette": False,
                                 "url": avatar_url(request, account.username)}},
        }
        if "email" in grant.scopes:
            values["email"] = account.email
        out: dict[str, Any] = {}
        for name in fields:
            if name not in USER_FIELDS:
                raise _unknown_field(name, "User")
            if name in values:
                out[name] = values[name]
        out.setdefault("id", account.id)
        return JSONResponse(out)

    def _ig_node(self, request: Request, ig: Mapping[str, Any],
                 fields: Mapping[str, Any] | None) -> dict[str, Any]:
        wanted = fields or {"id": None}
        out: dict[str, Any] = {}
        for name in wanted:
            if name not in IG_FIELDS:
                raise _unknown_field(name, "IGUser")
            if name == "profile_picture_url":
                out[name] = avatar_url(request, ig["username"])
            elif name == "website":
                out[name] = f"https://sandbox.example/{ig['username']}"
            else:
                out[name] = ig[name]
        out.setdefault("id", ig["id"])
        return out

    def _page_node(self, request: Request, page: Mapping[str, Any],
                   fields: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, sub in fields.items():
            if name not in PAGE_FIELDS:
                raise _unknown_field(name, "Page")
            if name in ("instagram_business_account", "connected_instagram_account"):
                if page["ig"] is not None:  # Graph leaves a missing link out
                    out[name] = self._ig_node(request, page["ig"], sub)
            elif name == "tasks":
                out[name] = PAGE_TASKS
            else:
                out[name] = page[name]
        out.setdefault("id", page["id"])
        return out

    async def accounts(self, request: Request) -> Response:
        params = await read_params(request)
        grant, account = await self._token_grant(request, params)
        fields = parse_fields(params.get("fields"), PAGE_DEFAULT_FIELDS)
        if "pages_show_list" not in grant.scopes:
            return JSONResponse({"data": []})
        pages = [self._page_node(request, page, fields) for page in account.extra["pages"]]
        cursor = random_token("QVFI", 40)
        return JSONResponse({"data": pages,
                             "paging": {"cursors": {"before": cursor, "after": cursor}}})

    async def node(self, request: Request) -> Response:
        params = await read_params(request)
        grant, account = await self._token_grant(request, params)
        node_id = request.path_params["node_id"]
        for page in account.extra["pages"]:
            if page["ig"] is not None and page["ig"]["id"] == node_id:
                if "instagram_basic" not in grant.scopes:
                    raise GraphError(10, "(#10) Application does not have permission for this "
                                         "action")
                return JSONResponse(self._ig_node(request, page["ig"],
                                                  parse_fields(params.get("fields"), "id")))
            if page["id"] == node_id and "pages_show_list" in grant.scopes:
                return JSONResponse(self._page_node(
                    request, page, parse_fields(params.get("fields"), "id,name")))
        raise GraphError(100, f"Unsupported get request. Object with ID '{node_id}' does not "
                              "exist, cannot be loaded due to missing permissions, or does not "
                              "support this operation.", subcode=33,
                         type_="GraphMethodException")

    async def permissions(self, request: Request) -> Response:
        params = await read_params(request)
        grant, account = await self._token_grant(request, params)
        if request.method == "DELETE":
            self.core.store.revoke_account(PROVIDER, grant.client_id, account.id,
                                           self.core.now())
            return JSONResponse({"success": True})
        return JSONResponse({"data": [{"permission": p, "status": "granted"}
                                      for p in grant.scopes]})

    def app(self) -> ASGIApp:
        async def not_found(request: Request, exc: Exception) -> Response:
            return GraphError(2500, f"Unknown path components: {request.url.path}").response()

        graph = self._graph
        return Starlette(routes=[
            Route("/{version}/dialog/oauth", graph(self.dialog), methods=["GET"]),
            Route("/{version}/oauth/access_token", graph(self.access_token),
                  methods=["GET", "POST"]),
            Route("/{version}/me", graph(self.me), methods=["GET"]),
            Route("/{version}/me/accounts", graph(self.accounts), methods=["GET"]),
            Route("/{version}/me/permissions", graph(self.permissions),
                  methods=["GET", "DELETE"]),
            *self.core.shared_routes(),
            # Instagram publishing (sandbox.social); its node route falls back to ours.
            *instagram_api.routes(self.core, graph(self.node)),
            Route("/{version}/{node_id}", graph(self.node), methods=["GET"]),
        ], exception_handlers={HTTPException: not_found})


def create_app(ctx: EmulatorContext, settings: Settings | None = None) -> ASGIApp:
    """The Facebook Login emulator, routing on paths below its mount (``/facebook``)."""
    return FacebookEmulator(ctx, settings).app()
