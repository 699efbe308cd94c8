"""The machinery every sign-in emulator shares: demo clients and accounts, tunable lifetimes
and a movable clock, the authorization endpoint (checks, consent page, redirect), the consent
POST, single-use authorization codes bound to client, redirect URI and PKCE challenge, token
issuing, and refresh-token rotation with family revocation (RFC 9700 §4.14.2).

Each provider module (:mod:`.google`, :mod:`.github`, :mod:`.x`, :mod:`.facebook`,
:mod:`.tiktok`) describes itself with a :class:`ProviderProfile`, builds an :class:`OAuthCore`
and adds its own token endpoint and API routes, shaping errors the way its provider does. The
core raises :class:`GrantError` with a provider-neutral reason; the provider turns the reason
into its wire format.

Rules (shared):

- a client id is registered when it starts with ``sandbox-`` (and has more after it); its
  secret is the client id followed by ``-secret`` (``sandbox-google`` → ``sandbox-google-secret``);
- a redirect URI must be ``http://127.0.0.1:<port>/<path>`` (or ``http://[::1]:<port>/...``),
  any port (RFC 8252 §7.3), an explicit port, no fragment; ``localhost`` is refused. The token
  request must repeat it character for character;
- PKCE: ``code_challenge_method=S256`` with a 43-character base64url challenge; ``plain`` or a
  missing method with a challenge is refused (``invalid_request``), and so is a missing challenge
  where the provider requires PKCE;
- an authorization code is good for one token request, successful or not, within
  ``code_ttl`` seconds; presenting a code that already produced tokens revokes those tokens;
- a rotated refresh token presented again revokes its whole family.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mbv_desktop.sandbox import png
from mbv_desktop.sandbox.common import EmulatorContext
from mbv_desktop.sandbox.oauth import pages
from mbv_desktop.sandbox.oauth.store import Grant, TokenStore, Verdict

DEMO_CLIENT_PREFIX = "sandbox-"
SECRET_SUFFIX = "-secret"
LOOPBACK_HOSTS = ("127.0.0.1", "::1")
VERIFIER_RE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
S256_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
HEX_CHALLENGE_RE = re.compile(r"^[0-9a-f]{64}$")
AVATAR_SIZE = 96
CODE_MEMORY = 3600.0
"""Seconds a code is remembered after it expires (to recognise reuse)."""


# -- clients, redirect URIs, PKCE --------------------------------------------------------------

def is_demo_client(client_id: str | None) -> bool:
    """Whether ``client_id`` is a registered demo client (``sandbox-`` + something)."""
    return (client_id is not None and len(client_id) > len(DEMO_CLIENT_PREFIX)
            and client_id.startswith(DEMO_CLIENT_PREFIX))


def demo_secret(client_id: str) -> str:
    """The client secret of a demo client."""
    return client_id + SECRET_SUFFIX


def secret_ok(client_id: str, secret: str | None) -> bool:
    """Whether ``secret`` is ``client_id``'s secret (constant-time compare)."""
    if not is_demo_client(client_id) or not secret:
        return False
    return hmac.compare_digest(secret.encode(), demo_secret(client_id).encode())


