"""The HTML (and one PDF) the sandbox shows in the browser in Stripe's place: the Checkout pay
page, the customer portal, the hosted invoice and its PDF.

The markup is plain (no script) so a browser, a test or ``billing subscribe --yes`` can drive
it. Markers a script relies on, kept stable:

- pay page: ``<main data-page="checkout" data-session="{id}" data-state="open|requires_action|
  complete|expired">``; while open, ``<form method="post" data-pay-form>`` with inputs
  ``card``, ``exp`` (MM/YY), ``cvc``, ``name`` and, when Checkout has no e-mail yet, ``email``;
  while waiting for 3-D Secure, a form with buttons ``name="three_d_secure"`` valued ``pass`` and
  ``fail``; a refused card adds ``<p class="error" data-error="{code}"
  data-decline-code="{decline_code}">``;
- portal: ``<main data-page="portal" data-customer="{id}">`` with one
  ``<li data-subscription="{id}" data-status="…">``, ``<li data-payment-method="{id}">`` and
  ``<li data-invoice="{id}">`` per item;
- invoice: ``<main data-page="invoice" data-invoice="{id}" data-status="…">``.

Everything reflected from a request or the store is HTML-escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from starlette.responses import HTMLResponse

from mbv_desktop.sandbox.stripe.errors import StripeError
from mbv_desktop.sandbox.stripe.invoices import ACCOUNT_NAME, TAX_PERCENT

BADGE = "Sandbox · test mode · no real card is charged"
TEST_CARDS = (("4242 4242 4242 4242", "succeeds"),
              ("4000 0000 0000 0002", "declined"),
              ("4000 0000 0000 9995", "insufficient funds"),
              ("4000 0000 0000 0069", "expired card"),
              ("4000 0025 0000 3155", "asks for 3-D Secure"))

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f6f9fc;color:#1a1f36;
margin:0;display:flex;justify-content:center}
main{background:#fff;margin:40px 16px;padding:28px 32px;border-radius:12px;max-width:520px;
width:100%;box-shadow:0 2px 14px rgba(50,50,93,.12)}
.badge{display:inline-block;background:#fff3cd;color:#7a5b00;border-radius:6px;padding:2px 8px;
font-size:12px;font-weight:600}
h1{font-size:22px;margin:14px 0 4px}
table{width:100%;border-collapse:collapse;margin:14px 0}
td{padding:6px 0;border-bottom:1px solid #e6ebf1}td.num{text-align:right}
tr.total td{font-weight:700;border-bottom:none}
label{display:block;margin:10px 0 4px;font-size:14px;color:#3c4257}
input{width:100%;box-sizing:border-box;font-size:16px;padding:9px 10px;border:1px solid #cfd7df;
border-radius:6px}
.row{display:flex;gap:10px}.row>div{flex:1}
button{margin-top:16px;width:100%;font-size:16px;border-radius:6px;padding:11px;border:none;
background:#635bff;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#3c4257;border:1px solid #cfd7df}
.error{background:#fde8e8;color:#9b1c1c;border-radius:6px;padding:8px 10px}
.hint{font-size:13px;color:#697386}ul{padding-left:20px}
a{color:#635bff}
"""


def _money(cents: int | None, currency: str | None = "usd") -> str:
    value = (cents or 0) / 100
    sign = "-" if value < 0 else ""
    symbol = "$" if (currency or "usd").lower() == "usd" else f"{(currency or '').upper()} "
    return f"{sign}{symbol}{abs(value):,.2f}"


