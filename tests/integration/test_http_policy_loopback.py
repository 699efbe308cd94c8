"""The shared HTTP policy against a real server over real sockets (reliability.md 14, 15, 17).

A tiny HTTP/1.1 server (``asyncio.start_server`` on 127.0.0.1, port 0) runs in a background
thread and can answer 503 forever, answer 429 with ``Retry-After``, stream a body, or reset the
connection after reading a request body. The client uses a fake clock, so backoff costs no time.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from mbv_desktop.core.errors import ProviderUnavailable, RateLimited
from mbv_desktop.integrations.http import FakeClock, ProviderClient, ProviderPolicy


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LoopbackServer:
    """Answers by path; records every request it read in full."""

    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    resets_left: dict[str, int] = field(default_factory=dict)

    def count(self, path: str) -> int:
        return sum(1 for h in self.hits if h.path == path)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                path = target.split("?", 1)[0]
                self.hits.append(Hit(method, path, headers, body))
                if not await self.respond(path, writer):
                    return
        finally:
            if not writer.transport.is_closing():
                writer.close()

    async def respond(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Write the answer; ``False`` when the connection was dropped."""
        if path == "/reset" or (path == "/reset-once" and self.resets_left.get(path, 1) > 0):
            self.resets_left[path] = 0
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # RST after the body was read: the "ambiguous" failure
            return False
        if path == "/always-503":
            self._write(writer, 503, b'{"error":{"message":"overloaded"}}')
        elif path == "/limited":
            first = self.count(path) == 1
            self._write(writer, 429 if first else 200, b"{}",
                        "Retry-After: 7\r\n" if first else "")
        elif path == "/stream":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            for event in (b"data: one\n\n", b"data: two\n\n"):
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            self._write(writer, 201, b'{"id":"1"}')
        await writer.drain()
        return True

    @staticmethod
    def _write(writer: asyncio.StreamWriter, status: int, body: bytes, extra: str = "") -> None:
        reason = {200: "OK", 201: "Created", 429: "Too Many Requests",
                  503: "Service Unavailable"}[status]
        writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(body)}\r\n{extra}\r\n".encode() + body)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    state = LoopbackServer()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Server] = {}

    async def start() -> None:
        srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
        holder["server"] = srv
        state.port = srv.sockets[0].getsockname()[1]
        ready.set()

    def main() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        holder["server"].close()
        loop.run_until_complete(holder["server"].wait_closed())
        loop.close()

    thread = threading.Thread(target=main, name="loopback-http", daemon=True)
    thread.start()
    assert ready.wait(5)
    yield state
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def client_for(server: LoopbackServer, clock: FakeClock | None = None,
               **policy: object) -> ProviderClient:
    return ProviderClient(ProviderPolicy("x", timeout=5.0, **policy),  # type: ignore[arg-type]
                          base_url=f"http://127.0.0.1:{server.port}",
                          clock=clock or FakeClock())


def test_always_503_gets_exactly_three_hits(server: LoopbackServer) -> None:
    clock = FakeClock()

    async def main() -> None:
        async with client_for(server, clock) as client:
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("GET", "/always-503")
        assert info.value.status == 503

    asyncio.run(main())
    assert server.count("/always-503") == 3
    assert len(clock.sleeps) == 2


def test_always_503_with_real_sleeps_also_stops_at_three(server: LoopbackServer) -> None:
    async def main() -> None:
        client = ProviderClient(ProviderPolicy("x", base_delay=0.005, max_delay=0.01),
                                base_url=f"http://127.0.0.1:{server.port}")
        async with client:
            with pytest.raises(ProviderUnavailable):
                await client.request("POST", "/always-503", json={}, idempotency_key="k1")

    asyncio.run(main())
    assert server.count("/always-503") == 3


def test_reset_after_post_body_is_not_re_posted_without_a_key(server: LoopbackServer) -> None:
    async def main() -> None:
        async with client_for(server) as client:
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("POST", "/reset", json={"text": "hello"})
        assert info.value.maybe_sent is True
        assert "may or may not have gone through" in str(info.value)

    asyncio.run(main())
    assert server.count("/reset") == 1
    assert server.hits[0].body == b'{"text":"hello"}'


def test_reset_after_post_body_is_retried_with_a_key(server: LoopbackServer) -> None:
    async def main() -> int:
        async with client_for(server) as client:
            response = await client.request("POST", "/reset-once", json={"text": "hello"},
                                            idempotency_key="outbox-7")
        return response.status_code

    assert asyncio.run(main()) == 201
    hits = [h for h in server.hits if h.path == "/reset-once"]
    assert len(hits) == 2
    assert [h.headers["idempotency-key"] for h in hits] == ["outbox-7", "outbox-7"]
    assert hits[0].body == hits[1].body


def test_a_keyed_post_that_keeps_failing_stops_at_three(server: LoopbackServer) -> None:
    async def main() -> None:
        async with client_for(server) as client:
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("POST", "/reset", json={}, idempotency_key="k")
        assert info.value.maybe_sent

    asyncio.run(main())
    assert server.count("/reset") == 3


def test_connection_refused_is_retried_even_for_a_post() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens
    clock = FakeClock()

    async def main() -> None:
        client = ProviderClient(ProviderPolicy("tiktok"), base_url=f"http://127.0.0.1:{port}",
                                clock=clock)
        async with client:
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("POST", "/v2/post/publish/", json={})
        assert info.value.maybe_sent is False
        assert str(info.value).startswith("Could not reach TikTok")
        assert client.metrics.attempts == 3

    asyncio.run(main())
    assert len(clock.sleeps) == 2


def test_retry_after_from_a_real_response_is_honoured(server: LoopbackServer) -> None:
    clock = FakeClock()

    async def main() -> int:
        async with client_for(server, clock) as client:
            return (await client.request("GET", "/limited")).status_code

    assert asyncio.run(main()) == 200
    assert clock.sleeps == [7.0]


def test_a_long_retry_after_from_a_real_response_raises(server: LoopbackServer) -> None:
    async def main() -> None:
        async with client_for(server, long_retry_after=5.0) as client:
            with pytest.raises(RateLimited) as info:
                await client.request("GET", "/limited")
        assert info.value.retry_after == 7.0

    asyncio.run(main())
    assert server.count("/limited") == 1


def test_streaming_over_a_real_socket(server: LoopbackServer) -> None:
    async def main() -> list[str]:
        async with client_for(server) as client, client.stream("GET", "/stream") as response:
            return [line async for line in response.aiter_lines() if line]

    assert asyncio.run(main()) == ["data: one", "data: two"]


def test_metrics_after_real_traffic(server: LoopbackServer) -> None:
    async def main() -> ProviderClient:
        client = client_for(server)
        async with client:
            await client.request("GET", "/ok")
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/always-503")
        return client

    snap = asyncio.run(main()).metrics.snapshot()
    assert snap["calls"] == 2 and snap["errors"] == 1 and snap["retries"] == 2
    assert snap["availability"] == 0.5
    assert snap["latency_ms"]["p50"] is not None
