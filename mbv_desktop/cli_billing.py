"""``mbv-desktop billing …``: the creator's plan with Must Be Viral, from the command line.

``status``, ``plans``, ``subscribe PLAN``, ``cancel``, ``invoices`` and ``usage`` work on
:class:`~mbv_desktop.services.billing.BillingService` like the Billing panel does. Paying always
happens on Stripe's Checkout page in the browser; only on ``--sandbox`` can ``--yes`` fill in
the emulator's page with a test card, so scripts can try the whole flow. Money is in minor units
(cents) in ``--json`` output and written like ``$12.00`` in text. The ``--json`` shapes are
documented in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.parse
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mbv_desktop.cli import EXIT_FAILURE, EXIT_USAGE, _print_json
from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.core.money import day as calendar_day
from mbv_desktop.core.money import money

if TYPE_CHECKING:
    from mbv_desktop.cli import Cli
    from mbv_desktop.integrations.payments import Plan, ProrationPreview, Subscription
    from mbv_desktop.integrations.payments.invoices import Invoice
    from mbv_desktop.services.billing import BillingService
    from mbv_desktop.services.billing_status import BillingStatus, UsageLine

Command = Callable[[], Coroutine[Any, Any, int]]
SubParsers = argparse._SubParsersAction  # what add_subparsers returns


def add_billing_parser(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """``billing status|plans|subscribe|cancel|invoices|usage`` on the main parser."""
    billing = sub.add_parser("billing", help="your Must Be Viral plan: status, plans, subscribe, "
                             "cancel, invoices, usage")
    b_sub = billing.add_subparsers(dest="billing_command", required=True,
                                   metavar="status|plans|subscribe|cancel|invoices|usage")
    status = b_sub.add_parser("status", help="plan, subscription, card and this period's usage")
    plans = b_sub.add_parser("plans", help="the plans side by side, yours marked")
    subscribe = b_sub.add_parser(
        "subscribe", help="choose a paid plan (paid on Stripe's page in the browser), or change "
                          "to another one (the cost is shown first)")
    subscribe.add_argument("plan", metavar="PLAN", help="creator or pro (see billing plans)")
    subscribe.add_argument("--no-browser", action="store_true",
                           help="print the Checkout page's address instead of opening a browser")
    subscribe.add_argument("--yes", action="store_true",
                           help="change the plan without asking; with --sandbox also pay the "
                                "sandbox's Checkout page with a test card")
    subscribe.add_argument("--card", metavar="NUMBER",
                           help="with --sandbox --yes: the test card to pay with "
                                "(default 4242 4242 4242 4242)")
    subscribe.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                           help="seconds to wait for the payment (default: %(default)s)")
    cancel = b_sub.add_parser("cancel", help="end your plan when the period paid for ends "
                              "(--now: at once; --undo: keep it after all)")
    when = cancel.add_mutually_exclusive_group()
    when.add_argument("--now", action="store_true", help="cancel at once (asks first)")
    when.add_argument("--undo", action="store_true",
                      help="take back a cancellation at the end of the period")
    cancel.add_argument("--yes", action="store_true", help="don't ask")
    invoices = b_sub.add_parser("invoices", help="your invoices: number, date, status, total, "
                                "tax and Stripe's page for each")
    which = invoices.add_mutually_exclusive_group()
    which.add_argument("--open", metavar="N", help="open invoice N (its row or its number) in "
                       "the browser")
    which.add_argument("--pdf", metavar="N", help="save invoice N (its row or its number) as PDF")
    invoices.add_argument("--output", "-o", type=Path, metavar="FILE",
                          help="with --pdf: where to save it (default: invoice-NUMBER.pdf)")
    usage = b_sub.add_parser("usage", help="send waiting usage to Stripe, then this period's "
                             "usage against your plan's limits")
    for p in (status, plans, subscribe, cancel, invoices, usage):
        p.add_argument("--json", action="store_true")


def billing_command(cli: Cli) -> Command:
    commands: dict[str, Callable[[Cli], Coroutine[Any, Any, int]]] = {
        "status": status, "plans": plans, "subscribe": subscribe, "cancel": cancel,
        "invoices": invoices, "usage": usage}
    run = commands[cli.args.billing_command]
    return lambda: run(cli)


# --- JSON ---------------------------------------------------------------------------------------
# The parser is built on every run; Stripe's modules load only when a billing command runs.

def plan_json(plan: Plan) -> dict[str, Any]:
    from mbv_desktop.services.billing_status import plan_json

    return plan_json(plan)


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    from mbv_desktop.services.billing_status import invoice_json

    return invoice_json(invoice)


# --- formatting ---------------------------------------------------------------------------------

def day(timestamp: int | None) -> str:
    """A Stripe time as this computer's calendar day (``26 Dec 2026``), or a dash."""
    return calendar_day(timestamp) or "—"


