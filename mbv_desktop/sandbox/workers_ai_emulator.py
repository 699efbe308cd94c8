"""The Cloudflare Workers AI emulator, in the Cloudflare API v4 wire format.

Mounted by the host at ``/cloudflare``; the base URL is
``http://127.0.0.1:PORT/cloudflare/client/v4`` and the endpoints are:

``POST /accounts/{account_id}/ai/run/{model}``
    ``{model}`` keeps its slashes (``@cf/meta/llama-3.1-8b-instruct``). Text models take
    ``prompt`` or ``messages`` (plus ``max_tokens``, default 256, ``stream``…) and answer
    ``{"result": {"response", "tool_calls", "usage"}, "success": true, "errors": [],
    "messages": []}``; with ``"stream": true`` the answer is SSE, ``data: {"response": "..."}``
    per word, a last event with an empty ``response`` and the ``usage``, then ``data: [DONE]``
    (no envelope). Image models (Stable Diffusion family) answer raw ``image/png`` bytes
    (a real PNG at a quarter of ``width`` x ``height``, see :mod:`.png`). Embedding models take
    ``text`` (a string or up to 100 strings) and answer ``result.shape`` and ``result.data``.
``POST /accounts/{account_id}/ai/v1/chat/completions`` and ``.../ai/v1/embeddings``
    The OpenAI-compatible endpoints, answered by the OpenAI emulator's logic with Cloudflare's
    model names (request errors in OpenAI's shape; authentication errors in Cloudflare's).
``GET /accounts/{account_id}/ai/models/search``
    The model catalogue, paginated with ``result_info``.
``GET /user/tokens/verify``
    Token check, as the real API offers.

Authentication: ``Authorization: Bearer <token>``; any non-empty token is accepted except the
literal ``invalid`` and revoked tokens, which get 401 with code 10000 "Authentication error".
Errors use the v4 envelope ``{"result": null, "success": false, "errors": [{"code",
"message"}], "messages": []}``. The Workers AI error codes used here (5006 input validation,
5007 unknown model, 5021 context window, 3040 out of capacity, 3043 internal error) follow
Cloudflare's Workers AI error table as far as it could be checked; treat them as plausible.
Context windows and default ``max_tokens`` follow Cloudflare's model pages approximately.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp

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
from mbv_desktop.sandbox.openai_emulator import (
    Catalog,
    ChatModel,
    EmbeddingModel,
    OpenAIError,
    OpenAIHandlers,
)

PROVIDER = "workers_ai"
DEFAULT_MAX_TOKENS = 256
RATE_LIMIT_PER_MINUTE = 300
MAX_EMBEDDING_TEXTS = 100
EMBEDDING_MAX_TOKENS = 512


@dataclass(frozen=True)
class TextModel:
    id: str
    context: int
    description: str


@dataclass(frozen=True)
class ImageModelCF:
    id: str
    default_side: int
    description: str


@dataclass(frozen=True)
class EmbeddingModelCF:
    id: str
    dims: int
    description: str


TEXT_MODELS = {m.id: m for m in (
    TextModel("@cf/meta/llama-3.1-8b-instruct", 7968,
              "Meta Llama 3.1 8B, multilingual instruction-tuned."),
    TextModel("@cf/meta/llama-3-8b-instruct", 7968, "Meta Llama 3 8B instruction-tuned."),
    TextModel("@cf/meta/llama-3.3-70b-instruct-fp8-fast", 24000,
              "Llama 3.3 70B quantised to fp8, tuned for speed."),
    TextModel("@cf/mistral/mistral-7b-instruct-v0.1", 2824, "Mistral 7B instruct v0.1."),
)}
IMAGE_MODELS = {m.id: m for m in (
    ImageModelCF("@cf/runwayml/stable-diffusion-v1-5", 512, "Stable Diffusion v1.5."),
    ImageModelCF("@cf/runwayml/stable-diffusion-v1-5-img2img", 512,
                 "Stable Diffusion v1.5, image to image."),
    ImageModelCF("@cf/runwayml/stable-diffusion-v1-5-inpainting", 512,
                 "Stable Diffusion v1.5, inpainting."),
    ImageModelCF("@cf/stabilityai/stable-diffusion-xl-base-1.0", 1024, "Stable Diffusion XL."),
    ImageModelCF("@cf/bytedance/stable-diffusion-xl-lightning", 1024, "SDXL Lightning."),
    ImageModelCF("@cf/lykon/dreamshaper-8-lcm", 512, "Dreamshaper 8 LCM."),
)}
EMBEDDING_MODELS = {m.id: m for m in (
    EmbeddingModelCF("@cf/baai/bge-small-en-v1.5", 384, "BAAI bge small, English."),
    EmbeddingModelCF("@cf/baai/bge-base-en-v1.5", 768, "BAAI bge base, English."),
    EmbeddingModelCF("@cf/baai/bge-large-en-v1.5", 1024, "BAAI bge large, English."),
)}

COMPAT_CATALOG = Catalog(
    chat={m.id: ChatModel(m.id, m.id, m.context, m.context, 1720000000, "cloudflare")
          for m in TEXT_MODELS.values()},
    embeddings={m.id: EmbeddingModel(m.id, m.dims, 1720000000, EMBEDDING_MAX_TOKENS,
                                     flexible_dimensions=False, owned_by="cloudflare")
                for m in EMBEDDING_MODELS.values()},
)


class CloudflareError(Exception):
    """An error answered in the Cloudflare v4 envelope."""

    def __init__(self, status: int, code: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"result": None, "success": False,
                "errors": [{"code": self.code, "message": self.message}], "messages": []}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), self.status, headers=self.headers)


def envelope(result: Any) -> dict[str, Any]:
    """Cloudflare's success envelope around ``result``."""
    return {"result": result, "success": True, "errors": [], "messages": []}