def _date(timestamp: int | None) -> str:
    if not timestamp:
        return "—"
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%B %Y}"


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A complete page, never cached (it shows one-time state)."""
    document = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
                f"<body>\n{body}\n</body></html>\n")
    return HTMLResponse(document, status, headers={"cache-control": "no-store",
                                                   "x-frame-options": "DENY"})


# -- Checkout --------------------------------------------------------------------------------------

def _items_table(session: dict[str, Any], items: list[dict[str, Any]]) -> str:
    rows = []
    for item in items:
        price = item["price"]
        recurring = price.get("recurring") or {}
        if recurring.get("usage_type") == "metered":
            amount = f"{_money(price['unit_amount'])} each, billed monthly"
        else:
            per = f" / {recurring['interval']}" if recurring else ""
            amount = _money(item["amount_subtotal"], item["currency"]) + per
        rows.append(f"<tr><td>{escape(str(item['description']))}"
                    f"{' × ' + str(item['quantity']) if item['quantity'] else ''}</td>"
                    f"<td class=\"num\">{escape(amount)}</td></tr>")
    tax = (session.get("total_details") or {}).get("amount_tax") or 0
    if session["automatic_tax"]["enabled"]:
        rows.append(f"<tr><td>Tax ({TAX_PERCENT}%)</td><td class=\"num\">"
                    f"{_money(tax, session['currency'])}</td></tr>")
    rows.append(f"<tr class=\"total\"><td>Total due today</td><td class=\"num\">"
                f"{_money(session.get('amount_total'), session['currency'])}</td></tr>")
    return f"<table>{''.join(rows)}</table>"


def _heading(session: dict[str, Any], items: list[dict[str, Any]]) -> str:
    if session["mode"] == "setup":
        return "Save a card for future payments"
    names = ", ".join(str(i["description"]) for i in items
                      if (i["price"].get("recurring") or {}).get("usage_type") != "metered")
    verb = "Subscribe to" if session["mode"] == "subscription" else "Pay for"
    return f"{verb} {names or 'your order'}"


def checkout_page(session: dict[str, Any], items: list[dict[str, Any]], action: str, *,
                  needs_email: bool, error: StripeError | None = None,
                  status: int = 200) -> HTMLResponse:
    """The pay page in the session's state (see the module docstring)."""
    pending = "_pending_card" in session
    state = "requires_action" if pending and session["status"] == "open" else session["status"]
    parts = [f"<main data-page=\"checkout\" data-session=\"{escape(session['id'])}\" "
             f"data-state=\"{escape(state)}\">", f"<span class=\"badge\">{BADGE}</span>",
             f"<p class=\"hint\">{escape(ACCOUNT_NAME)}</p>",
             f"<h1>{escape(_heading(session, items))}</h1>"]
    if session["mode"] != "setup":
        parts.append(_items_table(session, items))
    if error is not None:
        parts.append(f"<p class=\"error\" data-error=\"{escape(error.code or error.type)}\" "
                     f"data-decline-code=\"{escape(error.decline_code or '')}\">"
                     f"{escape(error.message)}</p>")
    if state == "open":
        parts.append(_card_form(session, action, needs_email))
    elif state == "requires_action":
        parts.append("<h2>Finish in the browser</h2><p>Your bank asks you to confirm this "
                     "payment (3-D Secure). In the sandbox, choose the outcome:</p>"
                     f"<form method=\"post\" action=\"{escape(action)}\" data-3ds-form>"
                     "<button name=\"three_d_secure\" value=\"pass\">Complete authentication"
                     "</button><button class=\"secondary\" name=\"three_d_secure\" "
                     "value=\"fail\">Fail authentication</button></form>")
    elif state == "complete":
        parts.append("<h2>Thank you!</h2><p>This Checkout Session is complete. You can close "
                     "this tab and return to Must Be Viral.</p>")
        if session.get("success_url"):
            target = success_target(session)
            parts.append(f"<p><a href=\"{escape(target)}\">Continue</a></p>")
    else:
        parts.append("<h2>This Checkout Session has expired</h2><p>Start again from the app."
                     "</p>")
    parts.append("</main>")
    return page("Sandbox Checkout", "\n".join(parts), status)


def _card_form(session: dict[str, Any], action: str, needs_email: bool) -> str:
    button = {"subscription": "Subscribe", "setup": "Save card", "payment": "Pay"}[
        session["mode"]]
    email = ("<label for=\"email\">Email</label><input id=\"email\" name=\"email\" "
             "type=\"email\" autocomplete=\"email\" required>") if needs_email else ""
    cancel = (f"<p><a href=\"{escape(session['cancel_url'])}\">Cancel and go back</a></p>"
              if session.get("cancel_url") else "")
    hints = "".join(f"<li><code>{n}</code> {escape(w)}</li>" for n, w in TEST_CARDS)
    return (f"<form method=\"post\" action=\"{escape(action)}\" data-pay-form>{email}"
            "<label for=\"card\">Card number</label><input id=\"card\" name=\"card\" "
            "inputmode=\"numeric\" autocomplete=\"cc-number\" placeholder=\"4242 4242 4242 "
            "4242\" required><div class=\"row\"><div><label for=\"exp\">Expiry</label>"
            "<input id=\"exp\" name=\"exp\" placeholder=\"MM / YY\" autocomplete=\"cc-exp\">"
            "</div><div><label for=\"cvc\">CVC</label><input id=\"cvc\" name=\"cvc\" "
            "placeholder=\"123\" autocomplete=\"cc-csc\"></div></div><label for=\"name\">"
            "Name on card</label><input id=\"name\" name=\"name\" autocomplete=\"cc-name\">"
            f"<button type=\"submit\">{button}</button></form>{cancel}"
            f"<p class=\"hint\">Test cards:</p><ul class=\"hint\">{hints}</ul>")


def success_target(session: dict[str, Any]) -> str:
    """``success_url`` with ``{CHECKOUT_SESSION_ID}`` filled in, as Stripe does."""
    return str(session["success_url"]).replace("{CHECKOUT_SESSION_ID}", session["id"])


def missing_page(what: str) -> HTMLResponse:
    return page("Not found", f"<main data-page=\"missing\"><span class=\"badge\">{BADGE}"
                f"</span><h1>{escape(what)} was not found</h1></main>", 404)


# -- portal ----------------------------------------------------------------------------------------

