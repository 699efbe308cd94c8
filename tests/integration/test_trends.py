"""Trends and hashtag suggestions on the sandbox: X's trends by place and for the account, kept
for a quarter of an hour and shown marked stale when X can't be reached; a plain sentence for
Instagram and TikTok, which have no trends API; suggestions for a post from the creator's best
posts and the trends, by meaning with embeddings (the sandbox's OpenAI), by shared words
without an AI provider, each with its reason."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from analytics_seed import seed_published
from helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


def profile(sandbox: SandboxHost, data_dir: Path, *, ai: bool = True) -> Services:
    overrides = sandbox_overrides(sandbox.urls())
    if not ai:
        overrides = {k: v for k, v in overrides.items()
                     if not k.startswith(("openai.", "workers_ai.", "local_ai."))}
    return open_services(data_dir, env={}, overrides=overrides, sandbox=True)


def trend_calls(sandbox: SandboxHost) -> int:
    return sandbox.request_count("x", "/x/2/trends") + sandbox.request_count(
        "x", "/x/2/users/personalized_trends")


def test_x_trends_are_cached_and_shown_stale_when_x_is_down(sandbox: SandboxHost,
                                                          data_dir: Path) -> None:
    services = profile(sandbox, data_dir)

    async def scenario() -> tuple[Any, Any, Any, Any, int, int]:
        try:
            await services.accounts.authorize("x", open_url=answer_consent, timeout=10)
            first = await services.trends.trends("x")
            calls = trend_calls(sandbox)
            cached = await services.trends.trends("x")
            again = trend_calls(sandbox)
            sandbox.faults.add("x", Fault("503", path_prefix="/x/2/trends", times=20))
            stale = await services.trends.trends("x", refresh=True)
            tiktok = await services.trends.trends("tiktok")
            return first, cached, stale, tiktok, calls, again
        finally:
            await services.aclose()

    try:
        first, cached, stale, tiktok, calls, again = run(scenario())
    finally:
        services.close()
    assert first.available and len(first.items) > 20  # by place, then for the account
    assert any(t.is_hashtag for t in first.items) and any(t.category for t in first.items)
    assert calls == 2 and again == calls  # the second look came from the cache
    assert cached.items == first.items
    assert stale.stale and stale.items == first.items and stale.problem
    assert not tiktok.available and "no trends API" in tiktok.explanation


def test_without_an_x_account_trends_say_how_to_get_them(sandbox: SandboxHost,
                                                        data_dir: Path) -> None:
    services = profile(sandbox, data_dir)

    async def scenario() -> Any:
        try:
            return await services.trends.trends("x")
        finally:
            await services.aclose()

    try:
        result = run(scenario())
    finally:
        services.close()
    assert result.available and not result.items and "Connect an X account" in result.problem


@pytest.mark.parametrize("ai", [True, False])
def test_suggestions_come_from_the_best_posts_and_trends_with_their_reason(
        sandbox: SandboxHost, data_dir: Path, ai: bool) -> None:
    services = profile(sandbox, data_dir, ai=ai)

    def seed(c: sqlite3.Connection) -> Any:
        return seed_published(c, 30, 0, collections=3)

    services.worker.submit(seed, write=False).result()

    async def scenario() -> Any:
        try:
            await services.accounts.authorize("x", open_url=answer_consent, timeout=10)
            with pytest.raises(InvalidInput):
                await services.trends.suggest("   ")
            return await services.trends.suggest("Post about design and art at the museum")
        finally:
            await services.aclose()

    try:
        result = run(scenario())
    finally:
        services.close()
    assert result.by_meaning is ai
    assert 1 <= len(result.items) <= 8
    tags = [s.tag for s in result.items]
    assert len(set(tags)) == len(tags)
    assert all(s.reason.startswith(("in your post", "trending on X")) for s in result.items)
    assert any(s.reason.startswith("in your post") for s in result.items)
    scores = [s.score for s in result.items]
    assert scores == sorted(scores, reverse=True)