def _ratelimit_headers(remaining: int, reset: int) -> dict[str, str]:
    return {"ratelimit": f'"workers-ai";r={remaining};t={reset}',
            "ratelimit-policy": f'"workers-ai";q={RATE_LIMIT_PER_MINUTE};w=60'}


def fault_reply(fault: Fault) -> FaultReply:
    """Cloudflare's answer for an injected 429, 500 or 503."""
    status = int(fault.kind)
    headers: dict[str, str] = {"cf-ray": new_id("", 16).lower() + "-SBX"}
    if status == 429:
        wait = retry_after_seconds(fault)
        headers.update(_ratelimit_headers(0, wait))
        headers["retry-after"] = str(wait)
        error = CloudflareError(429, 3040, "Capacity temporarily exceeded, please try again.")
    elif status == 500:
        error = CloudflareError(500, 3043, "Internal server error")
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        error = CloudflareError(503, 3040, "Service temporarily unavailable, please try again.")
    return FaultReply(status, dump_json(error.body()), headers)


def _invalid_input(detail: str) -> CloudflareError:
    return CloudflareError(400, 5006, f"AiError: AiError: Input validation error: {detail}")


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise CloudflareError(400, 5006, "AiError: AiError: Bad input: malformed JSON") from None
    if not isinstance(data, dict):
        raise _invalid_input("must be object")
    return data