def _amount(value: float | None) -> str:
    if value is None:
        return "unlimited"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.3f}".rstrip("0")


def subscription_json(sub: Subscription | None) -> dict[str, Any] | None:
    from mbv_desktop.services.billing_status import subscription_json

    return subscription_json(sub)


def preview_json(preview: ProrationPreview) -> dict[str, Any]:
    return {"amount_due": preview.amount_due, "subtotal": preview.subtotal, "tax": preview.tax,
            "total": preview.total, "currency": preview.currency,
            "proration_date": preview.proration_date,
            "lines": [{"description": line.description, "amount": line.amount,
                       "proration": line.proration} for line in preview.lines]}


def _plan_price(plan: Plan) -> str:
    if plan.amount == 0:
        return "free"
    every = plan.interval if plan.interval_count == 1 else (
        f"{plan.interval_count} {plan.interval}s")
    return f"{money(plan.amount, plan.currency)} a {every}"


def _usage_line(line: UsageLine) -> str:
    limit = "" if line.limit is None else f" of {_amount(line.limit)}"
    used = f"{_amount(line.used)}{limit}" if line.limit is not None else (
        f"{_amount(line.used)} (unlimited)")
    recorded = "" if line.reported is None else f"   Stripe recorded {_amount(line.reported)}"
    mark = "   limit reached" if line.reached else ""
    return f"  {line.label:<34} {used}{recorded}{mark}"


def _card(status: BillingStatus) -> str:
    card = next((m for m in status.payment_methods if m.is_default), None) or (
        status.payment_methods[0] if status.payment_methods else None)
    if card is None:
        return "none"
    expires = f", expires {card.exp_month:02d}/{card.exp_year}" if card.exp_month and \
        card.exp_year else ""
    return f"{(card.brand or card.type).title()} •••• {card.last4}{expires}"


def _invoice_for(status: BillingStatus, sub: Subscription) -> Invoice | None:
    return next((i for i in status.invoices if i.id == sub.latest_invoice), None)


def _print_invoice(invoice: Invoice | None) -> None:
    if invoice is not None:
        print(f"Invoice {invoice.number or invoice.id}: {money(invoice.total, invoice.currency)} "
              f"including {money(invoice.tax, invoice.currency)} tax, {invoice.status}.")


# --- helpers ------------------------------------------------------------------------------------

async def _billing(cli: Cli) -> BillingService:
    billing = cli.services().billing
    if not await billing.configured():
        raise InvalidInput("Billing is not set up: set stripe.secret_key (mbv-desktop config set "
                           "stripe.secret_key -), or add --sandbox to try it with test cards.")
    return billing


def _usage_error(sentence: str) -> int:
    print(f"mbv-desktop: {sentence}", file=sys.stderr)
    return EXIT_USAGE


async def _confirm(cli: Cli, question: str, refusal: str) -> bool:
    """``--yes``, or the answer typed at the terminal; without a terminal, ``refusal``."""
    if cli.args.yes:
        return True
    if not sys.stdin.isatty():
        raise InvalidInput(refusal)
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    answer = await asyncio.to_thread(sys.stdin.readline)
    return answer.strip().lower() in ("y", "yes")


async def _open_in_browser(url: str, *, json_mode: bool) -> bool:
    import webbrowser

    if await asyncio.to_thread(webbrowser.open, url):
        return True
    print("No browser could be opened; open this address yourself:", file=sys.stderr)
    print(url, file=sys.stderr if json_mode else sys.stdout, flush=True)
    return False


def _pick_invoice(status: BillingStatus, wanted: str) -> Invoice:
    rows = status.invoices
    if wanted.isdigit() and 1 <= int(wanted) <= len(rows):
        return rows[int(wanted) - 1]
    for invoice in rows:
        if wanted.lower() in ((invoice.number or "").lower(), invoice.id.lower()):
            return invoice
    if not rows:
        raise InvalidInput("You have no invoices yet.")
    raise InvalidInput(f"There is no invoice '{wanted}'; give a row number from 1 to "
                       f"{len(rows)} or an invoice number (mbv-desktop billing invoices).")


# --- status and plans ---------------------------------------------------------------------------

