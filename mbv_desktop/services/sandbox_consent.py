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
