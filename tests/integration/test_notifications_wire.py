"""E-mail (Resend) and SMS (Twilio) notifications over real loopback sockets: the app's clients
against the sandbox's emulators, every request the clients send and every answer the emulators
give checked against the providers' own OpenAPI specs (``shared/specs/resend/resend.yaml``,
``shared/specs/twilio/twilio_api_v2010.json``; OpenAPI 3.0's ``nullable`` spelled out as
``anyOf [..., null]`` for JSON Schema).

Neither spec describes error bodies, so those are checked against the shapes in
``reference/providers.md``: Resend ``{statusCode, name, message}``, Twilio ``{code, message,
more_info, status}``.

What must hold (reliability.md 14, 18): a Resend send carries an ``Idempotency-Key`` and may be
retried, and however often it is retried Resend delivers one e-mail; a Twilio send has no key, so
once it may have reached Twilio it is never repeated by the client.

The host lives for the whole module; each test tells its own traffic apart by unique idempotency
keys and subjects (Resend) or its own account SID (Twilio, which puts it in every path).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    NotConfigured,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.integrations.communication import (
    RESEND_POLICY,
    TWILIO_POLICY,
    ResendClient,
    TwilioClient,
)
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy
from mbv_desktop.sandbox.faults import KINDS, Fault
from mbv_desktop.sandbox.host import SandboxHost

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
RESEND_SPEC = SPECS / "resend" / "resend.yaml"
TWILIO_SPEC = SPECS / "twilio" / "twilio_api_v2010.json"
MESSAGES = "/2010-04-01/Accounts/{AccountSid}/Messages.json"
SENDER = "Must Be Viral <notify@studio.example>"
FROM_NUMBER = "+14155550100"

RESEND_ERROR = {
    "type": "object", "required": ["statusCode", "name", "message"],
    "properties": {"statusCode": {"type": "integer"}, "name": {"type": "string"},
                   "message": {"type": "string", "minLength": 1}},
}
TWILIO_ERROR = {
    "type": "object", "required": ["code", "message", "more_info", "status"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string", "minLength": 1},
                   "more_info": {"type": "string", "pattern": r"^https://www\.twilio\.com/"},
                   "status": {"type": "integer"}},
}


# -- the specs -------------------------------------------------------------------------------

def _openapi_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if out.get("nullable") is True:
        del out["nullable"]
        return {"anyOf": [out, {"type": "null"}]}
    return out


@functools.cache
def _spec(name: str) -> dict[str, Any]:
    path = RESEND_SPEC if name == "resend" else TWILIO_SPEC
    if not path.exists():
        pytest.skip(f"the {name} spec is not at {path} (shared/ beside the clone)")
    if path.suffix == ".yaml":
        import yaml

        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    else:
        raw = json.loads(path.read_text(encoding="utf-8"))
    converted: dict[str, Any] = _openapi_to_json_schema(raw)
    return converted


@functools.cache
def _registry(name: str) -> Registry:
    return Registry().with_resource(f"urn:spec:{name}",
                                    DRAFT202012.create_resource(_spec(name)))


def check(name: str, pointer: str, instance: Any) -> None:
    """Validates ``instance`` against the schema at ``pointer`` (a JSON pointer) in a spec."""
    _spec(name)
    Draft202012Validator({"$ref": f"urn:spec:{name}#{pointer}"},
                         registry=_registry(name)).validate(instance)


def check_schema(schema: dict[str, Any], instance: Any) -> None:
    Draft202012Validator(schema).validate(instance)


def _escape(path: str) -> str:
    return path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")


def operation(name: str, path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = _spec(name)["paths"][path][method]
    return op


# -- a transport that records, and can lose an answer after the provider acted ----------------

@dataclasses.dataclass
class Exchange:
    request: httpx.Request
    body: bytes
    status: int | None = None
    response_body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.response_body)


class Recorder(httpx.AsyncBaseTransport):
    """Sends through a real socket transport and keeps every request and answer. The first
    ``lose`` answers are read in full and then thrown away with a ``RemoteProtocolError``, as if
    the connection broke just after the provider acted on the request."""

    def __init__(self, lose: int = 0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[Exchange] = []
        self.lose = lose

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = Exchange(request, await request.aread())
        self.exchanges.append(exchange)
        response = await self.inner.handle_async_request(request)
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
        await response.aclose()
        exchange.status, exchange.response_body = response.status_code, raw
        if self.lose > 0:
            self.lose -= 1
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.",
                                            request=request)
        return httpx.Response(response.status_code, headers=response.headers, content=raw,
                              request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fast(policy: ProviderPolicy, **changes: Any) -> ProviderPolicy:
    """The client's own policy with short backoff, so retries cost milliseconds."""
    return dataclasses.replace(policy, base_delay=0.01, max_delay=0.05, **changes)


