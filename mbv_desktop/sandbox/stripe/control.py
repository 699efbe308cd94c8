"""The sandbox's own routes beside the API (no API key): the hosted pages (Checkout, portal,
invoice and PDF), a JSON way to pay a session for scripts and tests, webhook endpoints, and
the clock.

::

    GET  /checkout/pay/{cs}         the pay page (HTML)
    POST /checkout/pay/{cs}         form: card, exp, cvc, name, email | three_d_secure=pass|fail
                                    → 303 to success_url when paid (200 page without one),
                                    402 page when declined, 200 page asking for 3-D Secure
    POST /_checkout/{cs}/pay        JSON {"card", "exp_month", "exp_year", "email", "name"} or
                                    {"three_d_secure": "pass"|"fail"} → {"status": "complete"|
                                    "requires_action"|"declined", "session": {...},
                                    "error": {...}|null} (402 when declined)
    GET  /portal/{bps}              the customer portal (HTML)
    GET  /i/{in}  /i/{in}/pdf       hosted invoice (HTML) and its PDF
    POST /_webhooks                 {"url", "secret"?, "enabled_events"?} → 201 endpoint
    GET  /_webhooks                 {"data": [endpoint, ...]}
    DELETE /_webhooks[?id=]         {"removed": n}
    POST /_webhooks/resend          {"event", "times"?: 1, "concurrent"?: false, "endpoint"?}
                                    → {"data": [delivery, ...]} once all were answered
    GET  /_webhooks/deliveries[?event=]   the delivery log, oldest first
    GET  /_settings                 {"now", "clock_offset", "processing_delay"}
    POST /_settings                 {"advance": seconds} moves the clock (renewals, period-end
                                    cancellations and expiries happen at once);
                                    {"processing_delay": seconds} holds each POST carrying an
                                    Idempotency-Key that long before it runs (to overlap two
                                    requests with one key)
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mbv_desktop.sandbox.stripe import checkout, pages
from mbv_desktop.sandbox.stripe.errors import StripeError, no_such
from mbv_desktop.sandbox.stripe.forms import Params, decode, parse_body
from mbv_desktop.sandbox.stripe.objects import render, show
from mbv_desktop.sandbox.stripe.runtime import Runtime
from mbv_desktop.sandbox.stripe.store import Tx

MAX_RESEND = 20


def base_url(request: Request) -> str:
    """The emulator's base URL as this client reached it."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}},
                        status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        payload = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise ValueError("the body must be a JSON object")
    return payload