async def status(cli: Cli) -> int:
    state = await (await _billing(cli)).refresh()
    if cli.args.json:
        _print_json(state.to_json())
        return 0
    if state.customer_id is None:
        print("Not signed in: your plan belongs to your sign-in (mbv-desktop login google or "
              "github).")
    else:
        print(f"Signed in as {state.app_user} (Stripe customer {state.customer_id})")
    plan = state.plan
    if plan is None:
        print("Plan: not known yet")
    else:
        print(f"Plan: {plan.name}" + (f" ({_plan_price(plan)})" if plan.amount else ""))
    sub = state.subscription
    if sub is None:
        if state.customer_id is not None:
            print("Subscription: none (mbv-desktop billing subscribe creator to choose a plan)")
    elif sub.cancel_at_period_end:
        print(f"Subscription: {sub.status}, ends on {day(sub.cancel_at or sub.current_period_end)} "
              "(to keep it: mbv-desktop billing cancel --undo)")
    else:
        print(f"Subscription: {sub.status}, renews on {day(sub.current_period_end)}")
    if state.customer_id is not None:
        print(f"Card: {_card(state)}")
    print(f"Usage this period ({day(state.period_start)} – {day(state.period_end)}):")
    for line in state.usage:
        print(_usage_line(line))
    if state.meter_waiting:
        print(f"  {state.meter_waiting} usage event(s) waiting to be sent to Stripe")
    if state.stale:
        print(f"stale: {state.problem or 'Stripe could not be reached.'}")
    return 0


