"""The OpenAI emulator: ``/v1/models``, ``/v1/chat/completions`` (plain and streamed),
``/v1/images/generations`` and ``/v1/embeddings``, in OpenAI's wire format.

Mounted by the host at ``/openai``, so clients use ``http://127.0.0.1:PORT/openai/v1`` as the
base URL. Generated images are served back, without auth like OpenAI's signed blob URLs, at
``http://127.0.0.1:PORT/openai/files/img-....png``.

Rules enforced (each failure has OpenAI's error body ``{"error": {message, type, param,
code}}``): ``Authorization: Bearer`` with a key starting ``sk-`` (the literal ``sk-invalid``
and revoked keys give 401 ``invalid_api_key``); known model for the endpoint (404
``model_not_found``); parameter types and ranges (400 ``invalid_request_error``); each model's
context window (400 ``context_length_exceeded``) and largest completion. Every response carries
``x-request-id``, ``openai-version``, ``openai-processing-ms`` and the ``x-ratelimit-*``
headers, computed from a one-minute sliding window per API key.

Behaviour the emulator makes up: text comes from :mod:`.text_gen`; token counts from the rough
tokenizer in :mod:`.common` (4 characters a token); ``tools`` are accepted and ignored (the
reply is always text); ``response_format`` ``json_object``/``json_schema`` replies are JSON
built from the generated text (strings filled in, arrays of three); images are real PNGs at a
quarter of the requested size (:mod:`.png`); embeddings come from :mod:`.vectors`.

:class:`OpenAIHandlers` is parameterised by a :class:`Catalog` so the Workers AI emulator reuses
it for Cloudflare's OpenAI-compatible endpoints.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import struct
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mbv_desktop.sandbox import png, text_gen, vectors
from mbv_desktop.sandbox.common import (
    EmulatorContext,
    FaultReply,
    bearer_token,
    count_chat_tokens,
    count_tokens,
    dump_json,
    new_id,
    retry_after_seconds,
    sse_event,
    truncate_to_tokens,
)
from mbv_desktop.sandbox.faults import Fault

PROVIDER = "openai"
OPENAI_VERSION = "2020-10-01"
SYSTEM_FINGERPRINT = "fp_sandbox0001"
REQUESTS_PER_MINUTE = 5000
TOKENS_PER_MINUTE = 2_000_000
IMAGE_TOKENS = 85  # what an image part of a message counts for
USAGE_SCOPE_KEY = "mbv.sandbox.usage"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


@dataclass(frozen=True)
class ChatModel:
    """A text model: ``snapshot`` is the dated name responses report."""

    id: str
    snapshot: str
    context: int
    max_output: int
    created: int
    owned_by: str = "system"


@dataclass(frozen=True)
class ImageModel:
    id: str
    sizes: tuple[str, ...]
    max_prompt: int
    max_n: int
    created: int
    owned_by: str = "system"


@dataclass(frozen=True)
class EmbeddingModel:
    id: str
    dims: int
    created: int
    max_input_tokens: int = 8192
    flexible_dimensions: bool = True
    owned_by: str = "system"


@dataclass(frozen=True)
class Catalog:
    """The models an endpoint family knows."""

    chat: Mapping[str, ChatModel] = field(default_factory=dict)
    images: Mapping[str, ImageModel] = field(default_factory=dict)
    embeddings: Mapping[str, EmbeddingModel] = field(default_factory=dict)

    def model_objects(self) -> list[dict[str, Any]]:
        """Every model as OpenAI's ``model`` object, sorted by id."""
        models: list[ChatModel | ImageModel | EmbeddingModel] = [
            *self.chat.values(), *self.images.values(), *self.embeddings.values()]
        return [{"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
                for m in sorted(models, key=lambda m: m.id)]


def _by_id(*models: Any) -> dict[str, Any]:
    return {m.id: m for m in models}


CATALOG = Catalog(
    chat=_by_id(
        ChatModel("gpt-4-turbo", "gpt-4-turbo-2024-04-09", 128_000, 4096, 1712361441),
        ChatModel("gpt-3.5-turbo", "gpt-3.5-turbo-0125", 16_385, 4096, 1677610602, "openai"),
        ChatModel("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 128_000, 16_384, 1721172741),
    ),
    images=_by_id(
        ImageModel("dall-e-3", ("1024x1024", "1792x1024", "1024x1792"), 4000, 1, 1698785189),
        ImageModel("dall-e-2", ("256x256", "512x512", "1024x1024"), 1000, 10, 1698798177),
    ),
    embeddings=_by_id(
        EmbeddingModel("text-embedding-3-small", 1536, 1705948997),
        EmbeddingModel("text-embedding-3-large", 3072, 1705953180),
        EmbeddingModel("text-embedding-ada-002", 1536, 1671217299, flexible_dimensions=False,
                       owned_by="openai-internal"),
    ),
)


class OpenAIError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status, headers=self.headers)


def invalid_key_error(key: str | None) -> OpenAIError:
    """OpenAI's 401 for a missing or refused key."""
    if not key:
        return OpenAIError(
            401, "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
            "as the password field (with blank username) if you're accessing the API from your "
            "browser and are prompted for a username and password. You can obtain an API key "
            "from https://platform.openai.com/account/api-keys.")
    shown = key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else key[:3] + "***"
    return OpenAIError(
        401, f"Incorrect API key provided: {shown}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.", code="invalid_api_key")


def _model_not_found(model: str) -> OpenAIError:
    return OpenAIError(404, f"The model `{model}` does not exist or you do not have access "
                       "to it.", code="model_not_found")


# -- request validation helpers ------------------------------------------------------------

_TYPE_NAMES = {bool: "a boolean", int: "an integer", str: "a string", list: "an array",
               dict: "an object", float: "a number"}


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return "an unsupported value"


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or OpenAI's 400 for anything else."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise OpenAIError(
            400, "We could not parse the JSON body of your request. (HINT: This likely means "
            "you aren't using your HTTP library correctly. The OpenAI API expects a JSON "
            "payload, but what was sent was not valid JSON. If you have trouble figuring out "
            "how to fix this, please contact us through our help center at help.openai.com.)")
    return data


