"""The loopback redirect listener every browser sign-in uses (RFC 8252 §7.3, §8.3).

A :class:`LoopbackListener` is a tiny HTTP/1.1 server on ``127.0.0.1`` and a port the OS picks
(port 0), never ``0.0.0.0`` and never the name ``localhost``. It exists only while one sign-in
attempt waits for the browser, and it accepts exactly one thing: a ``GET`` of
``/callback/<provider>`` with ``Host: 127.0.0.1:<port>`` and the attempt's one-time ``state``.

Decisions (reliability.md items 2-3; RFC 9700 §2.1, §4.4; ASVS 5.0 V10.1.2/V10.2.x):

* **Anything else gets 400 and does not end the flow**: another method, a foreign ``Host`` (DNS
  rebinding), another path (a GitHub answer sent to the Google path), a missing, wrong or already
  used ``state``, a request with a body, malformed or oversized requests, an ``iss`` that names
  another issuer (RFC 9207 mix-up defence, checked when the provider sends it). Such a request
  cannot end or hijack the attempt, so a stray or hostile local request neither reaches the token
  endpoint nor cancels the person's sign-in; the attempt ends only with a valid answer or the
  timeout.
* **The first valid answer ends it.** A valid ``state`` with ``code`` finishes the attempt; a valid
  ``state`` with ``error=`` ends it with :class:`AuthDenied` (``access_denied``) or
  :class:`AuthError` (anything else). The state is marked used before the reply is written, so a
  second callback on an already open connection gets 400, and the listening socket is closed right
  after, so a later one is refused by the OS.
* **The reply reflects nothing.** Three fixed pages (done, not completed, bad request) with
  ``Content-Security-Policy: default-src 'none'``, ``Referrer-Policy: no-referrer`` and
  ``Cache-Control: no-store``; nothing from the request appears in the reply, a log line or an
  exception message.
* **Bounded.** A request line of at most 8 KiB, headers of at most 32 KiB in at most 100 lines,
  10 seconds to send them, at most 32 connections at once; one request per connection.

``state`` is compared with :func:`hmac.compare_digest`. Binding can fail only for reasons outside
the app (no loopback interface, a security tool); that raises :class:`LoopbackUnavailable` with a
sentence saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import urllib.parse
from dataclasses import dataclass
from types import TracebackType

from mbv_desktop.core.errors import provider_display_name

from .errors import AuthDenied, AuthError, AuthTimeout, LoopbackUnavailable

__all__ = ["CALLBACK_PREFIX", "LOOPBACK_HOST", "LoopbackListener"]

log = logging.getLogger(__name__)

#: The only address the listener binds (an IP literal: RFC 8252 §8.3 advises against "localhost").
LOOPBACK_HOST = "127.0.0.1"
CALLBACK_PREFIX = "/callback/"

MAX_REQUEST_LINE = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADER_LINES = 100
MAX_CONNECTIONS = 32
MAX_CODE_LENGTH = 4096
READ_TIMEOUT = 10.0
WRITE_TIMEOUT = 5.0

_PROVIDER_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ONE_VALUE = ("state", "code", "error", "iss")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Must Be Viral</title>
<style>body{{font-family:system-ui,sans-serif;margin:4em auto;max-width:32em;color:#222}}</style>
</head><body><h1>{title}</h1><p>{text}</p></body></html>
"""
_DONE_PAGE = _PAGE.format(
    title="Signed in",
    text="You can close this tab and return to Must Be Viral.",
).encode()
_NOT_COMPLETED_PAGE = _PAGE.format(
    title="Sign-in not completed",
    text="The sign-in was not completed. You can close this tab and return to Must Be Viral.",
).encode()
_BAD_REQUEST_PAGE = _PAGE.format(
    title="Nothing to do here",
    text="This address only finishes a sign-in started in Must Be Viral. "
         "You can close this tab and return to Must Be Viral.",
).encode()

# Sentences for the error codes of RFC 6749 §4.1.2.1 (and a few providers' own); the provider's
# error_description is not shown: it comes from a URL anyone could have crafted.
_ERROR_SENTENCES = {
    "invalid_request": "{name} said the sign-in request was not valid",
    "unauthorized_client": "{name} does not allow this app to sign in this way",
    "unsupported_response_type": "{name} does not support this kind of sign-in",
    "invalid_scope": "{name} did not accept the permissions the app asked for",
    "server_error": "{name} had a problem on its side",
    "temporarily_unavailable": "{name} is temporarily unavailable",
    "login_required": "{name} needs you to sign in on its page first",
    "consent_required": "{name} needs you to approve the app on its page",
    "interaction_required": "{name} needs you to finish a step on its page",
}