def loopback_problem(uri: str) -> str | None:
    """Why ``uri`` is not an acceptable loopback redirect URI, or None when it is."""
    if not uri:
        return "redirect_uri is missing."
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "redirect_uri is not a valid URL."
    if parts.scheme != "http":
        return "redirect_uri must use http on the loopback interface (RFC 8252 §7.3)."
    if parts.hostname not in LOOPBACK_HOSTS:
        return "redirect_uri must be http://127.0.0.1:<port>/<path> (or [::1]); " \
               "localhost and other hosts are not accepted."
    if port is None or port == 0:
        return "redirect_uri must name the port the app listens on."
    if parts.username is not None or parts.password is not None:
        return "redirect_uri must not carry credentials."
    if parts.fragment or "#" in uri:
        return "redirect_uri must not have a fragment."
    return None


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (base64url SHA-256, no padding)."""
    raw = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def pkce_matches(challenge: str, verifier: str, *, hex_ok: bool = False) -> bool:
    """Whether ``verifier`` is well formed and hashes to ``challenge`` (S256; ``hex_ok`` also
    takes the hex-encoded SHA-256 TikTok's desktop guide shows)."""
    if not VERIFIER_RE.match(verifier):
        return False
    if hmac.compare_digest(s256(verifier), challenge):
        return True
    if hex_ok:
        hexed = hashlib.sha256(verifier.encode("ascii")).hexdigest()
        return hmac.compare_digest(hexed, challenge)
    return False


def with_query(uri: str, params: Mapping[str, str | None], fragment: str = "") -> str:
    """``uri`` with ``params`` appended to its query (None values left out)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), "")) + fragment


def random_token(alphabet_prefix: str, length: int) -> str:
    """``alphabet_prefix`` + ``length`` random base62 characters."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return alphabet_prefix + "".join(secrets.choice(alphabet) for _ in range(length))


# -- requests --------------------------------------------------------------------------------

async def read_params(request: Request) -> dict[str, str]:
    """Query parameters merged with a form-encoded or JSON body (the body wins)."""
    params = dict(request.query_params)
    raw = await request.body()
    if not raw:
        return params
    content_type = request.headers.get("content-type", "").lower()
    if "json" in content_type:
        try:
            data = json.loads(raw)
        except ValueError:
            return params
        if isinstance(data, dict):
            params.update({str(k): v if isinstance(v, str) else json.dumps(v)
                           for k, v in data.items() if v is not None})
        return params
    params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def basic_auth(request: Request) -> tuple[str, str] | None:
    """(client_id, secret) from ``Authorization: Basic`` (form-decoded per RFC 6749 §2.3.1)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(user), unquote_plus(password)


def base_url(request: Request) -> str:
    """The emulator's base URL as the client reached it (``http://127.0.0.1:PORT/google``)."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def avatar_url(request: Request, seed: str) -> str:
    """An avatar picture this emulator serves (a generated PNG)."""
    return f"{base_url(request)}/_avatar/{seed}.png"


def no_store(response: Response) -> Response:
    """Marks a token response uncacheable (RFC 6749 §5.1)."""
    response.headers["cache-control"] = "no-store"
    response.headers["pragma"] = "no-cache"
    return response


# -- settings and clock --------------------------------------------------------------------------

_SETTING_NAMES = ("access_ttl", "refresh_ttl", "code_ttl", "consent_ttl", "device_ttl",
                  "device_interval", "long_lived_ttl", "clock_offset")


@dataclass
class Settings:
    """Lifetimes (seconds) and the clock offset of one emulator; changed at run time through
    ``POST {base}/_settings``. ``refresh_ttl`` None: refresh tokens do not expire."""

    access_ttl: float = 3600.0
    refresh_ttl: float | None = None
    code_ttl: float = 60.0
    consent_ttl: float = 600.0
    device_ttl: float = 900.0
    device_interval: float = 5.0
    long_lived_ttl: float = 60 * 86400.0
    clock_offset: float = 0.0
    _defaults: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def __post_init__(self) -> None:
        self._defaults = self.to_dict()

    def now(self) -> float:
        """The emulator's clock: wall time plus the offset tests move forward."""
        return time.time() + self.clock_offset

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _SETTING_NAMES}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Applies ``changes``: any setting by name, ``"advance": seconds`` (moves the clock
        forward) and ``"reset": true`` (defaults and the real clock first). Raises ValueError
        and changes nothing when a value is wrong."""
        unknown = set(changes) - set(_SETTING_NAMES) - {"advance", "reset"}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(_SETTING_NAMES)}, advance, reset")
        values = dict(self._defaults) if changes.get("reset") else self.to_dict()
        for name in _SETTING_NAMES:
            if name not in changes:
                continue
            value = changes[name]
            if value is None and name == "refresh_ttl":
                values[name] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            if name != "clock_offset" and value < 0:
                raise ValueError(f"{name} must not be negative")
            values[name] = float(value)
        advance = changes.get("advance", 0)
        if isinstance(advance, bool) or not isinstance(advance, int | float):
            raise ValueError("advance must be a number of seconds")
        values["clock_offset"] = float(values["clock_offset"]) + float(advance)
        for name, value in values.items():
            setattr(self, name, value)


# -- demo accounts and pending authorizations ---------------------------------------------------

@dataclass(frozen=True)
class DemoAccount:
    """A person the consent page offers. ``id`` is the provider's user id (Google ``sub``,
    GitHub numeric id, X id, TikTok ``open_id``, Facebook user id)."""

    id: str
    name: str
    username: str
    email: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def picker_line(self) -> tuple[str, str]:
        return self.name, f"{self.email} · @{self.username}"


@dataclass
class AuthRequest:
    """An authorization request waiting on the consent page (and then inside its code)."""

    consent_id: str
    client_id: str
    redirect_uri: str
    state: str | None
    scopes: tuple[str, ...]
    code_challenge: str | None
    params: dict[str, str]
    created_at: float
    selected: int = 0
    """The account the page pre-selects (``login_hint``/``login``); the default choice."""


@dataclass
class AuthCode:
    """An issued authorization code; ``family`` is set once it produced tokens."""

    request: AuthRequest
    account: DemoAccount
    expires_at: float
    used: bool = False
    family: str | None = None


class GrantError(Exception):
    """A token request the core refuses. ``reason`` is one of: ``invalid_code``,
    ``expired_code``, ``used_code``, ``client_mismatch``, ``redirect_mismatch``,
    ``pkce_missing``, ``pkce_mismatch``, ``invalid_refresh``, ``reused_refresh``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Issued:
    """Tokens just issued; ``*_expires_in`` in whole seconds (None: no expiry)."""

    grant: Grant
    access_token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