async def plans(cli: Cli) -> int:
    state = await (await _billing(cli)).refresh()
    if not state.plans:
        raise InvalidInput(state.problem or "Stripe lists no plans.")
    current = state.plan
    if cli.args.json:
        _print_json([plan_json(p) | {"current": current is not None and
                                     p.price_id == current.price_id} for p in state.plans])
        return 0
    heads = [p.name + (" (yours)" if current is not None and p.price_id == current.price_id
                       else "") for p in state.plans]
    rows = [
        ("Price", [_plan_price(p) for p in state.plans]),
        ("AI generations", [_amount(p.limits.ai_generations) for p in state.plans]),
        ("Connected accounts", [_amount(p.limits.connected_accounts) for p in state.plans]),
        ("Storage", [f"{_amount(p.limits.storage_gb)} GB" if p.limits.storage_gb is not None
                     else "unlimited" for p in state.plans]),
        ("Choose with", [p.key if p.amount else "-" for p in state.plans]),
    ]
    label = max(len(name) for name, _ in rows)
    widths = [max(len(heads[i]), *(len(cells[i]) for _, cells in rows))
              for i in range(len(state.plans))]
    print(" " * label + "  " + "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))
          .rstrip())
    for name, cells in rows:
        print(name.ljust(label) + "  " + "  ".join(
            c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    if state.stale:
        print(f"stale: {state.problem or 'Stripe could not be reached.'}")
    return 0


# --- subscribing and changing -------------------------------------------------------------------

async def subscribe(cli: Cli) -> int:
    a = cli.args
    sandbox = cli.services().sandbox
    if a.card and not (a.yes and sandbox):
        return _usage_error("--card works only with --sandbox --yes: a real card is typed on "
                            "Stripe's page in the browser.")
    if a.timeout <= 0:
        return _usage_error("--timeout must be more than 0 seconds.")
    billing = await _billing(cli)
    state = await billing.refresh()
    if state.stale:
        raise InvalidInput("Stripe could not be reached, so nothing was changed; try again in a "
                           "moment.")
    plan = await billing.plan(a.plan)
    if state.subscription is not None:
        return await _change(cli, billing, plan)
    if a.yes and not sandbox:
        return _usage_error("--yes can pay only with --sandbox: a real plan is paid by you on "
                            "Stripe's page in the browser (leave out --yes).")
    return await _checkout(cli, billing, plan)


async def _checkout(cli: Cli, billing: BillingService, plan: Plan) -> int:
    from mbv_desktop.services.billing import CheckoutStillOpen

    a = cli.args
    start = await billing.start_checkout(plan.key)
    if a.yes:
        from mbv_desktop.services.sandbox_consent import SANDBOX_TEST_CARD, pay_sandbox_checkout

        await pay_sandbox_checkout(start.url, card=a.card or SANDBOX_TEST_CARD)
    else:
        if a.no_browser:
            print(f"Open this address in a browser to pay for {plan.name}:", file=sys.stderr)
            print(start.url, file=sys.stderr if a.json else sys.stdout, flush=True)
        elif await _open_in_browser(start.url, json_mode=a.json):
            print(f"Stripe's Checkout page for {plan.name} is open in your browser.",
                  file=sys.stderr)
        print("Waiting for payment… (Ctrl+C stops waiting; the page stays open)",
              file=sys.stderr, flush=True)
    try:
        result = await billing.wait_for_checkout(start.session_id, timeout=a.timeout)
    except CheckoutStillOpen:
        later = ("nothing was charged; run the command again for a new page" if
                 cli.services().sandbox else "if you pay on the page later, mbv-desktop billing "
                 "status shows your plan")
        raise InvalidInput(f"No payment within {a.timeout:g} seconds; {later}.") from None
    sub = result.subscription
    if a.json:
        _print_json({"checkout_url": start.url, "session_id": start.session_id,
                     "status": result.status, "plan": plan_json(plan),
                     "subscription": subscription_json(sub)})
    if result.status != "paid" or sub is None:
        raise InvalidInput("The Checkout page expired before it was paid; nothing was charged. "
                           "Run the command again for a new page.")
    if not a.json:
        state = await billing.cached_status()
        renews = day(sub.current_period_end)
        print(f"Subscribed to {plan.name} ({sub.status}); it renews on {renews}.")
        _print_invoice(_invoice_for(state, sub))
    return 0


async def _change(cli: Cli, billing: BillingService, plan: Plan) -> int:
    a = cli.args
    before = await billing.cached_status()
    preview = await billing.preview_change(plan.key)
    if not (a.json and a.yes):  # with --json the preview is in the JSON; this is for a person
        _print_preview(preview, before, plan, sys.stderr if a.json else sys.stdout)

    def unchanged() -> None:
        if a.json:
            _print_json({"preview": preview_json(preview), "changed": False,
                         "plan": plan_json(before.plan) if before.plan else None,
                         "subscription": subscription_json(before.subscription)})

    try:
        go = await _confirm(cli, "Change now?", f"Nothing was changed: add --yes to change to "
                            f"{plan.name} without being asked.")
    except InvalidInput:
        unchanged()
        raise
    if not go:
        unchanged()
        print("Nothing was changed.", file=sys.stderr)
        return EXIT_FAILURE
    sub = await billing.change_plan(preview)
    state = await billing.cached_status()
    if a.json:
        _print_json({"preview": preview_json(preview), "changed": True, "plan": plan_json(plan),
                     "subscription": subscription_json(sub)})
        return 0
    print(f"Changed to {plan.name} ({sub.status}).")
    _print_invoice(_invoice_for(state, sub))
    return 0


def _print_preview(preview: ProrationPreview, before: BillingStatus, plan: Plan,
                   out: TextIO) -> None:
    cur = preview.currency
    print(f"Changing from {before.plan.name if before.plan else 'your plan'} to {plan.name}:",
          file=out)
    width = max([len(line.description) for line in preview.lines] + [20])
    for line in preview.lines:
        print(f"  {line.description:<{width}}  {money(line.amount, cur):>10}", file=out)
    print(f"  {'Tax':<{width}}  {money(preview.tax, cur):>10}", file=out)
    print(f"  {'Total due now':<{width}}  {money(max(preview.amount_due, 0), cur):>10}", file=out)
    if preview.total < 0:
        print(f"  {money(-preview.total, cur)} is kept as credit for your next invoices.",
              file=out)
    if before.subscription is not None:
        print(f"Then {_plan_price(plan)} (plus tax) from "
              f"{day(before.subscription.current_period_end)}.", file=out)
    out.flush()


# --- cancelling ---------------------------------------------------------------------------------

async def cancel(cli: Cli) -> int:
    a = cli.args
    billing = await _billing(cli)
    state = await billing.refresh()
    sub = state.subscription
    name = state.plan.name if state.plan else "paid"
    if sub is None and not state.stale:
        raise InvalidInput("You have no paid plan to " + ("keep" if a.undo else "cancel")
                           + f"; you are on {name}.")
    if a.undo:
        result = await billing.resume()
        message = f"Your {name} plan goes on; it renews on {day(result.current_period_end)}."
    elif a.now:
        if not await _confirm(cli, f"Cancel your {name} plan now? It ends at once.",
                              "Nothing was changed: add --yes to cancel at once without being "
                              "asked."):
            print("Nothing was changed.", file=sys.stderr)
            return EXIT_FAILURE
        result = await billing.cancel(at_period_end=False)
        message = f"Your {name} plan is canceled ({result.status})."
    else:
        result = await billing.cancel(at_period_end=True)
        ends = day(result.cancel_at or result.current_period_end)
        message = (f"Your {name} plan ends on {ends}; "
                   "until then it works as before (to keep it: mbv-desktop billing cancel "
                   "--undo).")
    after = await billing.cached_status()
    if a.json:
        _print_json({"plan": plan_json(after.plan) if after.plan else None,
                     "subscription": subscription_json(result)})
        return 0
    print(message)
    if a.now and after.plan is not None:
        print(f"You are on {after.plan.name} now.")
    return 0


# --- invoices and usage -------------------------------------------------------------------------

async def invoices(cli: Cli) -> int:
    a = cli.args
    state = await (await _billing(cli)).refresh()
    if a.open or a.pdf:
        invoice = _pick_invoice(state, a.open or a.pdf)
        if a.open:
            return await _open_invoice(cli, invoice)
        return await _save_pdf(cli, invoice)
    if a.json:
        _print_json([invoice_json(i) for i in state.invoices])
        return 0
    if not state.invoices:
        print("No invoices yet.")
    for n, i in enumerate(state.invoices, 1):
        print(f"{n:>3}  {i.number or i.id:<16} {day(i.created):<12} {i.status:<13} "
              f"{money(i.total, i.currency):>10}  tax {money(i.tax, i.currency):>8}  "
              f"{i.hosted_invoice_url or ''}".rstrip())
    if state.stale:
        print(f"stale: {state.problem or 'Stripe could not be reached.'}")
    return 0


async def _open_invoice(cli: Cli, invoice: Invoice) -> int:
    url = invoice.hosted_invoice_url
    if not url:
        raise InvalidInput(f"Stripe has no page for invoice {invoice.number or invoice.id} "
                           "(a draft has none).")
    if await _open_in_browser(url, json_mode=cli.args.json):
        print(f"Invoice {invoice.number or invoice.id} is open in your browser.", file=sys.stderr)
    if cli.services().sandbox:
        print("The sandbox serves this page only while one of its commands runs (mbv-desktop "
              "sandbox keeps it running).", file=sys.stderr)
    if cli.args.json:
        _print_json(invoice_json(invoice))
    return 0


async def _save_pdf(cli: Cli, invoice: Invoice) -> int:
    import httpx

    url = invoice.invoice_pdf
    name = invoice.number or invoice.id
    if not url:
        raise InvalidInput(f"Stripe has no PDF for invoice {name} (a draft has none).")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "::1", "localhost"):
        raise InvalidInput(f"The PDF address of invoice {name} is not secure (https).")
    target: Path = cli.args.output or Path(f"invoice-{name}.pdf")
    try:
        async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as http:
            answer = await http.get(url)
    except httpx.HTTPError as exc:
        raise InvalidInput(f"The PDF of invoice {name} could not be fetched ({exc}).") from None
    if answer.status_code != 200 or not answer.content.startswith(b"%PDF"):
        raise InvalidInput(f"Stripe did not send the PDF of invoice {name} "
                           f"(HTTP {answer.status_code}).")
    tmp = target.with_name(target.name + ".part")
    try:
        await asyncio.to_thread(tmp.write_bytes, answer.content)
        tmp.replace(target)
    except OSError as exc:
        raise InvalidInput(f"Could not write {target}: {exc.strerror or exc}.") from exc
    if cli.args.json:
        _print_json(invoice_json(invoice) | {"saved_to": str(target)})
    else:
        print(f"Saved invoice {name} to {target}.")
    return 0


async def usage(cli: Cli) -> int:
    billing = await _billing(cli)
    flushed = None
    try:
        flushed = await billing.sync.flush_usage()
    except MbvError as exc:  # best effort: what is waiting is sent by a later run
        print(f"note: usage could not be sent to Stripe now: {exc}", file=sys.stderr)
    state = await billing.refresh()
    if cli.args.json:
        _print_json({
            "plan": plan_json(state.plan) if state.plan else None,
            "period": {"start": state.period_start, "end": state.period_end},
            "usage": [line.to_json() for line in state.usage],
            "sent_now": flushed.to_json() if flushed else None,
            "usage_waiting_to_send": state.meter_waiting,
            "stale": state.stale, "problem": state.problem})
        return 0
    plan = f"{state.plan.name} plan, " if state.plan else ""
    print(f"Usage this period ({plan}{day(state.period_start)} – {day(state.period_end)}):")
    for line in state.usage:
        print(_usage_line(line))
    if flushed is not None and (flushed.sent or flushed.rejected):
        print(f"Sent {flushed.sent} usage event(s) to Stripe now"
              + (f", {flushed.rejected} refused" if flushed.rejected else "") + ".")
    if state.meter_waiting:
        print(f"{state.meter_waiting} usage event(s) are waiting to be sent to Stripe.")
    if state.stale:
        print(f"stale: {state.problem or 'Stripe could not be reached.'}")
    return 0
