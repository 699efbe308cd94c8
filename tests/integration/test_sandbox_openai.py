"""The OpenAI emulator over real sockets, its answers validated against OpenAI's own OpenAPI
spec (``shared/specs/openai/openapi.json``, OpenAPI 3.1 = JSON Schema 2020-12, with the
3.0-style ``nullable`` it still uses turned into ``anyOf [..., null]``)."""

from __future__ import annotations

import base64
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
KEY = {"Authorization": "Bearer sk-test-openai"}
CHAT = "/chat/completions"


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
def _registry() -> Registry:
    path = SPECS / "openai" / "openapi.json"
    doc = _openapi_to_json_schema(json.loads(path.read_text(encoding="utf-8")))
    return Registry().with_resource("urn:spec:openai",
                                    DRAFT202012.create_resource(doc))


def validate(schema_name: str, instance: Any) -> None:
    """Validates ``instance`` against ``components.schemas[schema_name]`` of the spec."""
    if not (SPECS / "openai" / "openapi.json").exists():
        pytest.skip(f"the OpenAI spec is not at {SPECS / 'openai'} (shared/ beside the clone)")
    validator = Draft202012Validator(
        {"$ref": f"urn:spec:openai#/components/schemas/{schema_name}"}, registry=_registry())
    validator.validate(instance)


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-openai")) as running:
        yield running


@pytest.fixture
def client(host: SandboxHost) -> Iterator[httpx.Client]:
    host.faults.clear()
    with httpx.Client(base_url=host.urls()["openai"], headers=KEY, timeout=5) as c:
        yield c
    host.faults.clear()


def chat(client: httpx.Client, content: str, **extra: Any) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}
    return client.post(CHAT, json=body)


def reply_text(client: httpx.Client, content: str, **extra: Any) -> str:
    r = chat(client, content, **extra)
    assert r.status_code == 200, r.text
    return str(r.json()["choices"][0]["message"]["content"])


def sse_payloads(text: str) -> list[str]:
    events = [e for e in text.split("\n\n") if e.strip()]
    assert all(e.startswith("data: ") for e in events), events
    return [e[len("data: "):] for e in events]


def assert_error(r: httpx.Response, status: int, code: str | None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    validate("ErrorResponse", body)
    assert body["error"]["code"] == code
    return dict(body["error"])


# -- models --------------------------------------------------------------------------------

def test_models_list_matches_the_spec(client: httpx.Client) -> None:
    r = client.get("/models")
    assert r.status_code == 200
    validate("ListModelsResponse", r.json())
    ids = {m["id"] for m in r.json()["data"]}
    assert {"gpt-4-turbo", "gpt-3.5-turbo", "gpt-4o-mini", "dall-e-3",
            "text-embedding-3-small"} <= ids
    one = client.get("/models/gpt-4o-mini")
    validate("Model", one.json())
    assert one.json()["id"] == "gpt-4o-mini"
    assert_error(client.get("/models/gpt-9"), 404, "model_not_found")


def test_every_response_carries_request_id_and_rate_limit_headers(client: httpx.Client) -> None:
    for r in (client.get("/models"), chat(client, "hello"), client.get("/models/nope")):
        for header in ("x-request-id", "x-ratelimit-limit-requests",
                       "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
                       "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens"):
            assert header in r.headers, (header, r.status_code)
        assert r.headers["x-request-id"].startswith("req_")
    first = int(client.get("/models").headers["x-ratelimit-remaining-requests"])
    second = int(client.get("/models").headers["x-ratelimit-remaining-requests"])
    assert second == first - 1


# -- chat completions ------------------------------------------------------------------------

def test_chat_completion_matches_the_spec_and_counts_tokens(client: httpx.Client) -> None:
    r = chat(client, "Write a tweet about our new cold brew coffee")
    assert r.status_code == 200
    body = r.json()
    validate("CreateChatCompletionResponse", body)
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"].startswith("gpt-4o-mini")
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    content = choice["message"]["content"]
    assert "coffee" in content.lower()
    usage = body["usage"]
    assert usage["completion_tokens"] == math.ceil(len(content) / 4)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # same prompt, same text
    assert reply_text(client, "Write a tweet about our new cold brew coffee") == content


def test_n_variants_differ(client: httpx.Client) -> None:
    r = chat(client, "Write an Instagram caption about autumn hiking", n=3)
    body = r.json()
    validate("CreateChatCompletionResponse", body)
    texts = [c["message"]["content"] for c in body["choices"]]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert body["usage"]["completion_tokens"] == sum(math.ceil(len(t) / 4) for t in texts)


@pytest.mark.parametrize("limit_name", ["max_tokens", "max_completion_tokens"])
def test_token_limit_truncates_with_finish_reason_length(client: httpx.Client,
                                                         limit_name: str) -> None:
    body = chat(client, "Write an Instagram caption about latte art", **{limit_name: 10}).json()
    validate("CreateChatCompletionResponse", body)
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] <= 10
    assert len(body["choices"][0]["message"]["content"]) <= 40