@dataclass(frozen=True)
class ProviderProfile:
    """How one provider's authorization endpoint behaves.

    Attributes:
        name: registry name and the token store's provider key.
        display: shown on pages ("Google").
        client_param: the client id's parameter name (TikTok: ``client_key``).
        scope_separator: how ``scope`` is split (X, Google, GitHub: space; TikTok, Facebook:
            comma, spaces tolerated).
        pkce_required: refuse an authorization request without ``code_challenge``.
        pkce_hex: also accept a hex SHA-256 challenge (TikTok desktop).
        check_scope: returns the first unacceptable scope, or None.
        deny_params: query parameters of the redirect after Deny (``state`` is added).
        success_params: extra query parameters of the redirect after Allow.
        fragment: appended to every redirect (Facebook's ``#_=_``).
        max_state: longest ``state`` accepted (X: 500).
        code_factory: makes an authorization code in the provider's style.
    """

    name: str
    display: str
    client_param: str = "client_id"
    scope_separator: str = " "
    pkce_required: bool = True
    pkce_hex: bool = False
    check_scope: Callable[[Sequence[str]], str | None] | None = None
    deny_params: Mapping[str, str] = field(default_factory=lambda: {"error": "access_denied"})
    success_params: Callable[[AuthRequest], Mapping[str, str]] | None = None
    fragment: str = ""
    max_state: int | None = None
    code_factory: Callable[[], str] = lambda: secrets.token_urlsafe(32)

    def split_scopes(self, raw: str | None) -> tuple[str, ...]:
        text = (raw or "").replace(",", " ") if self.scope_separator == "," else (raw or "")
        seen: dict[str, None] = {}
        for scope in text.split():
            seen.setdefault(scope, None)
        return tuple(seen)


# -- the core -------------------------------------------------------------------------------------

