"""The Twilio emulator: Programmable Messaging (SMS) on the 2010-04-01 REST API.

Mounted by the host at ``/twilio``; the app's ``twilio.api_base`` is
``http://127.0.0.1:PORT/twilio`` (like ``https://api.twilio.com``)::

    POST /2010-04-01/Accounts/{AccountSid}/Messages.json        send (form) → 201 Message
    GET  /2010-04-01/Accounts/{AccountSid}/Messages.json        list, newest first (To, From,
                                                                PageSize 1–1000, Page)
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json  one message
    GET  /_sent                                                 sandbox only, no auth

Authentication is HTTP Basic ``AccountSid:AuthToken``: the user name must be an account SID
(``AC`` + 32 hex digits) equal to the one in the path, and the token any non-empty value except
``invalid`` or one revoked through the control API (tokens are recorded as digests only).
Anything else → 401 ``{"code": 20003, "message": "Authenticate", …}``.

Errors are Twilio's ``{"code", "message", "more_info", "status"}``; each answer also carries a
``Twilio-Request-Id`` (``RQ…``). ``POST …/Messages.json`` checks, in this order:

* 21604 ``To`` missing; 21211 ``To`` not E.164 (``+`` and 7–15 digits; for ``+1``, a valid
  North American number);
* 21603 neither ``From`` nor ``MessagingServiceSid``; 21212 ``From`` not E.164;
* 21602 neither ``Body`` nor ``MediaUrl``; 21617 ``Body`` longer than 1,600 characters;
* Twilio's magic test numbers: ``To`` +15005550001 → 21211 (invalid), +15005550002 → 21612
  (unreachable), +15005550003 → 21408 (no permission for the region), +15005550004 → 21610
  (recipient replied STOP), +15005550009 → 21614 (not a mobile number); ``From`` +15005550001
  → 21212, +15005550007 → 21606 (not a number of this account), +15005550008 → 21611 (queue
  full). All are HTTP 400.

A send answers 201 with the Message resource (``components.schemas.api.v2010.account.message``
of Twilio's spec): ``sid`` ``SM`` + 32 hex digits, ``status`` ``queued``, ``direction``
``outbound-api``, ``num_segments`` counted as Twilio does (GSM-7: 160 characters, 153 per part;
otherwise UCS-2: 70, 67 per part), RFC 2822 dates. The sandbox delivers at once: a later fetch
shows ``status`` ``delivered`` with ``date_sent``. There is no idempotency key (Twilio has none):
every accepted POST is one more message.

``GET /_sent`` answers ``{"data": [Message, …], "count": n}`` in sending order (oldest first),
across accounts. Messages live in memory: a host restart forgets them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import (
    EmulatorContext,
    EmulatorSpec,
    FaultReply,
    dump_json,
    retry_after_seconds,
)
from mbv_desktop.sandbox.faults import Fault

API_VERSION = "2010-04-01"
MAX_BODY = 1600
INVALID_TOKEN = "invalid"
DEFAULT_PAGE_SIZE = 50

_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_NANP = re.compile(r"^\+1[2-9][0-9]{2}[2-9][0-9]{6}$")
# GSM 03.38 basic set (one septet each) and its extension table (two septets each).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

#: Twilio's magic test numbers (test credentials) and the errors they produce.
_MAGIC_TO = {
    "+15005550001": (21211, "Invalid 'To' Phone Number: {to}"),
    "+15005550002": (21612, "The 'To' phone number: {to}, is not currently reachable using the "
                            "'From' phone number: {from_} via SMS."),
    "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region "
                            "indicated by the 'To' number: {to}."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
    "+15005550009": (21614, "'To' number is not a valid mobile number"),
}
_MAGIC_FROM = {
    "+15005550001": (21212, "The 'From' number {from_} is not a valid phone number, shortcode, "
                            "or alphanumeric sender ID."),
    "+15005550007": (21606, "The 'From' phone number provided ({from_}) is not a valid "
                            "message-capable Twilio phone number for this destination/account."),
    "+15005550008": (21611, "This 'From' number has exceeded the maximum number of queued "
                            "messages."),
}


class TwilioError(Exception):
    """An error answer in Twilio's shape."""

    def __init__(self, status: int, code: int, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status, {**_request_id(), **self.headers})


def _request_id() -> dict[str, str]:
    return {"twilio-request-id": "RQ" + secrets.token_hex(16)}


def _rfc2822(moment: datetime) -> str:
    """``Thu, 24 Aug 2023 05:01:45 +0000``."""
    return format_datetime(moment)


