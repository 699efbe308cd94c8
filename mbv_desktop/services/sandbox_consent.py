"""Answering the sandbox's consent page without a browser (``login --yes`` and demos).

Only for the sandbox: the authorization URL must point at a loopback emulator, whose consent page
carries ``data-consent-id`` and a form posting to ``…/_consent/<id>``; the answer is a redirect
to the app's own loopback listener, which this then follows so the flow completes. Live
providers always need the person in a real browser.
"""

from __future__ import annotations

import re
import urllib.parse

from mbv_desktop.core.errors import InvalidInput

_LOOPBACK = frozenset({"127.0.0.1", "::1"})
_FORM = re.compile(r'<form[^>]*action="(?P<action>[^"]+)"[^>]*data-consent-id="(?P<cid>[^"]+)"')


def _check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in _LOOPBACK:
        raise InvalidInput("Only the sandbox's own sign-in pages can be answered automatically; "
                           "this one needs you in a browser.")


async def answer_consent(authorization_url: str, *, allow: bool = True, account: int = 0) -> None:
    """Opens the sandbox's consent page, answers it, and follows the redirect back to the app."""
    import httpx

    _check_loopback(authorization_url)
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        page = await http.get(authorization_url)
        if page.status_code in (301, 302, 303, 307):  # an error the provider sends straight back
            redirect = page.headers["location"]
        else:
            match = _FORM.search(page.text)
            if page.status_code != 200 or match is None:
                raise InvalidInput("The sandbox did not show its consent page "
                                   f"(HTTP {page.status_code}).")
            action = urllib.parse.urljoin(authorization_url, match.group("action"))
            _check_loopback(action)
            answer = await http.post(action, data={
                "consent_id": match.group("cid"), "decision": "allow" if allow else "deny",
                "account": str(account)})
            if answer.status_code not in (302, 303):
                raise InvalidInput(f"The sandbox refused the answer (HTTP {answer.status_code}).")
            redirect = answer.headers["location"]
        _check_loopback(redirect)
        await http.get(redirect)  # delivers the code (or the refusal) to the app's listener


async def answer_device_code(verification_uri: str, user_code: str, *, allow: bool = True,
                             account: int = 0) -> None:
    """Approves (or denies) a device code on the sandbox's GitHub emulator, as the person would
    on its ``/login/device`` page."""
    import httpx

    _check_loopback(verification_uri)
    base = verification_uri.rsplit("/login/device", 1)[0]
    async with httpx.AsyncClient(timeout=10.0) as http:
        answer = await http.post(f"{base}/_device/{urllib.parse.quote(user_code)}", data={
            "decision": "allow" if allow else "deny", "account": str(account)})
    if answer.status_code != 200:
        raise InvalidInput(f"The sandbox did not know the code {user_code} "
                           f"(HTTP {answer.status_code}).")


_PAY_FORM = re.compile(r'<form[^>]*action="(?P<action>[^"]+)"[^>]*data-pay-form')
_PAGE_STATE = re.compile(r'data-page="checkout"[^>]*data-state="(?P<state>[^"]+)"')
_CARD_ERROR = re.compile(r'data-error="(?P<code>[^"]*)" data-decline-code="(?P<decline>[^"]*)"')
SANDBOX_TEST_CARD = "4242 4242 4242 4242"


async def pay_sandbox_checkout(checkout_url: str, *, card: str = SANDBOX_TEST_CARD,
                               three_d_secure: str | None = None) -> str:
    """Fills in and submits the sandbox's Checkout page as a person would in the browser, and
    follows its redirect back to the app; returns the page's state (``complete``). A declined
    card raises :class:`CardDeclined` with Stripe's sentence; a card that needs 3-D Secure
    raises :class:`CardNeedsAuthentication` unless ``three_d_secure`` ("pass" or "fail")
    answers the bank's question."""
    import html

    import httpx

    from mbv_desktop.integrations.payments.errors import (
        CardDeclined,
        CardNeedsAuthentication,
        card_sentence,
    )

    _check_loopback(checkout_url)
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as http:
        page = await http.get(checkout_url)
        match = _PAY_FORM.search(page.text)
        state = _PAGE_STATE.search(page.text)
        waiting_for_bank = state is not None and state.group("state") == "requires_action"
        if page.status_code != 200 or (match is None and not waiting_for_bank):
            raise InvalidInput("The sandbox's Checkout page cannot be paid (it is "
                               f"{state.group('state') if state else 'missing'}).")
        if waiting_for_bank:  # a card needing 3-D Secure was entered earlier
            answer = page
            action = urllib.parse.urlsplit(checkout_url).path
        else:
            assert match is not None
            action = urllib.parse.urljoin(checkout_url, html.unescape(match.group("action")))
            _check_loopback(action)
            form = {"card": card, "exp": "12 / 34", "cvc": "123", "name": "Sandbox Creator"}
            if 'name="email"' in page.text:
                form["email"] = "creator@sandbox.example"
            answer = await http.post(action, data=form)
        action = urllib.parse.urljoin(checkout_url, action)
        state = _PAGE_STATE.search(answer.text)
        if answer.status_code == 200 and state and state.group("state") == "requires_action":
            if three_d_secure is None:
                raise CardNeedsAuthentication(card_sentence("authentication_required", None),
                                              code="authentication_required")
            answer = await http.post(action, data={"three_d_secure": three_d_secure})
        if answer.status_code == 303:
            target = answer.headers["location"]
            _check_loopback(target)
            await http.get(target)  # Checkout's return page: the app's own receiver
            return "complete"
        error = _CARD_ERROR.search(answer.text)
        if error is not None:
            code, decline = error.group("code") or None, error.group("decline") or None
            raise CardDeclined(card_sentence(code, decline), code=code, decline_code=decline)
        state = _PAGE_STATE.search(answer.text)
        return state.group("state") if state else f"HTTP {answer.status_code}"