def resend(host: SandboxHost, key: str = "", *, lose: int = 0,
           **policy: Any) -> tuple[ResendClient, Recorder]:
    """A client on a fresh API key by default: the emulator's per-key rate limit (10 requests a
    second) then never links one test's timing to another's."""
    key = key or f"re_test_{uuid.uuid4().hex}"
    recorder = Recorder(lose)
    client = ProviderClient(fast(RESEND_POLICY, **policy), transport=recorder)
    return ResendClient(host.urls()["resend"], key, client=client), recorder


def twilio(host: SandboxHost, account: str, token: str = "sandbox-auth-token", *, lose: int = 0,
           **policy: Any) -> tuple[TwilioClient, Recorder]:
    recorder = Recorder(lose)
    client = ProviderClient(fast(TWILIO_POLICY, **policy), transport=recorder)
    return TwilioClient(host.urls()["twilio"], account, token, client=client), recorder


def new_account() -> str:
    return "AC" + secrets.token_hex(16)


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-notifications")) as running:
        yield running


@pytest.fixture(autouse=True)
def no_faults(host: SandboxHost) -> Iterator[None]:
    host.faults.clear()
    yield
    host.faults.clear()


def sent(host: SandboxHost, provider: str) -> list[dict[str, Any]]:
    answer = httpx.get(host.urls()[provider] + "/_sent", timeout=5)
    assert answer.status_code == 200
    body = answer.json()
    assert body["count"] == len(body["data"])
    data: list[dict[str, Any]] = body["data"]
    return data


def emails_with(host: SandboxHost, subject: str) -> list[dict[str, Any]]:
    return [e for e in sent(host, "resend") if e["subject"] == subject]


def sms_of(host: SandboxHost, account: str) -> list[dict[str, Any]]:
    return [m for m in sent(host, "twilio") if m["account_sid"] == account]


def posts(host: SandboxHost, path: str) -> list[Any]:
    return [r for r in host.state.requests(path_prefix=path) if r.method == "POST"]


def check_resend_request(exchange: Exchange) -> dict[str, Any]:
    """The request against ``POST /emails`` of Resend's spec; returns the JSON body."""
    op = operation("resend", "/emails", "post")
    assert exchange.request.method == "POST"
    assert urlsplit(str(exchange.request.url)).path.endswith("/resend/emails")
    assert exchange.request.headers["authorization"].startswith("Bearer re_")
    assert exchange.request.headers["content-type"] == "application/json"
    key_param = next(p for p in op["parameters"] if p["name"] == "Idempotency-Key")
    check_schema(key_param["schema"], exchange.request.headers["idempotency-key"])
    body: dict[str, Any] = json.loads(exchange.body)
    check("resend", "/components/schemas/SendEmailRequest", body)
    return body


def check_twilio_request(exchange: Exchange, account: str) -> dict[str, str]:
    """The request against ``POST …/Messages.json`` of Twilio's spec; returns the form."""
    op = operation("twilio", MESSAGES, "post")
    request = exchange.request
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    path = urlsplit(str(request.url)).path
    assert path.endswith(f"/twilio/2010-04-01/Accounts/{account}/Messages.json")
    check_schema(op["parameters"][0]["schema"], account)
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode().partition(":")[0] == account
    form = {k: v[0] for k, v in parse_qs(exchange.body.decode(), keep_blank_values=True).items()}
    schema = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    check_schema(schema, form)
    assert set(form) == {"To", "From", "Body"}
    return form


# -- Resend -------------------------------------------------------------------------------------

def test_an_email_is_sent_once_and_reads_back_as_resend_describes_it(host: SandboxHost) -> None:
    subject = unique("Your post went out")
    key = f"notify-{uuid.uuid4()}"

    async def run() -> tuple[str, Any]:
        client, recorder = resend(host)
        async with client:
            email_id = await client.send_email(
                from_=SENDER, to="creator@studio.example", subject=subject,
                text="Your post is live on X.", html="<p>Your post is <b>live</b> on X.</p>",
                idempotency_key=key)
            record = await client.get_email(email_id)
        return email_id, (record, recorder)

    email_id, (record, recorder) = asyncio.run(run())
    send, fetch = recorder.exchanges
    body = check_resend_request(send)
    assert body == {"from": SENDER, "to": ["creator@studio.example"], "subject": subject,
                    "text": "Your post is live on X.",
                    "html": "<p>Your post is <b>live</b> on X.</p>"}
    assert send.request.headers["idempotency-key"] == key
    assert send.request.headers["user-agent"].startswith("mbv-desktop/")
    assert send.status == 200
    check("resend", "/components/schemas/SendEmailResponse", send.json())
    assert send.json() == {"id": email_id}
    uuid.UUID(email_id)
    assert fetch.status == 200
    check("resend", "/components/schemas/Email", fetch.json())
    assert record.id == email_id and record.to == ("creator@studio.example",)
    assert record.from_ == SENDER and record.subject == subject
    assert record.last_event == "delivered"

    (delivered,) = emails_with(host, subject)
    assert delivered == {
        "id": email_id, "from": SENDER, "to": ["creator@studio.example"], "cc": [], "bcc": [],
        "reply_to": [], "subject": subject, "text": "Your post is live on X.",
        "html": "<p>Your post is <b>live</b> on X.</p>", "created_at": delivered["created_at"],
        "idempotency_key": key, "last_event": "delivered"}


