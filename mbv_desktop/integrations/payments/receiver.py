"""The local billing receiver: forwarded Stripe webhooks and Checkout's return page.

A :class:`BillingReceiver` is a tiny HTTP/1.1 server on ``127.0.0.1`` (an IP literal, never
``0.0.0.0``; port 0 lets the OS pick) that serves exactly two things:

* ``POST /stripe/webhook``, events forwarded by ``stripe listen --forward-to``. The raw body
  (``Content-Length`` required: chunked gets 411; over 512 KiB gets 413) and ``Stripe-Signature``
  go to :func:`~.webhooks.verify_webhook` with the signing secret, fetched per request through
  ``secret`` (from the keyring; never kept here). A refused check (signature, stale or future
  timestamp, malformed; reliability.md item 21) gets 400 ``{"error": "<reason>"}`` and nothing
  else happens. A verified event goes to ``on_event``, which applies it once (deduplicating by
  event id in the transaction of its effect, item 22) and answers 200 ``{"received": true,
  "duplicate": …}``, so redeliveries are acknowledged. When ``on_event`` fails or the secret
  cannot be read the answer is 5xx, so Stripe sends the event again.
* ``GET /billing/return?result=done|cancelled``, where Checkout sends the browser back: a fixed
  page, and ``on_return("done"|"cancelled")`` so the app can refresh its billing view.

Everything else gets a fixed 400, 404 or 405. The habits are the sign-in listener's
(:mod:`mbv_desktop.integrations.auth.loopback`): ``Host`` must be ``127.0.0.1:<port>`` or
``localhost:<port>`` (DNS rebinding); bounded request line, headers and body, 10 s to send them,
at most 32 connections, one request per connection; fixed replies with a ``default-src 'none'``
CSP and ``no-store``. Nothing from the request reaches a reply, a log line or an exception
message: logs carry fixed phrases, a refusal reason or an exception's class name. An unread body
is drained briefly after a refusal so the sender sees the answer rather than a reset.

No Qt here, and the ``stripe`` SDK only lazily, off the loop (:mod:`.webhooks`). A taken port
raises :class:`~mbv_desktop.core.errors.InvalidInput` naming the setting to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from mbv_desktop.core.errors import InvalidInput, NotConfigured

from .events import StripeEvent
from .webhooks import DEFAULT_TOLERANCE, MAX_FUTURE_SKEW, WebhookRejected, verify_webhook

__all__ = ["MAX_BODY", "RETURN_PATH", "WEBHOOK_PATH", "BillingReceiver"]

log = logging.getLogger(__name__)

LOOPBACK_HOST = "127.0.0.1"
WEBHOOK_PATH = "/stripe/webhook"
RETURN_PATH = "/billing/return"
RESULTS = ("done", "cancelled")

MAX_BODY = 512 * 1024
MAX_REQUEST_LINE = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_LINES = 100
MAX_CONNECTIONS = 32
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 5.0
HANDLER_TIMEOUT = 30.0  # on_event may write to the store; a stuck one must not hold a slot
LINGER_TIMEOUT = 2.0  # to drop an unread body after a refusal

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Must Be Viral</title>
<style>body{{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;color:#222}}</style>
</head><body><h1>{title}</h1><p>{text}</p></body></html>
"""
_HEADERS = (
    "Cache-Control: no-store\r\nPragma: no-cache\r\nReferrer-Policy: no-referrer\r\n"
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
    "X-Content-Type-Options: nosniff\r\nX-Frame-Options: DENY\r\nConnection: close\r\n"
)


def _response(status: str, body: bytes, *, html: bool = False, extra: str = "") -> bytes:
    kind = "text/html; charset=utf-8" if html else "application/json"
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}{_HEADERS}\r\n")
    return head.encode("ascii") + body


def _error(status: str, error: str, extra: str = "") -> bytes:
    return _response(status, json.dumps({"error": error}).encode(), extra=extra)


def _page(title: str, text: str) -> bytes:
    return _response("200 OK", _PAGE.format(title=title, text=text).encode(), html=True)


_RECEIVED = {dup: _response("200 OK", json.dumps({"received": True, "duplicate": dup}).encode())
             for dup in (False, True)}
_PAGES = {
    "done": _page("Payment finished", "Payment finished — you can go back to Must Be Viral."),
    "cancelled": _page("Checkout cancelled", "Checkout cancelled — nothing was charged."),
    "": _page("Must Be Viral", "You can close this tab and go back to Must Be Viral."),
}
_REJECTED = {reason: _error("400 Bad Request", reason)
             for reason in ("signature", "stale", "future", "malformed")}
