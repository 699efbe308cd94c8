"""The sandbox host: one uvicorn server on 127.0.0.1 serving every emulator, in a background
thread with its own asyncio loop.

URL layout (``PORT`` is picked by the OS unless given)::

    http://127.0.0.1:PORT/openai/v1/...                 OpenAI          urls()["openai"]
    http://127.0.0.1:PORT/openai/files/img-....png      images served back by URL
    http://127.0.0.1:PORT/cloudflare/client/v4/...      Workers AI      urls()["workers_ai"]
    http://127.0.0.1:PORT/_sandbox/...                  control API     control_url

Control API (JSON, loopback only, no auth)::

    GET    /_sandbox/health                   {"status": "ok", "urls": {...}}
    GET    /_sandbox/faults[?provider=]       {"data": [{"provider", "fault": {...}}]}
    POST   /_sandbox/faults                   {"provider": "openai", "kind": "429", ...} or a
                                              list of them → 201 {"data": [...]}
    DELETE /_sandbox/faults[?provider=&id=]   {"removed": n}
    GET    /_sandbox/requests[?provider=&path_prefix=&limit=]   the request log
    DELETE /_sandbox/requests[?provider=]     {"removed": n}
    GET    /_sandbox/usage[?provider=]        usage counters per provider and model
    GET    /_sandbox/keys[?provider=]         keys issued or seen (redacted hints only)
    POST   /_sandbox/keys                     {"provider"} → 201 {"provider", "key"}: a new key
    POST   /_sandbox/keys/revoke              {"provider", "key"} → the key now gets 401

Adding an emulator is one line in :data:`REGISTRY`. Each emulator is wrapped by a layer that
applies fault rules (see :mod:`.faults`) and writes the request log (see :mod:`.state`).

``python -m mbv_desktop.sandbox`` (or :func:`main`) runs the host in the foreground and prints
the base URLs; Ctrl+C stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mbv_desktop.sandbox import (
    ga4_emulator,
    openai_emulator,
    resend_emulator,
    stripe,
    twilio_emulator,
    workers_ai_emulator,
)
from mbv_desktop.sandbox.common import EmulatorContext, EmulatorSpec, FaultReply
from mbv_desktop.sandbox.faults import REQUEST_KINDS, RESPONSE_KINDS, Fault, FaultInjector
from mbv_desktop.sandbox.oauth import facebook, github, google, tiktok, x
from mbv_desktop.sandbox.state import SandboxState

REGISTRY: tuple[EmulatorSpec, ...] = (
    EmulatorSpec("openai", "/openai", openai_emulator.create_app, "/v1",
                 openai_emulator.fault_reply, key_prefix="sk-sandbox-"),
    EmulatorSpec("workers_ai", "/cloudflare", workers_ai_emulator.create_app, "/client/v4",
                 workers_ai_emulator.fault_reply),
    # A "local model server" (Ollama, llama.cpp) speaks the same OpenAI-compatible API.
    EmulatorSpec("local", "/local", openai_emulator.create_app, "/v1",
                 openai_emulator.fault_reply),
    # Sign-in and connect (OAuth 2.0 / OpenID Connect): pages and API under one base URL.
    EmulatorSpec("google", "/google", google.create_app, "", google.fault_reply),
    EmulatorSpec("github", "/github", github.create_app, "", github.fault_reply),
    EmulatorSpec("x", "/x", x.create_app, "", x.fault_reply),
    EmulatorSpec("facebook", "/facebook", facebook.create_app, "", facebook.fault_reply),
    EmulatorSpec("tiktok", "/tiktok", tiktok.create_app, "", tiktok.fault_reply),
    # GA4 Measurement Protocol (validates and keeps the events; GET /ga4/events lists them).
    EmulatorSpec("ga4", "/ga4", ga4_emulator.create_app, "", ga4_emulator.fault_reply),
    resend_emulator.SPEC,  # Resend at /resend: e-mail; GET /resend/_sent lists what was sent
    twilio_emulator.SPEC,  # Twilio at /twilio: SMS; GET /twilio/_sent lists what was sent
    stripe.SPEC,  # Stripe at /stripe: billing (v1 API, Checkout pages, webhooks, a movable clock)
)
"""Every emulator the host mounts: (name, mount prefix, app factory, base URL suffix, fault
reply, key prefix). Add a line here to mount another one."""

CONTROL_PREFIX = "/_sandbox"
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
CLI_STREAM_DELAY = 0.03


class SandboxError(RuntimeError):
    """The host could not start (or was used in the wrong state)."""


# -- the per-emulator layer: faults and the request log ---------------------------------------

def _relative_paths(path: str, prefix: str, suffix: str) -> tuple[str, ...]:
    below_mount = path[len(prefix):] or "/"
    below_base = below_mount[len(suffix):] if below_mount.startswith(suffix) else below_mount
    return (below_base or "/", below_mount, path)


async def _reset_connection(send: Send) -> bool:
    """Aborts the client's TCP connection (RST, no response). Works with uvicorn's protocol
    objects, whose ``send`` is a bound method of a cycle holding the transport; returns False
    when the server is something else."""
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(3):  # let connection_lost run so uvicorn knows the client is gone
        await asyncio.sleep(0)
    return True


class _LogEntry:
    """One request's line in the log, written once: when the answer starts (before the
    client can see it, so a test that got a response finds it logged) or when the request
    ends without an answer."""

    def __init__(self, state: SandboxState, provider: str, method: str, path: str) -> None:
        self.state = state
        self.provider = provider
        self.method = method
        self.path = path
        self.fault: str | None = None
        self.written = False
        self._at = time.time()
        self._started = time.monotonic()

    def add_fault(self, kind: str) -> None:
        self.fault = f"{self.fault}+{kind}" if self.fault else kind

    def write(self, status: int | None) -> None:
        if self.written:
            return
        self.written = True
        self.state.log_request(self.provider, self.method, self.path, status, self.fault,
                               self._at, (time.monotonic() - self._started) * 1000)


class _Damage:
    """Wraps ``send`` to apply a response fault (``malformed`` or ``cut_stream``) to a
    successful answer, decided when the response starts, or to abort the connection then
    (``reset_after``); logs the request at that moment."""

    def __init__(self, layer: _EmulatorLayer, entry: _LogEntry, paths: Sequence[str],
                 send: Send, reset_after: bool = False, hold: float = 0.0) -> None:
        self.reset_after = reset_after
        self.hold = hold
        self.layer = layer
        self.entry = entry
        self.method = entry.method
        self.paths = paths
        self.send = send
        self.fault: Fault | None = None
        self.streaming = False
        self.done = False
        self._start: Message | None = None
        self._body = bytearray()
        self._events = 0
        self._pending = b""

    async def __call__(self, message: Message) -> None:
        if self.done:
            return  # the damaged response is over; swallow what the app still sends
        if message["type"] == "http.response.start":
            await self._on_start(message)
        elif message["type"] == "http.response.body" and self.fault is not None:
            if self.streaming:
                await self._on_stream_body(message)
            else:
                await self._on_plain_body(message)
        else:
            await self.send(message)

    async def _on_start(self, message: Message) -> None:
        status = int(message["status"])
        if self.hold:  # slow_after: the emulator ran; its answer is late
            await self.layer.pause(self.hold)
        if self.reset_after:  # the emulator ran; its answer never reaches the client
            self.entry.write(status)
            self.done = True
            if not await _reset_connection(self.send):
                raise ConnectionResetError("sandbox fault: connection reset after the handler")
            return
        headers = {k.lower(): v for k, v in message.get("headers", [])}
        self.streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        if 200 <= status < 300:
            kinds = RESPONSE_KINDS if self.streaming else frozenset({"malformed"})
            self.fault = self.layer.faults.take(self.layer.spec.name, self.method, self.paths,
                                                kinds)
            if self.fault is not None:
                self.entry.add_fault(self.fault.kind)
        self.entry.write(status)
        if self.fault is not None and not self.streaming:
            self._start = message  # held back until the body's new length is known
        else:
            await self.send(message)

    async def _on_plain_body(self, message: Message) -> None:
        self._body += message.get("body", b"")
        if message.get("more_body", False):
            return
        body = bytes(self._body[: max(1, len(self._body) // 2)])
        assert self._start is not None
        headers = [(k, v) for k, v in self._start.get("headers", [])
                   if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self._start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})
        self.done = True

    async def _on_stream_body(self, message: Message) -> None:
        assert self.fault is not None
        data = self._pending + message.get("body", b"")
        *events, self._pending = data.split(b"\n\n")
        out = bytearray()
        for event in events:
            if self.fault.kind == "cut_stream" and self._events >= self.fault.after_events:
                await self.send({"type": "http.response.body", "body": bytes(out),
                                 "more_body": False})
                self.done = True
                return
            if self.fault.kind == "malformed" and self._events == self.fault.after_events:
                event = event[: max(len(b"data: {"), len(event) // 2)]
            out += event + b"\n\n"
            self._events += 1
        more = message.get("more_body", False)
        if not more:
            out += self._pending
        await self.send({"type": "http.response.body", "body": bytes(out), "more_body": more})
        if not more:
            self.done = True


class _EmulatorLayer:
    """Mounts one emulator: applies request faults, damages answers, logs every request."""

    def __init__(self, spec: EmulatorSpec, app: ASGIApp, faults: FaultInjector,
                 state: SandboxState, stopping: Callable[[], bool]) -> None:
        self.spec = spec
        self.app = app
        self.faults = faults
        self.state = state
        self.stopping = stopping

    async def pause(self, seconds: float) -> None:
        """Waits ``seconds``, cut short when the host stops (so stop() stays quick)."""
        deadline = time.monotonic() + seconds
        while not self.stopping():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(0.05, left))

    def handles(self, path: str) -> bool:
        return path == self.spec.prefix or path.startswith(self.spec.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = str(scope.get("method", "GET"))
        path = str(scope["path"])
        entry = _LogEntry(self.state, self.spec.name, method, path)
        paths = _relative_paths(path, self.spec.prefix, self.spec.base_url_suffix)
        fault = self.faults.take(self.spec.name, method, paths, REQUEST_KINDS)
        if fault is not None:
            entry.add_fault(fault.kind)
        try:
            if fault is not None and fault.kind == "reset":
                entry.write(None)
                if await _reset_connection(send):
                    return
                raise ConnectionResetError("sandbox fault: connection reset")
            if fault is not None and fault.kind in ("429", "500", "503"):
                reply = self.spec.fault_reply(fault)
                entry.write(reply.status)
                await _send_reply(send, reply)
                return
            if fault is not None and fault.kind == "slow":
                await self.pause(fault.delay)
            child = {**scope, "root_path": scope.get("root_path", "") + self.spec.prefix,
                     "app_root_path": scope.get("app_root_path", scope.get("root_path", ""))}
            kind = fault.kind if fault is not None else None
            hold = fault.delay if fault is not None and kind == "slow_after" else 0.0
            await self.app(child, receive, _Damage(self, entry, paths, send,
                                                   reset_after=kind == "reset_after",
                                                   hold=hold))
        finally:
            entry.write(None)  # no answer was started (client gone, or the app failed)


async def _send_reply(send: Send, reply: FaultReply) -> None:
    headers = [(b"content-type", reply.content_type.encode()),
               (b"content-length", str(len(reply.body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


# -- the control API -------------------------------------------------------------------------

def _control_app(host: SandboxHost) -> ASGIApp:
    def bad(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": {"message": message}}, status)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "urls": host.urls()})

    async def list_faults(request: Request) -> Response:
        provider = request.query_params.get("provider")
        try:
            rules = host.faults.rules(provider)
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse({"data": [{"provider": p, "fault": f.to_dict()} for p, f in rules]})

    async def add_faults(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return bad("the body must be JSON")
        items = payload if isinstance(payload, list) else [payload]
        parsed: list[tuple[str, Fault]] = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("provider"), str):
                return bad("each fault needs a provider")
            provider = item["provider"]
            if provider not in host.faults.providers:
                return bad(f"unknown emulator {provider!r}; known: "
                           f"{', '.join(host.faults.providers)}")
            try:
                fault = Fault.from_dict({k: v for k, v in item.items() if k != "provider"})
            except (TypeError, ValueError) as exc:
                return bad(str(exc))
            parsed.append((provider, fault))
        for provider, fault in parsed:
            host.faults.add(provider, fault)
        return JSONResponse({"data": [{"provider": p, "fault": f.to_dict()} for p, f in parsed]},
                            201)

    async def delete_faults(request: Request) -> Response:
        fault_id = request.query_params.get("id")
        if fault_id:
            return JSONResponse({"removed": int(host.faults.remove(fault_id))})
        try:
            removed = host.faults.clear(request.query_params.get("provider"))
        except ValueError as exc:
            return bad(str(exc))
        return JSONResponse({"removed": removed})

    async def requests(request: Request) -> Response:
        params = request.query_params
        try:
            limit = int(params["limit"]) if "limit" in params else None
        except ValueError:
            return bad("limit must be an integer")
        records = host.state.requests(params.get("provider"), params.get("path_prefix"), limit)
        return JSONResponse({"data": [r.to_dict() for r in records], "count": len(records)})

    async def clear_requests(request: Request) -> Response:
        return JSONResponse({"removed": host.state.clear_requests(
            request.query_params.get("provider"))})

    async def usage(request: Request) -> Response:
        rows = host.state.usage(request.query_params.get("provider"))
        return JSONResponse({"data": [u.to_dict() for u in rows]})

    async def revoke_key(request: Request) -> Response:
        try:
            payload = json.loads(await request.body())
            provider, key = str(payload["provider"]), str(payload["key"])
        except (ValueError, KeyError, TypeError):
            return bad('the body must be {"provider": ..., "key": ...}')
        host.state.revoke_key(provider, key)
        return JSONResponse({"revoked": True})

    async def list_keys(request: Request) -> Response:
        return JSONResponse({"data": host.state.keys(request.query_params.get("provider"))})

    async def issue_key(request: Request) -> Response:
        try:
            provider = str(json.loads(await request.body())["provider"])
            key = host.issue_key(provider)
        except (ValueError, KeyError, TypeError) as exc:
            return bad(f'the body must be {{"provider": ...}} naming an emulator ({exc})')
        return JSONResponse({"provider": provider, "key": key}, 201)

    async def not_found(request: Request, exc: Exception) -> Response:
        return bad(f"no control endpoint {request.method} {request.url.path}", 404)

    return Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/faults", list_faults, methods=["GET"]),
        Route("/faults", add_faults, methods=["POST"]),
        Route("/faults", delete_faults, methods=["DELETE"]),
        Route("/requests", requests, methods=["GET"]),
        Route("/requests", clear_requests, methods=["DELETE"]),
        Route("/usage", usage, methods=["GET"]),
        Route("/keys", list_keys, methods=["GET"]),
        Route("/keys", issue_key, methods=["POST"]),
        Route("/keys/revoke", revoke_key, methods=["POST"]),
    ], exception_handlers={404: not_found, 405: not_found})


class _HostApp:
    """The outermost ASGI app: dispatches by path prefix without wrapping ``send`` (so a
    ``reset`` fault can reach uvicorn's transport)."""

    def __init__(self, host: SandboxHost, layers: list[_EmulatorLayer]) -> None:
        self.host = host
        self.layers = layers
        self.control = _control_app(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets; lifespan is off
        path = str(scope["path"])
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            child = {**scope, "root_path": scope.get("root_path", "") + CONTROL_PREFIX}
            await self.control(child, receive, send)
            return
        for layer in self.layers:
            if layer.handles(path):
                await layer(scope, receive, send)
                return
        body = json.dumps({"error": {"message": f"no emulator at {path}",
                                     "emulators": self.host.urls()}}).encode()
        await _send_reply(send, FaultReply(404, body))


# -- the host --------------------------------------------------------------------------------

class SandboxHost:
    """Runs every registered emulator on one loopback port in a background thread.

    Use ``start()``/``stop()`` or ``with SandboxHost(dir) as host:``. ``faults`` (rules kept
    in memory) can be set before or after starting and survive a stop/start; ``state`` is
    open while the host runs.
    """

    def __init__(self, state_dir: Path, *, port: int = 0, stream_delay: float = 0.0,
                 emulators: Sequence[EmulatorSpec] = REGISTRY) -> None:
        names = [spec.name for spec in emulators]
        if len(set(names)) != len(names):
            raise ValueError("emulator names must be unique")
        self.state_dir = Path(state_dir)
        self.emulators = tuple(emulators)
        self.stream_delay = stream_delay
        self.faults = FaultInjector(names)
        self._requested_port = port
        self._port: int | None = None
        self._state: SandboxState | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Binds the port, starts serving and returns once connections are accepted."""
        if self._thread is not None:
            raise SandboxError("the sandbox host is already running")
        state = SandboxState(self.state_dir)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if self._requested_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit it: without it Nagle plus delayed ACKs add ~40 ms to
            # every answer written in two pieces (headers, then body).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind(("127.0.0.1", self._requested_port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            state.close()
            raise SandboxError(f"cannot listen on 127.0.0.1:{self._requested_port}: {exc}") \
                from exc
        self._state = state
        self._port = int(sock.getsockname()[1])
        layers = [
            _EmulatorLayer(spec, spec.app_factory(EmulatorContext(spec.name, state,
                                                                  self.stream_delay)),
                           self.faults, state, self._stopping)
            for spec in self.emulators]
        config = uvicorn.Config(_HostApp(self, layers), lifespan="off", log_config=None,
                                log_level="error", access_log=False, proxy_headers=False,
                                server_header=False, timeout_graceful_shutdown=1,
                                http="h11", ws="none", loop="asyncio")
        server = uvicorn.Server(config)
        self._server = server
        self._error = None
        thread = threading.Thread(target=self._serve, args=(server, sock),
                                  name="mbv-sandbox-host", daemon=True)
        self._thread = thread
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                error = self._error
                self.stop()
                raise SandboxError(f"the sandbox host did not start: {error!r}")
            time.sleep(0.002)

    def _stopping(self) -> bool:
        server = self._server
        return server is None or server.should_exit

    def _serve(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by start(); a daemon thread has no one else
            self._error = exc
        finally:
            sock.close()

    def stop(self) -> None:
        """Stops serving (open connections get about a second) and closes the state."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(STOP_TIMEOUT)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(STOP_TIMEOUT)
        self._server = None
        self._thread = None
        if self._state is not None:
            self._state.close()
            self._state = None

    def __enter__(self) -> SandboxHost:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # addresses and state -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def port(self) -> int:
        if self._port is None:
            raise SandboxError("the sandbox host has not been started")
        return self._port

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def control_url(self) -> str:
        return self.origin + CONTROL_PREFIX

    def urls(self) -> dict[str, str]:
        """Provider name → the base URL a client is configured with."""
        return {spec.name: self.origin + spec.prefix + spec.base_url_suffix
                for spec in self.emulators}

    @property
    def state(self) -> SandboxState:
        if self._state is None:
            raise SandboxError("the sandbox host is not running")
        return self._state

    def issue_key(self, provider: str) -> str:
        """A new API key for ``provider``, recorded as issued (any well-formed key works; this
        one is for configuring the app)."""
        spec = next((e for e in self.emulators if e.name == provider), None)
        if spec is None:
            raise ValueError(f"unknown emulator {provider!r}")
        key = spec.key_prefix + secrets.token_hex(20)
        self.state.issue_key(provider, key)
        return key

    def request_count(self, provider: str | None = None, path_prefix: str | None = None) -> int:
        """Requests logged so far (``path_prefix`` is compared with the full URL path)."""
        return self.state.count_requests(provider, path_prefix)


# -- command line ------------------------------------------------------------------------------

def _default_state_dir() -> Path:
    data_dir = os.environ.get("MBV_DATA_DIR", "").strip()
    if data_dir:
        return Path(data_dir).expanduser() / "sandbox"
    import platformdirs

    return Path(platformdirs.user_data_dir("mbv-desktop", appauthor=False)) / "sandbox"


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the sandbox in the foreground, prints each base URL, stops on Ctrl+C."""
    parser = argparse.ArgumentParser(prog="mbv-desktop sandbox",
                                     description="Run the provider emulators on loopback.")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the sandbox keeps its own state (default: the app's data "
                             "folder + /sandbox)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any)")
    parser.add_argument("--stream-delay", type=float, default=CLI_STREAM_DELAY,
                        help="seconds between streamed chunks (default: %(default)s)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    host = SandboxHost(args.state_dir or _default_state_dir(), port=args.port,
                       stream_delay=max(0.0, args.stream_delay))
    from mbv_desktop.sandbox.s3 import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, SandboxS3

    s3 = SandboxS3(host.state_dir)
    try:
        host.start()
        s3.start()
    except (SandboxError, OSError) as exc:
        print(f"mbv-desktop sandbox: {exc}", file=sys.stderr)
        host.stop()
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        print(f"Sandbox running (state in {host.state_dir}). Press Ctrl+C to stop.")
        for name, url in host.urls().items():
            print(f"  {name:<12} {url}")
        print(f"  {'r2':<12} {s3.endpoint_url}  (bucket {BUCKET}, access key {ACCESS_KEY_ID}, "
              f"secret {SECRET_ACCESS_KEY})")
        print(f"  {'control':<12} {host.control_url}", flush=True)
        while not stop.wait(0.5):
            if not host.running:
                print("mbv-desktop sandbox: the server stopped unexpectedly", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        s3.stop()
        host.stop()
    return 0
