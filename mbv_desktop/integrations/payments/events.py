"""Usage (meter events and their summaries) and Stripe events (polled or forwarded) as plain
objects; an event's ``data.object`` is kept as plain JSON for the service to read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._json import Json, integer, mapping, objects_in, opt_text, text

# --- usage ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MeterEvent:
    """A usage record as Stripe acknowledged it (processed asynchronously by Stripe)."""

    event_name: str
    identifier: str
    customer: str
    value: int
    timestamp: int


def meter_event_from(data: Json) -> MeterEvent:
    payload = mapping(data.get("payload"))
    return MeterEvent(event_name=text(data.get("event_name")),
                      identifier=text(data.get("identifier")),
                      customer=text(payload.get("stripe_customer_id")),
                      value=integer(payload.get("value")), timestamp=integer(data.get("timestamp")))


@dataclass(frozen=True)
class UsageSummary:
    """A customer's metered usage between ``start`` and ``end`` (minute-aligned)."""

    meter_id: str
    customer: str
    start: int
    end: int
    total: float


def usage_total(summaries: Iterable[Json]) -> float:
    total = 0.0
    for summary in summaries:
        value = summary.get("aggregated_value")
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            try:
                total += float(value)
            except ValueError:
                continue
    return total


# --- events --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StripeEvent:
    """One Stripe event; ``object`` is ``data.object`` as plain JSON."""

    id: str
    type: str
    created: int
    api_version: str | None
    livemode: bool
    object: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    previous_attributes: Mapping[str, Any] | None = field(default=None, repr=False,
                                                          compare=False)
    request_id: str | None = None
    idempotency_key: str | None = None


def event_from(data: Json) -> StripeEvent:
    body = mapping(data.get("data"))
    request = data.get("request")
    request_map = mapping(request)
    previous = body.get("previous_attributes")
    return StripeEvent(
        id=text(data.get("id")), type=text(data.get("type")), created=integer(data.get("created")),
        api_version=opt_text(data.get("api_version")), livemode=data.get("livemode") is True,
        object=dict(mapping(body.get("object"))),
        previous_attributes=dict(previous) if isinstance(previous, Mapping) else None,
        request_id=opt_text(request) or opt_text(request_map.get("id")),
        idempotency_key=opt_text(request_map.get("idempotency_key")))


@dataclass(frozen=True)
class EventPage:
    """One page of ``/v1/events``, newest first. ``has_more``: more pages in the direction
    asked (newer ones when paging with ``ending_before``)."""

    events: tuple[StripeEvent, ...]
    has_more: bool

    @property
    def newest_id(self) -> str | None:
        return self.events[0].id if self.events else None


def event_page_from(data: Json) -> EventPage:
    return EventPage(tuple(event_from(item) for item in objects_in(data)),
                     data.get("has_more") is True)
