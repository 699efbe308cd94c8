"""Generation against an OpenAI-compatible server that is not the sandbox (a local model
server's shape): streaming, variants, cut and garbled streams, errors, the ledger."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import run
from tiny_openai_server import TinyOpenAI

from mbv_desktop.core.errors import MbvError, NotConfigured, Rejected
from mbv_desktop.core.generation import Provider, TaskKind
from mbv_desktop.services.container import open_services


@pytest.fixture
def server() -> Iterator[TinyOpenAI]:
    with TinyOpenAI() as s:
        yield s


@pytest.fixture
def local(server: TinyOpenAI, data_dir: Path) -> Iterator[Any]:
    s = open_services(data_dir, env={}, overrides={"local_ai.base_url": server.url,
                                                   "local_ai.model": "tiny-chat",
                                                   "ai.provider": "local"})
    yield s
    s.close()


def run_closing(services: Any, coro: Any) -> Any:
    """Runs ``coro`` and closes the network clients in the same loop (they belong to it)."""

    async def go() -> Any:
        try:
            return await coro
        finally:
            await services.aclose()

    return run(go())


def test_streams_variants_records_usage_and_lists_models(local: Any, server: TinyOpenAI
                                                         ) -> None:
    seen: list[str] = []

    async def go() -> Any:
        models = await local.generation.list_models(Provider.LOCAL)
        outcome = await local.generation.generate_text(
            TaskKind.X_POST, topic="coffee", variants=2,
            on_delta=lambda d: seen.append(d.text))
        return models, outcome, await local.generation.budget()

    models, outcome, budget = run_closing(local, go())
    assert models == ["tiny-chat", "tiny-embed"]
    assert outcome.status == "complete" and len(outcome.variants) == 2
    assert outcome.variants[0].text.startswith("Fresh v1 coffee")
    assert outcome.variants[1].text.startswith("Fresh v2 coffee")
    assert len(seen) > 10  # it streamed, piece by piece
    assert (outcome.usage.tokens_in, outcome.usage.tokens_out) == (20, 24)
    assert outcome.cost.usd == 0  # local models are free
    _method, path, body = server.requests[-1]
    assert path == "/v1/chat/completions" and body["stream"] is True and body["n"] == 2
    assert body["messages"][1]["content"].startswith("Write one post for X")
    assert budget.month.runs == 1


def test_a_stream_cut_midway_keeps_the_text_and_marks_it(local: Any, server: TinyOpenAI) -> None:
    server.cut_after = 4
    outcome = run_closing(local, local.generation.generate_text(TaskKind.X_POST, topic="coffee"))
    assert outcome.status == "partial"
    assert outcome.variants[0].text == "Fresh coffee at dawn"
    assert outcome.variants[0].partial
    assert "stopped" in (outcome.note or "") or "without finishing" in (outcome.note or "")
    assert outcome.usage.estimated  # the server never sent usage


def test_a_garbled_stream_is_partial_not_a_crash(local: Any, server: TinyOpenAI) -> None:
    server.garble_after = 3
    outcome = run_closing(local, local.generation.generate_text(TaskKind.X_POST, topic="coffee"))
    assert outcome.status == "partial" and outcome.variants[0].text == "Fresh coffee at"


def test_errors_are_one_clear_sentence_and_recorded(local: Any, server: TinyOpenAI) -> None:
    server.error = (400, {"error": {"message": "This model's maximum context length is 4096 "
                                    "tokens.", "type": "invalid_request_error",
                                    "code": "context_length_exceeded"}})
    async def go() -> Any:
        with pytest.raises(Rejected) as caught:
            await local.generation.generate_text(TaskKind.HASHTAGS, text="x " * 10)
        return caught.value, await local.generation.budget()

    error, budget = run_closing(local, go())
    assert "maximum context length" in str(error)
    assert budget.month.runs == 1  # the failed run is in the ledger


def test_cancel_records_what_arrived(local: Any, server: TinyOpenAI) -> None:
    async def go() -> Any:
        got: list[str] = []
        task = asyncio.ensure_future(local.generation.generate_text(
            TaskKind.X_POST, topic="coffee", on_delta=lambda d: got.append(d.text)))
        while len(got) < 2:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await local.generation.budget()

    budget = run_closing(local, go())
    assert budget.month.runs == 1 and budget.month.tokens_out > 0


def test_missing_key_is_one_sentence_naming_the_setting(data_dir: Path) -> None:
    s = open_services(data_dir, env={})
    try:
        with pytest.raises(NotConfigured) as caught:
            run(s.generation.generate_text(TaskKind.X_POST, topic="x",
                                           provider=Provider.OPENAI))
        assert "openai.api_key" in str(caught.value)
        assert isinstance(caught.value, MbvError)
    finally:
        s.close()


def test_network_down_is_one_sentence_and_nothing_is_lost(data_dir: Path) -> None:
    import socket

    from mbv_desktop.core.errors import ProviderUnavailable

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    services = open_services(data_dir, env={}, overrides={"local_ai.base_url": dead,
                                                          "ai.provider": "local"})

    async def go() -> Any:
        draft = await services.drafting.create("my words stay here")
        with pytest.raises(ProviderUnavailable) as caught:
            await services.generation.generate_text(TaskKind.REWRITE_SHORTER, text=draft.body,
                                                    draft_id=draft.id)
        return caught.value, await services.drafting.get(draft.id)

    try:
        error, draft = run_closing(services, go())
    finally:
        services.close()
    assert "Could not reach the local AI server" in str(error)
    assert draft.body == "my words stay here"