def test_an_html_only_email_leaves_the_text_part_to_resend(host: SandboxHost) -> None:
    subject = unique("HTML only")

    async def run() -> Recorder:
        client, recorder = resend(host)
        async with client:
            await client.send_email(from_=SENDER, to="creator@studio.example", subject=subject,
                                    text="", html="<p>Scheduled for <b>9:00</b>.</p>",
                                    idempotency_key=f"k-{uuid.uuid4()}")
        return recorder

    (exchange,) = asyncio.run(run()).exchanges
    assert "text" not in check_resend_request(exchange)  # omitted: Resend derives it from html
    (delivered,) = emails_with(host, subject)
    assert delivered["text"] is None and delivered["html"] == "<p>Scheduled for <b>9:00</b>.</p>"


def test_a_send_retried_after_a_connection_reset_delivers_one_email(host: SandboxHost) -> None:
    subject = unique("Publishing failed")
    key = f"notify-{uuid.uuid4()}"
    host.faults.add("resend", Fault("reset", path_prefix="/emails", method="POST"))

    async def run() -> tuple[str, Recorder]:
        client, recorder = resend(host)
        async with client:
            return await client.send_email(from_=SENDER, to="creator@studio.example",
                                           subject=subject, text="X said no.",
                                           idempotency_key=key), recorder

    email_id, recorder = asyncio.run(run())
    assert [e.status for e in recorder.exchanges] == [None, 200]
    first, second = recorder.exchanges
    assert first.body == second.body
    assert first.request.headers["idempotency-key"] == second.request.headers["idempotency-key"]
    check_resend_request(second)
    faults = [r.fault for r in posts(host, "/resend/emails") if r.fault]
    assert "reset" in faults
    assert [e["id"] for e in emails_with(host, subject)] == [email_id]


def test_an_answer_lost_after_delivery_is_retried_with_the_key_and_not_sent_twice(
        host: SandboxHost) -> None:
    """The harder case: Resend did send it, the answer never arrived; the retry carries the same
    key, Resend answers with the first id and sends nothing more."""
    subject = unique("Payment failed")
    key = f"notify-{uuid.uuid4()}"

    async def run() -> tuple[str, Recorder]:
        client, recorder = resend(host, lose=1)
        async with client:
            return await client.send_email(from_=SENDER, to=["a@studio.example",
                                                             "b@studio.example"],
                                           subject=subject, text="Card declined.",
                                           idempotency_key=key), recorder

    email_id, recorder = asyncio.run(run())
    first, second = recorder.exchanges
    assert first.status == second.status == 200
    assert first.json() == second.json() == {"id": email_id}
    (delivered,) = emails_with(host, subject)
    assert delivered["id"] == email_id and delivered["to"] == ["a@studio.example",
                                                               "b@studio.example"]

    async def again() -> str:  # the outbox, after a restart, tries once more with its stored key
        client, _ = resend(host)
        async with client:
            return await client.send_email(from_=SENDER, to=["a@studio.example",
                                                             "b@studio.example"],
                                           subject=subject, text="Card declined.",
                                           idempotency_key=key)

    assert asyncio.run(again()) == email_id
    assert len(emails_with(host, subject)) == 1


def test_a_garbled_answer_says_maybe_sent_and_the_same_key_recovers_the_id(
        host: SandboxHost) -> None:
    subject = unique("Garbled")
    key = f"notify-{uuid.uuid4()}"
    host.faults.add("resend", Fault("malformed", path_prefix="/emails", method="POST"))

    async def run() -> tuple[ProviderUnavailable, str]:
        client, _ = resend(host)
        async with client:
            args: dict[str, Any] = {"from_": SENDER, "to": "c@studio.example",
                                    "subject": subject, "text": "x", "idempotency_key": key}
            with pytest.raises(ProviderUnavailable) as caught:
                await client.send_email(**args)
            return caught.value, await client.send_email(**args)

    error, email_id = asyncio.run(run())
    assert error.maybe_sent is True and "same idempotency key" in str(error)
    assert [e["id"] for e in emails_with(host, subject)] == [email_id]