def test_streaming_chunks_match_the_spec_and_add_up(client: httpx.Client) -> None:
    prompt = "Write a TikTok script about budget travel in Portugal"
    whole = reply_text(client, prompt)
    r = chat(client, prompt, stream=True, stream_options={"include_usage": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(r.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
        assert chunk["object"] == "chat.completion.chunk"
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    assert "".join(pieces) == whole
    words = [p for p in pieces if p]
    assert all(len(p.split()) == 1 for p in words)  # word-sized chunks
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == math.ceil(len(whole) / 4)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_streaming_without_usage_has_no_usage_field(client: httpx.Client) -> None:
    payloads = sse_payloads(chat(client, "hello", stream=True).text)
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_context_window_is_enforced_per_model(client: httpx.Client) -> None:
    long_text = "word " * 14_000  # 70,000 characters ≈ 17,500 tokens
    body = {"messages": [{"role": "user", "content": long_text}]}
    r = client.post(CHAT, json={"model": "gpt-3.5-turbo", **body})
    error = assert_error(r, 400, "context_length_exceeded")
    assert "maximum context length is 16385 tokens" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "messages"
    assert client.post(CHAT, json={"model": "gpt-4-turbo", **body}).status_code == 200
    with_completion = client.post(CHAT, json={"model": "gpt-3.5-turbo", "max_tokens": 4000,
                                              "messages": [{"role": "user",
                                                            "content": "x" * 50_000}]})
    assert "in the completion" in assert_error(with_completion, 400,
                                               "context_length_exceeded")["message"]


def test_request_errors_have_openai_bodies(client: httpx.Client, host: SandboxHost) -> None:
    url = host.urls()["openai"] + CHAT
    ok = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert_error(httpx.post(url, json=ok, headers={"Authorization": "Bearer sk-invalid"}),
                 401, "invalid_api_key")
    assert_error(httpx.post(url, json=ok, headers={"Authorization": "Bearer not-a-key"}),
                 401, "invalid_api_key")
    missing = assert_error(httpx.post(url, json=ok), 401, None)
    assert "didn't provide an API key" in missing["message"]
    assert_error(client.post(CHAT, json={**ok, "model": "gpt-9"}), 404, "model_not_found")
    assert_error(client.post(CHAT, content=b"{not json", headers={"content-type":
                                                                 "application/json"}),
                 400, None)
    assert_error(client.post(CHAT, json={"model": "gpt-4o-mini"}), 400,
                 "missing_required_parameter")
    assert_error(client.post(CHAT, json={**ok, "n": 0}), 400, "integer_below_min_value")
    assert_error(client.post(CHAT, json={**ok, "max_tokens": "ten"}), 400, "invalid_type")
    assert_error(client.post(CHAT, json={**ok, "max_tokens": 100_000}), 400, "invalid_value")
    assert_error(client.post(CHAT, json={**ok, "messages": [{"role": "robot", "content": "x"}]}),
                 400, "invalid_value")
    assert_error(client.get("/nope"), 404, None)


def test_revoked_key_is_refused(client: httpx.Client, host: SandboxHost) -> None:
    key = "sk-soon-revoked"
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/models", headers=headers).status_code == 200
    r = httpx.post(host.control_url + "/keys/revoke", json={"provider": "openai", "key": key})
    assert r.status_code == 200
    assert_error(client.get("/models", headers=headers), 401, "invalid_api_key")
    stored = [k for k in host.state.keys("openai") if k["status"] == "revoked"]
    assert stored and key not in json.dumps(stored)  # only a redacted hint is kept


def test_json_response_format_returns_json(client: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"},
                                               "tags": {"type": "array",
                                                        "items": {"type": "string"}}}}
    content = reply_text(client, "Give me a title and tags for a post about yoga",
                         response_format={"type": "json_schema",
                                          "json_schema": {"name": "post", "schema": schema}})
    data = json.loads(content)
    assert isinstance(data["title"], str) and len(data["tags"]) == 3
    plain = reply_text(client, "hello", response_format={"type": "json_object"})
    assert isinstance(json.loads(plain), dict)


# -- text shaped by the prompt ---------------------------------------------------------------

def test_tweets_fit_in_280_characters(client: httpx.Client) -> None:
    for topic in ("remote work", "a very long and winding topic about sustainable fashion "
                  "brands that care about their supply chains and workers"):
        text = reply_text(client, f"Write a tweet about {topic}")
        assert 0 < len(text) <= 280


def test_threads_are_numbered_parts_each_under_280(client: httpx.Client) -> None:
    text = reply_text(client, "Write a 5-part Twitter thread about growing a newsletter")
    parts = text.split("\n\n")
    assert len(parts) == 5
    for i, part in enumerate(parts, start=1):
        assert part.startswith(f"{i}/5 ")
        assert len(part) <= 280


def test_instagram_captions_end_with_hashtags(client: httpx.Client) -> None:
    text = reply_text(client, "Write an Instagram caption about our sourdough bakery")
    assert "\n\n" in text and len(text) > 280
    last_line = text.strip().splitlines()[-1]
    tags = last_line.split()
    assert all(t.startswith("#") for t in tags)
    assert 5 <= len(tags) <= 15
    assert "#sourdough" in tags


def test_tiktok_scripts_have_hook_beats_and_cta(client: httpx.Client) -> None:
    text = reply_text(client, "Write a TikTok script about morning routines")
    for marker in ("HOOK", "BEAT 1", "BEAT 2", "BEAT 3", "CTA", "CAPTION"):
        assert marker in text


def test_hashtag_requests_get_one_line_of_relevant_tags(client: httpx.Client) -> None:
    text = reply_text(client, "Suggest hashtags for a post about vegan meal prep")
    assert "\n" not in text
    tags = text.split()
    assert 10 <= len(tags) <= 20
    assert all(t.startswith("#") for t in tags)
    assert {"#vegan", "#mealprep"} <= set(tags)


def test_rewrites_transform_the_given_text(client: httpx.Client) -> None:
    source = ("We are really excited to announce our new collection. It took us two years to "
              "make. Every piece is handmade in Lisbon. Come see it this weekend at the shop.")
    shorter = reply_text(client, f"Rewrite this shorter: {source}")
    assert len(shorter) < len(source) and shorter.startswith("We are excited")
    spanish = reply_text(client, "Translate to Spanish: Follow us for more tips today")
    assert "consejos" in spanish and "hoy" in spanish
    formal = reply_text(client, 'Rewrite in a professional tone: "Hey folks!! We\'re gonna '
                        'launch the app tomorrow"')
    assert "going to" in formal and "!" not in formal


# -- images -----------------------------------------------------------------------------------

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour == 2
    return width, height


def test_images_b64_json_is_a_real_png(client: httpx.Client) -> None:
    r = client.post("/images/generations", json={
        "model": "dall-e-3", "prompt": "A neon cat on a skateboard", "size": "1024x1024",
        "quality": "hd", "style": "natural", "response_format": "b64_json"})
    assert r.status_code == 200, r.text
    body = r.json()
    validate("ImagesResponse", body)
    item = body["data"][0]
    assert item["revised_prompt"].startswith("A neon cat on a skateboard")
    assert _png_size(base64.b64decode(item["b64_json"])) == (256, 256)


def test_images_url_is_served_by_the_emulator(client: httpx.Client, host: SandboxHost) -> None:
    r = client.post("/images/generations", json={"model": "dall-e-3", "prompt": "A lighthouse",
                                                 "size": "1792x1024"})
    body = r.json()
    validate("ImagesResponse", body)
    url = body["data"][0]["url"]
    assert url.startswith(host.origin + "/openai/files/") and url.endswith(".png")
    image = httpx.get(url)  # no auth, like OpenAI's signed URLs
    assert image.headers["content-type"] == "image/png"
    assert _png_size(image.content) == (448, 256)


def test_image_parameters_are_checked(client: httpx.Client) -> None:
    base = {"model": "dall-e-3", "prompt": "A fox"}
    assert_error(client.post("/images/generations", json={**base, "n": 2}), 400, None)
    assert_error(client.post("/images/generations", json={**base, "size": "999x999"}), 400,
                 "invalid_value")
    assert_error(client.post("/images/generations", json={**base, "model": "dall-e-9"}), 404,
                 "model_not_found")
    assert_error(client.post("/images/generations", json={"model": "dall-e-3"}), 400,
                 "missing_required_parameter")


# -- embeddings -------------------------------------------------------------------------------

def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_embeddings_match_the_spec_and_group_similar_texts(client: httpx.Client) -> None:
    texts = ["Five tips for growing your Instagram as a coffee creator",
             "5 tips to grow an Instagram account for coffee creators",
             "Quarterly tax filing deadlines for freelancers"]
    r = client.post("/embeddings", json={"model": "text-embedding-3-small", "input": texts})
    body = r.json()
    validate("CreateEmbeddingResponse", body)
    vectors = [d["embedding"] for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert all(len(v) == 1536 for v in vectors)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-6 for v in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2]) + 0.15
    assert body["usage"]["prompt_tokens"] == sum(math.ceil(len(t) / 4) for t in texts)
    again = client.post("/embeddings", json={"model": "text-embedding-3-small",
                                              "input": texts[0]}).json()
    assert again["data"][0]["embedding"] == vectors[0]


def test_embeddings_dimensions_and_base64(client: httpx.Client) -> None:
    short = client.post("/embeddings", json={"model": "text-embedding-3-small", "input": "hi",
                                             "dimensions": 256}).json()
    assert len(short["data"][0]["embedding"]) == 256
    packed = client.post("/embeddings", json={"model": "text-embedding-3-small", "input": "hi",
                                              "encoding_format": "base64"}).json()
    raw = base64.b64decode(packed["data"][0]["embedding"])
    assert len(struct.unpack(f"<{len(raw) // 4}f", raw)) == 1536
    assert_error(client.post("/embeddings", json={"model": "text-embedding-3-small",
                                                  "input": ""}), 400, None)
    assert_error(client.post("/embeddings", json={"model": "gpt-4o-mini", "input": "x"}), 404,
                 "model_not_found")


def test_usage_is_counted_in_the_sandbox_state(client: httpx.Client, host: SandboxHost) -> None:
    before = {u.model: u for u in host.state.usage("openai")}
    chat(client, "hello there")
    after = {u.model: u for u in host.state.usage("openai")}
    old = before.get("gpt-4o-mini")
    assert after["gpt-4o-mini"].requests == (old.requests if old else 0) + 1
    assert after["gpt-4o-mini"].completion_tokens > (old.completion_tokens if old else 0)
