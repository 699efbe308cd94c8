"""Events: every state change appends one (``customer.created``,
``customer.subscription.updated`` with ``previous_attributes``, ``invoice.paid`` …), and
``GET /v1/events`` lists them newest first with Stripe's cursors.

An event's ``data.object`` is the object as it was right after the change (rendered in this
emulator's one API version, :data:`API_VERSION`). ``request`` names the API request that
caused it (``{"id": null, "idempotency_key": null}`` for changes made by the clock or the
hosted pages). ``pending_webhooks`` counts the sandbox's webhook endpoints still to
acknowledge it. Events older than 30 days (on the sandbox clock) are no longer listed.
"""

from __future__ import annotations

from typing import Any

from mbv_desktop.sandbox.stripe.errors import invalid, no_such
from mbv_desktop.sandbox.stripe.forms import Params, list_params
from mbv_desktop.sandbox.stripe.objects import list_object
from mbv_desktop.sandbox.stripe.store import Tx

API_VERSION = "2026-10-28.endive"
"""The version this emulator renders (stripe-python 16.1 pins it)."""
RETENTION = 30 * 86400
MAX_TYPES = 20


def previous_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The top-level fields that changed, with their old values."""
    return {k: v for k, v in before.items() if k in after and after[k] != v}


def emit(tx: Tx, type_: str, obj: dict[str, Any],
         previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """Appends the event ``type_`` about the rendered ``obj`` (and what changed)."""
    data: dict[str, Any] = {"object": obj}
    if previous:
        data["previous_attributes"] = previous
    event = {"id": tx.next_id("evt_"), "object": "event", "api_version": API_VERSION,
             "created": tx.now, "data": data, "livemode": False,
             "pending_webhooks": tx.webhook_count(type_), "request": dict(tx.request),
             "type": type_}
    tx.add_event(event)
    return event


def _type_clause(params: Params) -> tuple[str, tuple[Any, ...]]:
    pattern = params.text("type")
    types = params.texts("types")
    if pattern and types:
        raise invalid("You may only specify one of these parameters: type, types.", "type",
                      "parameters_exclusive")
    if len(types) > MAX_TYPES:
        raise invalid(f"You can filter by at most {MAX_TYPES} types.", "types")
    if pattern:
        return "type GLOB ?", (pattern,)
    if types:
        return f"type IN ({', '.join('?' * len(types))})", tuple(types)
    return "1", ()


def _created_clause(params: Params) -> tuple[str, tuple[Any, ...]]:
    created = params.raw("created")
    if created is None:
        return "1", ()
    if isinstance(created, str):
        return "created = ?", (params.integer("created"),)
    ranges = params.sub("created")
    assert ranges is not None
    clauses, values = [], []
    for op, sql in (("gt", ">"), ("gte", ">="), ("lt", "<"), ("lte", "<=")):
        value = ranges.integer(op)
        if value is not None:
            clauses.append(f"created {sql} ?")
            values.append(value)
    return (" AND ".join(clauses) or "1"), tuple(values)


def list_events(tx: Tx, params: Params) -> dict[str, Any]:
    """``GET /v1/events``: newest first; ``starting_after`` walks to older events,
    ``ending_before`` to the ones just newer than the cursor (the polling direction)."""
    params.only(("created", "delivery_success", "ending_before", "limit", "starting_after",
                 "type", "types"))
    limit, after, before = list_params(params)
    type_sql, type_args = _type_clause(params)
    created_sql, created_args = _created_clause(params)
    where = f"({type_sql}) AND ({created_sql}) AND created >= ?"
    args = (*type_args, *created_args, tx.now - RETENTION)
    cursor = after or before
    if cursor is not None:
        found = tx.event(cursor)
        if found is None:
            raise no_such(cursor, "starting_after" if after else "ending_before")
        if after:
            rows = tx.events(f"{where} AND seq < ?", (*args, found[0]), "DESC", limit + 1)
        else:
            rows = list(reversed(tx.events(f"{where} AND seq > ?", (*args, found[0]), "ASC",
                                           limit + 1)))
            return list_object("/v1/events", rows[-limit:], len(rows) > limit)
    else:
        rows = tx.events(where, args, "DESC", limit + 1)
    return list_object("/v1/events", rows[:limit], len(rows) > limit)


def get_event(tx: Tx, event_id: str) -> dict[str, Any]:
    found = tx.event(event_id)
    if found is None:
        raise no_such(event_id)
    return found[1]
