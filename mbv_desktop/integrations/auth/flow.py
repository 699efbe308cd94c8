"""The browser sign-in: authorization code + PKCE over a loopback redirect (RFC 8252).

:func:`authorize` runs one attempt from start to finish::

    result = await authorize(spec, open_url=open_in_system_browser, timeout=300)
    result.tokens     # TokenSet: hand it to TokenManager.save(...)
    result.identity   # Identity: who signed in

1. fresh ``state``, PKCE verifier and (OpenID Connect) ``nonce`` (:class:`~.pkce.Attempt`);
2. a :class:`~.loopback.LoopbackListener` on ``127.0.0.1:<random port>``; the redirect URI is
   ``http://127.0.0.1:<port>/callback/<provider>``;
3. ``open_url(url)`` with the authorization URL: the UI passes the system browser
   (``QDesktopServices.openUrl``), the command line ``webbrowser.open`` or a function that prints
   the URL for ``--no-browser``. Never an embedded web view (RFC 8252 §8.12);
4. wait for the first valid callback (or :class:`AuthTimeout` / :class:`AuthDenied`);
   the listener is closed before the code is exchanged;
5. exchange the code with the verifier; for OpenID Connect verify the id_token (signature,
   issuer, audience, expiry, nonce); for Facebook swap for a long-lived token;
6. read the profile into an :class:`Identity`.

The listener is closed in every case (``finally``), also when the caller cancels the task.
"""

from __future__ import annotations

import inspect
import logging
import urllib.parse
from collections.abc import Awaitable, Callable

import httpx

from mbv_desktop.core.redaction import register_secret

from . import _wire
from .client import OAuthClient
from .loopback import LoopbackListener
from .models import Authorization
from .oidc import OidcCache, verify_id_token
from .pkce import CHALLENGE_METHOD, Attempt
from .providers import ProviderSpec

__all__ = ["DEFAULT_TIMEOUT", "OpenUrl", "authorization_url", "authorize"]

log = logging.getLogger(__name__)

#: How long the browser gets by default: enough to type a password and pass a second factor.
DEFAULT_TIMEOUT = 300.0

OpenUrl = Callable[[str], Awaitable[object] | object]


def authorization_url(spec: ProviderSpec, endpoint: str, attempt: Attempt,
                      redirect_uri: str) -> str:
    """The URL to open in the browser for ``attempt``.

    ``response_type=code``, the client id (``client_key`` for TikTok), ``redirect_uri``,
    ``scope`` (space- or comma-separated as the provider wants), ``state``; with PKCE
    ``code_challenge`` + ``code_challenge_method=S256``; for OpenID Connect ``nonce``; then the
    provider's own extras (Google: ``access_type=offline``, ``prompt=consent``). Spaces are
    encoded as ``%20``.
    """
    params: list[tuple[str, str]] = [
        ("response_type", "code"),
        (spec.client_id_param, spec.client_id),
        ("redirect_uri", redirect_uri),
        ("scope", spec.scope),
        ("state", attempt.state),
    ]
    if spec.pkce:
        params += [("code_challenge", attempt.challenge),
                   ("code_challenge_method", CHALLENGE_METHOD)]
    if spec.oidc:
        if not attempt.nonce:
            raise ValueError("an OpenID Connect attempt needs a nonce")
        params.append(("nonce", attempt.nonce))
    params.extend(spec.authorize_params)
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


async def authorize(spec: ProviderSpec, *, open_url: OpenUrl, timeout: float = DEFAULT_TIMEOUT,
                    http: httpx.AsyncClient | None = None,
                    oidc_cache: OidcCache | None = None) -> Authorization:
    """Sign in to ``spec``'s provider in the system browser; the tokens and the identity.

    ``open_url`` receives the authorization URL and may be sync or async. ``timeout`` is how
    long to wait for the browser after it was opened. ``http`` is used for every request and
    left open (one is made and closed when omitted).

    Raises :class:`NotConfigured` (settings missing), :class:`AuthTimeout`, :class:`AuthDenied`,
    :class:`AuthError` (the provider ended the sign-in with another error, refused the code, or
    sent an unreadable profile), :class:`InvalidIdToken`, :class:`LoopbackUnavailable`,
    ``ProviderUnavailable`` / ``RateLimited`` (the provider could not be reached or is busy).
    """
    spec.require_web_flow()
    attempt = Attempt.new(oidc=spec.oidc)
    register_secret(attempt.verifier)
    client_http = http if http is not None else _wire.new_http_client()
    try:
        oauth = OAuthClient(spec, client_http, oidc_cache=oidc_cache)
        metadata = await oauth.metadata()
        endpoints = await oauth.endpoints()
        async with LoopbackListener(spec.name, state=attempt.state,
                                    issuer=metadata.issuer if metadata else None) as listener:
            redirect_uri = listener.redirect_uri
            opened = open_url(authorization_url(spec, endpoints.authorize, attempt, redirect_uri))
            if inspect.isawaitable(opened):
                await opened
            code = await listener.wait(timeout)
        register_secret(code)
        tokens = await oauth.exchange_code(
            code, redirect_uri=redirect_uri,
            code_verifier=attempt.verifier if spec.pkce else None)
        claims = None
        if metadata is not None:
            claims = await verify_id_token(tokens.id_token, spec=spec, metadata=metadata,
                                           nonce=attempt.nonce, http=client_http,
                                           cache=oauth.oidc_cache)
        if spec.long_lived_exchange:
            tokens = await oauth.long_lived(tokens)
        identity = await oauth.identity(tokens, claims)
        log.info("Signed in to %s (account %s).", spec.display_name, identity.account_id)
        return Authorization(tokens, identity)
    finally:
        if http is None:
            await client_http.aclose()
