"""The plans the sandbox starts with: three monthly plans (products with their limits in
metadata and one price each, found by ``lookup_key``) and two usage-based prices, each billed
from a billing meter.

=========================  ===================  ===========  ======================================
product                    price lookup_key     amount       metadata (limits)
=========================  ===================  ===========  ======================================
Free                       ``plan_free``        $0/month     ai_generations 50, connected_accounts
                                                             3, storage_gb 1
Creator                    ``plan_creator``     $12/month    1000, 5, 25
Pro                        ``plan_pro``         $29/month    10000, 15, 200
AI generations (metered)   ``usage_ai``         $0.02 each   meter ``ai_generation`` (sum)
AI images (metered)        ``usage_images``     $0.04 each   meter ``ai_image`` (sum)
=========================  ===================  ===========  ======================================

Every plan product's metadata also has ``plan`` (``free``/``creator``/``pro``) and ``tier``
(0, 1, 2: the order to show them in). Seeding runs once per state directory, first thing, so
the ids are always the same (``prod_Sbx00000000001`` is Free, ``price_Sbx00000000002`` is
Creator's price, ``mtr_Sbx00000000001`` is the AI generations meter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbv_desktop.sandbox.stripe.store import Tx

CURRENCY = "usd"


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    description: str
    amount: int
    limits: tuple[tuple[str, str], ...]
    features: tuple[str, ...]


@dataclass(frozen=True)
class Metered:
    lookup_key: str
    name: str
    unit_amount: int
    event_name: str
    display_name: str
    unit_label: str


PLANS = (
    Plan("free", "Free", "Try Must Be Viral: a few AI drafts a day.", 0,
         (("ai_generations", "50"), ("connected_accounts", "3"), ("storage_gb", "1")),
         ("50 AI generations a month", "3 connected accounts (one per platform)",
          "1 GB storage")),
    Plan("creator", "Creator", "For creators posting every day.", 1200,
         (("ai_generations", "1000"), ("connected_accounts", "5"), ("storage_gb", "25")),
         ("1,000 AI generations a month", "5 connected accounts", "25 GB storage")),
    Plan("pro", "Pro", "For teams and agencies.", 2900,
         (("ai_generations", "10000"), ("connected_accounts", "15"), ("storage_gb", "200")),
         ("10,000 AI generations a month", "15 connected accounts", "200 GB storage")),
)

METERED = (
    Metered("usage_ai", "AI generations (metered)", 2, "ai_generation", "AI generations",
            "generation"),
    Metered("usage_images", "AI images (metered)", 4, "ai_image", "AI images", "image"),
)


def _product(tx: Tx, name: str, description: str, metadata: dict[str, str],
             features: tuple[str, ...], unit_label: str | None = None) -> dict[str, Any]:
    return {"id": tx.next_id("prod_"), "object": "product", "active": True,
            "created": tx.now, "default_price": None, "description": description,
            "images": [], "livemode": False,
            "marketing_features": [{"name": f} for f in features], "metadata": metadata,
            "name": name, "package_dimensions": None, "shippable": None,
            "statement_descriptor": None, "tax_code": None, "type": "service",
            "unit_label": unit_label, "updated": tx.now, "url": None}


def _price(tx: Tx, product: dict[str, Any], amount: int, lookup_key: str, nickname: str,
           meter: str | None = None) -> dict[str, Any]:
    return {"id": tx.next_id("price_"), "object": "price", "active": True,
            "billing_scheme": "per_unit", "created": tx.now, "currency": CURRENCY,
            "custom_unit_amount": None, "livemode": False, "lookup_key": lookup_key,
            "metadata": {}, "nickname": nickname, "product": product["id"],
            "recurring": {"interval": "month", "interval_count": 1, "meter": meter,
                          "trial_period_days": None,
                          "usage_type": "metered" if meter else "licensed"},
            "tax_behavior": "exclusive", "tiers_mode": None, "transform_quantity": None,
            "type": "recurring", "unit_amount": amount, "unit_amount_decimal": str(amount)}


def _meter(tx: Tx, item: Metered) -> dict[str, Any]:
    return {"id": tx.next_id("mtr_"), "object": "billing.meter", "created": tx.now,
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "default_aggregation": {"formula": "sum"}, "display_name": item.display_name,
            "event_name": item.event_name, "event_time_window": None, "livemode": False,
            "status": "active", "status_transitions": {"deactivated_at": None},
            "updated": tx.now, "value_settings": {"event_payload_key": "value"}}


def ensure_seeded(tx: Tx) -> None:
    """Creates the catalog once (see the module docstring)."""
    if tx.setting("catalog_seeded", "") == "1":
        return
    products = []
    for tier, plan in enumerate(PLANS):
        metadata = {"plan": plan.key, "tier": str(tier), **dict(plan.limits)}
        products.append(_product(tx, plan.name, plan.description, metadata, plan.features))
    metered_products = [_product(tx, m.name, f"Billed per {m.unit_label} at the end of each "
                                 "month.", {"usage": m.event_name}, (), m.unit_label)
                        for m in METERED]
    for plan, product in zip(PLANS, products, strict=True):
        price = _price(tx, product, plan.amount, f"plan_{plan.key}", plan.name)
        product["default_price"] = price["id"]
        tx.put(product)
        tx.put(price)
    meters = [_meter(tx, m) for m in METERED]
    for item, product, meter in zip(METERED, metered_products, meters, strict=True):
        price = _price(tx, product, item.unit_amount, item.lookup_key, item.name, meter["id"])
        product["default_price"] = price["id"]
        tx.put(meter)
        tx.put(product)
        tx.put(price)
    tx.set_setting("catalog_seeded", "1")
