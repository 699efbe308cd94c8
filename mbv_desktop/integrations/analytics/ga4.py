"""Google Analytics 4 Measurement Protocol: ``POST {endpoint}?measurement_id=…&api_secret=…``.

The body is ``{"client_id": …, "timestamp_micros": …, "events": [{"name": …, "params": {…}}]}``;
GA4 answers 2xx with an empty body whatever it thinks of the events. The validation endpoint
(``/debug/mp/collect``, same body) answers ``{"validationMessages": [...]}`` instead and keeps
nothing; the sandbox uses it before each real send. The client id is a random pseudonymous id
made once per profile; no user id, e-mail or handle is ever sent.

:func:`check_event` applies the protocol's documented limits on this side, so a bad event fails
with a clear :class:`InvalidInput` instead of vanishing at GA4: names of letters, digits and
underscores starting with a letter (at most 40), no reserved event name or reserved prefix, at
most 25 parameters, string values of at most 100 characters.

Events are not idempotent, so the shared policy makes one attempt per send: the caller's queue
is the retry (it sends again only what certainly did not reach GA4). Callers send events only
when the creator opted in (``analytics.opt_in``); this client does not check that.

Importing this module is cheap (no httpx): the HTTP policy is loaded when a client is made, so
the event rules can be checked on the first window's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mbv_desktop.core.errors import InvalidInput, ProviderUnavailable

if TYPE_CHECKING:
    from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry

PROVIDER = "ga4"
MAX_EVENTS = 25  # per request
MAX_PARAMS = 25  # per event
MAX_NAME = 40  # event and parameter names
MAX_VALUE = 100  # string parameter values
#: Standard parameters GA4 lets be longer than :data:`MAX_VALUE`.
LONG_VALUES = {"page_title": 300, "page_referrer": 420, "page_location": 1000}
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_EVENTS = frozenset({
    "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward",
    "adunit_exposure", "app_background", "app_clear_data", "app_exception", "app_remove",
    "app_store_refund", "app_store_subscription_cancel", "app_store_subscription_convert",
    "app_store_subscription_renew", "app_update", "app_upgrade", "error", "first_open",
    "first_visit", "in_app_purchase", "os_update", "session_start",
    "session_start_with_rollout", "user_engagement",
})
#: Reserved families of event names (``dynamic_link_*``, ``notification_*``).
RESERVED_EVENT_PREFIXES = ("dynamic_link_", "notification_")

Event = tuple[str, Mapping[str, Any]]


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"An analytics {what} needs a name.")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"The analytics {what} name '{name[:60]}' is longer than "
                           f"{MAX_NAME} characters.")
    lowered = name.lower()
    if lowered.startswith(RESERVED_PREFIXES):
        raise InvalidInput(f"The analytics {what} name '{name}' starts with a prefix GA4 "
                           "reserves (_, firebase_, ga_, google_).")
    if not NAME_PATTERN.match(name):
        raise InvalidInput(f"'{name}' is not a valid analytics {what} name: use letters, "
                           "digits and underscores, starting with a letter.")
    return name


def check_event(name: str, params: Mapping[str, Any]) -> None:
    """Raises :class:`InvalidInput` naming the problem when GA4 would refuse or drop the event."""
    _check_name(name, "event")
    if name.lower() in RESERVED_EVENTS or name.lower().startswith(RESERVED_EVENT_PREFIXES):
        raise InvalidInput(f"'{name}' is an event name GA4 reserves for itself.")
    if len(params) > MAX_PARAMS:
        raise InvalidInput(f"The analytics event '{name}' has {len(params)} parameters; GA4 "
                           f"takes at most {MAX_PARAMS}.")
    for key, value in params.items():
        _check_name(key, "parameter")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidInput(f"The analytics parameter '{key}' of '{name}' must be text or "
                               "a number.")
        limit = LONG_VALUES.get(key, MAX_VALUE)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidInput(f"The analytics parameter '{key}' of '{name}' is "
                               f"{len(value)} characters long; GA4 takes at most {limit}.")


@dataclass(frozen=True)
class ValidationMessage:
    """One problem the validation endpoint found."""

    field_path: str
    description: str
    code: str

    def __str__(self) -> str:
        where = f" ({self.field_path})" if self.field_path else ""
        return f"{self.code}{where}: {self.description}"


def debug_endpoint(endpoint: str) -> str:
    """The validation endpoint next to a collect endpoint (``…/mp/collect`` →
    ``…/debug/mp/collect``)."""
    base, sep, query = endpoint.partition("?")
    if base.endswith("/debug/mp/collect"):
        return endpoint
    if base.endswith("/mp/collect"):
        base = base[: -len("/mp/collect")] + "/debug/mp/collect"
    else:
        raise InvalidInput("ga4.endpoint must end with /mp/collect.")
    return base + sep + query


def ga4_policy() -> ProviderPolicy:
    """One attempt per call with short timeouts: an event is never worth a long wait, and the
    queue tries again later for what certainly did not arrive."""
    from mbv_desktop.integrations.http import ProviderPolicy

    return ProviderPolicy(PROVIDER, timeout=10.0, deadline=15.0, max_attempts=1)


class Ga4Client:
    """Sends events for one measurement id."""

    def __init__(self, endpoint: str, measurement_id: str, api_secret: str, *,
                 client: ProviderClient | None = None,
                 registry: MetricsRegistry | None = None) -> None:
        if not measurement_id or not api_secret:
            raise InvalidInput("Analytics needs ga4.measurement_id and ga4.api_secret.")
        if not endpoint:
            raise InvalidInput("Analytics needs ga4.endpoint.")
        self._endpoint = endpoint
        self._params = {"measurement_id": measurement_id, "api_secret": api_secret}
        if client is None:
            from mbv_desktop.integrations.http import ProviderClient

            client = ProviderClient(ga4_policy(), registry=registry)
        self._client = client

    @staticmethod
    def _body(client_id: str, events: Sequence[Event],
              timestamp_micros: int | None) -> dict[str, Any]:
        if not events or len(events) > MAX_EVENTS:
            raise InvalidInput(f"Send between 1 and {MAX_EVENTS} analytics events at a time.")
        for name, params in events:
            check_event(name, params)
        body: dict[str, Any] = {"client_id": client_id}
        if timestamp_micros is not None:
            body["timestamp_micros"] = int(timestamp_micros)
        body["events"] = [{"name": name, "params": dict(params)} for name, params in events]
        return body

    async def send(self, client_id: str, events: Sequence[Event], *,
                   timestamp_micros: int | None = None) -> None:
        """Sends up to 25 events in one request (``timestamp_micros``: when they happened)."""
        body = self._body(client_id, events, timestamp_micros)
        await self._client.request("POST", self._endpoint, params=self._params, json=body)

    async def validate(self, client_id: str, events: Sequence[Event], *,
                       timestamp_micros: int | None = None) -> list[ValidationMessage]:
        """What the validation endpoint says about this request (empty: valid). Nothing is
        kept there, so the call may be repeated."""
        body = self._body(client_id, events, timestamp_micros)
        response = await self._client.request("POST", debug_endpoint(self._endpoint),
                                              params=self._params, json=body, idempotent=True)
        try:
            data = response.json()
        except ValueError:
            data = None
        raw = data.get("validationMessages") if isinstance(data, dict) else None
        if not isinstance(raw, list):
            raise ProviderUnavailable("Google Analytics' validation endpoint gave an answer "
                                      "that is not a validation result.", provider=PROVIDER)
        return [ValidationMessage(str(m.get("fieldPath", "")), str(m.get("description", "")),
                                  str(m.get("validationCode", "")))
                for m in raw if isinstance(m, dict)]

    async def aclose(self) -> None:
        await self._client.aclose()
