"""Usage-based billing: billing meters, meter events (``POST /v1/billing/meter_events``) and
their totals (``GET /v1/billing/meters/{id}/event_summaries``).

A meter event must name an active meter's ``event_name`` and carry, in ``payload``, the meter's
customer key (``stripe_customer_id``) and value key (``value``, a number). Its ``timestamp``
(default now) must lie within the last 35 days and at most 5 minutes ahead, on the sandbox
clock. ``identifier`` (default: one is made up) is unique over a rolling 24 hours: a second
event with the same identifier is refused as Stripe refuses it, 400 ``invalid_request_error``
"An event already exists with identifier {id}." with ``Stripe-Should-Retry: false`` (the
wording Stripe answers with; no ``code`` is documented for it), and counted once. Stripe
checks the customer and the value asynchronously and reports problems in error-report events;
the sandbox checks the value at once and accepts any customer id (usage of an unknown customer
is simply never billed). Summaries include events as soon as they are accepted (Stripe's are
eventually consistent).

Summaries: ``customer``, ``start_time`` and ``end_time`` are required (whole minutes,
``start_time`` inclusive, ``end_time`` exclusive); without ``value_grouping_window`` there is
one summary for the whole range, with ``hour`` or ``day`` one per UTC hour or day it touches,
newest first. ``aggregated_value`` follows the meter's formula (``sum``, ``count``, ``last``).
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from mbv_desktop.sandbox.stripe.errors import StripeError, invalid, missing_param
from mbv_desktop.sandbox.stripe.forms import Params, list_params
from mbv_desktop.sandbox.stripe.objects import fetch, list_object, page, public
from mbv_desktop.sandbox.stripe.store import Tx

IDENTIFIER_WINDOW = 24 * 3600
OLDEST = 35 * 86400
NEWEST = 5 * 60
MAX_IDENTIFIER = 100
WINDOWS = {"hour": 3600, "day": 86400}


def _active_meter(tx: Tx, event_name: str) -> dict[str, Any]:
    for meter in tx.docs("billing.meter"):
        if meter["event_name"] == event_name and meter["status"] == "active":
            return meter
    raise invalid(f"No active meter was found with event_name '{event_name}'.", "event_name")


def _value(payload: Params, key: str) -> float:
    text = payload.text(key)
    if text is None or text == "":
        raise missing_param(payload.full(key))
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise invalid(f"Invalid value for {payload.full(key)}: {text} is not a number.",
                      payload.full(key))
    return value


def record(tx: Tx, params: Params) -> dict[str, Any]:
    """``POST /v1/billing/meter_events`` (see the module docstring)."""
    params.only(("event_name", "identifier", "payload", "timestamp"))
    meter = _active_meter(tx, params.need("event_name"))
    payload = params.sub("payload")
    if payload is None:
        raise missing_param("payload")
    customer_key = meter["customer_mapping"]["event_payload_key"]
    customer = payload.text(customer_key)
    if not customer:
        raise missing_param(payload.full(customer_key))
    value = _value(payload, meter["value_settings"]["event_payload_key"])
    identifier = params.text("identifier", blank_is_none=True)
    if identifier is None:
        identifier = tx.next_id("mev_")
    if len(identifier) > MAX_IDENTIFIER:
        raise invalid(f"Invalid identifier: must be at most {MAX_IDENTIFIER} characters",
                      "identifier")
    timestamp = params.integer("timestamp")
    timestamp = tx.now if timestamp is None else timestamp
    if timestamp < tx.now - OLDEST:
        raise invalid("Timestamp must be within the past 35 calendar days.", "timestamp")
    if timestamp > tx.now + NEWEST:
        raise invalid("Timestamp must not be more than 5 minutes in the future.", "timestamp")
    if tx.meter_event_exists(identifier, tx.now - IDENTIFIER_WINDOW):
        raise StripeError(400, "invalid_request_error",
                          f"An event already exists with identifier {identifier}.",
                          headers={"stripe-should-retry": "false"})
    event = {"object": "billing.meter_event", "created": tx.now,
             "event_name": meter["event_name"], "identifier": identifier, "livemode": False,
             "payload": {k: str(v) for k, v in payload.data.items()}, "timestamp": timestamp}
    tx.add_meter_event(meter["id"], customer, value, event)
    return event


def _aggregate(formula: str, values: list[float]) -> float:
    if formula == "count":
        return float(len(values))
    if formula == "last":
        return values[-1] if values else 0.0
    return float(sum(values))


def _buckets(start: int, end: int, window: str | None) -> list[tuple[int, int]]:
    if window is None:
        return [(start, end)]
    size = WINDOWS[window]
    out = []
    edge = start - start % size
    while edge < end:
        out.append((max(edge, start), min(edge + size, end)))
        edge += size
    return out


def summaries(tx: Tx, meter_id: str, params: Params) -> dict[str, Any]:
    """``GET /v1/billing/meters/{id}/event_summaries`` (see the module docstring)."""
    params.only(("customer", "end_time", "ending_before", "limit", "start_time",
                 "starting_after", "value_grouping_window"))
    meter = fetch(tx, meter_id, "billing.meter")
    customer = params.need("customer")
    start = params.integer("start_time", required=True)
    end = params.integer("end_time", required=True)
    assert start is not None and end is not None
    for name, value in (("start_time", start), ("end_time", end)):
        if value % 60:
            raise invalid(f"{name} must be aligned with minute boundaries.", name)
    if end <= start:
        raise invalid("end_time must be after start_time.", "end_time")
    window = params.choice("value_grouping_window", ("day", "hour"))
    limit, after, before = list_params(params)
    values = tx.meter_values(meter["id"], customer, start, end)
    formula = meter["default_aggregation"]["formula"]
    rows = []
    for low, high in reversed(_buckets(start, end, window)):
        inside = [v for t, v in values if low <= t < high]
        digest = hashlib.sha256(f"{meter['id']}|{customer}|{low}|{high}".encode()).hexdigest()
        rows.append({"id": f"mtrusg_{digest[:24]}", "object": "billing.meter_event_summary",
                     "aggregated_value": _aggregate(formula, inside), "end_time": high,
                     "livemode": False, "meter": meter["id"], "start_time": low})
    chosen, more = page(rows, limit, after, before)
    return list_object(f"/v1/billing/meters/{meter['id']}/event_summaries", chosen, more)


def list_meters(tx: Tx, params: Params) -> dict[str, Any]:
    params.only(("ending_before", "limit", "starting_after", "status"))
    status = params.choice("status", ("active", "inactive"))
    limit, after, before = list_params(params)
    docs = [public(m) for m in tx.docs("billing.meter")
            if status is None or m["status"] == status]
    chosen, more = page(docs, limit, after, before)
    return list_object("/v1/billing/meters", chosen, more)
