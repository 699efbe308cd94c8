"""Customers and their payment methods: creating and updating customers (with their events),
the customer search query language, card payment methods made from test cards, attaching,
detaching and the default payment method.

Search (``GET /v1/customers/search``) understands Stripe's query language for customers:
``field:'value'`` (exact), ``field~'value'`` (contains, at least 3 characters), a leading ``-``
to negate, ``created>…``/``<``/``>=``/``<=``, clauses joined by ``AND`` or by ``OR`` (not both),
over ``email``, ``name``, ``phone``, ``metadata['key']`` and ``created``; inside a quoted
value a backslash escapes the next character (``'O\\'Brien'``). Unlike Stripe, whose
search index lags writes by up to a minute, a new customer is found at once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from mbv_desktop.sandbox.stripe.cards import Card
from mbv_desktop.sandbox.stripe.errors import invalid
from mbv_desktop.sandbox.stripe.events import emit, previous_attributes
from mbv_desktop.sandbox.stripe.objects import render
from mbv_desktop.sandbox.stripe.store import Tx

_CLAUSE = re.compile(
    r"""\s*(?P<neg>-)?(?P<field>metadata\[(?P<q>['"])(?P<key>[^'"]+)(?P=q)\]|[a-z_]+)\s*
        (?P<op>:|~|>=|<=|>|<)\s*
        (?:(?P<vq>['"])(?P<value>(?:\\.|(?!(?P=vq)).)*)(?P=vq)|(?P<bare>[^\s'"]+))""",
    re.VERBOSE)
_JOIN = re.compile(r"\s+(AND|OR)\s+")
_ESCAPE = re.compile(r"\\(.)")
_SEARCH_FIELDS = ("email", "name", "phone", "created")


def new_customer(tx: Tx, *, email: str | None, name: str | None = None,
                 metadata: dict[str, str] | None = None, description: str | None = None,
                 phone: str | None = None) -> dict[str, Any]:
    """A customer (``customer.created`` is appended)."""
    customer_id = tx.next_id("cus_")
    doc: dict[str, Any] = {"id": customer_id, "object": "customer", "address": None, "balance": 0,
           "created": tx.now, "currency": None, "default_source": None, "delinquent": False,
           "description": description, "discount": None, "email": email,
           "invoice_prefix": hashlib.sha256(customer_id.encode()).hexdigest()[:8].upper(),
           "invoice_settings": {"custom_fields": None, "default_payment_method": None,
                                "footer": None, "rendering_options": None},
           "livemode": False, "metadata": metadata or {}, "name": name,
           "next_invoice_sequence": 1, "phone": phone, "preferred_locales": [],
           "shipping": None, "tax_exempt": "none", "test_clock": None}
    tx.put(doc)
    emit(tx, "customer.created", render(tx, doc))
    return doc


def save_customer(tx: Tx, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stores ``after``; appends ``customer.updated`` when something visible changed."""
    tx.put(after)
    old, new = render(tx, before), render(tx, after)
    changed = previous_attributes(old, new)
    if changed:
        emit(tx, "customer.updated", new, changed)
    return after


def default_payment_method(customer: dict[str, Any]) -> str | None:
    value = (customer.get("invoice_settings") or {}).get("default_payment_method")
    return value if isinstance(value, str) else None


# -- search ------------------------------------------------------------------------------------

def _matcher(match: re.Match[str]) -> Callable[[dict[str, Any]], bool]:
    field, op = match["field"], match["op"]
    value = _ESCAPE.sub(r"\1", match["value"]) if match["value"] is not None else match["bare"]
    key = match["key"]
    if key is None and field not in _SEARCH_FIELDS:
        raise invalid(f"Field '{field}' is an unsupported search field for customers. See "
                      "https://stripe.com/docs/search#query-fields-for-customers for a list "
                      "of supported fields.", "query")
    if op == "~" and len(value) < 3:
        raise invalid("The ~ operator needs a value of at least 3 characters.", "query")

    def actual(doc: dict[str, Any]) -> Any:
        return (doc.get("metadata") or {}).get(key) if key is not None else doc.get(field)

    def test(doc: dict[str, Any]) -> bool:
        have = actual(doc)
        if op in (">", "<", ">=", "<="):
            try:
                number, bound = float(have), float(value)
            except (TypeError, ValueError):
                return False
            return {">": number > bound, "<": number < bound, ">=": number >= bound,
                    "<=": number <= bound}[op]
        if have is None:
            return False
        if op == "~":
            return value.lower() in str(have).lower()
        return str(have).lower() == value.lower() if field == "email" else str(have) == value

    if match["neg"]:
        return lambda doc: not test(doc)
    return test


def search_filter(query: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate over stored customers for a search ``query`` (see the module docstring)."""
    tests: list[Callable[[dict[str, Any]], bool]] = []
    joins: set[str] = set()
    position = 0
    while True:
        clause = _CLAUSE.match(query, position)
        if clause is None:
            raise invalid(f"Invalid search query: {query!r}. See "
                          "https://stripe.com/docs/search#search-query-language.", "query")
        tests.append(_matcher(clause))
        join = _JOIN.match(query, clause.end())
        if join is None:
            position = clause.end()
            break
        joins.add(join[1])
        position = join.end()
    if query[position:].strip():
        raise invalid(f"Invalid search query: {query!r}. See "
                      "https://stripe.com/docs/search#search-query-language.", "query")
    if len(joins) > 1:
        raise invalid("You cannot combine AND and OR in the same search query.", "query")
    if joins == {"OR"}:
        return lambda doc: any(t(doc) for t in tests)
    return lambda doc: all(t(doc) for t in tests)


# -- payment methods ---------------------------------------------------------------------------

def new_card(tx: Tx, card: Card, *, email: str | None = None,
             name: str | None = None) -> dict[str, Any]:
    """A card payment method, not attached to anyone yet (no event: Stripe has none)."""
    doc = {"id": tx.next_id("pm_"), "object": "payment_method", "allow_redisplay": "always",
           "billing_details": {"address": {"city": None, "country": None, "line1": None,
                                           "line2": None, "postal_code": None, "state": None},
                               "email": email, "name": name, "phone": None, "tax_id": None},
           "card": {"brand": card.brand,
                    "checks": {"address_line1_check": None,
                               "address_postal_code_check": None, "cvc_check": "pass"},
                    "country": "US", "display_brand": card.brand,
                    "exp_month": card.exp_month, "exp_year": card.exp_year,
                    "fingerprint": card.fingerprint, "funding": card.funding,
                    "generated_from": None, "last4": card.last4,
                    "networks": {"available": [card.brand], "preferred": None},
                    "regulated_status": "unregulated",
                    "three_d_secure_usage": {"supported": True}, "wallet": None},
           "created": tx.now, "customer": None, "customer_account": None, "livemode": False,
           "metadata": {}, "type": "card", "_number": card.number}
    tx.put(doc)
    return doc


def attach(tx: Tx, pm: dict[str, Any], customer: dict[str, Any]) -> dict[str, Any]:
    """Attaches ``pm`` to ``customer`` (``payment_method.attached``); Stripe's errors for a
    method already attached elsewhere or detached before."""
    if pm.get("customer") == customer["id"]:
        return pm
    if pm.get("customer"):
        raise invalid("The payment method you provided has already been attached to a "
                      "customer.", "payment_method")
    if pm.get("_detached"):
        raise invalid("This PaymentMethod was previously used without being attached to a "
                      "Customer or was detached from a Customer, and may not be used again.",
                      "payment_method")
    pm["customer"] = customer["id"]
    tx.put(pm)
    emit(tx, "payment_method.attached", render(tx, pm))
    return pm


def detach(tx: Tx, pm: dict[str, Any]) -> dict[str, Any]:
    """Detaches ``pm`` (``payment_method.detached``); a customer or subscription that used it
    as default loses that default (``customer.updated``, ``customer.subscription.updated``)."""
    owner = pm.get("customer")
    if not owner:
        raise invalid(f"The payment method {pm['id']} is not attached to a customer so "
                      "detachment is impossible.", "payment_method")
    customer = tx.get(owner, "customer")
    if customer is not None and default_payment_method(customer) == pm["id"]:
        before = dict(customer, invoice_settings=dict(customer["invoice_settings"]))
        customer["invoice_settings"]["default_payment_method"] = None
        save_customer(tx, before, customer)
    for sub in tx.docs("subscription", owner):
        if sub.get("default_payment_method") == pm["id"]:
            old = render(tx, sub)
            sub["default_payment_method"] = None
            tx.put(sub)
            new = render(tx, sub)
            emit(tx, "customer.subscription.updated", new, previous_attributes(old, new))
    pm["customer"] = None
    pm["_detached"] = True
    tx.put(pm)
    emit(tx, "payment_method.detached", render(tx, pm), {"customer": owner})
    return pm


def set_default(tx: Tx, customer: dict[str, Any], pm_id: str | None) -> None:
    """``invoice_settings[default_payment_method]`` (the method must be this customer's)."""
    if pm_id:
        pm = tx.get(pm_id, "payment_method")
        if pm is None or pm.get("customer") != customer["id"]:
            raise invalid(f"The customer does not have a payment method with the ID {pm_id}. "
                          "The payment method must be attached to the customer.",
                          "invoice_settings[default_payment_method]")
    customer["invoice_settings"]["default_payment_method"] = pm_id or None