class OAuthCore:
    """State and shared endpoints of one sign-in emulator (one per host start)."""

    def __init__(self, profile: ProviderProfile, ctx: EmulatorContext, settings: Settings,
                 accounts: Sequence[DemoAccount], *, access_factory: Callable[[], str],
                 refresh_factory: Callable[[], str]) -> None:
        self.profile = profile
        self.ctx = ctx
        self.settings = settings
        self.accounts = tuple(accounts)
        self.access_factory = access_factory
        self.refresh_factory = refresh_factory
        self.store = TokenStore(ctx.state.path.parent)
        self.consents: dict[str, AuthRequest] = {}
        self.codes: dict[str, AuthCode] = {}

    @property
    def provider(self) -> str:
        return self.profile.name

    def now(self) -> float:
        return self.settings.now()

    def account(self, account_id: str) -> DemoAccount | None:
        return next((a for a in self.accounts if a.id == account_id), None)

    def _purge(self) -> None:
        now = self.now()
        for cid in [c for c, r in self.consents.items()
                    if now - r.created_at > self.settings.consent_ttl]:
            del self.consents[cid]
        # Codes are kept a while after expiry, so a late replay is still recognised as reuse.
        for code in [c for c, e in self.codes.items() if now >= e.expires_at + CODE_MEMORY]:
            del self.codes[code]

    # -- authorization endpoint ---------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        """GET the authorization URL: checks it, then shows the consent page (or the error
        page / an error redirect, as RFC 6749 §4.1.2.1 says)."""
        profile = self.profile
        params = dict(request.query_params)
        client_id = params.get(profile.client_param, "")
        redirect_uri = params.get("redirect_uri", "")
        if not is_demo_client(client_id):
            return pages.error_page(profile.display, "unauthorized_client",
                                    f"The {profile.client_param} {client_id!r} is not a "
                                    "registered sandbox client (it must start with "
                                    f"{DEMO_CLIENT_PREFIX!r}).")
        problem = loopback_problem(redirect_uri)
        if problem is not None:
            return pages.error_page(profile.display, "redirect_uri_mismatch", problem)
        state = params.get("state")

        def fail(error: str, description: str) -> Response:
            return self.redirect(redirect_uri, {"error": error,
                                                "error_description": description,
                                                "state": state})

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "response_type must be code.")
        if profile.max_state is not None and state is not None \
                and len(state) > profile.max_state:
            return fail("invalid_request", f"state must be at most {profile.max_state} "
                                           "characters.")
        scopes = profile.split_scopes(params.get("scope"))
        if profile.check_scope is not None:
            bad = profile.check_scope(scopes)
            if bad is not None:
                return fail("invalid_scope", f"The scope {bad!r} is not valid.")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method")
        if challenge is None:
            if profile.pkce_required:
                return fail("invalid_request", "code_challenge is required (PKCE with "
                                               "code_challenge_method=S256).")
            if method is not None:
                return fail("invalid_request", "code_challenge_method without code_challenge.")
        else:
            if method != "S256":
                return fail("invalid_request", "code_challenge_method must be S256 (plain is "
                                               "not accepted).")
            well_formed = S256_CHALLENGE_RE.match(challenge) or (
                profile.pkce_hex and HEX_CHALLENGE_RE.match(challenge))
            if not well_formed:
                return fail("invalid_request", "code_challenge must be the base64url SHA-256 "
                                               "of the code verifier (43 characters).")
        self._purge()
        consent_id = "cns_" + secrets.token_urlsafe(18)
        pending = AuthRequest(consent_id=consent_id, client_id=client_id,
                              redirect_uri=redirect_uri, state=state, scopes=scopes,
                              code_challenge=challenge, params=params, created_at=self.now(),
                              selected=self._hinted_account(params))
        self.consents[consent_id] = pending
        return pages.consent_page(
            provider=profile.name, display=profile.display,
            action=f"{request.scope.get('root_path', '')}/_consent/{consent_id}",
            consent_id=consent_id, client_id=client_id, scopes=scopes,
            accounts=[a.picker_line for a in self.accounts], selected=pending.selected)

    def _hinted_account(self, params: Mapping[str, str]) -> int:
        hint = (params.get("login_hint") or params.get("login") or "").lower()
        for index, account in enumerate(self.accounts):
            if hint and hint in (account.email.lower(), account.username.lower()):
                return index
        return 0

    def redirect(self, uri: str, params: Mapping[str, str | None]) -> Response:
        return RedirectResponse(with_query(uri, params, self.profile.fragment), 302,
                                headers={"cache-control": "no-store"})

    def pick_account(self, raw: str | None, default: int = 0) -> DemoAccount | None:
        """The demo account for ``account=<n>`` (0-based; absent: ``default``)."""
        if raw is None or raw == "":
            return self.accounts[default]
        try:
            index = int(raw)
        except ValueError:
            return None
        return self.accounts[index] if 0 <= index < len(self.accounts) else None

    async def consent(self, request: Request) -> Response:
        """POST ``{base}/_consent/{consent_id}`` with ``decision=allow|deny`` and optional
        ``account=<n>`` (absent: the pre-selected one, normally 0): the consent page's form,
        and the scripted way through it."""
        profile = self.profile
        params = await read_params(request)
        self._purge()
        pending = self.consents.get(request.path_params["consent_id"])
        if pending is None:
            return pages.error_page(profile.display, "invalid_consent",
                                    "This sign-in request is unknown, was already answered "
                                    "or has expired. Start the sign-in again.")
        decision = params.get("decision", "")
        account = self.pick_account(params.get("account"), pending.selected)
        if decision not in ("allow", "deny") or account is None:
            return pages.error_page(profile.display, "invalid_request",
                                    "decision must be allow or deny, and account the number "
                                    f"of a demo account (0 to {len(self.accounts) - 1}).")
        del self.consents[pending.consent_id]
        if decision == "deny":
            return self.redirect(pending.redirect_uri,
                                 {**profile.deny_params, "state": pending.state})
        code = profile.code_factory()
        self.codes[code] = AuthCode(request=pending, account=account,
                                    expires_at=self.now() + self.settings.code_ttl)
        extra = profile.success_params(pending) if profile.success_params else {}
        return self.redirect(pending.redirect_uri,
                             {"code": code, **extra, "state": pending.state})

    # -- codes and tokens -------------------------------------------------------------------

    def redeem(self, code: str, client_id: str, redirect_uri: str | None,
               verifier: str | None) -> AuthCode:
        """Checks an authorization code for a token request and uses it up."""
        entry = self.codes.get(code)
        if entry is None:
            raise GrantError("invalid_code")
        if entry.used:
            if entry.family is not None:  # RFC 6749 §4.1.2: revoke what the code produced
                self.store.revoke_family(entry.family, self.now())
            raise GrantError("used_code")
        entry.used = True
        if self.now() >= entry.expires_at:
            raise GrantError("expired_code")
        if not hmac.compare_digest(client_id.encode(), entry.request.client_id.encode()):
            raise GrantError("client_mismatch")
        if redirect_uri != entry.request.redirect_uri:
            raise GrantError("redirect_mismatch")
        challenge = entry.request.code_challenge
        if challenge is not None:
            if not verifier:
                raise GrantError("pkce_missing")
            if not pkce_matches(challenge, verifier, hex_ok=self.profile.pkce_hex):
                raise GrantError("pkce_mismatch")
        return entry

    def exchange(self, entry: AuthCode, *, public: bool, refresh: bool,
                 scopes: Sequence[str] | None = None) -> Issued:
        """Tokens for a redeemed code: a new grant (token family) and its first tokens."""
        grant = self.store.create_grant(self.provider, entry.request.client_id,
                                        entry.account.id,
                                        entry.request.scopes if scopes is None else scopes,
                                        public=public, now=self.now())
        entry.family = grant.family
        return self.issue(grant, refresh=refresh)

    def issue(self, grant: Grant, *, refresh: bool, access_ttl: float | None = None,
              tag: str = "") -> Issued:
        """A new access token (and refresh token) in ``grant``'s family."""
        now = self.now()
        ttl = self.settings.access_ttl if access_ttl is None else access_ttl
        access = self.access_factory()
        self.store.add_token(grant, "access", access, now=now, ttl=ttl, tag=tag)
        refresh_token = refresh_ttl = None
        if refresh:
            refresh_token = self.refresh_factory()
            self.store.add_token(grant, "refresh", refresh_token, now=now,
                                 ttl=self.settings.refresh_ttl)
            refresh_ttl = (None if self.settings.refresh_ttl is None
                           else int(self.settings.refresh_ttl))
        return Issued(grant=grant, access_token=access, expires_in=int(ttl),
                      refresh_token=refresh_token, refresh_expires_in=refresh_ttl)

    def refresh(self, token: str, client_id: str, *, rotate: bool,
                revoke_old_access: bool = False) -> Issued:
        """Refresh grant. With ``rotate`` the presented token is used up and a new one issued;
        presenting a used-up token again revokes the whole family."""
        now = self.now()
        record, verdict = self.store.check(self.provider, token, "refresh", now)
        if record is None:
            raise GrantError("invalid_refresh")
        grant = record.grant
        if verdict == "used":
            self.store.revoke_family(grant.family, now)
            raise GrantError("reused_refresh")
        if verdict != "ok":
            raise GrantError("invalid_refresh")
        if not hmac.compare_digest(client_id.encode(), grant.client_id.encode()):
            raise GrantError("client_mismatch")
        if not rotate:
            return self.issue(grant, refresh=False)
        if not self.store.mark_used(self.provider, token):
            self.store.revoke_family(grant.family, now)
            raise GrantError("reused_refresh")
        if revoke_old_access:
            self.store.revoke_access_tokens(grant.family)
        return self.issue(grant, refresh=True)

    def authenticate(self, token: str | None) -> tuple[Grant | None, Verdict]:
        """The grant behind an access token, or (None, why not)."""
        if not token:
            return None, "unknown"
        record, verdict = self.store.check(self.provider, token, "access", self.now())
        if record is None or verdict != "ok":
            return None, verdict
        return record.grant, "ok"

    # -- shared routes -------------------------------------------------------------------------

    async def settings_endpoint(self, request: Request) -> Response:
        """``GET|POST {base}/_settings``: read or change lifetimes and the clock."""
        if request.method == "POST":
            try:
                payload = json.loads(await request.body() or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the body must be a JSON object")
                self.settings.update(payload)
            except ValueError as exc:
                return JSONResponse({"error": {"message": str(exc)}}, 400)
        return JSONResponse({**self.settings.to_dict(), "now": self.now()})

    async def avatar(self, request: Request) -> Response:
        seed = request.path_params["seed"]
        data = png.render_png(f"{self.provider}:{seed}", AVATAR_SIZE, AVATAR_SIZE, soft=True)
        return Response(data, media_type="image/png",
                        headers={"cache-control": "public, max-age=86400"})

    def shared_routes(self) -> list[Route]:
        """``/_consent/{id}``, ``/_settings`` and ``/_avatar/{seed}.png``."""
        return [Route("/_consent/{consent_id}", self.consent, methods=["POST"]),
                Route("/_settings", self.settings_endpoint, methods=["GET", "POST"]),
                Route("/_avatar/{seed}.png", self.avatar, methods=["GET"])]
