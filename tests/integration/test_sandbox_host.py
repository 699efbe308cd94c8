"""The sandbox host over real sockets: URL layout, fault injection (Python and HTTP), the
request log, persistence across restarts, registering another emulator, and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import EmulatorContext, EmulatorSpec
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import REGISTRY, SandboxError, SandboxHost

OPENAI_KEY = {"Authorization": "Bearer sk-test-host"}
CF_TOKEN = {"Authorization": "Bearer cf-token"}
LLAMA_RUN = "/accounts/acc/ai/run/@cf/meta/llama-3.1-8b-instruct"
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user",
                                                   "content": "Write a tweet about tea"}]}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-host")) as running:
        yield running


@pytest.fixture
def openai(host: SandboxHost) -> Iterator[httpx.Client]:
    host.faults.clear()
    with httpx.Client(base_url=host.urls()["openai"], headers=OPENAI_KEY, timeout=5) as c:
        yield c
    host.faults.clear()


@pytest.fixture
def workers(host: SandboxHost) -> Iterator[httpx.Client]:
    host.faults.clear()
    with httpx.Client(base_url=host.urls()["workers_ai"], headers=CF_TOKEN, timeout=5) as c:
        yield c
    host.faults.clear()


def stream_events(r: httpx.Response) -> list[str]:
    return [e for e in r.text.split("\n\n") if e]


# -- layout and lifecycle -------------------------------------------------------------------

def test_urls_and_lifecycle(tmp_path: Path) -> None:
    sandbox = SandboxHost(tmp_path / "state")
    started = time.monotonic()
    with sandbox:
        assert time.monotonic() - started < 1.0
        urls = sandbox.urls()
        port = sandbox.port
        origin = f"http://127.0.0.1:{port}"
        assert urls == {"openai": f"{origin}/openai/v1",
                        "workers_ai": f"{origin}/cloudflare/client/v4",
                        "local": f"{origin}/local/v1",
                        "google": f"{origin}/google", "github": f"{origin}/github",
                        "x": f"{origin}/x", "facebook": f"{origin}/facebook",
                        "tiktok": f"{origin}/tiktok", "ga4": f"{origin}/ga4",
                        "stripe": f"{origin}/stripe",
                        "resend": f"{origin}/resend", "twilio": f"{origin}/twilio"}
        health = httpx.get(sandbox.control_url + "/health").json()
        assert health == {"status": "ok", "urls": urls}
        with pytest.raises(SandboxError):
            sandbox.start()
        assert (tmp_path / "state" / "sandbox.sqlite3").exists()
    assert not sandbox.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/_sandbox/health")
    sandbox.stop()  # stopping twice is harmless


def test_unknown_paths_list_the_emulators(host: SandboxHost) -> None:
    r = httpx.get(host.origin + "/nowhere")
    assert r.status_code == 404
    assert r.json()["error"]["emulators"] == host.urls()


def test_fixed_port_in_use_is_a_clear_error(host: SandboxHost, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="cannot listen"):
        SandboxHost(tmp_path, port=host.port).start()


# -- faults from Python ---------------------------------------------------------------------

def test_429_has_retry_after_and_honours_times_and_path_prefix(host: SandboxHost,
                                                               openai: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="429", retry_after=7, times=2, path_prefix="/chat"))
    assert openai.get("/models").status_code == 200  # other paths are untouched
    for _ in range(2):
        r = openai.post("/chat/completions", json=CHAT_BODY)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "7"
        assert r.headers["retry-after-ms"] == "7000"
        assert r.headers["x-ratelimit-remaining-requests"] == "0"
        assert r.headers["x-request-id"].startswith("req_")
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert openai.post("/chat/completions", json=CHAT_BODY).status_code == 200
    assert host.faults.rules() == []


def test_429_in_cloudflare_shape(host: SandboxHost, workers: httpx.Client) -> None:
    host.faults.add("workers_ai", Fault(kind="429", retry_after=3.2))
    r = workers.post(LLAMA_RUN, json={"prompt": "hi"})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "4"  # whole seconds, rounded up
    assert r.headers["ratelimit"] == '"workers-ai";r=0;t=4'
    assert "ratelimit-policy" in r.headers
    body = r.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert body["errors"][0]["code"] >= 1000
    assert workers.post(LLAMA_RUN, json={"prompt": "hi"}).status_code == 200


def test_500_and_503(host: SandboxHost, openai: httpx.Client, workers: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="500"))
    host.faults.add("openai", Fault(kind="503", retry_after=2))
    host.faults.add("workers_ai", Fault(kind="500"))
    first = openai.get("/models")
    assert first.status_code == 500 and first.json()["error"]["type"] == "server_error"
    second = openai.get("/models")
    assert second.status_code == 503 and second.headers["retry-after"] == "2"
    cf = workers.post(LLAMA_RUN, json={"prompt": "hi"})
    assert cf.status_code == 500 and cf.json()["success"] is False
    assert openai.get("/models").status_code == 200


def test_slow_delays_then_answers(host: SandboxHost, openai: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="slow", delay=0.3))
    started = time.monotonic()
    assert openai.get("/models").status_code == 200
    assert time.monotonic() - started >= 0.3
    host.faults.add("openai", Fault(kind="slow", delay=0.4))
    with pytest.raises(httpx.ReadTimeout):
        openai.get("/models", timeout=0.1)
    time.sleep(0.4)  # let the abandoned request finish before the next test


def test_reset_is_a_connection_error(host: SandboxHost, openai: httpx.Client,
                                     workers: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="reset", method="POST"))
    assert openai.get("/models").status_code == 200  # the method filter spares GETs
    with pytest.raises(httpx.TransportError) as caught:
        openai.post("/chat/completions", json=CHAT_BODY)
    assert not isinstance(caught.value, httpx.TimeoutException)
    host.faults.add("workers_ai", Fault(kind="reset"))
    with pytest.raises(httpx.TransportError):
        workers.post(LLAMA_RUN, json={"prompt": "hi"})
    assert openai.post("/chat/completions", json=CHAT_BODY).status_code == 200
    reset, answered = host.state.requests("openai", limit=2)
    assert (reset.fault, reset.status, answered.status) == ("reset", None, 200)


def test_malformed_json_body(host: SandboxHost, openai: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="malformed"))
    r = openai.post("/chat/completions", json=CHAT_BODY)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(r.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert openai.post("/chat/completions", json=CHAT_BODY).json()["object"] == "chat.completion"


def test_malformed_only_damages_successful_answers(host: SandboxHost,
                                                   openai: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="malformed"))
    assert openai.get("/models/nope").status_code == 404
    assert openai.get("/models/nope").json()["error"]["code"] == "model_not_found"
    assert len(host.faults.rules("openai")) == 1  # still waiting for a 2xx


def test_malformed_sse_line(host: SandboxHost, openai: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="malformed", after_events=1))
    r = openai.post("/chat/completions", json={**CHAT_BODY, "stream": True})
    events = stream_events(r)
    assert events[-1] == "data: [DONE]"
    json.loads(events[0][6:])
    with pytest.raises(json.JSONDecodeError):
        json.loads(events[1][6:])
    for event in events[2:-1]:
        json.loads(event[6:])


def test_cut_stream_ends_without_done(host: SandboxHost, openai: httpx.Client,
                                      workers: httpx.Client) -> None:
    host.faults.add("openai", Fault(kind="cut_stream", after_events=3))
    assert openai.post("/chat/completions", json=CHAT_BODY).status_code == 200  # not a stream
    r = openai.post("/chat/completions", json={**CHAT_BODY, "stream": True})
    assert r.status_code == 200
    events = stream_events(r)
    assert len(events) == 3
    assert "[DONE]" not in r.text
    full = stream_events(openai.post("/chat/completions", json={**CHAT_BODY, "stream": True}))
    assert full[-1] == "data: [DONE]" and len(full) > 3

    host.faults.add("workers_ai", Fault(kind="cut_stream", after_events=2))
    cut = workers.post(LLAMA_RUN, json={"prompt": "Write a tweet about tea", "stream": True})
    assert len(stream_events(cut)) == 2 and "[DONE]" not in cut.text


# -- faults and the request log over HTTP ---------------------------------------------------

def test_faults_over_http(host: SandboxHost, openai: httpx.Client) -> None:
    control = host.control_url
    r = httpx.post(control + "/faults", json={"provider": "openai", "kind": "429",
                                              "retry_after": 5, "times": 2,
                                              "path_prefix": "/models"})
    assert r.status_code == 201
    fault = r.json()["data"][0]["fault"]
    assert fault["kind"] == "429" and fault["times"] == 2
    listed = httpx.get(control + "/faults", params={"provider": "openai"}).json()["data"]
    assert [f["fault"]["id"] for f in listed] == [fault["id"]]
    assert openai.get("/models").status_code == 429
    assert httpx.get(control + "/faults").json()["data"][0]["fault"]["times"] == 1
    assert httpx.delete(control + "/faults").json() == {"removed": 1}
    assert openai.get("/models").status_code == 200

    many = httpx.post(control + "/faults", json=[{"provider": "openai", "kind": "500"},
                                                 {"provider": "workers_ai", "kind": "slow",
                                                  "delay": 0}])
    assert many.status_code == 201 and len(many.json()["data"]) == 2
    one_id = many.json()["data"][0]["fault"]["id"]
    assert httpx.delete(control + "/faults", params={"id": one_id}).json() == {"removed": 1}
    assert httpx.delete(control + "/faults", params={"provider": "workers_ai"}).json() == {
        "removed": 1}

    for bad in ({"provider": "openai", "kind": "418"}, {"kind": "500"},
                {"provider": "paypal", "kind": "500"},
                {"provider": "openai", "kind": "500", "times": 0},
                {"provider": "openai", "kind": "500", "colour": "red"}):
        r = httpx.post(control + "/faults", json=bad)
        assert r.status_code == 400, bad
        assert r.json()["error"]["message"]
    assert httpx.post(control + "/faults", content=b"nope").status_code == 400
    assert host.faults.rules() == []


def test_request_log_counts_hits(host: SandboxHost, openai: httpx.Client,
                                 workers: httpx.Client) -> None:
    httpx.delete(host.control_url + "/requests")
    for _ in range(3):
        openai.get("/models")
    workers.post(LLAMA_RUN, json={"prompt": "hi"})
    host.faults.add("openai", Fault(kind="500"))
    openai.post("/chat/completions", json=CHAT_BODY)
    assert host.request_count("openai") == 4
    assert host.request_count("openai", "/openai/v1/models") == 3
    assert host.request_count("workers_ai") == 1
    log = httpx.get(host.control_url + "/requests", params={"provider": "openai"}).json()
    assert log["count"] == 4
    assert [(e["method"], e["path"], e["status"], e["fault"]) for e in log["data"]][-1] == (
        "POST", "/openai/v1/chat/completions", 500, "500")
    assert all(e["provider"] == "openai" for e in log["data"])
    last = httpx.get(host.control_url + "/requests", params={"limit": 1}).json()["data"]
    assert last[0]["path"] == "/openai/v1/chat/completions"
    usage = httpx.get(host.control_url + "/usage", params={"provider": "workers_ai"}).json()
    assert usage["data"][0]["model"] == "@cf/meta/llama-3.1-8b-instruct"


def test_keys_can_be_issued_listed_and_revoked(host: SandboxHost) -> None:
    issued = httpx.post(host.control_url + "/keys", json={"provider": "openai"})
    assert issued.status_code == 201
    key = issued.json()["key"]
    assert key.startswith("sk-sandbox-")
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(host.urls()["openai"] + "/models", headers=headers).status_code == 200
    listed = httpx.get(host.control_url + "/keys", params={"provider": "openai"}).json()["data"]
    assert key not in json.dumps(listed)
    assert any(k["hint"] == f"{key[:4]}…{key[-4:]}" and k["uses"] == 1 for k in listed)
    httpx.post(host.control_url + "/keys/revoke", json={"provider": "openai", "key": key})
    assert httpx.get(host.urls()["openai"] + "/models", headers=headers).status_code == 401
    token = host.issue_key("workers_ai")
    verify = httpx.get(host.urls()["workers_ai"] + "/user/tokens/verify",
                       headers={"Authorization": f"Bearer {token}"})
    assert verify.status_code == 200
    assert httpx.post(host.control_url + "/keys", json={"provider": "nope"}).status_code == 400


# -- persistence ------------------------------------------------------------------------------

def test_state_survives_a_restart(tmp_path: Path) -> None:
    state_dir = tmp_path / "sandbox"
    with SandboxHost(state_dir) as first:
        base = first.urls()["openai"]
        httpx.get(base + "/models", headers=OPENAI_KEY)
        image = httpx.post(base + "/images/generations", headers=OPENAI_KEY,
                           json={"model": "dall-e-3", "prompt": "A red kite"}).json()
        url_path = image["data"][0]["url"].split(str(first.port), 1)[1]
        first.state.revoke_key("openai", "sk-revoked")
        first.faults.add("openai", Fault(kind="500", times=None, path_prefix="/embeddings"))
    with SandboxHost(state_dir) as second:
        assert second.request_count("openai") == 2
        assert {u.model for u in second.state.usage("openai")} == {"dall-e-3"}
        again = httpx.get(second.origin + url_path)
        assert again.status_code == 200 and again.content[:4] == b"\x89PNG"
        denied = httpx.get(second.urls()["openai"] + "/models",
                           headers={"Authorization": "Bearer sk-revoked"})
        assert denied.status_code == 401
        assert second.faults.rules() == []  # fault rules live in memory only
    with SandboxHost(state_dir) as third:
        assert third.request_count("openai") == 4


def test_faults_survive_stop_and_start_of_the_same_host(tmp_path: Path) -> None:
    sandbox = SandboxHost(tmp_path)
    sandbox.faults.add("openai", Fault(kind="503", times=None))
    for _ in range(2):
        with sandbox:
            assert httpx.get(sandbox.urls()["openai"] + "/models").status_code == 503


# -- registering another emulator -----------------------------------------------------------

def _echo_app(ctx: EmulatorContext) -> ASGIApp:
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"provider": ctx.provider, "path": request.url.path})

    return Starlette(routes=[Route("/api/echo", echo)])


def test_one_line_registers_another_emulator(tmp_path: Path) -> None:
    registry = (*REGISTRY, EmulatorSpec("echo", "/echo", _echo_app, "/api"))
    with SandboxHost(tmp_path, emulators=registry) as sandbox:
        base = sandbox.urls()["echo"]
        assert base == f"{sandbox.origin}/echo/api"
        assert httpx.get(base + "/echo").json() == {"provider": "echo", "path": "/echo/api/echo"}
        sandbox.faults.add("echo", Fault(kind="429", path_prefix="/echo"))
        throttled = httpx.get(base + "/echo")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "1"
        assert sandbox.request_count("echo") == 2


# -- command line -----------------------------------------------------------------------------

def _read_urls(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    assert process.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while "control" not in urls:
        if time.monotonic() > deadline:
            raise AssertionError(f"no URLs printed; got {urls}")
        line = process.stdout.readline()
        if not line:
            raise AssertionError("the sandbox exited early: " + (process.stderr.read()
                                                                 if process.stderr else ""))
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http://127.0.0.1:"):
            urls[parts[0]] = parts[1]
    return urls


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_command_line_prints_urls_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env: dict[str, Any] = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mbv_desktop.sandbox", "--state-dir", str(tmp_path / "s"),
         "--stream-delay", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        urls = _read_urls(process, timeout=15)
        assert urls["openai"].endswith("/openai/v1")
        assert urls["workers_ai"].endswith("/cloudflare/client/v4")
        models = httpx.get(urls["openai"] + "/models", headers=OPENAI_KEY)
        assert models.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert (tmp_path / "s" / "sandbox.sqlite3").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
