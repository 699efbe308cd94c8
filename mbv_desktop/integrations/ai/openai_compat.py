"""One client for every OpenAI-compatible endpoint: OpenAI itself, Workers AI's OpenAI path,
and local servers (Ollama, llama.cpp, LM Studio), on the official ``openai`` SDK.

The SDK's own retries are off (``max_retries=0``): the provider's ``ProviderClient`` is the one
retry layer, wrapped around each call with ``run()``. A stream is retried only until its first
chunk arrives; after that a cut stream ends the run with the text so far marked partial.
Workers AI's images are not on its OpenAI path, so they go to its REST ``ai/run`` endpoint.

The SDK takes ~0.4 s to import, so it is imported on a worker thread the first time it is needed.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from mbv_desktop.core.errors import ProviderError, ProviderUnavailable, Rejected
from mbv_desktop.core.generation import ChatMessage, Usage
from mbv_desktop.integrations.http import ProviderClient

log = logging.getLogger(__name__)

IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"RIFF": "image/webp",
}


@dataclass(frozen=True)
class AiEndpoint:
    provider: str  # "openai" | "workers_ai" | "local"
    base_url: str  # what the SDK takes (for Workers AI: .../accounts/{id}/ai/v1)
    api_key: str = field(repr=False)
    rest_base_url: str = ""  # Workers AI REST root (.../client/v4/accounts/{id}), for images


@dataclass(frozen=True)
class ChatDelta:
    index: int
    text: str
    finish_reason: str | None = None


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    mime: str
    revised_prompt: str | None = None


class StreamInterrupted(ProviderUnavailable):
    """The stream stopped before the provider said it was done; what arrived is kept."""


def sniff_image(data: bytes) -> str | None:
    for signature, mime in IMAGE_SIGNATURES.items():
        if data.startswith(signature) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


_sdk: Any = None


async def load_sdk() -> Any:
    """The ``openai`` module, imported off the event loop's thread the first time."""
    global _sdk
    if _sdk is None:
        _sdk = await asyncio.to_thread(importlib.import_module, "openai")
    return _sdk


class OpenAICompatClient:
    def __init__(self, endpoint: AiEndpoint, policy: ProviderClient) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self._client: Any = None

    async def _sdk_client(self) -> Any:
        if self._client is None:
            openai = await load_sdk()
            # Built on a worker thread: making its TLS context reads the CA bundle (~0.1 s).
            self._client = await asyncio.to_thread(
                openai.AsyncOpenAI, base_url=self.endpoint.base_url,
                api_key=self.endpoint.api_key or "none", max_retries=0, timeout=60.0)
        return self._client

    async def list_models(self) -> list[str]:
        if self.endpoint.provider == "workers_ai":  # no /models on its OpenAI path
            response = await self.policy.request(
                "GET", f"{self.endpoint.rest_base_url}/ai/models/search",
                params={"per_page": 100},
                headers={"Authorization": f"Bearer {self.endpoint.api_key}"})
            body = response.json()
            return sorted(str(m.get("name")) for m in body.get("result") or [] if m.get("name"))
        client = await self._sdk_client()

        async def call() -> list[str]:
            page = await client.models.list()
            return sorted(m.id for m in page.data)

        return await self.policy.run(call, idempotent=True, operation="list models")

    async def stream_chat(
        self, model: str, messages: Sequence[ChatMessage], *, n: int = 1,
        max_tokens: int | None = None, usage_out: list[Usage] | None = None,
    ) -> AsyncIterator[ChatDelta]:
        """Yields text deltas per variant; appends the provider's usage to ``usage_out``."""
        client = await self._sdk_client()
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if n > 1:
            kwargs["n"] = n
        if max_tokens:
            kwargs["max_tokens"] = max_tokens

        async def open_stream() -> Any:
            return await client.chat.completions.create(**kwargs)

        # Generation has no effect at the provider besides its cost, so a failed start is
        # retried like an idempotent call.
        stream = await self.policy.run(open_stream, idempotent=True, operation="chat")
        finished: set[int] = set()
        try:
            async for chunk in stream:
                usage = getattr(chunk, "usage", None)
                if usage is not None and usage_out is not None:
                    usage_out.append(Usage(int(usage.prompt_tokens or 0),
                                           int(usage.completion_tokens or 0)))
                for choice in chunk.choices or ():
                    text = getattr(choice.delta, "content", None) or ""
                    if choice.finish_reason:
                        finished.add(choice.index)
                    if text or choice.finish_reason:
                        yield ChatDelta(choice.index, text, choice.finish_reason)
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except ProviderError:
            raise
        except Exception as e:  # a cut or garbled stream, from the SDK or the transport
            log.info("%s stream stopped: %r", self.endpoint.provider, e)
            raise StreamInterrupted(
                f"The connection to {self._name()} stopped in the middle of the answer; "
                "the text so far is kept and marked unfinished.",
                provider=self.endpoint.provider, maybe_sent=True) from e
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                await close()
        if not finished:
            raise StreamInterrupted(
                f"{self._name()} ended the answer without finishing it; the text so far is "
                "kept and marked unfinished.", provider=self.endpoint.provider, maybe_sent=True)

    async def generate_image(self, prompt: str, *, model: str, size: str = "1024x1024",
                             quality: str = "standard", style: str = "vivid") -> GeneratedImage:
        if self.endpoint.provider == "workers_ai":
            return await self._workers_ai_image(prompt, model)
        client = await self._sdk_client()

        async def call() -> Any:
            return await client.images.generate(
                model=model, prompt=prompt, size=size, quality=quality, style=style, n=1,
                response_format="b64_json")

        result = await self.policy.run(call, idempotent=True, operation="image")
        item = result.data[0]
        try:
            data = base64.b64decode(item.b64_json or "", validate=True)
        except ValueError:
            data = b""
        return self._checked_image(data, getattr(item, "revised_prompt", None))

    async def _workers_ai_image(self, prompt: str, model: str) -> GeneratedImage:
        response = await self.policy.request(
            "POST", f"{self.endpoint.rest_base_url}/ai/run/{model}",
            json={"prompt": prompt}, idempotent=True,
            headers={"Authorization": f"Bearer {self.endpoint.api_key}"})
        return self._checked_image(response.content, None)

    def _checked_image(self, data: bytes, revised_prompt: str | None) -> GeneratedImage:
        mime = sniff_image(data)
        if mime is None:
            raise Rejected(f"{self._name()} sent back something that is not an image; nothing "
                           "was saved.", provider=self.endpoint.provider)
        return GeneratedImage(data, mime, revised_prompt)

    async def embed(self, texts: Sequence[str], *, model: str) -> list[list[float]]:
        client = await self._sdk_client()

        async def call() -> Any:
            return await client.embeddings.create(model=model, input=list(texts))

        result = await self.policy.run(call, idempotent=True, operation="embeddings")
        return [list(item.embedding) for item in sorted(result.data, key=lambda d: d.index)]

    def _name(self) -> str:
        return {"openai": "OpenAI", "workers_ai": "Workers AI",
                "local": "the local model server"}.get(self.endpoint.provider, "The provider")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
