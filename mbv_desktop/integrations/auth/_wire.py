"""What goes over the wire for sign-in, and how answers become project errors.

Token, device-code and revocation requests are sent with plain ``httpx`` rather than authlib's
``AsyncOAuth2Client``: the five providers speak five dialects (TikTok's ``client_key``, GitHub's
form-encoded answers unless asked for JSON and errors inside a 200, Facebook's
``fb_exchange_token`` and Graph error objects), the error mapping needs the HTTP status that
authlib's ``OAuthError`` drops (429/5xx are "try later", ``invalid_grant`` is "connect again"),
and tokens live in :class:`~.tokens.TokenManager`, not in a client object. Every request here is
written out explicitly so what is sent is what is read:

* ``POST`` form bodies (``application/x-www-form-urlencoded``) with ``Accept: application/json``;
  client credentials in the form (``client_secret_post``), as HTTP Basic
  (``client_secret_basic``) or only the client id (public clients).
* Tokens travel in form bodies or ``Authorization: Bearer`` headers, never in a URL
  (reliability.md 24), so an access log or httpx's own request log line holds none.
* No request here is retried automatically: a code is single-use, and a refresh that reached a
  provider that rotates refresh tokens may already have spent the old one.

Errors: a connection failure, timeout or 5xx → ``ProviderUnavailable``; 429 → ``RateLimited``;
an OAuth error answer → :class:`OAuthErrorAnswer`, which the caller turns into the error that fits
its step (:func:`exchange_error`, :func:`refresh_error`).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx

from mbv_desktop.core.errors import (
    NotConfigured,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
    provider_display_name,
)
from mbv_desktop.core.redaction import redact

from ..policy.failures import parse_retry_after
from .errors import AuthError, NeedsReconnect
from .models import TokenSet
from .providers import SETTING_KEYS, ProviderSpec

log = logging.getLogger(__name__)

JSON = dict[str, Any]

#: Sign-in calls are small; a provider that takes longer than this is not answering.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
USER_AGENT = "MustBeViral-Desktop"
_ERROR_TEXT_LIMIT = 160


def new_http_client() -> httpx.AsyncClient:
    """The client used when the caller passes none: no redirects followed, TLS verified."""
    return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, follow_redirects=False,
                             headers={"User-Agent": USER_AGENT})


def acceptable_url(url: object) -> bool:
    """HTTPS, or plain HTTP to a loopback address (the sandbox's emulators, RFC 8252 §7.3)."""
    if not isinstance(url, str) or not url:
        return False
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class OAuthErrorAnswer(Exception):
    """The provider answered a token-style request with an OAuth error (``error=...``).

    Internal: callers turn it into a project error with :func:`exchange_error` or
    :func:`refresh_error`. ``description`` is redacted and shortened; it is never shown raw.
    """

    def __init__(self, error: str, *, status: int | None, description: str = "") -> None:
        self.error = error
        self.status = status
        self.description = description
        super().__init__(f"OAuth error {error} (HTTP {status})")


async def send(http: httpx.AsyncClient, provider: str, method: str, url: str, *,
               data: Mapping[str, str] | None = None, json: Any = None,
               headers: Mapping[str, str] | None = None,
               auth: httpx.Auth | tuple[str, str] | None = None) -> httpx.Response:
    """One request; transport failures become ``ProviderUnavailable`` (never retried here)."""
    merged = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    try:
        return await http.request(method, url, data=data, json=json, headers=merged, auth=auth)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise ProviderUnavailable(provider=provider) from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(provider=provider, maybe_sent=True) from exc


def _body(response: httpx.Response) -> JSON | None:
    """The answer as a dict: JSON, or a form-encoded body (GitHub's default), else ``None``."""
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        try:
            pairs = urllib.parse.parse_qsl(response.text, keep_blank_values=True,
                                           max_num_fields=64)
        except ValueError:
            return None
        return dict(pairs)
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _short(text: object) -> str:
    if not isinstance(text, str):
        return ""
    cleaned = " ".join(redact(text).split())
    return cleaned[:_ERROR_TEXT_LIMIT]


def oauth_error(body: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """``(error, description)`` when ``body`` is an error answer, in any provider's dialect.

    RFC 6749 ``{"error": "invalid_grant", "error_description": ...}`` (Google, GitHub, X,
    TikTok's OAuth endpoints); Facebook Graph ``{"error": {"type": "OAuthException", "code": 190,
    "message": ...}}``; TikTok API ``{"error": {"code": "access_token_invalid", ...}}`` where
    ``"ok"`` means success.
    """
    if not body or "error" not in body:
        return None
    error = body["error"]
    if isinstance(error, str):
        return (error or "unknown_error"), _short(body.get("error_description"))
    if isinstance(error, dict):
        code = error.get("code")
        if code == "ok" or code == 0:
            return None
        if error.get("type") == "OAuthException":
            # Graph: 190 is an invalid or expired token, 100 an invalid parameter such as a
            # used or expired code; both mean the grant cannot be used.
            return "invalid_grant", _short(error.get("message"))
        return (str(code) if code not in (None, "") else "unknown_error"), _short(
            error.get("message"))
    return None


def checked_json(response: httpx.Response, provider: str) -> JSON:
    """The JSON body of a successful answer; raises the matching error otherwise."""
    status = response.status_code
    body = _body(response)
    if status == 429:
        raise RateLimited(parse_retry_after(response.headers), provider=provider, status=status)
    if status >= 500 or status == 408:
        raise ProviderUnavailable(provider=provider, status=status, maybe_sent=True,
                                  retry_after=parse_retry_after(response.headers))
    error = oauth_error(body)
    if error is not None:
        raise OAuthErrorAnswer(error[0], status=status, description=error[1])
    if status == 401:  # no error body: at a token endpoint, the client was not recognised
        raise OAuthErrorAnswer("invalid_client", status=status)
    if status >= 400:
        raise OAuthErrorAnswer("invalid_request", status=status)
    if body is None:
        raise ProviderUnavailable(
            f"{_cap(provider_display_name(provider))} sent an answer the app could not read; "
            f"try again later.", provider=provider, status=status)
    return body


def _setting_hint(spec: ProviderSpec) -> str:
    keys = [k for k in SETTING_KEYS.get(spec.name, ()) if k.endswith(("client_id", "client_key",
                                                                       "client_secret"))]
    return " and ".join(keys) or "the sign-in settings"


def _client_error(spec: ProviderSpec, answer: OAuthErrorAnswer) -> ProviderError | None:
    if answer.error in ("invalid_client", "unauthorized_client", "incorrect_client_credentials"):
        return NotConfigured(
            f"{spec.display_name} did not accept this app's client ID or secret; check "
            f"{_setting_hint(spec)} in the settings.", provider=spec.name, status=answer.status)
    if answer.error in ("temporarily_unavailable", "server_error"):
        return ProviderUnavailable(provider=spec.name, status=answer.status)
    return None


def exchange_error(spec: ProviderSpec, answer: OAuthErrorAnswer) -> ProviderError:
    """The error for a failed code exchange (or long-lived-token exchange)."""
    mapped = _client_error(spec, answer)
    if mapped is not None:
        return mapped
    if answer.error in ("invalid_grant", "bad_verification_code"):
        return AuthError(f"{spec.display_name} did not accept the sign-in code (it may have "
                         f"expired or been used already); sign in again.", provider=spec.name,
                         status=answer.status)
    return AuthError(f"{spec.display_name} refused to finish the sign-in ({answer.error}); "
                     f"sign in again.", provider=spec.name, status=answer.status)


def refresh_error(spec: ProviderSpec, answer: OAuthErrorAnswer,
                  account_id: str = "") -> ProviderError:
    """The error for a failed refresh. Anything but a client or server problem means the saved
    sign-in can never work again: :class:`NeedsReconnect` (no retry)."""
    mapped = _client_error(spec, answer)
    if mapped is not None:
        return mapped
    return NeedsReconnect(provider=spec.name, account_id=account_id, status=answer.status)


def api_error(spec: ProviderSpec, answer: OAuthErrorAnswer) -> ProviderError:
    """The error for a failed profile or revocation call."""
    if "scope" in answer.error:  # TikTok: scope_not_authorized, scope_permission_missed
        return AuthError(f"{spec.display_name} did not grant a permission the app needs "
                         f"({answer.error}); connect the account again and allow every "
                         f"permission.", provider=spec.name, status=answer.status)
    if answer.status == 401 or answer.error in ("invalid_token", "invalid_grant",
                                                "access_token_invalid"):
        return NeedsReconnect(provider=spec.name, status=answer.status)
    reason = answer.description or answer.error
    return Rejected(reason, provider=spec.name, status=answer.status, code=answer.error)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def token_set(body: Mapping[str, Any], spec: ProviderSpec, *, now: float | None = None,
              long_lived: bool = False) -> TokenSet:
    """A :class:`TokenSet` from a token endpoint's JSON answer."""
    access = body.get("access_token")
    if not isinstance(access, str) or not access:
        raise ProviderUnavailable(
            f"{_cap(spec.display_name)} answered without an access token; try again later.",
            provider=spec.name)
    current = time.time() if now is None else now
    expires_in = _number(body.get("expires_in"))
    refresh_in = _number(body.get("refresh_expires_in", body.get("refresh_token_expires_in")))
    refresh = body.get("refresh_token")
    id_token = body.get("id_token")
    scope = body.get("scope", "")
    if isinstance(scope, list):
        scope = spec.scope_separator.join(str(s) for s in scope)
    return TokenSet(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=current + expires_in if expires_in is not None else None,
        scope=scope if isinstance(scope, str) else "",
        id_token=id_token if isinstance(id_token, str) and id_token else None,
        token_type=str(body.get("token_type") or "Bearer"),
        refresh_expires_at=current + refresh_in if refresh_in is not None else None,
        long_lived=long_lived,
    )


def client_credentials(spec: ProviderSpec, form: dict[str, str]) -> httpx.BasicAuth | None:
    """Add the client's credentials to ``form`` the way ``spec`` says; return Basic auth if any."""
    if spec.token_auth == "client_secret_basic" and spec.client_secret:
        # RFC 6749 §2.3.1: both parts are form-encoded before they are joined.
        return httpx.BasicAuth(urllib.parse.quote_plus(spec.client_id),
                               urllib.parse.quote_plus(spec.client_secret))
    form[spec.client_id_param] = spec.client_id
    if spec.token_auth == "client_secret_post" and spec.client_secret:
        form["client_secret"] = spec.client_secret
    return None


async def token_request(http: httpx.AsyncClient, spec: ProviderSpec, url: str,
                        form: dict[str, str]) -> JSON:
    """POST a token-endpoint form with the client's credentials; the checked JSON answer."""
    body = dict(form)
    auth = client_credentials(spec, body)
    response = await send(http, spec.name, "POST", url, data=body, auth=auth)
    return checked_json(response, spec.name)


async def get_json(http: httpx.AsyncClient, spec: ProviderSpec, url: str, *, access_token: str,
                   headers: Mapping[str, str] | None = None) -> JSON:
    """An authenticated GET (``Authorization: Bearer``); the checked JSON answer."""
    merged = {"Authorization": f"Bearer {access_token}", **(headers or {})}
    response = await send(http, spec.name, "GET", url, headers=merged)
    try:
        return checked_json(response, spec.name)
    except OAuthErrorAnswer as answer:
        raise api_error(spec, answer) from None