@dataclass(frozen=True)
class _Request:
    method: str
    target: str
    headers: list[tuple[str, str]]

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True, repr=False)
class _Outcome:
    code: str | None = None
    iss: str | None = None
    error: AuthError | None = None


class _BadRequest(Exception):
    """The request could not be read; ``reason`` is a fixed phrase for the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _ascii(raw: bytes) -> str:
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise _BadRequest("non-ASCII bytes in the request head") from None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text if ch != "\t"):
        raise _BadRequest("control characters in the request head")
    return text


async def _read_request(reader: asyncio.StreamReader) -> _Request:
    """Read one request line and its headers (no body) within the size limits."""
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise _BadRequest("request line too long") from None
    if len(line) > MAX_REQUEST_LINE:
        raise _BadRequest("request line too long")
    parts = _ascii(line[:-2]).split(" ")
    if len(parts) != 3:
        raise _BadRequest("malformed request line")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest("unsupported HTTP version")
    headers: list[tuple[str, str]] = []
    total = 0
    while True:
        try:
            raw = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest("header line too long") from None
        total += len(raw)
        if total > MAX_HEADER_BYTES:
            raise _BadRequest("headers too large")
        if raw == b"\r\n":
            break
        if len(headers) >= MAX_HEADER_LINES:
            raise _BadRequest("too many headers")
        name, sep, value = _ascii(raw[:-2]).partition(":")
        if not sep or not name or name != name.strip() or " " in name:
            raise _BadRequest("malformed header")
        headers.append((name.lower(), value.strip(" \t")))
    return _Request(method, target, headers)


def _response(status: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Pragma: no-cache\r\n"
        "Referrer-Policy: no-referrer\r\n"
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "X-Frame-Options: DENY\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


_DONE = _response("200 OK", _DONE_PAGE)
_NOT_COMPLETED = _response("200 OK", _NOT_COMPLETED_PAGE)
_BAD = _response("400 Bad Request", _BAD_REQUEST_PAGE)


class LoopbackListener:
    """Receives the browser's redirect for one sign-in attempt on ``127.0.0.1:<random port>``.

    Use it as an async context manager (it binds on enter and always closes on exit)::

        async with LoopbackListener("google", state=attempt.state) as listener:
            url = build_url(redirect_uri=listener.redirect_uri, ...)
            await open_url(url)
            code = await listener.wait(timeout=300)

    ``issuer`` (optional) is the authorization server's issuer identifier; when the provider adds
    ``iss`` to its answer (RFC 9207) it must equal it.
    """

    def __init__(self, provider: str, *, state: str, issuer: str | None = None,
                 read_timeout: float = READ_TIMEOUT) -> None:
        if not _PROVIDER_NAME.fullmatch(provider):
            raise ValueError("a provider name is 1-32 characters of [a-z0-9_-]")
        if not state:
            raise ValueError("a sign-in attempt needs a state value")
        self.provider = provider
        self.path = f"{CALLBACK_PREFIX}{provider}"
        self._state = state.encode("utf-8")
        self._issuer = issuer
        self._read_timeout = read_timeout
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._sockname: tuple[str, int] | None = None
        self._result: asyncio.Future[_Outcome] | None = None
        self._consumed = False
        self._connections: set[asyncio.StreamWriter] = set()

    # -- lifecycle --

    async def start(self) -> None:
        """Bind ``127.0.0.1:0`` and start accepting. Raises :class:`LoopbackUnavailable`."""
        if self._server is not None or self._result is not None:
            raise RuntimeError("a LoopbackListener serves one attempt; make a new one")
        self._result = asyncio.get_running_loop().create_future()
        try:
            server = await asyncio.start_server(
                self._handle, host=LOOPBACK_HOST, port=0, limit=MAX_REQUEST_LINE,
                backlog=MAX_CONNECTIONS,
            )
        except OSError as exc:
            reason = (exc.strerror or type(exc).__name__).lower()
            raise LoopbackUnavailable(provider=self.provider, reason=reason) from exc
        sockets = server.sockets
        sockname = sockets[0].getsockname() if len(sockets) == 1 else None
        if sockname is None or sockname[0] != LOOPBACK_HOST:
            server.close()
            await server.wait_closed()
            raise LoopbackUnavailable(provider=self.provider,
                                      reason="the port was not bound on 127.0.0.1 only")
        self._server = server
        self._sockname = (sockname[0], sockname[1])
        self._port = sockname[1]
        log.info("Waiting for the %s sign-in answer on %s:%d.",
                 provider_display_name(self.provider), LOOPBACK_HOST, self._port)

    async def close(self) -> None:
        """Stop listening and drop any open connection. Safe to call more than once."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._connections):
            writer.close()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    async def __aenter__(self) -> LoopbackListener:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- what the flow needs --

    @property
    def port(self) -> int:
        """The port the OS picked."""
        if self._port is None:
            raise RuntimeError("the listener has not started")
        return self._port

    @property
    def sockname(self) -> tuple[str, int]:
        """The bound address, as ``getsockname()`` reported it."""
        if self._sockname is None:
            raise RuntimeError("the listener has not started")
        return self._sockname

    @property
    def redirect_uri(self) -> str:
        """``http://127.0.0.1:<port>/callback/<provider>``: the redirect URI to register."""
        return f"http://{LOOPBACK_HOST}:{self.port}{self.path}"

    @property
    def is_serving(self) -> bool:
        """Whether the port still accepts connections."""
        return self._server is not None and self._server.is_serving()

    async def wait(self, timeout: float) -> str:
        """The authorization ``code`` of the first valid answer.

        Raises :class:`AuthTimeout` after ``timeout`` seconds (the port is closed first),
        :class:`AuthDenied` or :class:`AuthError` when the provider answered with ``error=``.
        """
        if self._result is None:
            raise RuntimeError("the listener has not started")
        try:
            outcome = await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            await self.close()
            raise AuthTimeout(provider=self.provider, timeout=timeout) from None
        if outcome.error is not None:
            raise outcome.error
        assert outcome.code is not None
        return outcome.code

    # -- the HTTP side --

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or len(self._connections) >= MAX_CONNECTIONS:
            writer.close()
            return
        self._connections.add(writer)
        try:
            try:
                async with asyncio.timeout(self._read_timeout):
                    request = await _read_request(reader)
            except _BadRequest as exc:
                self._refuse(exc.reason)
                await self._reply(writer, _BAD)
                return
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return  # idle pre-connection, half a request, or the peer went away
            outcome, reason = self._judge(request)
            if outcome is None:
                self._refuse(reason)
                await self._reply(writer, _BAD)
                return
            await self._reply(writer, _NOT_COMPLETED if outcome.error else _DONE)
            self._finish(outcome)
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _reply(self, writer: asyncio.StreamWriter, response: bytes) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            writer.write(response)
            await asyncio.wait_for(writer.drain(), WRITE_TIMEOUT)

    def _refuse(self, reason: str) -> None:
        # Fixed phrases only: nothing from the request is logged.
        log.info("The %s sign-in listener refused a request: %s.",
                 provider_display_name(self.provider), reason)

    def _finish(self, outcome: _Outcome) -> None:
        if self._result is not None and not self._result.done():
            self._result.set_result(outcome)
        if self._server is not None:
            self._server.close()  # no new connections: the attempt is over

    def _judge(self, request: _Request) -> tuple[_Outcome | None, str]:
        """The outcome of a valid answer, or ``None`` and a fixed reason for refusing it."""
        if self._consumed:
            return None, "the sign-in attempt is already finished"
        if request.method != "GET":
            return None, "method other than GET"
        hosts = request.header_values("host")
        if len(hosts) != 1 or hosts[0] != f"{LOOPBACK_HOST}:{self.port}":
            return None, "wrong Host header"
        if request.header_values("transfer-encoding") or any(
                value != "0" for value in request.header_values("content-length")):
            return None, "request with a body"
        path, _, query = request.target.partition("?")
        if path != self.path or "#" in request.target:
            return None, "wrong path"
        try:
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True, max_num_fields=32,
                                           errors="strict")
        except ValueError:
            return None, "malformed query"
        params: dict[str, str] = {}
        for name, value in pairs:
            if name in _ONE_VALUE and name in params:
                return None, f"repeated {name} parameter"
            params[name] = value
        state = params.get("state", "")
        if not state or not hmac.compare_digest(state.encode("utf-8"), self._state):
            return None, "missing or wrong state"
        iss = params.get("iss")
        if iss is not None and self._issuer is not None and iss != self._issuer:
            return None, "answer from another issuer"
        error = params.get("error")
        if error is not None:
            self._consumed = True
            return _Outcome(error=self._error_for(error)), ""
        code = params.get("code", "")
        if not code or len(code) > MAX_CODE_LENGTH:
            return None, "missing or oversized code"
        self._consumed = True
        return _Outcome(code=code, iss=iss), ""

    def _error_for(self, error: str) -> AuthError:
        name = provider_display_name(self.provider)
        if error == "access_denied":
            return AuthDenied(provider=self.provider, error=error)
        sentence = _ERROR_SENTENCES.get(error)
        if sentence is not None:
            text = sentence.format(name=name)
            text = text[:1].upper() + text[1:]
            return AuthError(f"{text}, so the sign-in did not complete; try again.",
                             provider=self.provider)
        label = f" ({error})" if _ERROR_CODE.fullmatch(error) else ""
        return AuthError(f"{name[:1].upper() + name[1:]} ended the sign-in with an error{label}; "
                         f"try again.", provider=self.provider)