needs_reset_after = pytest.mark.skipif(
    "reset_after" not in KINDS, reason="the sandbox host has no reset_after fault (yet)")


@needs_reset_after
def test_a_server_side_reset_after_delivery_still_gives_one_email(host: SandboxHost) -> None:
    """The same as above with the host's own fault: Resend's emulator delivers, then the host
    aborts the connection before its answer leaves."""
    subject = unique("Reset after")
    key = f"notify-{uuid.uuid4()}"
    host.faults.add("resend", Fault("reset_after", path_prefix="/emails", method="POST"))

    async def run() -> tuple[str, Recorder]:
        client, recorder = resend(host)
        async with client:
            return await client.send_email(from_=SENDER, to="c@studio.example",
                                           subject=subject, text="x",
                                           idempotency_key=key), recorder

    email_id, recorder = asyncio.run(run())
    assert len(recorder.exchanges) == 2  # retried with the key
    assert [e["id"] for e in emails_with(host, subject)] == [email_id]


def test_reusing_a_key_for_another_email_is_refused_with_409(host: SandboxHost) -> None:
    subject = unique("Weekly report")
    key = f"notify-{uuid.uuid4()}"

    async def run() -> tuple[Rejected, Recorder]:
        client, recorder = resend(host)
        async with client:
            await client.send_email(from_=SENDER, to="creator@studio.example", subject=subject,
                                    text="Numbers are up.", idempotency_key=key)
            with pytest.raises(Rejected) as caught:
                await client.send_email(from_=SENDER, to="creator@studio.example",
                                        subject=subject, text="Numbers are down.",
                                        idempotency_key=key)
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert error.status == 409 and error.code == "invalid_idempotent_request"
    assert str(error) == ("Resend refused the e-mail: its idempotency key was already used for "
                          "a different e-mail.")
    assert [e.status for e in recorder.exchanges] == [200, 409]  # a 409 is not retried
    check_schema(RESEND_ERROR, recorder.exchanges[1].json())
    assert recorder.exchanges[1].json()["name"] == "invalid_idempotent_request"
    assert [e["text"] for e in emails_with(host, subject)] == ["Numbers are up."]


@pytest.mark.parametrize("key", ["re_invalid", "sk-not-a-resend-key", "revoked"])
def test_a_bad_api_key_is_auth_expired_naming_the_setting(host: SandboxHost, key: str) -> None:
    if key == "revoked":
        key = host.issue_key("resend")
        assert key.startswith("re_")
        host.state.revoke_key("resend", key)
    subject = unique("Never sent")

    async def run() -> tuple[AuthExpired, Recorder]:
        client, recorder = resend(host, key)
        async with client:
            with pytest.raises(AuthExpired) as caught:
                await client.send_email(from_=SENDER, to="creator@studio.example",
                                        subject=subject, text="Hi", idempotency_key="k-auth")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert "resend.api_key" in str(error) and key not in str(error)
    assert error.provider == "resend" and error.status == 403
    (exchange,) = recorder.exchanges  # never retried
    check_schema(RESEND_ERROR, exchange.json())
    assert exchange.json() == {"statusCode": 403, "name": "invalid_api_key",
                               "message": "API key is invalid"}
    assert emails_with(host, subject) == []


def test_a_missing_key_is_401_and_an_empty_setting_is_not_configured(host: SandboxHost) -> None:
    answer = httpx.post(host.urls()["resend"] + "/emails", json={}, timeout=5)
    assert answer.status_code == 401
    check_schema(RESEND_ERROR, answer.json())
    assert answer.json()["name"] == "missing_api_key"
    with pytest.raises(NotConfigured, match=r"resend\.api_key"):
        ResendClient(host.urls()["resend"], "  ")


def test_resend_validation_errors_are_rejected_with_its_message(host: SandboxHost) -> None:
    subject = unique("Bad address")

    async def run() -> tuple[Rejected, Recorder]:
        client, recorder = resend(host)
        async with client:
            with pytest.raises(Rejected) as caught:
                await client.send_email(from_=SENDER, to="creator@@studio", subject=subject,
                                        text="Hi", idempotency_key=f"k-{uuid.uuid4()}")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert error.status == 422 and error.code == "validation_error"
    assert str(error).startswith("Resend rejected the request: Invalid `to` field.")
    (exchange,) = recorder.exchanges
    check_resend_request(exchange)  # a well-formed request Resend refuses for its content
    check_schema(RESEND_ERROR, exchange.json())
    assert emails_with(host, subject) == []


