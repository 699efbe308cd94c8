"""The Workers AI emulator over real sockets, checked against Cloudflare's OpenAPI spec
(``shared/specs/cloudflare/openapi.2024-08-06.json``) where the spec says something, and
against ``shared/reference/providers.md`` where it is too loose.

Where the spec is loose or disagrees:

- Every ``workers-ai-post-run-*`` 200 schema is ``{"result": {}, "success": boolean}``: any
  result passes. The generic ``workers-ai-post-run-model`` operation lists result shapes per
  task in a ``oneOf`` that cannot be used as is (its object branches have no required fields,
  so an object matches several), so results are checked against the titled branch for their
  task ("Text Generation", "Text Embeddings").
- Image models: the spec declares ``application/json`` for every 200; the real REST API sends
  raw ``image/png`` bytes for the Stable Diffusion family (providers.md), as the emulator does.
- Per-model 400 schemas say ``errors[].code`` is a string and ``result`` an object, while the
  API-wide v4 convention (``workers_api-response-common-failure``, used by the rest of the
  Workers API in the same spec, and providers.md) has integer codes ≥ 1000 and ``result:
  null``. The emulator follows the v4 convention; errors are validated against that schema.
- Streaming (``text/event-stream``) is not described by the spec at all.
- There is no path for ``@cf/runwayml/stable-diffusion-v1-5`` itself (only ``-img2img`` and
  ``-inpainting``); the request is validated against the img2img body, whose only required
  field is ``prompt``.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mbv_desktop.sandbox.host import SandboxHost

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
TOKEN = {"Authorization": "Bearer cf-test-token"}
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
LLAMA = "@cf/meta/llama-3.1-8b-instruct"
BGE = "@cf/baai/bge-base-en-v1.5"
SD = "@cf/runwayml/stable-diffusion-v1-5"
RUN = f"/accounts/{ACCOUNT}/ai/run/"


def _openapi_to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` means "or null"; JSON Schema needs it spelled out."""
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
def _spec() -> dict[str, Any]:
    path = SPECS / "cloudflare" / "openapi.2024-08-06.json"
    doc: dict[str, Any] = _openapi_to_json_schema(json.loads(path.read_text(encoding="utf-8")))
    return doc


@functools.cache
def _registry() -> Registry:
    return Registry().with_resource("urn:spec:cloudflare",
                                    DRAFT202012.create_resource(_spec()))


def _need_spec() -> None:
    if not (SPECS / "cloudflare" / "openapi.2024-08-06.json").exists():
        pytest.skip(f"the Cloudflare spec is not at {SPECS / 'cloudflare'} (shared/ beside the "
                    "clone)")


def _check(schema: dict[str, Any], instance: Any) -> None:
    Draft202012Validator(schema, registry=_registry()).validate(instance)


def _operation(model: str) -> dict[str, Any]:
    op: dict[str, Any] = _spec()["paths"][f"/accounts/{{account_id}}/ai/run/{model}"]["post"]
    return op


def validate_run(model: str, request: dict[str, Any], response: dict[str, Any] | None) -> None:
    """Request body and 200 envelope against the model's own ``workers-ai-post-run-*``."""
    _need_spec()
    op = _operation(model)
    assert op["operationId"].startswith("workers-ai-post-run-")
    _check(op["requestBody"]["content"]["application/json"]["schema"], request)
    if response is not None:
        _check(op["responses"]["200"]["content"]["application/json"]["schema"], response)


def validate_result(task_title: str, result: Any) -> None:
    """A result against the titled task branch of the generic run operation."""
    _need_spec()
    schema = _spec()["paths"]["/accounts/{account_id}/ai/run/{model_name}"]["post"]
    branches = schema["responses"]["200"]["content"]["application/json"]["schema"][
        "properties"]["result"]["oneOf"]
    branch = next(b for b in branches if b.get("title") == task_title)
    _check(branch, result)


def validate_failure(body: Any) -> None:
    _need_spec()
    _check({"$ref": "urn:spec:cloudflare#/components/schemas/workers_api-response-common-failure"},
           body)


