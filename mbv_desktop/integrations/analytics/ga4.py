"""Google Analytics 4 Measurement Protocol: ``POST {endpoint}?measurement_id=…&api_secret=…``.

The body is ``{"client_id": …, "events": [{"name": …, "params": {…}}]}``; GA4 answers 2xx
with an empty body whatever it thinks of the events (the ``/debug/mp/collect`` endpoint returns
``validationMessages`` instead, used by the sandbox). The client id is a random pseudonymous id
made once per profile; no user id, e-mail or handle is ever sent.

Events are fire-and-forget and not idempotent, so the shared policy retries a POST only when it
certainly was not sent; a lost event is acceptable, a doubled one is not. Callers send events
only when the creator opted in (``analytics.opt_in``); this client does not check that.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

PROVIDER = "ga4"
_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
MAX_EVENTS = 25  # per request, the protocol's limit


class Ga4Client:
    """Sends events for one measurement id."""

    def __init__(self, endpoint: str, measurement_id: str, api_secret: str, *,
                 client: ProviderClient | None = None) -> None:
        if not measurement_id or not api_secret:
            raise InvalidInput("Analytics needs ga4.measurement_id and ga4.api_secret.")
        self._endpoint = endpoint
        self._params = {"measurement_id": measurement_id, "api_secret": api_secret}
        self._client = client or ProviderClient(ProviderPolicy(PROVIDER))

    async def send(self, client_id: str, events: list[tuple[str, Mapping[str, Any]]]) -> None:
        """Sends up to 25 events in one request."""
        if not events or len(events) > MAX_EVENTS:
            raise InvalidInput(f"Send between 1 and {MAX_EVENTS} analytics events at a time.")
        for name, _ in events:
            if not _EVENT_NAME.match(name):
                raise InvalidInput(f"'{name}' is not a valid analytics event name.")
        body = {"client_id": client_id,
                "events": [{"name": name, "params": dict(params)} for name, params in events]}
        await self._client.request("POST", self._endpoint, params=self._params, json=body)

    async def aclose(self) -> None:
        await self._client.aclose()
