"""Device sign-in (RFC 8628), for GitHub: a short code the person types at github.com/login/device.

It needs no client secret and no loopback port, so it is the recommended way to sign in to GitHub
from an app whose secret cannot stay secret (reliability.md 5)::

    result = await device_authorize(spec, show_code=lambda code: dialog.show(code.user_code,
                                                                             code.verification_uri))

1. ``POST {github.base_url}/login/device/code`` (``client_id``, ``scope``) → ``device_code``,
   ``user_code``, ``verification_uri``, ``expires_in``, ``interval``;
2. ``show_code(DeviceCode)`` (sync or async) shows the code and the address to the person;
3. ``POST {github.base_url}/login/oauth/access_token`` with ``client_id``, ``device_code`` and
   ``grant_type=urn:ietf:params:oauth:grant-type:device_code`` every ``interval`` seconds:
   ``authorization_pending`` → keep polling; ``slow_down`` → add 5 seconds to the interval for
   good; ``expired_token`` (or ``expires_in`` passed) → :class:`DeviceCodeExpired`;
   ``access_denied`` → :class:`AuthDenied`; ``device_flow_disabled`` or a wrong client →
   ``NotConfigured``. Up to three network failures in a row are waited out (twice the interval
   each), then ``ProviderUnavailable`` ends it.

Cancel by cancelling the task: the poll stops at once. ``sleep`` and ``clock`` are injectable so
tests do not wait.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from mbv_desktop.core.errors import NotConfigured, ProviderUnavailable, RateLimited

from . import _wire
from .client import OAuthClient
from .errors import AuthDenied, AuthError, DeviceCodeExpired
from .models import Authorization
from .providers import ProviderSpec

__all__ = ["DEVICE_GRANT", "DeviceCode", "ShowCode", "device_authorize"]

log = logging.getLogger(__name__)

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN_STEP = 5.0
MAX_NETWORK_FAILURES = 3


@dataclass(frozen=True, repr=False)
class DeviceCode:
    """What to show the person: ``user_code`` and where to type it (``verification_uri``)."""

    user_code: str
    verification_uri: str
    expires_in: float
    interval: float
    device_code: str

    def __repr__(self) -> str:
        return (f"DeviceCode(user_code={self.user_code!r}, "
                f"verification_uri={self.verification_uri!r}, expires_in={self.expires_in!r}, "
                f"interval={self.interval!r}, device_code='***')")


ShowCode = Callable[[DeviceCode], Awaitable[object] | object]


def _disabled(spec: ProviderSpec) -> NotConfigured:
    return NotConfigured(
        f"Device sign-in is switched off for this {spec.display_name} app; turn on "
        f"\"Enable Device Flow\" in the app's settings on {spec.display_name}, or sign in with "
        f"the browser instead.", provider=spec.name)


def _seconds(value: object, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return default
    try:
        number = float(value)
    except ValueError:
        return default
    return number if 0 <= number < 86400 else default


async def request_device_code(spec: ProviderSpec, http: httpx.AsyncClient) -> DeviceCode:
    """Step 1: ask for a device code and a user code."""
    if not spec.device_code_url:
        raise NotConfigured(f"{spec.display_name} does not offer sign-in with a device code; "
                            f"sign in with the browser instead.", provider=spec.name)
    form = {"client_id": spec.client_id, "scope": spec.scope}
    response = await _wire.send(http, spec.name, "POST", spec.device_code_url, data=form)
    try:
        body = _wire.checked_json(response, spec.name)
    except _wire.OAuthErrorAnswer as answer:
        if answer.error == "device_flow_disabled":
            raise _disabled(spec) from None
        raise _wire.exchange_error(spec, answer) from None
    device_code = body.get("device_code")
    user_code = body.get("user_code")
    uri = body.get("verification_uri")
    if not (isinstance(device_code, str) and device_code and isinstance(user_code, str)
            and user_code and _wire.acceptable_url(uri)):
        raise ProviderUnavailable(
            f"{spec.display_name} sent a device code the app could not read; try again later.",
            provider=spec.name)
    assert isinstance(uri, str)
    return DeviceCode(user_code=user_code, verification_uri=uri,
                      expires_in=_seconds(body.get("expires_in"), 900.0),
                      interval=_seconds(body.get("interval"), 5.0), device_code=device_code)


async def device_authorize(spec: ProviderSpec, *, show_code: ShowCode,
                           http: httpx.AsyncClient | None = None,
                           sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                           clock: Callable[[], float] = time.monotonic) -> Authorization:
    """Sign in with a device code; the tokens and the identity once the person approved.

    Raises :class:`DeviceCodeExpired`, :class:`AuthDenied`, ``NotConfigured``,
    :class:`AuthError`, ``ProviderUnavailable``; ``asyncio.CancelledError`` when cancelled.
    """
    spec.require_configured()
    client_http = http if http is not None else _wire.new_http_client()
    try:
        code = await request_device_code(spec, client_http)
        shown = show_code(code)
        if inspect.isawaitable(shown):
            await shown
        oauth = OAuthClient(spec, client_http)
        endpoints = await oauth.endpoints()
        deadline = clock() + code.expires_in
        interval = code.interval
        failures = 0
        # The device flow is for public clients: only the client id, never the secret.
        form = {"client_id": spec.client_id, "device_code": code.device_code,
                "grant_type": DEVICE_GRANT}
        while True:
            await sleep(interval * (2 if failures else 1))
            if clock() >= deadline:
                raise DeviceCodeExpired(provider=spec.name)
            try:
                response = await _wire.send(client_http, spec.name, "POST", endpoints.token,
                                            data=form)
                body = _wire.checked_json(response, spec.name)
            except (ProviderUnavailable, RateLimited):
                failures += 1
                if failures >= MAX_NETWORK_FAILURES:
                    raise
                continue
            except _wire.OAuthErrorAnswer as answer:
                failures = 0
                if answer.error == "authorization_pending":
                    continue
                if answer.error == "slow_down":
                    interval += SLOW_DOWN_STEP
                    continue
                if answer.error == "expired_token":
                    raise DeviceCodeExpired(provider=spec.name) from None
                if answer.error == "access_denied":
                    raise AuthDenied(provider=spec.name) from None
                if answer.error == "device_flow_disabled":
                    raise _disabled(spec) from None
                if answer.error in ("incorrect_client_credentials", "invalid_client",
                                    "unauthorized_client"):
                    raise _wire.exchange_error(spec, answer) from None
                raise AuthError(f"{spec.display_name} ended the device sign-in "
                                f"({answer.error}); start it again.",
                                provider=spec.name) from None
            tokens = _wire.token_set(body, spec)
            identity = await oauth.identity(tokens)
            log.info("Signed in to %s with a device code (account %s).", spec.display_name,
                     identity.account_id)
            return Authorization(tokens, identity)
    finally:
        if http is None:
            await client_http.aclose()