@pytest.mark.parametrize(("changes", "message"), [
    ({"to": []}, "at least one recipient"),
    ({"to": ["a@studio.example", " "]}, "no empty ones"),
    ({"to": [f"r{n}@studio.example" for n in range(51)]}, "at most 50 recipients"),
    ({"from_": ""}, "resend.from_email"),
    ({"subject": "  "}, "needs a subject"),
    ({"text": "", "html": None}, r"text \(or HTML\) body"),
    ({"idempotency_key": ""}, "1 to 256 characters"),
    ({"idempotency_key": "k" * 257}, "1 to 256 characters"),
    ({"idempotency_key": "clé"}, "printable ASCII"),
])
def test_bad_input_is_refused_before_anything_is_sent(host: SandboxHost, changes: dict[str, Any],
                                                      message: str) -> None:
    before = len(posts(host, "/resend/emails"))
    args: dict[str, Any] = {"from_": SENDER, "to": "creator@studio.example",
                            "subject": "Hi", "text": "Hello", "idempotency_key": "k-input"}

    async def run() -> None:
        client, _ = resend(host)
        async with client:
            await client.send_email(**{**args, **changes})

    with pytest.raises(InvalidInput, match=message):
        asyncio.run(run())
    assert len(posts(host, "/resend/emails")) == before


def test_resend_rate_limits_and_outages_map_to_project_errors(host: SandboxHost) -> None:
    host.faults.add("resend", Fault("429", retry_after=1, path_prefix="/emails"))
    host.faults.add("resend", Fault("503", times=None, path_prefix="/emails"))

    async def run() -> tuple[RateLimited, ProviderUnavailable, Recorder]:
        client, recorder = resend(host, max_attempts=1)
        async with client:
            with pytest.raises(RateLimited) as limited:
                await client.send_email(from_=SENDER, to="c@studio.example", subject="Hi",
                                        text="x", idempotency_key="k-limit")
            with pytest.raises(ProviderUnavailable) as down:
                await client.send_email(from_=SENDER, to="c@studio.example", subject="Hi",
                                        text="x", idempotency_key="k-limit")
        return limited.value, down.value, recorder

    limited, down, recorder = asyncio.run(run())
    assert limited.retry_after == 1.0 and limited.status == 429
    assert down.status == 503 and down.provider == "resend"
    for exchange in recorder.exchanges:
        check_schema(RESEND_ERROR, exchange.json())
    assert [e.json()["name"] for e in recorder.exchanges] == ["rate_limit_exceeded",
                                                              "internal_server_error"]


def test_a_429_is_waited_out_and_retried_with_the_same_key(host: SandboxHost) -> None:
    subject = unique("Retried")
    host.faults.add("resend", Fault("429", retry_after=1, path_prefix="/emails"))

    async def run() -> Recorder:
        client, recorder = resend(host)
        async with client:
            await client.send_email(from_=SENDER, to="c@studio.example", subject=subject,
                                    text="x", idempotency_key=f"k-{uuid.uuid4()}")
        return recorder

    recorder = asyncio.run(run())
    assert [e.status for e in recorder.exchanges] == [429, 200]
    assert len(emails_with(host, subject)) == 1


def test_the_resend_emulator_enforces_resends_rules(host: SandboxHost) -> None:
    base = host.urls()["resend"]
    auth = {"Authorization": "Bearer re_emulator_rules"}
    good = {"from": SENDER, "to": "c@studio.example", "subject": "Hi", "text": "x"}

    def post(body: Any, **headers: str) -> httpx.Response:
        return httpx.post(base + "/emails", json=body, headers={**auth, **headers}, timeout=5)

    cases: list[tuple[Any, dict[str, str], int, str]] = [
        ({k: v for k, v in good.items() if k != "to"}, {}, 422, "missing_required_field"),
        ({**good, "from": "not an address"}, {}, 422, "invalid_from_address"),
        ({**good, "to": [f"r{n}@s.example" for n in range(51)]}, {}, 422, "validation_error"),
        ({**good, "cc": ["nope"]}, {}, 422, "validation_error"),
        ({k: v for k, v in good.items() if k != "text"}, {}, 422, "validation_error"),
        ([good], {}, 400, "validation_error"),
        (good, {"Idempotency-Key": "k" * 257}, 400, "invalid_idempotency_key"),
    ]
    for body, headers, status, name in cases:
        answer = post(body, **headers)
        assert answer.status_code == status, (body, answer.text)
        check_schema(RESEND_ERROR, answer.json())
        assert answer.json()["name"] == name and answer.json()["statusCode"] == status
        for header in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"):
            assert header in answer.headers
    missing = httpx.get(base + f"/emails/{uuid.uuid4()}", headers=auth, timeout=5)
    assert missing.status_code == 404 and missing.json()["name"] == "not_found"
    nowhere = httpx.get(base + "/domains", headers=auth, timeout=5)
    assert nowhere.status_code == 404
    check_schema(RESEND_ERROR, nowhere.json())
    wrong = httpx.delete(base + "/emails", headers=auth, timeout=5)
    assert wrong.status_code == 405 and wrong.json()["name"] == "method_not_allowed"