_BAD = _error("400 Bad Request", "bad_request")
_NOT_FOUND = _error("404 Not Found", "not_found")
_POST_ONLY = _error("405 Method Not Allowed", "method_not_allowed", "Allow: POST\r\n")
_GET_ONLY = _error("405 Method Not Allowed", "method_not_allowed", "Allow: GET\r\n")
_LENGTH_REQUIRED = _error("411 Length Required", "length_required")
_TOO_LARGE = _error("413 Content Too Large", "too_large")
_FAILED = _error("500 Internal Server Error", "not_applied")
_UNAVAILABLE = _error("503 Service Unavailable", "unavailable")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def has_body(self) -> bool:
        return bool(self.header_values("transfer-encoding")) or any(
            value != "0" for value in self.header_values("content-length"))


class _Refused(Exception):
    """Answer ``reply`` and stop; ``reason`` (a fixed phrase, never request text) is logged."""

    def __init__(self, reply: bytes, reason: str = "") -> None:
        self.reply = reply
        self.reason = reason
        super().__init__(reason)


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise _Refused(_BAD, "request line or header too long") from None
    try:
        text = raw[:-2].decode("ascii")
    except UnicodeDecodeError:
        raise _Refused(_BAD, "non-ASCII bytes in the request head") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text if ch != "\t"):
        raise _Refused(_BAD, "control characters in the request head")
    return text


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    """One request line and its headers within the size limits (the body is left unread)."""
    parts = (await _line(reader)).split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _Refused(_BAD, "malformed request line")
    headers: list[tuple[str, str]] = []
    total = 0
    while line := await _line(reader):
        total += len(line) + 2
        if total > MAX_HEADER_BYTES or len(headers) >= MAX_HEADER_LINES:
            raise _Refused(_BAD, "headers too large")
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise _Refused(_BAD, "malformed header")
        headers.append((name.lower(), value.strip(" \t")))
    return _Request(parts[0], parts[1], headers)


