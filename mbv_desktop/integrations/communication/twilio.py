"""Twilio Programmable Messaging (SMS) through the 2010-04-01 REST API.

Wire format (``reference/providers.md`` §8, ``specs/twilio/twilio_api_v2010.json``)::

    POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json
    Authorization: Basic base64(AccountSid:AuthToken)
    Content-Type: application/x-www-form-urlencoded
    To=%2B14155550123&From=%2B14155550100&Body=…
    → 201 {"sid": "SM…", "status": "queued", "to", "from", "body", "date_created", …}

    GET  …/Messages/{Sid}.json          one message
    GET  …/Messages.json?To=…&PageSize=  the latest messages, newest first

Twilio takes no idempotency key for Messages, so a send is **never repeated once it may have
reached Twilio**: the shared policy (``integrations/http.py``) retries the POST only when it
certainly was not sent (connection refused, 408, 429 — Twilio documents that a 429/20429 request
was not processed). A broken connection or timeout after sending, and any 5xx, end the call with
``ProviderUnavailable(maybe_sent=True)``; the caller reconciles with :meth:`TwilioClient.
list_messages` (same recipient and text since the attempt began) instead of sending again.

Numbers are checked on this computer before anything is sent: E.164 (``+`` then the country code
and number, at most 15 digits); spaces, dots, dashes and brackets are dropped first, so
``+1 (415) 555-0123`` is sent as ``+14155550123``. Anything else raises :class:`InvalidInput`.

Twilio's errors ``{"code", "message", "more_info", "status"}`` become project errors: 401 (20003)
→ :class:`AuthExpired` naming ``twilio.account_sid`` and ``twilio.auth_token`` (never their
values); 400 21211 (invalid 'To') and the other common codes → :class:`Rejected` with a sentence a
person can act on and Twilio's code in ``code``; 429 (20429) → :class:`RateLimited`; 5xx →
:class:`ProviderUnavailable`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from mbv_desktop import __version__
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    NotConfigured,
    ProviderError,
    ProviderUnavailable,
    Rejected,
)
from mbv_desktop.core.redaction import register_secret
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

__all__ = [
    "MAX_BODY",
    "PROVIDER",
    "TWILIO_POLICY",
    "TwilioClient",
    "TwilioMessage",
    "normalize_e164",
]

PROVIDER = "twilio"
API_VERSION = "2010-04-01"
#: Twilio's limit for one message body (longer texts are refused with error 21617).
MAX_BODY = 1600

#: The policy a client gets unless it is handed a :class:`ProviderClient`. No local rate limit:
#: Twilio limits concurrency and queues messages itself.
TWILIO_POLICY = ProviderPolicy(PROVIDER, timeout=20.0, deadline=45.0)

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_SEPARATORS = re.compile(r"[\s().\-]")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_USER_AGENT = f"mbv-desktop/{__version__}"


@dataclass(frozen=True)
class TwilioMessage:
    """One message as Twilio reports it."""

    sid: str
    status: str
    to: str
    from_: str
    body: str
    date_created: str = ""
    date_sent: str | None = None
    num_segments: int | None = None
    error_code: int | None = None
    error_message: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TwilioMessage:
        segments = str(data.get("num_segments") or "")
        code = data.get("error_code")
        return cls(sid=str(data.get("sid") or ""), status=str(data.get("status") or ""),
                   to=str(data.get("to") or ""), from_=str(data.get("from") or ""),
                   body=str(data.get("body") or ""),
                   date_created=str(data.get("date_created") or ""),
                   date_sent=data.get("date_sent") or None,
                   num_segments=int(segments) if segments.isdigit() else None,
                   error_code=code if isinstance(code, int) else None,
                   error_message=data.get("error_message") or None)


def normalize_e164(number: str, *, what: str = "The phone number") -> str:
    """``number`` in E.164 form (``+14155550123``) with spaces, dots, dashes and brackets
    removed; :class:`InvalidInput` naming ``what`` when it is not one."""
    if not isinstance(number, str):
        raise InvalidInput(f"{what} is missing.")
    cleaned = _SEPARATORS.sub("", number)
    if not cleaned:
        raise InvalidInput(f"{what} is missing.")
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _E164.match(cleaned):
        shown = number.strip()[:40]
        raise InvalidInput(f"{what} '{shown}' is not in international (E.164) form: a + "
                           "followed by the country code and number, up to 15 digits, for "
                           "example +14155550123.")
    return cleaned


class TwilioClient:
    """Sends SMS through Twilio (or the sandbox's Twilio emulator) under the shared policy.

    ``api_base`` is the ``twilio.api_base`` setting (``https://api.twilio.com``, paths start
    with ``/2010-04-01/``); ``account_sid`` and ``auth_token`` the ``twilio.account_sid`` and
    ``twilio.auth_token`` settings. ``client`` lets the caller supply the policy client; it must
    not carry a ``base_url``: this client sends absolute URLs and its own credentials.
    """

    def __init__(self, api_base: str, account_sid: str, auth_token: str, *,
                 client: ProviderClient | None = None) -> None:
        sid = (account_sid or "").strip()
        token = (auth_token or "").strip()
        if not sid or not token:
            raise NotConfigured("Twilio is not set up yet: set twilio.account_sid and "
                                "twilio.auth_token.", provider=PROVIDER)
        if not _ACCOUNT_SID.match(sid):
            raise InvalidInput("twilio.account_sid should be 'AC' followed by 32 hexadecimal "
                               "characters, as shown in the Twilio console.")
        base = (api_base or "").strip().rstrip("/")
        if not base:
            raise NotConfigured("Twilio is not set up yet: twilio.api_base is empty.",
                                provider=PROVIDER)
        if base.endswith("/" + API_VERSION):
            base = base[: -len(API_VERSION) - 1]
        register_secret(token)
        basic = base64.b64encode(f"{sid}:{token}".encode()).decode("ascii")
        register_secret(basic)
        self.account_sid = sid
        self._messages = f"{base}/{API_VERSION}/Accounts/{sid}/Messages"
        self._headers = {"Authorization": f"Basic {basic}", "User-Agent": _USER_AGENT,
                         "Accept": "application/json"}
        self._client = client if client is not None else ProviderClient(TWILIO_POLICY)

    @property
    def policy_client(self) -> ProviderClient:
        """The shared-policy client (its metrics, breaker and retry budget)."""
        return self._client

    async def send_sms(self, *, to: str, from_: str, body: str) -> str:
        """Sends one SMS and returns its Twilio sid (``SM…``); Twilio queues it for delivery.

        Raises :class:`InvalidInput` (nothing sent) for a number not in E.164 form, an empty
        body or one longer than 1,600 characters. Never sends twice: when the request may have
        reached Twilio but no answer came back, raises ``ProviderUnavailable(maybe_sent=True)``;
        look the message up with :meth:`list_messages` before sending it again.
        """
        to_number = normalize_e164(to, what="The recipient's phone number")
        from_number = normalize_e164(from_, what="The sender number (twilio.from_number)")
        if not isinstance(body, str) or not body.strip():
            raise InvalidInput("A text message needs some text.")
        if len(body) > MAX_BODY:
            raise InvalidInput(f"A text message can be at most {MAX_BODY} characters long; this "
                               f"one has {len(body)}.")
        form = {"To": to_number, "From": from_number, "Body": body}
        response = await self._request(
            "POST", ".json", data=form, idempotent=False,
            explain=lambda e: _send_rejection(e, to_number, from_number))
        data = _json_object(response)
        sid = data.get("sid") if data is not None else None
        if not isinstance(sid, str) or not _MESSAGE_SID.match(sid):
            raise ProviderUnavailable(
                "Twilio accepted the text message but its answer could not be read; it has "
                "probably been sent, so look for it before sending it again.",
                provider=PROVIDER, maybe_sent=True)
        return sid

    async def get_message(self, sid: str) -> TwilioMessage:
        """One message by sid. :class:`Rejected` (status 404, code ``20404``) when Twilio does
        not know it; :class:`InvalidInput` when ``sid`` is not a message sid."""
        if not isinstance(sid, str) or not _MESSAGE_SID.match(sid.strip()):
            raise InvalidInput("That is not a Twilio message id (they start with SM or MM).")
        sid = sid.strip()
        response = await self._request(
            "GET", f"/{sid}.json",
            explain=lambda e: Rejected(e.reason, provider=PROVIDER, status=e.status, code=e.code,
                                       message=f"Twilio has no message {sid} in this account.")
            if e.code == "20404" else None)
        data = _json_object(response)
        if data is None or not isinstance(data.get("sid"), str):
            raise ProviderUnavailable("Twilio's answer about the message could not be read.",
                                      provider=PROVIDER)
        return TwilioMessage.from_json(data)

    async def list_messages(self, *, to: str | None = None, from_: str | None = None,
                            page_size: int = 50) -> list[TwilioMessage]:
        """The account's latest messages, newest first (one page of up to ``page_size``),
        optionally only those to or from one number: what a reconcile after an ambiguous send
        looks through."""
        if not 1 <= page_size <= 1000:
            raise InvalidInput("Ask Twilio for between 1 and 1000 messages at a time.")
        params: dict[str, str | int] = {"PageSize": page_size}
        if to is not None:
            params["To"] = normalize_e164(to, what="The recipient's phone number")
        if from_ is not None:
            params["From"] = normalize_e164(from_, what="The sender number")
        response = await self._request("GET", ".json", params=params)
        data = _json_object(response)
        messages = data.get("messages") if data is not None else None
        if not isinstance(messages, list):
            raise ProviderUnavailable("Twilio's list of messages could not be read.",
                                      provider=PROVIDER)
        return [TwilioMessage.from_json(m) for m in messages if isinstance(m, dict)]

    async def _request(self, method: str, suffix: str, *,
                       explain: Callable[[Rejected], Rejected | None] | None = None,
                       **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, self._messages + suffix,
                                              headers=self._headers, **kwargs)
        except AuthExpired as error:
            raise AuthExpired(
                "Twilio did not accept the account SID and auth token; check "
                "twilio.account_sid and twilio.auth_token in the settings.",
                provider=PROVIDER, status=error.status) from error
        except Rejected as error:
            better: ProviderError | None = explain(error) if explain is not None else None
            if better is None and error.code == "20003":  # some answers say so with a 403
                better = AuthExpired(
                    "Twilio did not accept the account SID and auth token; check "
                    "twilio.account_sid and twilio.auth_token in the settings.",
                    provider=PROVIDER, status=error.status)
            if better is None:
                raise
            raise better from error

    async def aclose(self) -> None:
        """Closes the connection pool (when this client created it)."""
        await self._client.aclose()

    async def __aenter__(self) -> TwilioClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _send_rejection(error: Rejected, to: str, from_: str) -> Rejected | None:
    """A sentence for the Twilio codes a creator can do something about (None: keep Twilio's)."""
    sentences = {
        "21211": f"Twilio cannot send to {to}: it is not a valid phone number.",
        "21612": f"Twilio cannot deliver text messages to {to} from this number.",
        "21614": f"{to} cannot receive text messages (it is not a mobile number).",
        "21610": f"{to} has opted out of messages from this number (they replied STOP).",
        "21408": f"This Twilio account is not allowed to send text messages to {to}'s "
                 "country; allow it in Twilio's messaging geographic permissions.",
        "21212": f"Twilio cannot send from {from_}: it is not a valid sender; check "
                 "twilio.from_number.",
        "21606": f"{from_} is not a Twilio number of this account that can send text "
                 "messages; check twilio.from_number.",
        "21659": f"{from_} is not a Twilio number of this account; check twilio.from_number.",
        "21617": f"The text message is longer than Twilio's limit of {MAX_BODY} characters.",
        "20404": "Twilio does not know the account in twilio.account_sid; check the setting.",
    }
    sentence = sentences.get(error.code or "")
    if sentence is None:
        return None
    return Rejected(error.reason, provider=PROVIDER, status=error.status, code=error.code,
                    message=sentence)
