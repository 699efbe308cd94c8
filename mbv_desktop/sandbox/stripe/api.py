"""The emulator's ASGI app: the ``/v1`` API with what every Stripe request goes through
(authentication, ``Stripe-Version``, form/query decoding, ``Idempotency-Key``, error bodies,
``Request-Id``), plus the sandbox's own routes from ``control.py``.

Authentication: ``Authorization: Bearer sk_test_…`` (what stripe-python sends) or HTTP Basic
with the key as user name and an empty password (curl's ``-u sk_test_…:``). Any ``sk_test_``
or ``rk_test_`` key works except ``sk_test_invalid`` and keys revoked through the control API;
live keys (``sk_live_``) are refused and never recorded. Keys are recorded as digests only.

Idempotency (POST only; keys pruned after 24 hours on the sandbox clock): the first answer to a
key is stored in the same transaction as its effects, and a retry with the same method, path
and params gets it back (status and body) with ``Idempotent-Replayed: true`` and
``Original-Request``; different params → 400 ``idempotency_error``; the same key while the
first request is still running → 409 ``idempotency_error`` (only observable with
``processing_delay`` set, see ``control.py``: requests are otherwise handled one at a time).
As on Stripe, answers from before the work began (400s for bad params, 404s, 401) are not
stored, so a corrected retry may reuse the key; 402 card errors and 500s are.

There is no rate limit of its own: a test wanting Stripe's 429 (``rate_limit``) or a 500/503
adds a fault for ``stripe`` (``errors.fault_reply`` shapes them as Stripe does).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import EmulatorContext, dump_json
from mbv_desktop.sandbox.stripe import endpoints
from mbv_desktop.sandbox.stripe.control import Control, base_url
from mbv_desktop.sandbox.stripe.errors import (
    StripeError,
    idempotency_in_flight,
    idempotency_mismatch,
    invalid,
    unauthorized,
    unrecognized_url,
)
from mbv_desktop.sandbox.stripe.events import API_VERSION
from mbv_desktop.sandbox.stripe.forms import Params, decode, parse_body
from mbv_desktop.sandbox.stripe.runtime import Runtime
from mbv_desktop.sandbox.stripe.store import Tx

log = logging.getLogger(__name__)

INVALID_KEY = "sk_test_invalid"
TEST_PREFIXES = ("sk_test_", "rk_test_")
LIVE_PREFIXES = ("sk_live_", "rk_live_")
KEY_TTL = 24 * 3600
MAX_KEY = 255
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NO_KEY = ("You did not provide an API key. You need to provide your API key in the "
          "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
          "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we "
          "can help at https://support.stripe.com/.")


def _mask(key: str) -> str:
    head = next((p for p in (*TEST_PREFIXES, *LIVE_PREFIXES) if key.startswith(p)), "")
    return head + "*" * max(0, len(key) - len(head) - 4) + key[-4:]


def _key(request: Request) -> str:
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise unauthorized(NO_KEY)
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized("Invalid API Key provided: the Basic credentials are not "
                               "valid base64.") from None
        return decoded.partition(":")[0]
    raise unauthorized(NO_KEY)


def _version(request: Request) -> str:
    version = request.headers.get("stripe-version")
    if version is None:
        return API_VERSION
    if not _VERSION.match(version):
        raise invalid(f"Invalid Stripe API version: {version}", code="api_version_invalid")
    return version


def _fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _Api:
    """Runs one ``/v1`` endpoint for one request (see the module docstring)."""

    def __init__(self, ctx: EmulatorContext, runtime: Runtime) -> None:
        self.ctx = ctx
        self.rt = runtime

    def authenticate(self, request: Request) -> None:
        key = _key(request)
        if key.startswith(LIVE_PREFIXES):
            raise unauthorized("This sandbox only accepts test-mode keys (sk_test_…); a live "
                               "key was refused and not recorded.")
        accepted = key.startswith(TEST_PREFIXES) and key != INVALID_KEY
        if not key or not self.ctx.state.authenticate(self.ctx.provider, key, accepted):
            raise unauthorized(f"Invalid API Key provided: {_mask(key)}")

    async def params(self, request: Request) -> Params:
        if request.method != "POST":
            return Params(decode(request.query_params.multi_items()))
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await request.body()
        if body and kind and kind not in _FORM_TYPES:
            raise invalid(f"Invalid request: unsupported Content-Type {kind}. If error "
                          "persists and you need assistance, please contact "
                          "support@stripe.com.")
        return Params(decode([*request.query_params.multi_items(), *parse_body(body)]))

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> Response:
        return Response(body, status, headers=headers, media_type="application/json")

    async def __call__(self, request: Request, handler: endpoints.Handler) -> Response:
        request_id = self.rt.request_id()
        headers = {"request-id": request_id, "stripe-version": API_VERSION}
        key: str | None = None
        fingerprint = ""
        try:
            self.authenticate(request)
            headers["stripe-version"] = _version(request)
            params = await self.params(request)
            if request.method == "POST":
                key = request.headers.get("idempotency-key")
            if key is not None:
                headers["idempotency-key"] = key
                fingerprint = _fingerprint(request.method, request.url.path, params.data)
                replay = self._replay(request, key, fingerprint)
                if replay is not None:
                    return self.reply(replay[0], replay[1].encode(),
                                      {**headers, "idempotent-replayed": "true",
                                       "original-request": replay[2]})
                return await self._run_once(request, handler, params, key, fingerprint,
                                            headers)
            status, body = self._run(request, handler, params, None, "", request_id)
            return self.reply(status, body, headers)
        except StripeError as error:
            if key is not None and (error.status == 402 or error.status >= 500):
                self._remember(request, key, fingerprint, error.status,
                               dump_json(error.body()), request_id)
            return self.reply(error.status, dump_json(error.body()),
                              {**headers, **error.headers})

    def _replay(self, request: Request, key: str, fingerprint: str,
                ) -> tuple[int, str, str] | None:
        if not 1 <= len(key) <= MAX_KEY:
            raise invalid(f"Idempotency-Key must be between 1 and {MAX_KEY} characters long.")
        if key in self.rt.in_flight:
            raise idempotency_in_flight(key)

        def work(tx: Tx) -> tuple[str, int, str, str] | None:
            return tx.remembered(key, tx.now - KEY_TTL)

        found = self.rt.run(work, base=base_url(request))
        if found is None:
            return None
        if found[0] != fingerprint:
            raise idempotency_mismatch(key)
        return found[1], found[2], found[3]

    async def _run_once(self, request: Request, handler: endpoints.Handler, params: Params,
                        key: str, fingerprint: str, headers: dict[str, str]) -> Response:
        self.rt.in_flight.add(key)
        try:
            if self.rt.processing_delay:
                await asyncio.sleep(self.rt.processing_delay)
            status, body = self._run(request, handler, params, key, fingerprint,
                                     headers["request-id"])
            return self.reply(status, body, headers)
        finally:
            self.rt.in_flight.discard(key)

    def _run(self, request: Request, handler: endpoints.Handler, params: Params,
             key: str | None, fingerprint: str, request_id: str) -> tuple[int, bytes]:
        path = dict(request.path_params)

        def work(tx: Tx) -> bytes:
            body = dump_json(handler(tx, params, path))
            if key is not None:
                tx.remember(key, fingerprint, 200, body.decode("utf-8"), request_id)
            return body

        try:
            return 200, self.rt.run(work, base=base_url(request),
                                    request={"id": request_id, "idempotency_key": key})
        except StripeError:
            raise
        except Exception:
            log.exception("stripe sandbox: %s %s failed", request.method, request.url.path)
            raise StripeError(500, "api_error", "An unknown error occurred",
                              headers={"stripe-should-retry": "true"}) from None

    def _remember(self, request: Request, key: str, fingerprint: str, status: int,
                  body: bytes, request_id: str) -> None:
        def work(tx: Tx) -> None:
            tx.remember(key, fingerprint, status, body.decode("utf-8"), request_id)

        self.rt.run(work, base=base_url(request))


def create_app(ctx: EmulatorContext) -> ASGIApp:
    """The Stripe emulator (see the package docstring)."""
    runtime = Runtime(ctx.state.path.parent)
    api = _Api(ctx, runtime)

    def route(method: str, path: str, handler: endpoints.Handler) -> Route:
        async def endpoint(request: Request) -> Response:
            return await api(request, handler)
        return Route(path, endpoint, methods=[method])

    async def unrecognized(request: Request, exc: Exception) -> Response:
        error = unrecognized_url(request.method, request.url.path.removeprefix(
            request.scope.get("root_path", "")))
        return Response(dump_json(error.body()), error.status, media_type="application/json",
                        headers={"request-id": runtime.request_id()})

    routes = [route(m, p, h) for m, p, h in endpoints.ROUTES] + Control(runtime).routes()
    return Starlette(routes=routes, exception_handlers={404: unrecognized, 405: unrecognized})