def test_the_resend_emulator_limits_requests_per_second(host: SandboxHost) -> None:
    base = host.urls()["resend"]
    auth = {"Authorization": f"Bearer re_burst_{uuid.uuid4().hex}"}
    with httpx.Client(base_url=base, headers=auth, timeout=5) as client:
        answers = [client.get(f"/emails/{uuid.uuid4()}") for _ in range(15)]
    statuses = [a.status_code for a in answers]
    assert 429 in statuses and statuses[0] == 404
    limited = answers[statuses.index(429)]
    check_schema(RESEND_ERROR, limited.json())
    assert limited.json()["name"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-remaining"] == "0"


# -- Twilio -------------------------------------------------------------------------------------

def test_an_sms_is_sent_as_twilio_expects_and_reads_back(host: SandboxHost) -> None:
    account = new_account()

    async def run() -> tuple[str, Any, Any, Recorder]:
        client, recorder = twilio(host, account)
        async with client:
            sid = await client.send_sms(to="+1 (415) 555-0123", from_=FROM_NUMBER,
                                        body="Your post is live on TikTok.")
            message = await client.get_message(sid)
            recent = await client.list_messages(to="+14155550123")
        return sid, message, recent, recorder

    sid, message, recent, recorder = asyncio.run(run())
    send, fetch, listing = recorder.exchanges
    form = check_twilio_request(send, account)
    assert form == {"To": "+14155550123", "From": FROM_NUMBER,
                    "Body": "Your post is live on TikTok."}
    assert send.status == 201
    created = send.json()
    check("twilio", "/components/schemas/api.v2010.account.message", created)
    assert created["sid"] == sid and sid.startswith("SM") and len(sid) == 34
    assert created["status"] == "queued" and created["direction"] == "outbound-api"
    assert created["account_sid"] == account and created["num_segments"] == "1"
    assert created["uri"] == f"/2010-04-01/Accounts/{account}/Messages/{sid}.json"

    assert fetch.status == 200
    check("twilio", "/components/schemas/api.v2010.account.message", fetch.json())
    assert message.sid == sid and message.status == "delivered"
    assert message.to == "+14155550123" and message.from_ == FROM_NUMBER
    assert message.body == "Your post is live on TikTok." and message.date_sent

    check("twilio", f"/paths/{_escape(MESSAGES)}/get/responses/200/content/"
          "application~1json/schema", listing.json())
    assert [m.sid for m in recent] == [sid]

    (delivered,) = sms_of(host, account)
    check("twilio", "/components/schemas/api.v2010.account.message", delivered)
    assert delivered["sid"] == sid and delivered["body"] == "Your post is live on TikTok."


@pytest.mark.parametrize(("to", "from_", "what"), [
    ("415-555-0123", FROM_NUMBER, "recipient"),
    ("+0123456789", FROM_NUMBER, "recipient"),
    ("+1415555012345678", FROM_NUMBER, "recipient"),
    ("", FROM_NUMBER, "recipient"),
    ("whatsapp:+14155550123", FROM_NUMBER, "recipient"),
    ("+14155550123", "MustBeViral", "twilio.from_number"),
])
def test_a_number_not_in_e164_form_is_refused_before_sending(host: SandboxHost, to: str,
                                                             from_: str, what: str) -> None:
    account = new_account()

    async def run() -> None:
        client, _ = twilio(host, account)
        async with client:
            await client.send_sms(to=to, from_=from_, body="Hi")

    with pytest.raises(InvalidInput, match=r"E\.164|missing") as caught:
        asyncio.run(run())
    assert what in str(caught.value)
    assert posts(host, f"/twilio/2010-04-01/Accounts/{account}") == []


@pytest.mark.parametrize(("body", "message"), [
    ("   ", "needs some text"), ("x" * 1601, "at most 1600 characters")])
def test_an_empty_or_too_long_text_is_refused_before_sending(host: SandboxHost, body: str,
                                                             message: str) -> None:
    async def run() -> None:
        client, _ = twilio(host, new_account())
        async with client:
            await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body=body)

    with pytest.raises(InvalidInput, match=message):
        asyncio.run(run())


