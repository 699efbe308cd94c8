"""Pieces shared by every emulator: the context an emulator app is built with, the registry
entry type, the canned reply a fault produces, a rough tokenizer, ids and SSE framing.

Tokenizer: the sandbox counts one token per 4 characters of text, rounded up (an empty text
is 0 tokens). Chat prompts add 3 tokens per message and 3 for priming the reply, the overhead
OpenAI documents for its chat models. The numbers are only meant to be plausible and stable.
"""

from __future__ import annotations

import json
import math
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp

if TYPE_CHECKING:
    from mbv_desktop.sandbox.faults import Fault
    from mbv_desktop.sandbox.state import SandboxState

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3

_ALPHANUMERIC = string.ascii_letters + string.digits


@dataclass(frozen=True)
class EmulatorContext:
    """What an emulator app is built with.

    Attributes:
        provider: the registry name of the emulator (``"openai"``, ``"workers_ai"``).
        state: the sandbox's own persistent store (keys, request log, usage, files).
        stream_delay: seconds to wait between streamed chunks (0 in tests; the CLI uses a
            small delay so streaming is visible in the app).
    """

    provider: str
    state: SandboxState
    stream_delay: float = 0.0


@dataclass(frozen=True)
class FaultReply:
    """A complete HTTP answer produced by a fault (429, 500, 503) instead of the emulator."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def generic_fault_reply(fault: Fault) -> FaultReply:
    """A provider-neutral JSON error for emulators that do not shape their own."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if fault.retry_after is not None or status == 429:
        headers["retry-after"] = str(retry_after_seconds(fault))
    body = {"error": {"status": status, "message": f"sandbox fault {fault.kind}"}}
    return FaultReply(status, dump_json(body), headers)


@dataclass(frozen=True)
class EmulatorSpec:
    """One registry entry: an emulator mounted by the host.

    Attributes:
        name: provider name used in ``urls()``, fault rules and the request log.
        prefix: where the emulator app is mounted on the host (``"/openai"``).
        app_factory: builds the emulator's ASGI app; it routes on paths below ``prefix``.
        base_url_suffix: appended to ``http://127.0.0.1:PORT`` + ``prefix`` to give the base
            URL a client is configured with (``"/v1"`` → ``.../openai/v1``).
        fault_reply: turns a 429/500/503 fault into the provider's real error shape.
        key_prefix: how keys minted by ``SandboxHost.issue_key`` start (``"sk-sandbox-"``).
    """

    name: str
    prefix: str
    app_factory: Callable[[EmulatorContext], ASGIApp]
    base_url_suffix: str
    fault_reply: Callable[[Fault], FaultReply] = generic_fault_reply
    key_prefix: str = ""


def retry_after_seconds(fault: Fault) -> int:
    """The whole seconds a fault asks clients to wait (at least 1 for a 429)."""
    value = fault.retry_after if fault.retry_after is not None else 1.0
    return max(1 if fault.kind == "429" else 0, math.ceil(value))


def count_tokens(text: str) -> int:
    """Rough token count: one token per 4 characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` that fits ``max_tokens`` (cut at a word when possible)."""
    limit = max(0, max_tokens) * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut


def count_chat_tokens(contents: list[str]) -> int:
    """Prompt tokens for a list of message contents, with the per-message overhead."""
    return sum(count_tokens(c) + TOKENS_PER_MESSAGE for c in contents) + TOKENS_REPLY_PRIMING


def new_id(prefix: str, length: int = 24) -> str:
    """A random id in the provider's style, e.g. ``chatcmpl-`` + 24 letters and digits."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON, as the providers send it."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sse_event(data: Any) -> bytes:
    """One server-sent event carrying ``data`` (a JSON value, or a literal like ``[DONE]``)."""
    payload = data if isinstance(data, str) else dump_json(data).decode("utf-8")
    return f"data: {payload}\n\n".encode()


def bearer_token(authorization: str | None) -> str | None:
    """The token from an ``Authorization: Bearer ...`` header, or None when absent."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