def _typed(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any,
           ) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        expected = _TYPE_NAMES.get(kinds[0], "a value")
        raise OpenAIError(400, f"Invalid type for '{name}': expected {expected}, but got "
                          f"{_type_name(value)} instead.", param=name, code="invalid_type")
    return value


def _int_range(body: Mapping[str, Any], name: str, default: int | None, low: int,
               high: int | None) -> int | None:
    value = _typed(body, name, int, default)
    if value is None:
        return None
    if value < low:
        raise OpenAIError(400, f"Invalid '{name}': integer below minimum value. Expected a "
                          f"value >= {low}, but got {value} instead.", param=name,
                          code="integer_below_min_value")
    if high is not None and value > high:
        raise OpenAIError(400, f"Invalid '{name}': integer above maximum value. Expected a "
                          f"value <= {high}, but got {value} instead.", param=name,
                          code="integer_above_max_value")
    return int(value)


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = _typed(body, name, str, default)
    if value not in allowed:
        listed = ", ".join(f"'{a}'" for a in allowed)
        raise OpenAIError(400, f"Invalid value: '{value}'. Supported values are: {listed}.",
                          param=name, code="invalid_value")
    return str(value)


def _message_text(content: Any, where: str) -> tuple[str, int]:
    """(text, extra tokens for non-text parts) of one message's content."""
    if content is None:
        return "", 0
    if isinstance(content, str):
        return content, 0
    if isinstance(content, list):
        texts: list[str] = []
        extra = 0
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind in ("image_url", "input_audio", "file"):
                extra += IMAGE_TOKENS
            else:
                raise OpenAIError(400, f"Invalid value: '{kind}'. Supported values are: 'text', "
                                  "'image_url', 'input_audio', and 'file'.",
                                  param=f"{where}.content[{i}].type", code="invalid_value")
        return "\n".join(texts), extra
    raise OpenAIError(400, f"Invalid type for '{where}.content': expected one of a string or "
                      f"array of objects, but got {_type_name(content)} instead.",
                      param=f"{where}.content", code="invalid_type")