@pytest.mark.parametrize(("to", "code", "sentence"), [
    ("+15005550001", "21211", "Twilio cannot send to +15005550001: it is not a valid phone "
                              "number."),
    ("+11235550123", "21211", "Twilio cannot send to +11235550123: it is not a valid phone "
                              "number."),  # E.164, but no North American number has area 123
    ("+15005550004", "21610", "+15005550004 has opted out of messages from this number (they "
                              "replied STOP)."),
])
def test_twilio_refusing_the_number_is_rejected_with_a_sentence(host: SandboxHost, to: str,
                                                                code: str, sentence: str) -> None:
    account = new_account()

    async def run() -> tuple[Rejected, Recorder]:
        client, recorder = twilio(host, account)
        async with client:
            with pytest.raises(Rejected) as caught:
                await client.send_sms(to=to, from_=FROM_NUMBER, body="Hi")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert error.code == code and error.status == 400 and str(error) == sentence
    (exchange,) = recorder.exchanges
    check_twilio_request(exchange, account)
    check_schema(TWILIO_ERROR, exchange.json())
    assert exchange.json()["code"] == int(code)
    assert exchange.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert sms_of(host, account) == []


def test_an_unknown_message_is_rejected_plainly(host: SandboxHost) -> None:
    account = new_account()
    sid = "SM" + "0" * 32

    async def run() -> Rejected:
        client, _ = twilio(host, account)
        async with client:
            with pytest.raises(Rejected) as caught:
                await client.get_message(sid)
            with pytest.raises(InvalidInput):
                await client.get_message("../Calls")
        return caught.value

    error = asyncio.run(run())
    assert error.status == 404 and error.code == "20404"
    assert str(error) == f"Twilio has no message {sid} in this account."


def test_a_bad_sender_names_the_from_number_setting(host: SandboxHost) -> None:
    async def run() -> Rejected:
        client, _ = twilio(host, new_account())
        async with client:
            with pytest.raises(Rejected) as caught:
                await client.send_sms(to="+14155550123", from_="+15005550007", body="Hi")
        return caught.value

    error = asyncio.run(run())
    assert error.code == "21606" and "twilio.from_number" in str(error)


@pytest.mark.parametrize("token", ["invalid", "revoked"])
def test_bad_credentials_are_auth_expired_naming_both_settings(host: SandboxHost,
                                                               token: str) -> None:
    account = new_account()
    if token == "revoked":
        token = host.issue_key("twilio")
        host.state.revoke_key("twilio", token)

    async def run() -> tuple[AuthExpired, Recorder]:
        client, recorder = twilio(host, account, token)
        async with client:
            with pytest.raises(AuthExpired) as caught:
                await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="Hi")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    text = str(error)
    assert "twilio.account_sid" in text and "twilio.auth_token" in text
    assert token not in text and account not in text
    assert error.status == 401 and error.provider == "twilio"
    (exchange,) = recorder.exchanges
    assert exchange.json() == {"code": 20003, "message": "Authenticate",
                               "more_info": "https://www.twilio.com/docs/errors/20003",
                               "status": 401}
    assert sms_of(host, account) == []


def test_credentials_are_checked_before_anything_is_sent(host: SandboxHost) -> None:
    base = host.urls()["twilio"]
    with pytest.raises(NotConfigured, match=r"twilio\.account_sid and twilio\.auth_token"):
        TwilioClient(base, "", "token")
    with pytest.raises(NotConfigured):
        TwilioClient(base, new_account(), " ")
    with pytest.raises(InvalidInput, match=r"twilio\.account_sid"):
        TwilioClient(base, "AC123", "token")
    with pytest.raises(InvalidInput, match=r"twilio\.account_sid"):
        TwilioClient(base, "AC123/../../x", "token")


def test_a_reset_after_the_post_is_not_retried(host: SandboxHost) -> None:
    account = new_account()
    host.faults.add("twilio", Fault("reset", method="POST", path_prefix="/2010-04-01"))

    async def run() -> tuple[ProviderUnavailable, Recorder]:
        client, recorder = twilio(host, account)
        async with client:
            with pytest.raises(ProviderUnavailable) as caught:
                await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="Reset")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert error.maybe_sent is True and error.provider == "twilio"
    assert len(recorder.exchanges) == 1
    assert [r.fault for r in posts(host, f"/twilio/2010-04-01/Accounts/{account}")] == ["reset"]
    assert len(sms_of(host, account)) <= 1


def test_an_answer_lost_after_twilio_queued_the_sms_is_not_resent_and_can_be_found(
        host: SandboxHost) -> None:
    """Twilio did queue it; the answer never arrived. The client must not send it again (it
    would be a second SMS); the caller finds it with ``list_messages`` instead."""
    account = new_account()

    async def run() -> tuple[ProviderUnavailable, list[Any], Recorder]:
        client, recorder = twilio(host, account, lose=1)
        async with client:
            with pytest.raises(ProviderUnavailable) as caught:
                await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="Lost answer")
            found = await client.list_messages(to="+14155550123")
        return caught.value, found, recorder

    error, found, recorder = asyncio.run(run())
    assert error.maybe_sent is True
    assert [e.request.method for e in recorder.exchanges] == ["POST", "GET"]
    (delivered,) = sms_of(host, account)
    assert [m.sid for m in found] == [delivered["sid"]] and found[0].body == "Lost answer"