class WorkersAI:
    """The native ``ai/run`` logic."""

    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx

    async def run(self, request: Request) -> Response:
        model = request.path_params["model"]
        body = await _json_body(request)
        if model in TEXT_MODELS:
            return await self._text(TEXT_MODELS[model], body)
        if model in IMAGE_MODELS:
            return self._image(IMAGE_MODELS[model], body)
        if model in EMBEDDING_MODELS:
            return self._embeddings(EMBEDDING_MODELS[model], body)
        raise CloudflareError(400, 5007, f"No such model {model} or task")

    async def _text(self, model: TextModel, body: Mapping[str, Any]) -> Response:
        prompt = body.get("prompt")
        messages = body.get("messages")
        if (prompt is None) == (messages is None):
            raise _invalid_input("required properties at '/' are 'prompt' or 'messages' (one "
                                 "of them, not both)")
        pairs: list[tuple[str, str]]
        if prompt is not None:
            if not isinstance(prompt, str) or not prompt:
                raise _invalid_input("'/prompt' must be a non-empty string")
            pairs = [("user", prompt)]
            prompt_tokens = count_tokens(prompt)
        else:
            if not isinstance(messages, list) or not messages:
                raise _invalid_input("'/messages' must be a non-empty array")
            pairs = []
            for i, m in enumerate(messages):
                if (not isinstance(m, dict) or not isinstance(m.get("role"), str)
                        or not isinstance(m.get("content"), str)):
                    raise _invalid_input(f"required properties at '/messages/{i}' are 'role', "
                                         "'content'")
                pairs.append((m["role"], m["content"]))
            prompt_tokens = count_chat_tokens([c for _, c in pairs])
        max_tokens = body.get("max_tokens", DEFAULT_MAX_TOKENS)
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _invalid_input("'/max_tokens' must be a positive integer")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise _invalid_input("'/stream' must be boolean")
        if prompt_tokens + max_tokens > model.context:
            raise CloudflareError(400, 5021, "The estimated number of input and maximum output "
                                  f"tokens ({prompt_tokens + max_tokens}) exceeded this model "
                                  f"context window limit ({model.context}).")
        seed = body.get("seed", 0)
        variant = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
        text = truncate_to_tokens(text_gen.reply(pairs, variant=variant), max_tokens)
        completion_tokens = count_tokens(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        self.ctx.state.add_usage(self.ctx.provider, model.id, prompt_tokens=prompt_tokens,
                                 completion_tokens=completion_tokens)
        if stream:
            return StreamingResponse(self._stream(text, usage), media_type="text/event-stream",
                                     headers={"cache-control": "no-cache"})
        return JSONResponse(envelope({"response": text, "tool_calls": [], "usage": usage}))

    async def _stream(self, text: str, usage: dict[str, int]) -> AsyncIterator[bytes]:
        for piece in text_gen.word_chunks(text):
            await asyncio.sleep(self.ctx.stream_delay)
            yield sse_event({"response": piece, "p": new_id("", 6).lower()})
        yield sse_event({"response": "", "usage": usage})
        yield sse_event("[DONE]")

    def _image(self, model: ImageModelCF, body: Mapping[str, Any]) -> Response:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise _invalid_input("required properties at '/' are 'prompt'")
        sides: list[int] = []
        for name in ("width", "height"):
            value = body.get(name, model.default_side)
            if (not isinstance(value, int) or isinstance(value, bool)
                    or not 256 <= value <= 2048):
                raise _invalid_input(f"'/{name}' must be an integer from 256 to 2048")
            sides.append(value)
        steps = body.get("num_steps", 20)
        if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 20:
            raise _invalid_input("'/num_steps' must be <= 20")
        width, height = png.preview_size(sides[0], sides[1])
        seed = body.get("seed")
        image = png.render_png(f"{prompt}#{seed}" if seed is not None else prompt, width, height)
        self.ctx.state.add_usage(self.ctx.provider, model.id, images=1)
        return Response(image, media_type="image/png")

    def _embeddings(self, model: EmbeddingModelCF, body: Mapping[str, Any]) -> Response:
        text = body.get("text")
        texts = [text] if isinstance(text, str) else text
        if (not isinstance(texts, list) or not texts or len(texts) > MAX_EMBEDDING_TEXTS
                or not all(isinstance(t, str) and t for t in texts)):
            raise _invalid_input("'/text' must be a non-empty string or an array of 1 to "
                                 f"{MAX_EMBEDDING_TEXTS} non-empty strings")
        tokens = sum(count_tokens(t) for t in texts)
        self.ctx.state.add_usage(self.ctx.provider, model.id, prompt_tokens=tokens,
                                 embeddings=len(texts))
        data = [vectors.embed(t, model.dims) for t in texts]
        return JSONResponse(envelope({"shape": [len(data), model.dims], "data": data,
                                      "pooling": "mean"}))


def _catalogue_entries() -> list[dict[str, Any]]:
    tasks = ([(m.id, m.description, "Text Generation") for m in TEXT_MODELS.values()]
             + [(m.id, m.description, "Text-to-Image") for m in IMAGE_MODELS.values()]
             + [(m.id, m.description, "Text Embeddings") for m in EMBEDDING_MODELS.values()])
    return [{"id": f"sandbox-{i:04d}", "name": name, "description": description,
             "source": 1, "task": {"name": task}, "tags": [], "properties": []}
            for i, (name, description, task) in enumerate(sorted(tasks))]


def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status in (404, 405):
        return CloudflareError(404, 7003, "Could not route to "
                               f"{request.url.path}, perhaps your object identifier is "
                               "invalid?").response()
    return CloudflareError(status, 7000, str(getattr(exc, "detail", "error"))).response()


def create_app(ctx: EmulatorContext) -> ASGIApp:
    """The Workers AI emulator, routing on paths below its mount (``/client/v4/...``)."""
    native = WorkersAI(ctx)
    compat = OpenAIHandlers(ctx, COMPAT_CATALOG, report_snapshot=False)

    def authenticate(request: Request) -> None:
        token = bearer_token(request.headers.get("authorization"))
        accepted = token is not None and token != "invalid"
        if token is None or not ctx.state.authenticate(ctx.provider, token, accepted):
            raise CloudflareError(401, 10000, "Authentication error")

    def endpoint(handler: Any) -> Any:
        async def run(request: Request) -> Response:
            try:
                authenticate(request)
                response: Response = await handler(request)
                return response
            except CloudflareError as error:
                return error.response()
            except OpenAIError as error:
                return error.response()
        return run

    async def search_models(request: Request) -> Response:
        entries = _catalogue_entries()
        try:
            page = max(1, int(request.query_params.get("page", "1")))
            per_page = max(1, min(100, int(request.query_params.get("per_page", "50"))))
        except ValueError:
            raise CloudflareError(400, 1001, "page and per_page must be integers") from None
        task = request.query_params.get("task")
        if task:
            entries = [e for e in entries if e["task"]["name"].lower() == task.lower()]
        chunk = entries[(page - 1) * per_page: page * per_page]
        body = envelope(chunk)
        body["result_info"] = {"page": page, "per_page": per_page, "count": len(chunk),
                               "total_count": len(entries)}
        return JSONResponse(body)

    async def verify_token(request: Request) -> Response:
        return JSONResponse(envelope({"id": new_id("", 32).lower(), "status": "active"}))

    base = "/client/v4"
    account = base + "/accounts/{account_id}/ai"
    return Starlette(
        routes=[
            Route(account + "/run/{model:path}", endpoint(native.run), methods=["POST"]),
            Route(account + "/v1/chat/completions", endpoint(compat.chat_completions),
                  methods=["POST"]),
            Route(account + "/v1/embeddings", endpoint(compat.embeddings), methods=["POST"]),
            Route(account + "/models/search", endpoint(search_models), methods=["GET"]),
            Route(base + "/user/tokens/verify", endpoint(verify_token), methods=["GET"]),
        ],
        exception_handlers={HTTPException: _not_found},
    )