def _parse_messages(body: Mapping[str, Any]) -> tuple[list[tuple[str, str]], int]:
    """(role, text) pairs and the prompt's token count."""
    if "messages" not in body:
        raise OpenAIError(400, "Missing required parameter: 'messages'.", param="messages",
                          code="missing_required_parameter")
    messages = _typed(body, "messages", list, [])
    if not messages:
        raise OpenAIError(400, "Invalid 'messages': empty array. Expected an array with minimum "
                          "length 1, but got an empty array instead.", param="messages",
                          code="empty_array")
    pairs: list[tuple[str, str]] = []
    extra = 0
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise OpenAIError(400, f"Invalid type for '{where}': expected an object, but got "
                              f"{_type_name(message)} instead.", param=where,
                              code="invalid_type")
        role = message.get("role")
        if role not in ROLES:
            listed = ", ".join(f"'{r}'" for r in ROLES)
            raise OpenAIError(400, f"Invalid value: '{role}'. Supported values are: {listed}.",
                              param=f"{where}.role", code="invalid_value")
        text, more = _message_text(message.get("content"), where)
        pairs.append((str(role), text))
        extra += more
    return pairs, count_chat_tokens([t for _, t in pairs]) + extra


def _fake_from_schema(schema: Any, text: str, depth: int = 0) -> Any:
    """A value shaped like a JSON schema, with strings taken from ``text``."""
    if not isinstance(schema, dict) or depth > 8:
        return text
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return _fake_from_schema(schema[key][0], text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: _fake_from_schema(sub, text, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = max(int(schema.get("minItems", 3)), 1)
        return [_fake_from_schema(schema.get("items"), text, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1.0))
    if kind == "boolean":
        return True
    return text


# -- rate-limit headers ----------------------------------------------------------------------

def _duration(seconds: float) -> str:
    """OpenAI's reset format: ``12ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


class RateLimits:
    """A one-minute sliding window of requests and tokens per API key (headers only: the
    emulator never throttles by itself; inject a ``429`` fault for that)."""

    def __init__(self, requests: int = REQUESTS_PER_MINUTE, tokens: int = TOKENS_PER_MINUTE,
                 ) -> None:
        self.requests = requests
        self.tokens = tokens
        self._windows: dict[str, collections.deque[tuple[float, int]]] = {}

    def record(self, key: str, tokens: int, now: float | None = None) -> dict[str, str]:
        now = time.monotonic() if now is None else now
        window = self._windows.setdefault(key, collections.deque())
        while window and window[0][0] <= now - 60:
            window.popleft()
        window.append((now, tokens))
        used_requests = len(window)
        used_tokens = sum(t for _, t in window)
        return {
            "x-ratelimit-limit-requests": str(self.requests),
            "x-ratelimit-limit-tokens": str(self.tokens),
            "x-ratelimit-remaining-requests": str(max(0, self.requests - used_requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.tokens - used_tokens)),
            "x-ratelimit-reset-requests": _duration(60 * used_requests / self.requests),
            "x-ratelimit-reset-tokens": _duration(60 * used_tokens / self.tokens),
        }


def exhausted_headers(retry_after: int) -> dict[str, str]:
    """Rate-limit headers of a throttled answer."""
    return {
        "x-ratelimit-limit-requests": str(REQUESTS_PER_MINUTE),
        "x-ratelimit-limit-tokens": str(TOKENS_PER_MINUTE),
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-requests": _duration(retry_after),
        "x-ratelimit-reset-tokens": _duration(retry_after),
    }


class OpenAIHeaders:
    """ASGI middleware adding OpenAI's per-response headers (request id, version, processing
    time, rate limits). Handlers report tokens through ``scope[USAGE_SCOPE_KEY]``."""

    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        usage: dict[str, int] = {"tokens": 0}
        scope[USAGE_SCOPE_KEY] = usage
        key = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                key = bearer_token(value.decode("latin-1")) or ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = {"x-request-id": "req_" + new_id("", 32).lower(),
                         "openai-version": OPENAI_VERSION,
                         "openai-organization": "user-sandbox",
                         "openai-processing-ms": str(round((time.monotonic() - started) * 1000))}
                extra.update(self.limits.record(key, usage["tokens"]))
                present = {k.lower() for k, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in extra.items()
                            if k.encode() not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def fault_reply(fault: Fault) -> FaultReply:
    """OpenAI's answer for an injected 429, 500 or 503."""
    status = int(fault.kind)
    headers = {"x-request-id": "req_" + new_id("", 32).lower(), "openai-version": OPENAI_VERSION}
    if status == 429:
        wait = retry_after_seconds(fault)
        headers.update(exhausted_headers(wait))
        headers.update({"retry-after": str(wait), "retry-after-ms": str(wait * 1000)})
        error = OpenAIError(429, "Rate limit reached for requests in organization user-sandbox "
                            f"on requests per min (RPM): Limit {REQUESTS_PER_MINUTE}, Used "
                            f"{REQUESTS_PER_MINUTE}, Requested 1. Please try again in {wait}s. "
                            "Visit https://platform.openai.com/account/rate-limits to learn "
                            "more.", type_="requests", code="rate_limit_exceeded")
    elif status == 500:
        error = OpenAIError(500, "The server had an error while processing your request. Sorry "
                            "about that!", type_="server_error")
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        error = OpenAIError(503, "The engine is currently overloaded, please try again later.",
                            type_="server_error", code="engine_overloaded")
    return FaultReply(status, dump_json(error.body()), headers)


# -- handlers ---------------------------------------------------------------------------------

def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


@dataclass(frozen=True)
class _Choice:
    text: str
    finish_reason: str


class OpenAIHandlers:
    """The endpoint logic, shared by the OpenAI emulator and Cloudflare's compatible API.

    Handlers raise :class:`OpenAIError`; callers turn it into a response.
    """

    def __init__(self, ctx: EmulatorContext, catalog: Catalog, *,
                 report_snapshot: bool = True) -> None:
        self.ctx = ctx
        self.catalog = catalog
        self.report_snapshot = report_snapshot

    # chat ----------------------------------------------------------------------------------

    def _chat_model(self, body: Mapping[str, Any]) -> ChatModel:
        model = body.get("model")
        if not model:
            raise OpenAIError(400, "you must provide a model parameter")
        if not isinstance(model, str):
            raise OpenAIError(400, f"Invalid type for 'model': expected a string, but got "
                              f"{_type_name(model)} instead.", param="model",
                              code="invalid_type")
        found = self.catalog.chat.get(model)
        if found is None:
            if model in self.catalog.images or model in self.catalog.embeddings:
                raise OpenAIError(404, "This is not a chat model and thus not supported in the "
                                  "v1/chat/completions endpoint. Did you mean to use "
                                  "v1/completions?", param="model")
            raise _model_not_found(model)
        return found

    async def chat_completions(self, request: Request) -> Response:
        body = await read_json_object(request)
        model = self._chat_model(body)
        messages, prompt_tokens = _parse_messages(body)
        n = _int_range(body, "n", 1, 1, 128) or 1
        stream = bool(_typed(body, "stream", bool, False))
        stream_options = _typed(body, "stream_options", dict, {})
        if stream_options and not stream:
            raise OpenAIError(400, "The 'stream_options' parameter is only allowed when 'stream' "
                              "is enabled.", param="stream_options", code="invalid_value")
        limit_name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        max_tokens = _int_range(body, limit_name, None, 1, None)
        if max_tokens is not None and max_tokens > model.max_output:
            raise OpenAIError(400, f"{limit_name} is too large: {max_tokens}. This model supports "
                              f"at most {model.max_output} completion tokens, whereas you "
                              f"provided {max_tokens}.", param=limit_name, code="invalid_value")
        _typed(body, "temperature", (int, float), 1)
        stop = _typed(body, "stop", (str, list), None)
        stops = [stop] if isinstance(stop, str) else [s for s in (stop or []) if isinstance(s, str)]
        seed = _typed(body, "seed", int, 0)
        response_format = _typed(body, "response_format", dict, {})
        requested = prompt_tokens + (max_tokens or 0)
        if requested > model.context:
            if max_tokens:
                detail = (f"However, you requested {requested} tokens ({prompt_tokens} in the "
                          f"messages, {max_tokens} in the completion). Please reduce the length "
                          "of the messages or completion.")
            else:
                detail = (f"However, your messages resulted in {prompt_tokens} tokens. Please "
                          "reduce the length of the messages.")
            raise OpenAIError(400, f"This model's maximum context length is {model.context} "
                              f"tokens. {detail}", param="messages",
                              code="context_length_exceeded")

        budget = max_tokens if max_tokens is not None else model.max_output
        choices = [self._compose(messages, i + seed * 1009, budget, stops, response_format)
                   for i in range(n)]
        completion_tokens = sum(count_tokens(c.text) for c in choices)
        request.scope.get(USAGE_SCOPE_KEY, {})["tokens"] = prompt_tokens + completion_tokens
        self.ctx.state.add_usage(self.ctx.provider, model.id, prompt_tokens=prompt_tokens,
                                 completion_tokens=completion_tokens)
        reported = model.snapshot if self.report_snapshot else model.id
        completion_id = new_id("chatcmpl-", 29)
        created = int(time.time())
        if stream:
            include_usage = bool(stream_options.get("include_usage"))
            obfuscate = stream_options.get("include_obfuscation", True) is not False
            usage = _usage(prompt_tokens, completion_tokens)
            return StreamingResponse(
                self._stream(completion_id, created, reported, choices, usage, include_usage,
                             obfuscate),
                media_type="text/event-stream", headers={"cache-control": "no-cache"})
        return JSONResponse({
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": reported,
            "choices": [{"index": i,
                         "message": {"role": "assistant", "content": c.text, "refusal": None,
                                     "annotations": []},
                         "logprobs": None, "finish_reason": c.finish_reason}
                        for i, c in enumerate(choices)],
            "usage": _usage(prompt_tokens, completion_tokens),
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
        })

    @staticmethod
    def _compose(messages: list[tuple[str, str]], variant: int, budget: int,
                 stops: list[str], response_format: Mapping[str, Any]) -> _Choice:
        text = text_gen.reply(messages, variant=variant)
        kind = response_format.get("type")
        if kind == "json_object":
            text = json.dumps({"text": text}, ensure_ascii=False)
        elif kind == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema", {})
            text = json.dumps(_fake_from_schema(schema, text), ensure_ascii=False)
        finish = "stop"
        for stop in stops:
            if stop and stop in text:
                text = text[:text.index(stop)]
        cut = truncate_to_tokens(text, budget)
        if cut != text:
            text, finish = cut, "length"
        return _Choice(text, finish)

    async def _stream(self, completion_id: str, created: int, model: str,
                      choices: list[_Choice], usage: dict[str, Any], include_usage: bool,
                      obfuscate: bool) -> AsyncIterator[bytes]:
        def chunk(index: int | None, delta: dict[str, Any], finish: str | None) -> bytes:
            data: dict[str, Any] = {
                "id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
                "choices": [] if index is None else [
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                data["usage"] = usage if index is None else None
            if obfuscate:
                data["obfuscation"] = new_id("", 4 + (len(delta.get("content") or "") % 8))
            return sse_event(data)

        for index, choice in enumerate(choices):
            yield chunk(index, {"role": "assistant", "content": "", "refusal": None}, None)
            for piece in text_gen.word_chunks(choice.text):
                await self._pause()
                yield chunk(index, {"content": piece}, None)
            yield chunk(index, {}, choice.finish_reason)
        if include_usage:
            yield chunk(None, {}, None)
        yield sse_event("[DONE]")

    async def _pause(self) -> None:
        await asyncio.sleep(self.ctx.stream_delay)

    # embeddings ----------------------------------------------------------------------------

    async def embeddings(self, request: Request) -> Response:
        body = await read_json_object(request)
        name = body.get("model")
        if not name:
            raise OpenAIError(400, "you must provide a model parameter")
        model = self.catalog.embeddings.get(str(name))
        if model is None:
            raise _model_not_found(str(name))
        texts = self._embedding_inputs(body)
        dims = _int_range(body, "dimensions", None, 1, model.dims)
        if dims is not None and not model.flexible_dimensions:
            raise OpenAIError(400, "This model does not support specifying dimensions.",
                              param="dimensions")
        encoding = _choice(body, "encoding_format", ("float", "base64"), "float")
        tokens = 0
        data: list[dict[str, Any]] = []
        for index, text in enumerate(texts):
            used = count_tokens(text)
            if used > model.max_input_tokens:
                raise OpenAIError(400, f"This model's maximum context length is "
                                  f"{model.max_input_tokens} tokens, however you requested "
                                  f"{used} tokens ({used} in your prompt; 0 for the "
                                  "completion). Please reduce your prompt; or completion "
                                  "length.", param="input", code="context_length_exceeded")
            tokens += used
            vector = vectors.embed(text, model.dims)
            if dims is not None:
                vector = vectors.shorten(vector, dims)
            embedding: list[float] | str = vector
            if encoding == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        request.scope.get(USAGE_SCOPE_KEY, {})["tokens"] = tokens
        self.ctx.state.add_usage(self.ctx.provider, model.id, prompt_tokens=tokens,
                                 embeddings=len(texts))
        return JSONResponse({"object": "list", "data": data, "model": model.id,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    @staticmethod
    def _embedding_inputs(body: Mapping[str, Any]) -> list[str]:
        value = body.get("input")
        invalid = OpenAIError(400, "'$.input' is invalid. Please check the API reference: "
                              "https://platform.openai.com/docs/api-reference.", param="input")
        if value is None:
            raise OpenAIError(400, "Missing required parameter: 'input'.", param="input",
                              code="missing_required_parameter")
        if isinstance(value, str):
            items: list[Any] = [value]
        elif isinstance(value, list) and value:
            items = [value] if all(isinstance(v, int) for v in value) else value
        else:
            raise invalid
        if len(items) > 2048:
            raise invalid
        texts: list[str] = []
        for item in items:
            if isinstance(item, str) and item:
                texts.append(item)
            elif (isinstance(item, list) and item
                  and all(isinstance(t, int) and not isinstance(t, bool) for t in item)):
                texts.append(" ".join(f"t{t}" for t in item))
            else:
                raise invalid
        return texts

    # images --------------------------------------------------------------------------------

    async def images(self, request: Request) -> Response:
        body = await read_json_object(request)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise OpenAIError(400, "Missing required parameter: 'prompt'.", param="prompt",
                              code="missing_required_parameter")
        name = _typed(body, "model", str, "dall-e-2")
        model = self.catalog.images.get(name)
        if model is None:
            raise _model_not_found(name)
        if len(prompt) > model.max_prompt:
            raise OpenAIError(400, f"Invalid 'prompt': string too long. Expected a string with "
                              f"maximum length {model.max_prompt}, but got a string with length "
                              f"{len(prompt)} instead.", param="prompt",
                              code="string_above_max_length")
        n = _int_range(body, "n", 1, 1, 10) or 1
        if n > model.max_n:
            raise OpenAIError(400, "You must provide n=1 for this model.", param="n")
        size = _choice(body, "size", model.sizes, "1024x1024")
        is_dalle3 = model.id == "dall-e-3"
        quality = _choice(body, "quality", ("standard", "hd") if is_dalle3 else ("standard",),
                          "standard")
        style = _choice(body, "style", ("vivid", "natural"), "vivid") if is_dalle3 else "vivid"
        response_format = _choice(body, "response_format", ("url", "b64_json"), "url")
        width, height = (int(v) for v in size.split("x"))
        out_w, out_h = png.preview_size(width, height)
        data: list[dict[str, Any]] = []
        for i in range(n):
            revised = _revised_prompt(prompt, style) if is_dalle3 else None
            image = png.render_png(revised or f"{prompt}#{i}", out_w, out_h,
                                   soft=style == "natural", detail=quality == "hd")
            item: dict[str, Any] = {}
            if response_format == "b64_json":
                item["b64_json"] = base64.b64encode(image).decode()
            else:
                file_name = f"img-{new_id('', 24)}.png"
                self.ctx.state.put_file(self.ctx.provider, file_name, "image/png", image)
                root = request.scope.get("root_path", "")
                item["url"] = f"{request.url.scheme}://{request.url.netloc}{root}/files/{file_name}"
            if revised:
                item["revised_prompt"] = revised
            data.append(item)
        self.ctx.state.add_usage(self.ctx.provider, model.id, images=n)
        return JSONResponse({"created": int(time.time()), "data": data})


def _revised_prompt(prompt: str, style: str) -> str:
    look = ("hyper-real, dramatic" if style == "vivid" else "natural, understated")
    return (f"{prompt.strip().rstrip('.')}. Rendered as a {look} digital illustration with a "
            "clean composition, soft directional light and a balanced colour palette.")


# -- the app ----------------------------------------------------------------------------------

def _invalid_url(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code not in (404, 405):
        return JSONResponse(OpenAIError(exc.status_code, str(exc.detail)).body(),
                            exc.status_code)
    return OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})").response()


def create_app(ctx: EmulatorContext) -> ASGIApp:
    """The OpenAI emulator, routing on paths below its mount (``/v1/...``, ``/files/...``)."""
    handlers = OpenAIHandlers(ctx, CATALOG)

    def authenticate(request: Request) -> None:
        key = bearer_token(request.headers.get("authorization"))
        accepted = key is not None and key.startswith("sk-") and key != "sk-invalid"
        if key is None or not ctx.state.authenticate(ctx.provider, key, accepted):
            raise invalid_key_error(key)

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                authenticate(request)
                response: Response = await handler(request)
                return response
            except OpenAIError as error:
                return error.response()
        return run

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": CATALOG.model_objects()})

    async def get_model(request: Request) -> Response:
        name = request.path_params["model"]
        for model in CATALOG.model_objects():
            if model["id"] == name:
                return JSONResponse(model)
        raise _model_not_found(name)

    async def get_file(request: Request) -> Response:
        found = ctx.state.get_file(request.path_params["name"])
        if found is None:
            return Response(b"BlobNotFound", 404, media_type="text/plain")
        content_type, data = found
        return Response(data, media_type=content_type)

    app = Starlette(
        routes=[
            Route("/v1/models", endpoint(list_models), methods=["GET"]),
            Route("/v1/models/{model:path}", endpoint(get_model), methods=["GET"]),
            Route("/v1/chat/completions", endpoint(handlers.chat_completions), methods=["POST"]),
            Route("/v1/embeddings", endpoint(handlers.embeddings), methods=["POST"]),
            Route("/v1/images/generations", endpoint(handlers.images), methods=["POST"]),
            Route("/files/{name}", get_file, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _invalid_url},
    )
    return OpenAIHeaders(app, RateLimits())