@needs_reset_after
def test_a_server_side_reset_after_queuing_is_not_retried(host: SandboxHost) -> None:
    account = new_account()
    host.faults.add("twilio", Fault("reset_after", method="POST", path_prefix="/2010-04-01"))

    async def run() -> tuple[ProviderUnavailable, Recorder]:
        client, recorder = twilio(host, account)
        async with client:
            with pytest.raises(ProviderUnavailable) as caught:
                await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="Queued")
        return caught.value, recorder

    error, recorder = asyncio.run(run())
    assert error.maybe_sent is True and len(recorder.exchanges) == 1
    assert [m["body"] for m in sms_of(host, account)] == ["Queued"]  # exactly one, not two


def test_a_5xx_is_not_retried_but_a_429_is(host: SandboxHost) -> None:
    account = new_account()
    host.faults.add("twilio", Fault("503", method="POST"))
    host.faults.add("twilio", Fault("429", method="POST", retry_after=0))

    async def run() -> tuple[ProviderUnavailable, str, Recorder]:
        client, recorder = twilio(host, account)
        async with client:
            with pytest.raises(ProviderUnavailable) as caught:
                await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="One")
            sid = await client.send_sms(to="+14155550123", from_=FROM_NUMBER, body="Two")
        return caught.value, sid, recorder

    error, sid, recorder = asyncio.run(run())
    assert error.status == 503 and error.maybe_sent is True
    assert [e.status for e in recorder.exchanges] == [503, 429, 201]
    for exchange in recorder.exchanges[:2]:
        check_schema(TWILIO_ERROR, exchange.json())
    assert [e.json()["code"] for e in recorder.exchanges[:2]] == [20503, 20429]
    assert [m["sid"] for m in sms_of(host, account)] == [sid]


def test_the_twilio_emulator_enforces_twilios_rules(host: SandboxHost) -> None:
    account = new_account()
    url = f"{host.urls()['twilio']}/2010-04-01/Accounts/{account}/Messages.json"
    auth = (account, "sandbox-auth-token")
    base = {"To": "+14155550123", "From": FROM_NUMBER, "Body": "Hi"}
    cases: list[tuple[dict[str, str], int]] = [
        ({k: v for k, v in base.items() if k != "To"}, 21604),
        ({**base, "To": "12345"}, 21211),
        ({k: v for k, v in base.items() if k != "From"}, 21603),
        ({**base, "From": "+1"}, 21212),
        ({k: v for k, v in base.items() if k != "Body"}, 21602),
        ({**base, "Body": "x" * 1601}, 21617),
        ({**base, "To": "+15005550003"}, 21408),
        ({**base, "From": "+15005550008"}, 21611),
    ]
    for form, code in cases:
        answer = httpx.post(url, data=form, auth=auth, timeout=5)
        assert answer.status_code == 400, (form, answer.text)
        check_schema(TWILIO_ERROR, answer.json())
        assert answer.json()["code"] == code and answer.json()["status"] == 400
        assert answer.headers["twilio-request-id"].startswith("RQ")
    other = new_account()
    wrong_account = httpx.post(url, data=base, auth=(other, "sandbox-auth-token"), timeout=5)
    assert wrong_account.status_code == 401 and wrong_account.json()["code"] == 20003
    assert "basic" in wrong_account.headers["www-authenticate"].lower()
    assert httpx.post(url, data=base, timeout=5).status_code == 401
    unknown = httpx.get(url.replace("Messages.json", f"Messages/SM{'0' * 32}.json"), auth=auth,
                        timeout=5)
    assert unknown.status_code == 404 and unknown.json()["code"] == 20404
    assert sms_of(host, account) == []

    long_gsm = httpx.post(url, data={**base, "Body": "a" * 161}, auth=auth, timeout=5)
    emoji = httpx.post(url, data={**base, "Body": "Live now 🎉" * 8}, auth=auth, timeout=5)
    assert long_gsm.json()["num_segments"] == "2" and emoji.json()["num_segments"] == "2"
    page = httpx.get(url, params={"PageSize": 1}, auth=auth, timeout=5).json()
    check("twilio", f"/paths/{_escape(MESSAGES)}/get/responses/200/content/"
          "application~1json/schema", page)
    assert page["messages"][0]["sid"] == emoji.json()["sid"]  # newest first
    assert page["next_page_uri"] and page["previous_page_uri"] is None
    second = httpx.get(host.urls()["twilio"] + page["next_page_uri"], auth=auth, timeout=5)
    assert second.json()["messages"][0]["sid"] == long_gsm.json()["sid"]
    assert len(sms_of(host, account)) == 2
