"""Webhooks the emulator sends: endpoints registered through ``POST {base}/_webhooks``, each new
event POSTed to them signed as Stripe signs, failed deliveries retried, and redelivery on
demand (the "same event three times at once" case).

Signing (Stripe's scheme): ``Stripe-Signature: t=<unix seconds>,v1=<hex>`` where ``v1`` is
HMAC-SHA256, keyed with the endpoint's ``whsec_…`` secret, of ``"<t>.<raw body>"``. The body is
the event JSON exactly as sent (pretty-printed, as Stripe sends it). ``t`` is the real time
(not the sandbox clock a test may have moved), so a receiver's tolerance check works.

Delivery never blocks the API: it runs in background tasks after the request's transaction
commits. Events from one request go to an endpoint in order, one after another; a failed
attempt (no 2xx, or no connection) is retried after :data:`RETRY_DELAYS` in its own task and
then given up. Stripe retries for days and promises no order; the sandbox keeps it short.
Endpoints and secrets live in memory only (a host restart forgets them). Only loopback URLs are
accepted: the sandbox never sends anything off this computer.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from mbv_desktop.sandbox.stripe.store import StripeStore

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.3, 1.0)
TIMEOUT = 5.0
MAX_LOG = 2000
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``t=…,v1=…`` for ``payload`` signed with ``secret`` at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2, ensure_ascii=False).encode("utf-8")


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str]
    created: int = field(default_factory=lambda: int(time.time()))

    def wants(self, event_type: str) -> bool:
        for pattern in self.enabled_events:
            if pattern == "*" or pattern == event_type:
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "object": "webhook_endpoint", "url": self.url,
                "secret": self.secret, "enabled_events": self.enabled_events,
                "status": "enabled", "created": self.created}


@dataclass
class Delivery:
    """One attempt: ``status`` is the receiver's HTTP status (None: no answer)."""

    event: str
    type: str
    endpoint: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    redelivery: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class Webhooks:
    """The endpoints, the delivery log and the background deliveries."""

    def __init__(self, store: StripeStore) -> None:
        self.store = store
        self.endpoints: dict[str, Endpoint] = {}
        self.log: deque[Delivery] = deque(maxlen=MAX_LOG)
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = iter(range(1, 1 << 62))

    # endpoints ---------------------------------------------------------------------------------

    def register(self, url: str, secret: str | None = None,
                 enabled_events: Iterable[str] | None = None) -> Endpoint:
        """A new endpoint; raises ValueError for a URL off this computer or a bad secret."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK:
            raise ValueError("the sandbox only sends webhooks to loopback URLs "
                             "(http://127.0.0.1:PORT/...)")
        secret = secret or "whsec_" + secrets.token_hex(24)
        if not secret.startswith("whsec_"):
            raise ValueError("a webhook secret starts with whsec_")
        events = list(enabled_events or ["*"])
        endpoint = Endpoint(f"we_Sbx{next(self._numbers):011d}", url, secret, events)
        self.endpoints[endpoint.id] = endpoint
        return endpoint

    def remove(self, endpoint_id: str | None = None) -> int:
        if endpoint_id is None:
            count = len(self.endpoints)
            self.endpoints.clear()
            return count
        return int(self.endpoints.pop(endpoint_id, None) is not None)

    def count_for(self, event_type: str) -> int:
        return sum(1 for e in self.endpoints.values() if e.wants(event_type))

    # delivery ----------------------------------------------------------------------------------

    def dispatch(self, events: list[dict[str, Any]]) -> None:
        """Starts delivering ``events`` (one request's, in order) to every endpoint that wants
        them; returns at once."""
        for endpoint in list(self.endpoints.values()):
            wanted = [e for e in events if endpoint.wants(e["type"])]
            if wanted:
                self._spawn(self._deliver_in_order(endpoint, wanted))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_in_order(self, endpoint: Endpoint, events: list[dict[str, Any]],
                                ) -> None:
        async with _client() as client:
            for event in events:
                delivery = await self._send(client, endpoint, event, 1)
                if delivery.ok:
                    self.store.event_delivered(event["id"])
                else:
                    self._spawn(self._retry(endpoint, event))

    async def _retry(self, endpoint: Endpoint, event: dict[str, Any]) -> None:
        async with _client() as client:
            for attempt, delay in enumerate(RETRY_DELAYS, start=2):
                await asyncio.sleep(delay)
                if endpoint.id not in self.endpoints:
                    return
                if (await self._send(client, endpoint, event, attempt)).ok:
                    self.store.event_delivered(event["id"])
                    return
        log.info("stripe sandbox: gave up delivering %s to %s", event["id"], endpoint.url)

    async def _send(self, client: httpx.AsyncClient, endpoint: Endpoint,
                    event: dict[str, Any], attempt: int, redelivery: bool = False,
                    ) -> Delivery:
        body = event_body(event)
        headers = {"content-type": "application/json; charset=utf-8",
                   "user-agent": USER_AGENT,
                   "stripe-signature": signature_header(body, endpoint.secret,
                                                        int(time.time()))}
        status: int | None = None
        error: str | None = None
        try:
            response = await client.post(endpoint.url, content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivery = Delivery(event["id"], event["type"], endpoint.id, attempt, status, error,
                            time.time(), redelivery)
        self.log.append(delivery)
        return delivery

    async def resend(self, event: dict[str, Any], times: int = 1, concurrent: bool = False,
                     endpoint_id: str | None = None) -> list[Delivery]:
        """Sends ``event`` again ``times`` times to each endpoint (or one), all at once when
        ``concurrent``; waits for the answers (no retries)."""
        targets = [e for e in self.endpoints.values()
                   if endpoint_id is None or e.id == endpoint_id]
        async with _client() as client:
            sends = [self._send(client, target, event, 1, redelivery=True)
                     for target in targets for _ in range(times)]
            if concurrent:
                return list(await asyncio.gather(*sends))
            return [await send for send in sends]

    def deliveries(self, event_id: str | None = None) -> list[Delivery]:
        return [d for d in self.log if event_id is None or d.event == event_id]


def _client() -> httpx.AsyncClient:
    # trust_env off: a proxy from the environment must never see loopback deliveries
    return httpx.AsyncClient(timeout=TIMEOUT, trust_env=False, follow_redirects=False)