def count_segments(body: str) -> int:
    """How many SMS parts Twilio bills ``body`` as (0 for an empty body)."""
    if not body:
        return 0
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in body):
        septets = sum(2 if c in _GSM_EXTENDED else 1 for c in body)
        return 1 if septets <= 160 else math.ceil(septets / 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


def valid_number(number: str) -> bool:
    """E.164, and a plausible North American number when the country code is 1."""
    if not _E164.match(number):
        return False
    return not number.startswith("+1") or bool(_NANP.match(number))


@dataclass
class _Message:
    account_sid: str
    sid: str
    to: str
    from_: str | None
    service_sid: str | None
    body: str
    created: datetime
    media: int = 0
    delivered: bool = False

    def resource(self) -> dict[str, Any]:
        """The Message resource as Twilio returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": _rfc2822(self.created),
            "date_sent": _rfc2822(self.created) if self.delivered else None,
            "date_updated": _rfc2822(self.created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.service_sid,
            "num_media": str(self.media),
            "num_segments": str(count_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": "delivered" if self.delivered else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class _State:
    sent: list[_Message] = field(default_factory=list)
    by_sid: dict[str, _Message] = field(default_factory=dict)


def _form(raw: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise TwilioError(400, 20001, "The request body could not be decoded as UTF-8.") \
            from None


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def create_app(ctx: EmulatorContext) -> ASGIApp:
    """The Twilio emulator (see the module docstring)."""
    state = _State()

    def authenticate(request: Request) -> str:
        """The account SID of the path, once the Basic credentials match it."""
        account = request.path_params["account_sid"]
        denied = TwilioError(401, 20003, "Authenticate",
                             {"www-authenticate": 'Basic realm="Twilio API"'})
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            raise denied
        try:
            user, sep, token = base64.b64decode(encoded.strip(), validate=True) \
                .decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise denied from None
        if not sep or not token or not _ACCOUNT_SID.match(user) or user != account:
            raise denied
        if not ctx.state.authenticate(ctx.provider, token, token != INVALID_TOKEN):
            raise denied
        return account

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                response: Response = await handler(request, authenticate(request))
                response.headers.update(_request_id())
                return response
            except TwilioError as error:
                return error.response()
        return run

    async def create(request: Request, account: str) -> Response:
        form = _form(await request.body())
        to = _first(form, "To")
        from_ = _first(form, "From")
        service = _first(form, "MessagingServiceSid")
        body = _first(form, "Body") or ""
        media = [url for url in form.get("MediaUrl", []) if url]
        if not to:
            raise TwilioError(400, 21604, "A 'To' phone number is required.")
        if not valid_number(to):
            raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_ and not service:
            raise TwilioError(400, 21603, "A 'From' phone number is required.")
        if service and not _SERVICE_SID.match(service):
            raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_ and not valid_number(from_):
            raise TwilioError(400, 21212, f"The 'From' number {from_} is not a valid phone "
                              "number, shortcode, or alphanumeric sender ID.")
        if not body and not media:
            raise TwilioError(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            raise TwilioError(400, 21617, "The concatenated message body exceeds the "
                              f"{MAX_BODY} character limit.")
        for table, number in ((_MAGIC_TO, to), (_MAGIC_FROM, from_)):
            if number in table:
                code, text = table[number]
                raise TwilioError(400, code, text.format(to=to, from_=from_))
        message = _Message(account, "SM" + secrets.token_hex(16), to, from_ or None,
                           service or None, body, datetime.now(UTC).replace(microsecond=0),
                           media=len(media))
        answer = message.resource()
        message.delivered = True  # the sandbox "delivers" at once; a fetch shows it
        state.sent.append(message)
        state.by_sid[message.sid] = message
        return JSONResponse(answer, 201)

    async def list_messages(request: Request, account: str) -> Response:
        params = request.query_params
        try:
            size = int(params.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(params.get("Page", 0))
        except ValueError:
            raise TwilioError(400, 20001, "PageSize and Page must be integers.") from None
        if not 1 <= size <= 1000 or page < 0:
            raise TwilioError(400, 20001, "PageSize must be between 1 and 1000.")
        to, from_ = params.get("To"), params.get("From")
        found = [m for m in reversed(state.sent) if m.account_sid == account
                 and (to is None or m.to == to) and (from_ is None or m.from_ == from_)]
        chunk = found[page * size:(page + 1) * size]
        base = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        filters = {k: v for k, v in (("To", to), ("From", from_)) if v is not None}

        def uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(found)
        return JSONResponse({
            "messages": [m.resource() for m in chunk],
            "end": page * size + max(len(chunk), 1) - 1,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": uri(page),
        })

    async def fetch(request: Request, account: str) -> Response:
        sid = request.path_params["sid"]
        message = state.by_sid.get(sid)
        if message is None or message.account_sid != account:
            raise TwilioError(404, 20404, f"The requested resource /{API_VERSION}/Accounts/"
                              f"{account}/Messages/{sid}.json was not found")
        return JSONResponse(message.resource())

    async def sent(request: Request) -> Response:
        data = [m.resource() for m in state.sent]
        return JSONResponse({"data": data, "count": len(data)})

    async def not_found(request: Request, exc: Exception) -> Response:
        return TwilioError(404, 20404, f"The requested resource {request.url.path} was not "
                           "found").response()

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return TwilioError(405, 20004, "Method not allowed").response()

    messages = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"
    return Starlette(routes=[
        Route(f"{messages}.json", endpoint(create), methods=["POST"]),
        Route(f"{messages}.json", endpoint(list_messages), methods=["GET"]),
        Route(f"{messages}/{{sid}}.json", endpoint(fetch), methods=["GET"]),
        Route("/_sent", sent, methods=["GET"]),
    ], exception_handlers={404: not_found, 405: not_allowed})


def fault_reply(fault: Fault) -> FaultReply:
    """Twilio's answer for an injected 429, 500 or 503."""
    status = int(fault.kind)
    headers = _request_id()
    if status == 429:
        headers["retry-after"] = str(retry_after_seconds(fault))
        error = TwilioError(429, 20429, "Too Many Requests")
    elif status == 500:
        error = TwilioError(500, 20500, "Internal Server Error")
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        error = TwilioError(503, 20503, "Service Unavailable")
    return FaultReply(status, dump_json(error.body()), headers)


SPEC = EmulatorSpec("twilio", "/twilio", create_app, "", fault_reply)
"""The host's registry entry: mounted at ``/twilio``, base URL ``http://127.0.0.1:PORT/twilio``
(the Twilio API host; paths below it as on the real API)."""