def portal_page(session: dict[str, Any], customer: dict[str, Any],
                subs: list[dict[str, Any]], methods: list[dict[str, Any]],
                invoices: list[dict[str, Any]]) -> HTMLResponse:
    default = (customer.get("invoice_settings") or {}).get("default_payment_method")
    sub_rows = []
    for sub in subs:
        names = ", ".join(str(i["price"].get("nickname") or i["price"]["id"])
                          for i in sub["items"]["data"])
        end = sub["items"]["data"][0]["current_period_end"] if sub["items"]["data"] else None
        note = f"cancels on {_date(sub['cancel_at'])}" if sub.get("cancel_at") else \
            f"renews on {_date(end)}"
        sub_rows.append(f"<li data-subscription=\"{escape(sub['id'])}\" "
                        f"data-status=\"{escape(sub['status'])}\">{escape(names)} — "
                        f"{escape(sub['status'])}, {escape(note)}</li>")
    pm_rows = [f"<li data-payment-method=\"{escape(pm['id'])}\">"
               f"{escape(pm['card']['brand'].title())} •••• {escape(pm['card']['last4'])}, "
               f"expires {pm['card']['exp_month']:02d}/{pm['card']['exp_year']}"
               f"{' (default)' if pm['id'] == default else ''}</li>" for pm in methods]
    in_rows = [f"<li data-invoice=\"{escape(inv['id'])}\"><a href=\""
               f"{escape(inv['hosted_invoice_url'] or '#')}\">{escape(inv['number'] or inv['id'])}"
               f"</a> — {_money(inv['total'], inv['currency'])}, {escape(inv['status'])}</li>"
               for inv in invoices]
    back = (f"<p><a href=\"{escape(session['return_url'])}\">Return to Must Be Viral</a></p>"
            if session.get("return_url") else "")
    body = (f"<main data-page=\"portal\" data-customer=\"{escape(customer['id'])}\">"
            f"<span class=\"badge\">{BADGE}</span><h1>Billing</h1>"
            f"<p class=\"hint\">{escape(customer.get('email') or '')}</p>"
            f"<h2>Plan</h2><ul>{''.join(sub_rows) or '<li>No plan</li>'}</ul>"
            f"<h2>Payment methods</h2><ul>{''.join(pm_rows) or '<li>None saved</li>'}</ul>"
            f"<h2>Invoices</h2><ul>{''.join(in_rows) or '<li>None yet</li>'}</ul>{back}</main>")
    return page("Sandbox billing portal", body)


# -- invoices --------------------------------------------------------------------------------------

def _invoice_rows(invoice: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [(str(line["description"]), _money(line["amount"], invoice["currency"]))
            for line in invoice["lines"]["data"]]
    rows.append(("Subtotal", _money(invoice["subtotal"], invoice["currency"])))
    tax = sum(t["amount"] for t in invoice.get("total_taxes") or [])
    if invoice["automatic_tax"]["enabled"]:
        rows.append((f"Tax ({TAX_PERCENT}%)", _money(tax, invoice["currency"])))
    rows.append(("Total", _money(invoice["total"], invoice["currency"])))
    if invoice.get("starting_balance"):
        rows.append(("Applied balance", _money(invoice["starting_balance"],
                                               invoice["currency"])))
    rows.append(("Amount due", _money(invoice["amount_due"], invoice["currency"])))
    rows.append(("Amount paid", _money(invoice["amount_paid"], invoice["currency"])))
    return rows


def invoice_page(invoice: dict[str, Any]) -> HTMLResponse:
    rows = "".join(f"<tr><td>{escape(a)}</td><td class=\"num\">{escape(b)}</td></tr>"
                   for a, b in _invoice_rows(invoice))
    body = (f"<main data-page=\"invoice\" data-invoice=\"{escape(invoice['id'])}\" "
            f"data-status=\"{escape(str(invoice['status']))}\"><span class=\"badge\">{BADGE}"
            f"</span><p class=\"hint\">{escape(ACCOUNT_NAME)}</p>"
            f"<h1>Invoice {escape(invoice['number'] or '')}</h1>"
            f"<p>{escape(str(invoice['status']).title())} · issued "
            f"{_date(invoice['created'])} · {escape(invoice.get('customer_email') or '')}</p>"
            f"<table>{rows}</table><p><a href=\"{escape(invoice['invoice_pdf'] or '#')}\">"
            "Download PDF</a></p></main>")
    return page(f"Invoice {invoice['number']}", body)


def _pdf_text(text: str) -> str:
    safe = text.replace("×", "x").replace("—", "-").replace("•", "*")
    safe = safe.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoice_pdf(invoice: dict[str, Any]) -> bytes:
    """A one-page PDF 1.4 of the invoice (Helvetica text, valid cross-reference table)."""
    lines = [f"{ACCOUNT_NAME} - Invoice {invoice['number'] or invoice['id']}",
             f"Status: {invoice['status']}   Issued: {_date(invoice['created'])}",
             f"Billed to: {invoice.get('customer_email') or invoice['customer']}", ""]
    lines += [f"{a}: {b}" for a, b in _invoice_rows(invoice)]
    text = "".join(f"({_pdf_text(line)}) Tj T* " for line in lines)
    stream = f"BT /F1 11 Tf 14 TL 56 780 Td {text}ET".encode("latin-1")
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
               b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
               b"/Encoding /WinAnsiEncoding >>",
               b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
               + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)
