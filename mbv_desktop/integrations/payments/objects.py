"""What the Stripe client hands back: small frozen dataclasses read from Stripe's JSON.

Plans, customers, Checkout and portal sessions, subscriptions and payment methods here;
invoices and previews in :mod:`.invoices`, usage and events in :mod:`.events`. Each ``*_from``
function takes one object as plain JSON (``StripeObject.to_dict(for_json=True)``) and never
raises on a missing or odd field: Stripe adds fields with every API version and moved some
between versions (billing periods went from the subscription to its items), so both places are
read. Amounts are integers in the currency's minor unit (cents), as Stripe sends them; times are
Unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ._json import Json, integer, mapping, objects_in, opt_integer, opt_text, ref, text

#: Product metadata keys holding a plan's limits (see :class:`PlanLimits`).
LIMIT_KEYS = ("ai_generations", "connected_accounts", "storage_gb")
#: Customer metadata key tying a Stripe customer to the app's user.
APP_USER_KEY = "app_user_id"
_UNLIMITED = frozenset({"unlimited", "-1", "inf", "infinite", "none"})


# --- plans ---------------------------------------------------------------------------------------

def _limit(raw: object, *, real: bool = False) -> float | None:
    """A metadata limit: ``None`` means no limit (missing, empty or ``unlimited``)."""
    word = str(raw).strip().lower() if isinstance(raw, (str, int, float)) else ""
    if not word or word in _UNLIMITED:
        return None
    try:
        value = float(word) if real else float(int(word))
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class PlanLimits:
    """A plan's limits from its product's metadata; ``None`` is "no limit"."""

    ai_generations: int | None = None
    connected_accounts: int | None = None
    storage_gb: float | None = None


def limits_from(metadata: Json) -> PlanLimits:
    generations = _limit(metadata.get("ai_generations"))
    accounts = _limit(metadata.get("connected_accounts"))
    return PlanLimits(
        ai_generations=None if generations is None else int(generations),
        connected_accounts=None if accounts is None else int(accounts),
        storage_gb=_limit(metadata.get("storage_gb"), real=True),
    )


@dataclass(frozen=True)
class Plan:
    """One plan a creator can subscribe to: a product and its recurring, flat (licensed) price."""

    price_id: str
    product_id: str
    name: str
    description: str
    amount: int  # per interval, minor units
    currency: str
    interval: str  # "month", "year"
    interval_count: int
    limits: PlanLimits
    lookup_key: str | None = None
    #: The product's marketing features ("1,000 AI generations a month"), in order.
    features: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        """The short name a creator types and the app shows (``free``, ``creator``, ``pro``):
        the product's ``plan`` metadata, else the price's lookup key without ``plan_``."""
        return (self.metadata.get("plan") or (self.lookup_key or "").removeprefix("plan_")
                or self.name).lower()


@dataclass(frozen=True)
class MeteredPrice:
    """A usage-based price billed from a billing meter (AI generations over the plan)."""

    price_id: str
    product_id: str
    name: str
    currency: str
    unit_amount: int | None  # minor units per unit, when a whole number
    unit_amount_decimal: str | None  # Stripe's decimal string (fractions of a cent)
    meter_id: str | None
    interval: str
    lookup_key: str | None = None
    unit_label: str | None = None  # "generation"


@dataclass(frozen=True)
class Meter:
    """A billing meter: usage recorded under ``event_name`` adds up on it."""

    id: str
    event_name: str
    display_name: str
    status: str  # "active" | "inactive"


def meter_from(data: Json) -> Meter:
    return Meter(id=text(data.get("id")), event_name=text(data.get("event_name")),
                 display_name=text(data.get("display_name")), status=text(data.get("status")))


@dataclass(frozen=True)
class PlanCatalog:
    """The plans side by side (in the products' ``tier`` order, else cheapest first) and the
    metered prices."""

    plans: tuple[Plan, ...]
    metered: tuple[MeteredPrice, ...]

    def plan_for_price(self, price_id: str) -> Plan | None:
        return next((plan for plan in self.plans if plan.price_id == price_id), None)


def catalog_from(products: Iterable[Json], prices: Iterable[Json]) -> PlanCatalog:
    """Active recurring prices joined with their active products."""
    by_id = {text(p.get("id")): p for p in products if p.get("active", True) is not False}
    plans: list[Plan] = []
    metered: list[MeteredPrice] = []
    for price in prices:
        recurring = mapping(price.get("recurring"))
        product = by_id.get(ref(price.get("product")) or "")
        if not recurring or product is None or price.get("active", True) is False:
            continue
        if recurring.get("usage_type") == "metered":
            decimal = price.get("unit_amount_decimal")
            metered.append(MeteredPrice(
                price_id=text(price.get("id")), product_id=text(product.get("id")),
                name=text(product.get("name")), currency=text(price.get("currency")),
                lookup_key=opt_text(price.get("lookup_key")),
                unit_amount=opt_integer(price.get("unit_amount")),
                unit_amount_decimal=None if decimal is None else str(decimal),
                meter_id=ref(recurring.get("meter")), interval=text(recurring.get("interval")),
                unit_label=opt_text(product.get("unit_label"))))
        else:
            plans.append(_plan(price, product, recurring))
    plans.sort(key=_plan_order)
    return PlanCatalog(tuple(plans), tuple(metered))


def _plan(price: Json, product: Json, recurring: Json) -> Plan:
    metadata = {str(k): str(v) for k, v in mapping(product.get("metadata")).items()}
    features = tuple(text(mapping(f).get("name")) for f in product.get("marketing_features")
                     or () if text(mapping(f).get("name")))
    return Plan(
        price_id=text(price.get("id")), product_id=text(product.get("id")),
        name=text(product.get("name")), currency=text(price.get("currency")),
        lookup_key=opt_text(price.get("lookup_key")),
        description=text(product.get("description")), amount=integer(price.get("unit_amount")),
        interval=text(recurring.get("interval")),
        interval_count=integer(recurring.get("interval_count")) or 1,
        limits=limits_from(metadata), features=features, metadata=metadata)


def _plan_order(plan: Plan) -> tuple[int, int, str]:
    tier = plan.metadata.get("tier", "")
    return (int(tier) if tier.isdigit() else 1_000_000, plan.amount, plan.name)


# --- customers and sessions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Customer:
    id: str
    email: str
    name: str
    app_user_id: str | None
    created: int
    default_payment_method: str | None


def customer_from(data: Json) -> Customer:
    return Customer(
        id=text(data.get("id")), email=text(data.get("email")), name=text(data.get("name")),
        app_user_id=opt_text(mapping(data.get("metadata")).get(APP_USER_KEY)),
        created=integer(data.get("created")),
        default_payment_method=ref(
            mapping(data.get("invoice_settings")).get("default_payment_method")))


@dataclass(frozen=True)
class CheckoutSession:
    """A Stripe-hosted Checkout page: open ``url`` in the browser, then follow ``id``."""

    id: str
    url: str | None  # None once the session is complete or expired
    mode: str
    status: str  # "open" | "complete" | "expired"
    payment_status: str  # "paid" | "unpaid" | "no_payment_required"
    customer: str | None
    subscription: str | None
    setup_intent: str | None
    client_reference_id: str | None
    expires_at: int | None


def checkout_session_from(data: Json) -> CheckoutSession:
    return CheckoutSession(
        id=text(data.get("id")), url=opt_text(data.get("url")), mode=text(data.get("mode")),
        status=text(data.get("status")), payment_status=text(data.get("payment_status")),
        customer=ref(data.get("customer")), subscription=ref(data.get("subscription")),
        setup_intent=ref(data.get("setup_intent")),
        client_reference_id=opt_text(data.get("client_reference_id")),
        expires_at=opt_integer(data.get("expires_at")))


@dataclass(frozen=True)
class PortalSession:
    """A Stripe Customer Portal page to open in the browser."""

    id: str
    url: str


def portal_session_from(data: Json) -> PortalSession:
    return PortalSession(id=text(data.get("id")), url=text(data.get("url")))


# --- subscriptions -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubscriptionItem:
    id: str
    price_id: str
    product_id: str | None
    quantity: int | None
    usage_type: str  # "licensed" (the plan) | "metered" (usage)
    current_period_start: int | None
    current_period_end: int | None


@dataclass(frozen=True)
class Subscription:
    id: str
    customer: str | None
    #: incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused
    status: str
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    items: tuple[SubscriptionItem, ...]
    latest_invoice: str | None
    default_payment_method: str | None
    created: int
    current_period_start: int | None
    current_period_end: int | None

    @property
    def plan_item(self) -> SubscriptionItem | None:
        """The item carrying the plan (the first licensed one)."""
        return next((item for item in self.items if item.usage_type != "metered"), None)


def _item_from(data: Json) -> SubscriptionItem:
    price = mapping(data.get("price"))
    recurring = mapping(price.get("recurring"))
    return SubscriptionItem(
        id=text(data.get("id")), price_id=text(price.get("id")) or ref(data.get("price")) or "",
        product_id=ref(price.get("product")), quantity=opt_integer(data.get("quantity")),
        usage_type=text(recurring.get("usage_type")) or "licensed",
        current_period_start=opt_integer(data.get("current_period_start")),
        current_period_end=opt_integer(data.get("current_period_end")))


def subscription_from(data: Json) -> Subscription:
    items = tuple(_item_from(item) for item in objects_in(data.get("items")))
    plan = next((item for item in items if item.usage_type != "metered"),
                items[0] if items else None)
    # Today's API keeps the period on each item; older versions had it on the subscription.
    start = plan.current_period_start if plan else None
    end = plan.current_period_end if plan else None
    return Subscription(
        id=text(data.get("id")), customer=ref(data.get("customer")),
        status=text(data.get("status")),
        cancel_at_period_end=data.get("cancel_at_period_end") is True,
        cancel_at=opt_integer(data.get("cancel_at")),
        canceled_at=opt_integer(data.get("canceled_at")),
        items=items, latest_invoice=ref(data.get("latest_invoice")),
        default_payment_method=ref(data.get("default_payment_method")),
        created=integer(data.get("created")),
        current_period_start=start if start is not None
        else opt_integer(data.get("current_period_start")),
        current_period_end=end if end is not None else opt_integer(data.get("current_period_end")))


# --- payment methods -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PaymentMethod:
    id: str
    type: str
    brand: str  # "visa", "mastercard", … ("" for non-card methods)
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool


def payment_method_from(data: Json, default_id: str | None = None) -> PaymentMethod:
    card = mapping(data.get("card"))
    pm_id = text(data.get("id"))
    return PaymentMethod(
        id=pm_id, type=text(data.get("type")), brand=text(card.get("brand")),
        last4=text(card.get("last4")), exp_month=opt_integer(card.get("exp_month")),
        exp_year=opt_integer(card.get("exp_year")),
        is_default=default_id is not None and pm_id == default_id)
