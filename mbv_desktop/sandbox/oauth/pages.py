"""The HTML the sign-in emulators show in the browser: the consent page (a demo account picker
with Allow and Deny), the error page, and GitHub's device-code pages.

The markup is plain (no script) so a browser, a test or the app's ``login --yes`` can drive it.
Markers a script relies on, kept stable:

- consent page: ``<form method="post" action="{base}/_consent/{consent_id}"
  data-consent-id="{consent_id}">`` holding ``<input type="hidden" name="consent_id">``, one
  ``<input type="radio" name="account" value="{n}">`` per demo account (``n`` from 0, the first
  checked) and two buttons ``name="decision"`` with ``value="allow"`` / ``value="deny"``;
- error page (HTTP 400): ``<main data-error="{error code}">``;
- device page: ``<form ... data-device-form>`` with ``name="user_code"``; its answer page has
  ``<main data-device-result="approved|denied">``.

Everything reflected from a request is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from starlette.responses import HTMLResponse

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;background:#f4f5f7;color:#1d2430;
margin:0;display:flex;justify-content:center}
main{background:#fff;margin:48px 16px;padding:28px 32px;border-radius:12px;max-width:460px;
width:100%;box-shadow:0 2px 12px rgba(0,0,0,.08)}
.badge{display:inline-block;background:#fff3cd;color:#7a5b00;border-radius:6px;padding:2px 8px;
font-size:12px;font-weight:600;letter-spacing:.02em}
h1{font-size:22px;margin:14px 0 6px}
.client{font-family:ui-monospace,monospace;background:#eef1f5;border-radius:4px;padding:1px 5px}
ul.scopes{padding-left:20px;color:#3a4454}
fieldset{border:1px solid #dfe3ea;border-radius:8px;margin:16px 0;padding:8px 12px}
label{display:flex;gap:10px;align-items:center;padding:8px 2px;cursor:pointer}
.who small{display:block;color:#6a7384}
.actions{display:flex;gap:12px;justify-content:flex-end;margin-top:8px}
button{font-size:15px;border-radius:8px;padding:8px 18px;border:1px solid #c7cdd6;
background:#fff;cursor:pointer}
button[value=allow]{background:#1f6feb;border-color:#1f6feb;color:#fff}
input[name=user_code]{font-size:20px;letter-spacing:.12em;padding:6px 10px;width:11em;
text-transform:uppercase}
.error h1{color:#b42318}
"""

BADGE = "Sandbox · demo accounts · nothing leaves this computer"


def _document(title: str, body: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def html(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A complete page that is never cached (it holds one-time ids)."""
    return HTMLResponse(_document(title, body), status,
                        headers={"cache-control": "no-store", "x-frame-options": "DENY"})


def account_picker(accounts: Sequence[tuple[str, str]], selected: int = 0) -> str:
    """Radio buttons ``name="account"`` for ``(name, detail)`` pairs, ``selected`` checked."""
    items = []
    for index, (name, detail) in enumerate(accounts):
        checked = " checked" if index == selected else ""
        items.append(f"<label><input type=\"radio\" name=\"account\" value=\"{index}\""
                     f"{checked}><span class=\"who\">{escape(name)}"
                     f"<small>{escape(detail)}</small></span></label>")
    return ("<fieldset><legend>Choose an account</legend>\n" + "\n".join(items)
            + "\n</fieldset>")


def decision_buttons() -> str:
    return ("<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"deny\">"
            "Deny</button><button type=\"submit\" name=\"decision\" value=\"allow\">Allow"
            "</button></div>")


def consent_page(*, provider: str, display: str, action: str, consent_id: str,
                 client_id: str, scopes: Sequence[str], accounts: Sequence[tuple[str, str]],
                 selected: int = 0) -> HTMLResponse:
    """The authorization page: who asks, for what, as whom; Allow or Deny."""
    cid = escape(consent_id)
    scope_items = "".join(f"<li>{escape(s)}</li>" for s in scopes) or "<li>basic profile</li>"
    body = (f"<main class=\"consent\" data-provider=\"{escape(provider)}\">\n"
            f"<span class=\"badge\">{escape(BADGE)}</span>\n"
            f"<h1>Sign in with {escape(display)}</h1>\n"
            f"<p><span class=\"client\">{escape(client_id)}</span> wants to access your "
            f"{escape(display)} account:</p>\n<ul class=\"scopes\">{scope_items}</ul>\n"
            f"<form method=\"post\" action=\"{escape(action)}\" data-consent-id=\"{cid}\">\n"
            f"<input type=\"hidden\" name=\"consent_id\" value=\"{cid}\">\n"
            f"{account_picker(accounts, selected)}\n{decision_buttons()}\n</form>\n</main>")
    return html(f"Sign in with {display} · Sandbox", body)


def error_page(display: str, error: str, description: str, status: int = 400) -> HTMLResponse:
    """What the provider shows instead of redirecting (unknown client, bad redirect URI...)."""
    body = (f"<main class=\"error\" data-error=\"{escape(error)}\">\n"
            f"<span class=\"badge\">{escape(BADGE)}</span>\n"
            f"<h1>{escape(display)}: {escape(error)}</h1>\n<p>{escape(description)}</p>\n</main>")
    return html(f"Error · {display} · Sandbox", body, status)


def device_page(*, action: str, user_code: str,
                accounts: Sequence[tuple[str, str]]) -> HTMLResponse:
    """GitHub's "Device activation" page: type the code shown by the app, then Allow."""
    body = ("<main class=\"device\">\n"
            f"<span class=\"badge\">{escape(BADGE)}</span>\n<h1>Device activation</h1>\n"
            "<p>Enter the code displayed on your device.</p>\n"
            f"<form method=\"post\" action=\"{escape(action)}\" data-device-form>\n"
            "<input name=\"user_code\" autocomplete=\"off\" placeholder=\"XXXX-XXXX\" "
            f"value=\"{escape(user_code)}\" required>\n"
            f"{account_picker(accounts)}\n{decision_buttons()}\n</form>\n</main>")
    return html("Device activation · GitHub · Sandbox", body)


def device_result_page(approved: bool) -> HTMLResponse:
    result = "approved" if approved else "denied"
    text = ("Congratulations, you're all set! Your device is now connected."
            if approved else "Access was denied; the device was not connected.")
    body = (f"<main class=\"device\" data-device-result=\"{result}\">\n"
            f"<span class=\"badge\">{escape(BADGE)}</span>\n<h1>{escape(text)}</h1>\n"
            "<p>You can close this window.</p>\n</main>")
    return html("Device activation · GitHub · Sandbox", body)
