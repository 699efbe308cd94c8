"""Turning stored documents into the JSON Stripe answers with: nested objects filled in
(a subscription's items with their prices, an invoice's lines), ``expand[]`` applied, lists
wrapped in ``{"object": "list", ...}`` and paged with ``starting_after``/``ending_before``.

Stored documents already hold every field in today's shape; what rendering adds is the parts
kept apart (an item's ``price`` and legacy ``plan``, the list envelopes) and it drops the
emulator's own notes (keys starting with ``_``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from mbv_desktop.sandbox.stripe.errors import invalid, no_such
from mbv_desktop.sandbox.stripe.store import Tx

MAX_EXPAND_DEPTH = 4
BASE = "{base}"
"""Stored links to the emulator's own pages start with this; rendering puts the base URL the
client used in its place (so they follow the host to another port)."""
_LINKS = ("url", "hosted_invoice_url", "invoice_pdf")


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``doc`` without the emulator's notes."""
    return {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}


def list_object(url: str, data: list[dict[str, Any]], has_more: bool = False,
                ) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` a subscription item still carries beside its ``price``."""
    recurring = price.get("recurring") or {}
    return {"id": price["id"], "object": "plan", "active": price["active"],
            "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
            "billing_scheme": price["billing_scheme"], "created": price["created"],
            "currency": price["currency"], "interval": recurring.get("interval"),
            "interval_count": recurring.get("interval_count"), "livemode": False,
            "metadata": price["metadata"], "meter": recurring.get("meter"),
            "nickname": price["nickname"], "product": price["product"], "tiers_mode": None,
            "transform_usage": None, "trial_period_days": None,
            "usage_type": recurring.get("usage_type")}


def subscription_item(tx: Tx, item: dict[str, Any]) -> dict[str, Any]:
    """An item with its price (and plan); a metered item has no ``quantity``."""
    out = copy.deepcopy(item)
    if out.get("quantity") is None:
        out.pop("quantity", None)
    price = tx.get(item["price"], "price")
    if price is not None:
        out["price"] = public(price)
        out["plan"] = plan_of(price)
    return out


def render(tx: Tx, doc: dict[str, Any]) -> dict[str, Any]:
    """The API object for a stored document."""
    out = public(doc)
    for key in _LINKS:
        value = out.get(key)
        if isinstance(value, str) and value.startswith(BASE):
            out[key] = tx.base + value[len(BASE):]
    kind = doc.get("object")
    if kind == "subscription":
        items = [subscription_item(tx, item) for item in doc["items"]]
        out["items"] = {**list_object(f"/v1/subscription_items?subscription={doc['id']}",
                                      items), "total_count": len(items)}
    elif kind == "invoice":
        lines = copy.deepcopy(doc["lines"])
        url = f"/v1/invoices/{doc['id']}/lines" if doc.get("id") else "/v1/invoices/lines"
        out["lines"] = {**list_object(url, lines), "total_count": len(lines)}
    return out


def fetch(tx: Tx, object_id: str, kind: str, param: str | None = None) -> dict[str, Any]:
    """The stored document ``object_id`` of ``kind``, or Stripe's "No such …" error
    (404 for an id in the path, 400 naming ``param`` for one given as a parameter)."""
    doc = tx.get(object_id, kind)
    if doc is None:
        raise no_such(object_id, param)
    return doc


# -- expand[] --------------------------------------------------------------------------------

def _resolve(tx: Tx, value: Any) -> Any:
    if isinstance(value, str) and "_" in value:
        doc = tx.get(value)
        return render(tx, doc) if doc is not None else value
    if isinstance(value, list):
        return [_resolve(tx, v) if isinstance(v, str) else v for v in value]
    return value


def _expand(tx: Tx, value: Any, path: Sequence[str]) -> Any:
    if not path:
        return value
    if isinstance(value, list):
        return [_expand(tx, v, path) for v in value]
    if not isinstance(value, dict) or path[0] not in value:
        return value
    head, rest = path[0], path[1:]
    value[head] = _expand(tx, _resolve(tx, value[head]), rest)
    return value


def _session_line_items(tx: Tx, doc: dict[str, Any]) -> dict[str, Any]:
    items = []
    for line in doc.get("_line_items", []):
        price = tx.get(line["price"], "price")
        if price is None:
            continue
        product = tx.get(price["product"], "product") or {}
        quantity = line.get("quantity")
        subtotal = price["unit_amount"] * (quantity or 0) \
            if price["recurring"] is None or price["recurring"]["usage_type"] == "licensed" else 0
        tax = line.get("amount_tax", 0)
        items.append({"id": line["id"], "object": "item", "amount_discount": 0,
                      "amount_subtotal": subtotal, "amount_tax": tax,
                      "amount_total": subtotal + tax, "currency": price["currency"],
                      "description": product.get("name"), "price": public(price),
                      "quantity": quantity})
    return list_object(f"/v1/checkout/sessions/{doc['id']}/line_items", items)


def expand(tx: Tx, obj: dict[str, Any], paths: Sequence[str],
           doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """``obj`` with each dotted path of ``expand[]`` replaced by the object it names."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid(f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a "
                          f"property. Property: {path}", "expand")
        if doc is not None and doc.get("object") == "checkout.session" \
                and parts[0] == "line_items":
            obj["line_items"] = _session_line_items(tx, doc)
        _expand(tx, obj, parts)
    return obj


def show(tx: Tx, doc: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """Rendered and expanded: what an endpoint answers for one object."""
    return expand(tx, render(tx, doc), paths, doc)


# -- lists -------------------------------------------------------------------------------------

def page(rows: list[dict[str, Any]], limit: int, after: str | None, before: str | None,
         ) -> tuple[list[dict[str, Any]], bool]:
    """One page of ``rows`` (newest first) and whether more lie beyond it: after the cursor
    (older) for ``starting_after``, the ones just newer than it for ``ending_before``."""
    cursor = after or before
    if cursor is None:
        return rows[:limit], len(rows) > limit
    index = next((i for i, row in enumerate(rows) if row.get("id") == cursor), None)
    if index is None:
        raise no_such(cursor, "starting_after" if after else "ending_before")
    if after:
        rest = rows[index + 1:]
        return rest[:limit], len(rest) > limit
    newer = rows[:index]
    return newer[-limit:], len(newer) > limit


def list_answer(tx: Tx, url: str, docs: list[dict[str, Any]], limit: int, after: str | None,
                before: str | None, paths: Sequence[str]) -> dict[str, Any]:
    """A list endpoint's answer: one page of ``docs``, rendered, with ``expand[]`` applied
    (paths start with ``data.``)."""
    chosen, more = page(docs, limit, after, before)
    body = list_object(url, [render(tx, d) for d in chosen], more)
    return expand(tx, body, paths)