class BillingReceiver:
    """Receives forwarded Stripe events and Checkout's browser return on ``127.0.0.1:<port>``.

    ``secret`` returns the webhook signing secret (read per request); ``on_event`` applies a
    verified event and returns ``False`` for a duplicate; ``on_return`` (optional) hears
    ``"done"`` or ``"cancelled"`` when the browser comes back. Use as an async context manager
    or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, *, secret: Callable[[], Awaitable[str]],
                 on_event: Callable[[StripeEvent], Awaitable[bool]], port: int = 0,
                 on_return: Callable[[str], None] | None = None,
                 tolerance: int = DEFAULT_TOLERANCE,
                 max_future_skew: float = MAX_FUTURE_SKEW) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidInput("The Stripe webhook port must be a whole number from 0 to 65535 "
                               "(0 lets the system pick one).")
        self._secret = secret
        self._on_event = on_event
        self._on_return = on_return
        self._tolerance = tolerance
        self._max_future_skew = max_future_skew
        self._wanted_port = port
        self._port: int | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    # -- lifecycle --

    async def start(self) -> None:
        """Bind ``127.0.0.1:<port>`` and start serving; :class:`InvalidInput` if it cannot."""
        if self._port is not None:
            raise RuntimeError("a BillingReceiver starts once; make a new one")
        port = self._wanted_port
        try:
            server = await asyncio.start_server(self._handle, host=LOOPBACK_HOST, port=port,
                                                limit=MAX_REQUEST_LINE, backlog=MAX_CONNECTIONS)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)):
                raise InvalidInput(f"Port {port} on {LOOPBACK_HOST} is in use; set "
                                   "stripe.webhook_port to another port or 0.") from None
            reason = (exc.strerror or type(exc).__name__).lower()
            raise InvalidInput(f"Could not listen on port {port} on {LOOPBACK_HOST} ({reason}); "
                               "set stripe.webhook_port to another port or 0.") from None
        sockets = server.sockets
        sockname = sockets[0].getsockname() if len(sockets) == 1 else None
        if sockname is None or sockname[0] != LOOPBACK_HOST:
            server.close()
            await server.wait_closed()
            raise InvalidInput("The billing receiver could not listen on 127.0.0.1 only.")
        self._server, self._port = server, int(sockname[1])
        log.info("The billing receiver listens on %s:%d.", LOOPBACK_HOST, self._port)

    async def close(self) -> None:
        """Stop listening and drop open connections. Safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._connections):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)

    async def __aenter__(self) -> BillingReceiver:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The bound port (the OS's pick when 0 was asked for)."""
        if self._port is None:
            raise RuntimeError("the billing receiver has not started")
        return self._port

    @property
    def webhook_url(self) -> str:
        """``http://127.0.0.1:<port>/stripe/webhook``, for ``stripe listen --forward-to``."""
        return f"http://{LOOPBACK_HOST}:{self.port}{WEBHOOK_PATH}"

    def return_url(self, result: str) -> str:
        """Checkout's ``success_url`` (``"done"``) or ``cancel_url`` (``"cancelled"``)."""
        if result not in RESULTS:
            raise ValueError("result is 'done' or 'cancelled'")
        return f"http://{LOOPBACK_HOST}:{self.port}{RETURN_PATH}?result={result}"

    @property
    def is_serving(self) -> bool:
        """Whether the port still accepts connections."""
        return self._server is not None and self._server.is_serving()

    # -- the HTTP side --

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._connections.add(writer)
        request: _Request | None = None
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await _read_request(reader)
                reply = self._route(request)
                body = await self._read_body(request, reader, writer) if reply is None else b""
            if reply is None:
                reply = await self._webhook(body, request.header_values("stripe-signature"))
            await self._reply(writer, reply)
        except _Refused as exc:
            if exc.reason:
                log.info("The billing receiver refused a request: %s.", exc.reason)
            await self._reply(writer, exc.reply)
            if request is not None and request.has_body:
                await self._linger(reader, writer)  # so closing does not reset the answer
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass  # an idle connection, half a request, or the peer went away
        finally:
            self._connections.discard(writer)
            writer.close()

    def _route(self, request: _Request) -> bytes | None:
        """The return page, ``None`` for a webhook POST, or :class:`_Refused`."""
        hosts = request.header_values("host")
        allowed = (f"{LOOPBACK_HOST}:{self.port}", f"localhost:{self.port}")
        if len(hosts) != 1 or hosts[0].lower() not in allowed:
            raise _Refused(_BAD, "wrong Host header")
        path, _, query = request.target.partition("?")
        if path == WEBHOOK_PATH:
            if request.method != "POST":
                raise _Refused(_POST_ONLY)
            return None
        if path != RETURN_PATH:
            raise _Refused(_NOT_FOUND)
        if request.method != "GET":
            raise _Refused(_GET_ONLY)
        if request.has_body:
            raise _Refused(_BAD, "return page request with a body")
        try:
            params = dict(urllib.parse.parse_qsl(query, max_num_fields=16, errors="strict"))
        except ValueError:
            raise _Refused(_BAD, "malformed query") from None
        result = params.get("result", "")
        result = result if result in RESULTS else ""
        if result and self._on_return is not None:
            try:
                self._on_return(result)
            except Exception as exc:
                log.warning("The billing return handler failed (%s).", type(exc).__name__)
        return _PAGES[result]

    async def _read_body(self, request: _Request, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> bytes:
        """The raw body, exactly as sent (a signature covers these bytes)."""
        lengths = request.header_values("content-length")
        if request.header_values("transfer-encoding"):
            raise _Refused(_BAD if lengths else _LENGTH_REQUIRED, "webhook without a length")
        if not lengths:
            raise _Refused(_LENGTH_REQUIRED, "webhook without a length")
        if len(lengths) != 1 or not (lengths[0].isascii() and lengths[0].isdigit()):
            raise _Refused(_BAD, "malformed Content-Length")
        length = int(lengths[0])
        if length > MAX_BODY:
            raise _Refused(_TOO_LARGE, "webhook body too large")
        if [v.lower() for v in request.header_values("expect")] == ["100-continue"]:
            writer.write(_CONTINUE)
            await writer.drain()
        return await reader.readexactly(length)

    async def _webhook(self, body: bytes, signatures: list[str]) -> bytes:
        header = signatures[0] if len(signatures) == 1 else None
        try:
            async with asyncio.timeout(HANDLER_TIMEOUT):
                event = await verify_webhook(body, header, await self._secret(), self._tolerance,
                                             max_future_skew=self._max_future_skew)
        except WebhookRejected as exc:
            log.info("The billing receiver refused a forwarded Stripe event: %s.", exc.reason)
            return _REJECTED.get(exc.reason, _BAD)
        except NotConfigured:
            log.warning("A forwarded Stripe event arrived but no webhook signing secret is set.")
            return _UNAVAILABLE
        except Exception as exc:
            log.warning("Could not check a forwarded Stripe event (%s).", type(exc).__name__)
            return _UNAVAILABLE
        try:
            async with asyncio.timeout(HANDLER_TIMEOUT):
                applied = await self._on_event(event)
        except Exception as exc:
            log.warning("Applying a forwarded Stripe event failed (%s); Stripe will send it "
                        "again.", type(exc).__name__)
            return _FAILED
        return _RECEIVED[not applied]

    async def _reply(self, writer: asyncio.StreamWriter, response: bytes) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            writer.write(response)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read and drop what the sender still sends, for at most a few seconds."""
        with contextlib.suppress(TimeoutError, ConnectionError, OSError):
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(LINGER_TIMEOUT):
                while await reader.read(64 * 1024):
                    pass