@functools.cache
def _openai_registry() -> Registry | None:
    path = SPECS / "openai" / "openapi.json"
    if not path.exists():
        return None
    doc = _openapi_to_json_schema(json.loads(path.read_text(encoding="utf-8")))
    return Registry().with_resource("urn:spec:openai",
                                    DRAFT202012.create_resource(doc))


def validate_openai(schema_name: str, instance: Any) -> None:
    registry = _openai_registry()
    if registry is None:
        pytest.skip("the OpenAI spec is not available")
    Draft202012Validator({"$ref": f"urn:spec:openai#/components/schemas/{schema_name}"},
                         registry=registry).validate(instance)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-workers-ai")) as running:
        yield running


@pytest.fixture
def client(host: SandboxHost) -> Iterator[httpx.Client]:
    host.faults.clear()
    with httpx.Client(base_url=host.urls()["workers_ai"], headers=TOKEN, timeout=5) as c:
        yield c
    host.faults.clear()


def run(client: httpx.Client, model: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(RUN + model, json=body)


def assert_failure(r: httpx.Response, status: int, code: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    validate_failure(body)
    assert body == {"result": None, "success": False, "errors": [body["errors"][0]],
                    "messages": []}
    assert body["errors"][0]["code"] == code
    return str(body["errors"][0]["message"])


# -- text generation ------------------------------------------------------------------------

def test_text_generation_with_a_prompt(client: httpx.Client) -> None:
    request = {"prompt": "Write a tweet about sourdough baking"}
    r = run(client, LLAMA, request)
    assert r.status_code == 200, r.text
    body = r.json()
    validate_run(LLAMA, request, body)
    validate_result("Text Generation", body["result"])
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    result = body["result"]
    assert "sourdough" in result["response"].lower()
    assert len(result["response"]) <= 280
    usage = result["usage"]
    assert usage["completion_tokens"] == math.ceil(len(result["response"]) / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert run(client, LLAMA, request).json()["result"]["response"] == result["response"]


def test_text_generation_with_messages(client: httpx.Client) -> None:
    request = {"messages": [{"role": "system", "content": "You write Instagram captions."},
                            {"role": "user", "content": "Our new matcha latte"}]}
    body = run(client, LLAMA, request).json()
    validate_run(LLAMA, request, body)
    text = body["result"]["response"]
    assert text.strip().splitlines()[-1].startswith("#")


def test_default_max_tokens_is_256_and_can_be_lowered(client: httpx.Client) -> None:
    long_ask = {"prompt": "Write an Instagram caption about latte art", "max_tokens": 12}
    result = run(client, LLAMA, long_ask).json()["result"]
    assert result["usage"]["completion_tokens"] <= 12
    default = run(client, LLAMA, {"prompt": "Write an Instagram caption about latte art"})
    assert default.json()["result"]["usage"]["completion_tokens"] <= 256


def test_streaming_sends_response_fragments_then_done(client: httpx.Client) -> None:
    request = {"prompt": "Write a TikTok caption about street food", "stream": True}
    validate_run(LLAMA, request, None)
    whole = run(client, LLAMA, {"prompt": request["prompt"]}).json()["result"]["response"]
    r = run(client, LLAMA, request)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    payloads = [json.loads(e[len("data: "):]) for e in events[:-1]]
    assert "".join(p["response"] for p in payloads) == whole
    assert "result" not in payloads[0]  # no envelope around stream events
    assert payloads[-1]["usage"]["completion_tokens"] == math.ceil(len(whole) / 4)


def test_text_input_errors(client: httpx.Client) -> None:
    assert_failure(run(client, LLAMA, {}), 400, 5006)
    assert_failure(run(client, LLAMA, {"prompt": "a", "messages": []}), 400, 5006)
    assert_failure(run(client, LLAMA, {"prompt": "a", "max_tokens": 0}), 400, 5006)
    assert_failure(client.post(RUN + LLAMA, content=b"{oops"), 400, 5006)
    message = assert_failure(run(client, LLAMA, {"prompt": "word " * 8000}), 400, 5021)
    assert "context window" in message
    assert "No such model" in assert_failure(run(client, "@cf/acme/nope", {"prompt": "x"}),
                                             400, 5007)


# -- images and embeddings -----------------------------------------------------------------

def test_image_model_returns_raw_png_bytes(client: httpx.Client) -> None:
    request = {"prompt": "A cyberpunk cat", "width": 1024, "height": 768}
    validate_run(SD + "-img2img", request, None)
    r = run(client, SD, request)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    data = r.content
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (256, 192)
    default = run(client, SD, {"prompt": "A cyberpunk cat"}).content
    assert struct.unpack(">II", default[16:24]) == (128, 128)
    assert_failure(run(client, SD, {"width": 512}), 400, 5006)


@pytest.mark.parametrize("text", ["one creator post", ["first draft", "second draft", "third"]])
def test_embeddings_return_shape_and_data(client: httpx.Client, text: str | list[str]) -> None:
    request = {"text": text}
    body = run(client, BGE, request).json()
    validate_run(BGE, request, body)
    validate_result("Text Embeddings", body["result"])
    count = 1 if isinstance(text, str) else len(text)
    assert body["result"]["shape"] == [count, 768]
    assert len(body["result"]["data"]) == count
    assert all(len(vector) == 768 for vector in body["result"]["data"])


def test_embedding_input_errors(client: httpx.Client) -> None:
    assert_failure(run(client, BGE, {"text": ""}), 400, 5006)
    assert_failure(run(client, BGE, {"text": ["x"] * 101}), 400, 5006)


# -- auth, routes, catalogue ----------------------------------------------------------------

def test_bad_tokens_get_the_authentication_error(host: SandboxHost) -> None:
    url = host.urls()["workers_ai"] + RUN + LLAMA
    for headers in ({"Authorization": "Bearer invalid"}, {}):
        r = httpx.post(url, json={"prompt": "x"}, headers=headers)
        assert assert_failure(r, 401, 10000) == "Authentication error"


def test_unknown_routes_get_the_v4_not_found(client: httpx.Client) -> None:
    assert_failure(client.get(f"/accounts/{ACCOUNT}/ai/nothing"), 404, 7003)


def test_model_search_is_paginated(client: httpx.Client) -> None:
    body = client.get(f"/accounts/{ACCOUNT}/ai/models/search",
                      params={"per_page": 2, "page": 1}).json()
    assert body["success"] is True and len(body["result"]) == 2
    assert body["result_info"]["total_count"] >= 10
    embeddings = client.get(f"/accounts/{ACCOUNT}/ai/models/search",
                            params={"task": "Text Embeddings"}).json()["result"]
    assert BGE in {m["name"] for m in embeddings}
    verify = client.get("/user/tokens/verify").json()
    assert verify["result"]["status"] == "active"


# -- OpenAI-compatible endpoints ------------------------------------------------------------

def test_openai_compatible_chat(client: httpx.Client) -> None:
    request = {"model": LLAMA, "messages": [{"role": "user", "content": "Write a tweet about "
                                                                       "jazz"}]}
    r = client.post(f"/accounts/{ACCOUNT}/ai/v1/chat/completions", json=request)
    assert r.status_code == 200, r.text
    validate_openai("CreateChatCompletionResponse", r.json())
    assert r.json()["model"] == LLAMA
    stream = client.post(f"/accounts/{ACCOUNT}/ai/v1/chat/completions",
                         json={**request, "stream": True})
    events = [e for e in stream.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    for event in events[:-1]:
        validate_openai("CreateChatCompletionStreamResponse", json.loads(event[6:]))
    missing = client.post(f"/accounts/{ACCOUNT}/ai/v1/chat/completions",
                          json={**request, "model": "@cf/acme/nope"})
    assert missing.status_code == 404
    validate_openai("ErrorResponse", missing.json())


def test_openai_compatible_embeddings(client: httpx.Client) -> None:
    r = client.post(f"/accounts/{ACCOUNT}/ai/v1/embeddings",
                    json={"model": BGE, "input": ["a", "b"]})
    assert r.status_code == 200, r.text
    validate_openai("CreateEmbeddingResponse", r.json())
    assert [len(d["embedding"]) for d in r.json()["data"]] == [768, 768]
    native = run(client, BGE, {"text": "a"}).json()["result"]["data"][0]
    assert r.json()["data"][0]["embedding"] == native
