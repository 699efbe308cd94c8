"""How every Stripe call is made: the SDK client for one key, the one retry layer, the
idempotency rule and the translation of failures.

Configuration: the API host from the ``stripe.api_base`` setting (the SDK's ``api`` base
address, without ``/v1``), the secret key from the caller (the billing service reads it from
the keyring), ``Stripe-Version`` pinned to the version the installed SDK was built for (read
from the SDK, so its types and Stripe's answers agree), a 10 s timeout per request, telemetry
off (see :mod:`.sdk`).

**Retries: one layer.** The seed asks for "network retries 3 within our single retry layer".
The SDK's own retries are off (``max_network_retries=0``) and every call runs under the shared
policy (:meth:`ProviderClient.run`) with up to 3 retries (4 attempts), full-jitter backoff, the
retry budget and the breaker, so a failing Stripe sees at most 4 attempts per call, never
attempts × SDK retries, and every attempt is counted in the ``stripe`` metrics (calls, retries,
latency, errors, availability: the Integration health tab). Retried: GETs, and POSTs, which all
carry the caller's idempotency key: every attempt resends the same ``Idempotency-Key``, so
Stripe answers a repeat with the first attempt's stored result instead of acting twice.
Retried on a connection failure, 408, 409 (Stripe is still running a request with the same
key), 429, 500, 502, 503 and 504; never on other 4xx. When the attempts run out after a POST
may have reached Stripe (a reset or timeout after sending, a 5xx), the error is
``ProviderUnavailable(maybe_sent=True)``: the caller looks the result up before sending again.

**Every POST takes the caller's idempotency key**, which the service stores with its intent
before calling; a POST without one is refused with ``InvalidInput`` before anything is sent.
(The SDK would otherwise invent a random key per call, useless after a crash.)

Failures end as project errors with a sentence a creator understands (:mod:`.errors`), with no
SDK or httpx exception chained (those hold the request, key included). The secret key is
registered with the redactor and never appears in a message, a log line or ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from mbv_desktop.core.errors import NotConfigured, ProviderError
from mbv_desktop.core.redaction import redact, register_secret
from mbv_desktop.integrations.http import MetricsRegistry, ProviderClient

from ._json import Json
from .config import (
    MAX_PAGES,
    REQUEST_TIMEOUT,
    V1,
    Call,
    check_idempotency_key,
    normalise_api_base,
    plain,
    stripe_policy,
)
from .errors import PROVIDER, StripeRejected, translate
from .sdk import http_client, load_sdk, pinned_api_version

log = logging.getLogger(__name__)


class StripeTransport:
    """Stripe calls for one secret key. Make one per key; call :meth:`aclose` when done.

    ``client`` lets the caller supply the policy client (shared metrics registry, a fake clock
    in tests); otherwise one is made with :func:`stripe_policy` and ``registry``.
    """

    def __init__(self, api_base: str, secret_key: str, *, client: ProviderClient | None = None,
                 registry: MetricsRegistry | None = None,
                 timeout: float = REQUEST_TIMEOUT) -> None:
        if not isinstance(secret_key, str) or not secret_key.strip():
            raise NotConfigured("Stripe is not set up yet: add the Stripe secret key in the "
                                "settings.", provider=PROVIDER)
        self.api_base = normalise_api_base(api_base)
        self._key = secret_key.strip()
        register_secret(self._key)
        self._owns_policy = client is None
        self.policy = client if client is not None else ProviderClient(
            stripe_policy(timeout=timeout), registry=registry)
        self._timeout = timeout
        self._sdk_client: Any = None
        self._http: Any = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_base={self.api_base!r})"

    async def _v1(self) -> V1:
        if self._sdk_client is None:
            sdk = await load_sdk()
            # Built on a worker thread: the TLS context reads the CA bundle, and the services
            # below are imported on first use.
            made, http = await asyncio.to_thread(self._build, sdk)
            if self._sdk_client is None:
                self._sdk_client, self._http = made, http
            else:  # another call built one meanwhile
                await http.close_async()
        return self._sdk_client.v1

    def _build(self, sdk: Any) -> tuple[Any, Any]:
        http = http_client(sdk, self._timeout)
        client = sdk.StripeClient(self._key, base_addresses={"api": self.api_base},
                                  stripe_version=pinned_api_version(), max_network_retries=0,
                                  http_client=http)
        v1 = client.v1
        # Touching each service imports its module here rather than on the event loop.
        _ = (v1.customers.payment_methods, v1.products, v1.prices, v1.checkout.sessions,
             v1.subscriptions, v1.invoices, v1.payment_methods, v1.billing_portal.sessions,
             v1.billing.meters, v1.billing.meter_events, v1.billing.meters.event_summaries,
             v1.events)
        return client, http

    async def _call(self, what: str, operation: str, call: Call) -> Json:
        """One SDK call under the policy. Every call is safe to repeat: a GET or DELETE, or a
        POST carrying its idempotency key."""
        v1 = await self._v1()

        async def attempt() -> Any:
            return await call(v1)

        try:
            result = await self.policy.run(attempt, idempotent=True, operation=operation)
        except ProviderError as error:
            raise self._translated(error, what, operation) from None
        except Exception as exc:
            if type(exc).__module__.split(".", 1)[0] != "stripe":
                raise
            # The SDK refused before sending (not a provider answer).
            raise StripeRejected(redact(str(exc))[:200] or type(exc).__name__,
                                 code=type(exc).__name__) from None
        return plain(result)

    def _translated(self, error: ProviderError, what: str, operation: str) -> Exception:
        mapped = translate(error, what=what)
        if mapped is not error:
            self.policy.metrics.last_error = str(mapped)
        request_id = getattr(error.__cause__, "request_id", None)
        log.info("stripe: %s failed (%s%s)", operation, type(mapped).__name__,
                 f", request {request_id}" if isinstance(request_id, str) else "")
        return mapped

    async def _get(self, what: str, operation: str, path: str,
                   params: Mapping[str, Any] | None = None) -> Json:
        """A read, as plain JSON. The SDK's typed calls build a tree of ``StripeObject``s from
        each answer on the event loop (50-120 ms for a page of invoices, measured by
        ``bench/billing_panel.py``); its raw request returns the parsed JSON and raises the
        same errors, so the policy and the translation above apply unchanged."""
        query = dict(params or {})

        async def read(_v1: V1) -> Any:
            response = await self._sdk_client.raw_request_async("get", path, **query)
            return response.data

        return await self._call(what, operation, read)

    async def _post(self, what: str, operation: str, key: str,
                    call: Callable[[V1, dict[str, str]], Awaitable[Any]]) -> Json:
        options = {"idempotency_key": check_idempotency_key(key, operation)}
        return await self._call(what, operation, lambda v1: call(v1, options))

    async def _list_all(self, what: str, operation: str, path: str,
                        params: dict[str, Any]) -> list[Json]:
        """Every object of a list endpoint (newest first), following ``starting_after``."""
        items: list[Json] = []
        query = {**params, "limit": 100}
        for _ in range(MAX_PAGES):
            body = await self._get(what, operation, path, dict(query))
            data = [item for item in body.get("data") or () if isinstance(item, Mapping)]
            items.extend(data)
            if body.get("has_more") is not True or not data:
                break
            query["starting_after"] = data[-1].get("id")
        return items

    async def aclose(self) -> None:
        http, self._http, self._sdk_client = self._http, None, None
        if http is not None:
            await http.close_async()
        if self._owns_policy:
            await self.policy.aclose()