class Control:
    """Handlers for the routes in the module docstring."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def routes(self) -> list[Route]:
        return [
            Route("/checkout/pay/{id}", self.pay_page, methods=["GET"]),
            Route("/checkout/pay/{id}", self.pay_submit, methods=["POST"]),
            Route("/_checkout/{id}/pay", self.pay_json, methods=["POST"]),
            Route("/portal/{id}", self.portal, methods=["GET"]),
            Route("/i/{id}", self.invoice, methods=["GET"]),
            Route("/i/{id}/pdf", self.invoice_pdf, methods=["GET"]),
            Route("/_webhooks", self.add_webhook, methods=["POST"]),
            Route("/_webhooks", self.list_webhooks, methods=["GET"]),
            Route("/_webhooks", self.remove_webhooks, methods=["DELETE"]),
            Route("/_webhooks/resend", self.resend, methods=["POST"]),
            Route("/_webhooks/deliveries", self.deliveries, methods=["GET"]),
            Route("/_settings", self.get_settings, methods=["GET"]),
            Route("/_settings", self.set_settings, methods=["POST"]),
        ]

    # Checkout ----------------------------------------------------------------------------------

    @staticmethod
    def _page_state(tx: Tx, session: dict[str, Any],
                    ) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
        """The session as the page shows it (marked while 3-D Secure is pending), its line
        items, and whether the page must ask for an e-mail."""
        shown = render(tx, session)
        if "_pending_card" in session:
            shown["_pending_card"] = True
        items = show(tx, session, ["line_items"])["line_items"]["data"]
        return shown, items, checkout.known_email(tx, session) is None

    async def pay_page(self, request: Request) -> Response:
        session_id = request.path_params["id"]

        def work(tx: Tx) -> tuple[dict[str, Any], list[dict[str, Any]], bool] | None:
            session = tx.get(session_id, "checkout.session")
            return self._page_state(tx, session) if session is not None else None

        found = self.rt.run(work, base=base_url(request))
        if found is None:
            return pages.missing_page("This Checkout Session")
        session, items, needs_email = found
        return pages.checkout_page(session, items, request.url.path, needs_email=needs_email)

    def _pay(self, request: Request, form: Params,
             ) -> tuple[checkout.PayResult, dict[str, Any], list[dict[str, Any]], bool] | None:
        session_id = request.path_params["id"]

        def work(tx: Tx) -> Any:
            session = tx.get(session_id, "checkout.session")
            if session is None:
                return None
            result = checkout.pay(tx, session, form)
            return (result, *self._page_state(tx, result.session))

        found: tuple[checkout.PayResult, dict[str, Any], list[dict[str, Any]], bool] | None = \
            self.rt.run(work, base=base_url(request))
        return found

    async def pay_submit(self, request: Request) -> Response:
        try:
            form = Params(decode(parse_body(await request.body())))
            found = self._pay(request, form)
        except StripeError as error:
            return pages.page("Checkout", f"<main data-page=\"checkout\" data-state=\"error\">"
                              f"<p class=\"error\">{escape(error.message)}</p></main>",
                              error.status)
        if found is None:
            return pages.missing_page("This Checkout Session")
        result, session, items, needs_email = found
        if result.status == "complete" and session.get("success_url"):
            return RedirectResponse(pages.success_target(session), 303)
        return pages.checkout_page(session, items, request.url.path, needs_email=needs_email,
                                   error=result.error,
                                   status=402 if result.status == "declined" else 200)

    async def pay_json(self, request: Request) -> Response:
        try:
            payload = await _json(request)
            form = Params({k: str(v) for k, v in payload.items() if v is not None})
            found = self._pay(request, form)
        except ValueError as exc:
            return _bad(str(exc))
        except StripeError as error:
            return JSONResponse(error.body(), error.status)
        if found is None:
            missing = no_such(request.path_params["id"])
            return JSONResponse(missing.body(), missing.status)
        result, session, _items, _email = found
        session.pop("_pending_card", None)
        body = {"status": result.status, "session": session,
                "error": result.error.body()["error"] if result.error else None}
        return JSONResponse(body, 402 if result.status == "declined" else 200)

    # portal and invoices -----------------------------------------------------------------------

    async def portal(self, request: Request) -> Response:
        session_id = request.path_params["id"]

        def work(tx: Tx) -> Response:
            session = tx.get(session_id, "billing_portal.session")
            customer = tx.get(session["customer"], "customer") if session else None
            if session is None or customer is None:
                return pages.missing_page("This portal session")
            subs = [render(tx, s) for s in tx.docs("subscription", customer["id"])]
            methods = [render(tx, m) for m in tx.docs("payment_method", customer["id"])]
            bills = [render(tx, i) for i in tx.docs("invoice", customer["id"])]
            return pages.portal_page(render(tx, session), customer, subs, methods, bills)

        return self.rt.run(work, base=base_url(request))

    def _invoice(self, request: Request) -> dict[str, Any] | None:
        invoice_id = request.path_params["id"]

        def work(tx: Tx) -> dict[str, Any] | None:
            doc = tx.get(invoice_id, "invoice")
            return render(tx, doc) if doc is not None else None

        return self.rt.run(work, base=base_url(request))

    async def invoice(self, request: Request) -> Response:
        invoice = self._invoice(request)
        if invoice is None:
            return pages.missing_page("This invoice")
        return pages.invoice_page(invoice)

    async def invoice_pdf(self, request: Request) -> Response:
        invoice = self._invoice(request)
        if invoice is None:
            return pages.missing_page("This invoice")
        name = f"Invoice-{invoice['number'] or invoice['id']}.pdf"
        return Response(pages.invoice_pdf(invoice), 200, media_type="application/pdf",
                        headers={"content-disposition": f"inline; filename=\"{name}\""})

    # webhooks ----------------------------------------------------------------------------------

    async def add_webhook(self, request: Request) -> Response:
        try:
            payload = await _json(request)
            events = payload.get("enabled_events")
            if events is not None and not (isinstance(events, list)
                                           and all(isinstance(e, str) for e in events)):
                raise ValueError("enabled_events must be a list of event types")
            endpoint = self.rt.webhooks.register(str(payload.get("url") or ""),
                                                 payload.get("secret"), events)
        except ValueError as exc:
            return _bad(str(exc))
        return JSONResponse(endpoint.to_dict(), 201)

    async def list_webhooks(self, request: Request) -> Response:
        return JSONResponse({"data": [e.to_dict() for e in self.rt.webhooks.endpoints.values()]})

    async def remove_webhooks(self, request: Request) -> Response:
        return JSONResponse({"removed": self.rt.webhooks.remove(
            request.query_params.get("id"))})

    async def resend(self, request: Request) -> Response:
        try:
            payload = await _json(request)
            event_id = str(payload.get("event") or "")
            times = int(payload.get("times", 1))
            if not 1 <= times <= MAX_RESEND:
                raise ValueError(f"times must be between 1 and {MAX_RESEND}")
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))

        def work(tx: Tx) -> dict[str, Any] | None:
            found = tx.event(event_id)
            return found[1] if found else None

        event = self.rt.run(work, base=base_url(request))
        if event is None:
            error = no_such(event_id)
            return JSONResponse(error.body(), error.status)
        sent = await self.rt.webhooks.resend(event, times, bool(payload.get("concurrent")),
                                             payload.get("endpoint"))
        return JSONResponse({"data": [d.to_dict() for d in sent]})

    async def deliveries(self, request: Request) -> Response:
        found = self.rt.webhooks.deliveries(request.query_params.get("event"))
        return JSONResponse({"data": [d.to_dict() for d in found]})

    # clock -------------------------------------------------------------------------------------

    def _settings(self, request: Request) -> dict[str, Any]:
        def work(tx: Tx) -> dict[str, Any]:
            return {"now": tx.now, "clock_offset": float(tx.setting("clock_offset", "0")),
                    "processing_delay": self.rt.processing_delay}

        return self.rt.run(work, base=base_url(request))

    async def get_settings(self, request: Request) -> Response:
        return JSONResponse(self._settings(request))

    async def set_settings(self, request: Request) -> Response:
        try:
            payload = await _json(request)
            advance = float(payload.get("advance", 0))
            delay = payload.get("processing_delay")
            if advance < 0:
                raise ValueError("advance must not be negative (the clock only moves forward)")
            if delay is not None and not 0 <= float(delay) <= 30:
                raise ValueError("processing_delay must be between 0 and 30 seconds")
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        if delay is not None:
            self.rt.processing_delay = float(delay)
        if advance:
            def move(tx: Tx) -> None:
                offset = float(tx.setting("clock_offset", "0")) + advance
                tx.set_setting("clock_offset", repr(offset))

            self.rt.run(move, base=base_url(request))
        return JSONResponse(self._settings(request))

