"""Collecting figures, with a scripted platform (the real clients are tested against the sandbox
in tests/integration): a job appears when a post is published, figures are stored and the next
collection planned densely then sparsely; a deleted post stops; a rate limit holds the account
without recording zeros; a missing permission stops the account's jobs until it reconnects;
a refused token is refreshed once; this computer's clock going back keeps series in order."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import run

from mbv_desktop.core.drafts import format_time
from mbv_desktop.core.errors import AuthExpired, ProviderUnavailable, RateLimited
from mbv_desktop.integrations.social.insights import InsightsNotAllowed, PostStats
from mbv_desktop.services.metrics_collection import MetricsCollector
from mbv_desktop.store.metrics import MetricsRepository

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class ScriptedPlatform:
    """An InsightsReader whose answers the test decides."""

    platform = "x"
    max_batch = 2

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.tokens: list[str] = []
        self.values: dict[str, dict[str, float]] = {}
        self.deleted: set[str] = set()
        self.fail: list[Exception] = []

    async def post_stats(self, account_id: str, token: str,
                         post_ids: Sequence[str]) -> list[PostStats]:
        self.calls.append(list(post_ids))
        self.tokens.append(token)
        if self.fail:
            raise self.fail.pop(0)
        return [PostStats(i, deleted=True) if i in self.deleted
                else PostStats(i, self.values.get(i, {})) for i in post_ids]

    async def account_stats(self, account_id: str, token: str) -> Mapping[str, float]:
        return {"followers": 120.0}

    async def aclose(self) -> None:
        pass


class Tokens:
    def __init__(self) -> None:
        self.version = 1
        self.invalidated = 0

    def invalidate(self, provider: str, account_id: str, token: str) -> None:
        self.invalidated += 1
        self.version += 1


class Accounts:
    def __init__(self) -> None:
        self.tokens = Tokens()

    async def access_token(self, provider: str, account_id: str) -> str:
        return f"token-{self.tokens.version}"

    async def token_manager(self) -> Tokens:
        return self.tokens


def publish(services: Any, post_id: str, at: datetime = T0, provider: str = "x",
            account: str = "1001") -> int:
    """A target that goes from in flight to published, as the outbox moves it."""
    stamp = format_time(at)

    def write(c: sqlite3.Connection) -> int:
        post = c.execute(
            "INSERT INTO posts (body, scheduled_at, time_zone, local_time, created_at,"
            " updated_at) VALUES ('hello #ai', ?, 'UTC', '09:00', ?, ?)",
            (stamp, stamp, stamp)).lastrowid
        target = c.execute(
            "INSERT INTO post_targets (uid, post_id, provider, account_id, post_type, state,"
            " due_at, updated_at) VALUES (?, ?, ?, ?, 'post', 'in_flight', ?, ?)",
            (str(uuid.uuid4()), post, provider, account, stamp, stamp)).lastrowid
        c.execute("UPDATE post_targets SET state = 'published', platform_post_id = ?,"
                  " published_at = ?, updated_at = ? WHERE id = ?",
                  (post_id, stamp, stamp, target))
        return int(target or 0)

    return int(run(services.worker.call(write)))


@pytest.fixture
def platform() -> ScriptedPlatform:
    return ScriptedPlatform()


@pytest.fixture
def collector(services: Any, platform: ScriptedPlatform) -> MetricsCollector:
    services.settings.set("analytics.collect_first_interval_s", "300")
    return MetricsCollector(services.worker, services.settings, Accounts(),  # type: ignore[arg-type]
                            readers={"x": platform})


def connect_account(services: Any, provider: str, account_id: str) -> None:
    from mbv_desktop.store.accounts import AccountRepository

    run(services.worker.call(lambda c: AccountRepository(c).upsert(
        provider=provider, role="publish", account_id=account_id, handle="maya",
        at=datetime.now(UTC) + timedelta(seconds=1))))


def job(services: Any, target: int) -> Any:
    return run(services.worker.call(lambda c: MetricsRepository(c).job(target), write=False))


def samples(services: Any, target: int) -> list[tuple[str, float, float]]:
    return run(services.worker.call(lambda c: MetricsRepository(c).samples(target),
                                    write=False))


def test_publishing_a_post_makes_its_collection_job_in_the_same_transaction(
        services: Any) -> None:
    target = publish(services, "111")
    found = job(services, target)
    assert found.state == "active" and found.next_due_at == T0
    assert found.platform_post_id == "111"


def test_figures_are_stored_and_collection_thins_out_over_time(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.values["111"] = {"views": 40, "likes": 3}  # no bookmarks: that tier hides them
    gaps = []
    now = T0
    for _ in range(6):
        report = run(collector.collect_due(now=now))
        assert report.collected == 1
        nxt = job(services, target).next_due_at
        gaps.append(nxt - now)
        now = nxt
    assert gaps == sorted(gaps) and gaps[0] == timedelta(minutes=5)  # the setting, then doubling
    assert gaps[1] == timedelta(minutes=10) and gaps[2] == timedelta(minutes=20)
    assert gaps[-1] > timedelta(hours=2)
    stored = samples(services, target)
    assert {m for m, _, _ in stored} == {"views", "likes"}  # absent stays absent, not 0
    assert len(stored) == 12
    # nothing is due before the planned time
    assert run(collector.collect_due(now=now - timedelta(seconds=1))).collected == 0


def test_collection_stops_after_ninety_days(services: Any, collector: MetricsCollector,
                                            platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.values["111"] = {"views": 1}
    run(collector.collect_due(now=T0 + timedelta(days=91)))
    assert job(services, target).state == "done"


def test_a_post_removed_from_the_platform_stops_being_collected_and_keeps_its_history(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.values["111"] = {"views": 10}
    run(collector.collect_due(now=T0))
    platform.deleted.add("111")
    report = run(collector.collect_due(now=T0 + timedelta(days=1)))
    assert report.deleted == 1
    assert job(services, target).state == "deleted"
    assert "removed" in job(services, target).last_error
    calls = len(platform.calls)
    run(collector.collect_due(now=T0 + timedelta(days=5)))
    assert len(platform.calls) == calls
    assert [v for _, _, v in samples(services, target)] == [10.0]


def test_a_rate_limit_holds_the_account_until_its_reset_and_records_no_zeros(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    targets = [publish(services, str(n)) for n in (1, 2, 3)]
    for n in (1, 2, 3):
        platform.values[str(n)] = {"views": 5.0 * n}
    platform.fail = [RateLimited(600, provider="x")]
    report = run(collector.collect_due(now=T0))
    assert report.rate_limited == ["x:1001"] and report.collected == 0
    assert all(samples(services, t) == [] for t in targets)
    assert {job(services, t).next_due_at for t in targets} == {T0 + timedelta(minutes=10)}
    assert job(services, targets[0]).failures == 0  # waiting is not failing
    calls = len(platform.calls)
    assert run(collector.collect_due(now=T0 + timedelta(minutes=9))).collected == 0
    assert len(platform.calls) == calls  # not asked again before the reset
    report = run(collector.collect_due(now=T0 + timedelta(minutes=10)))
    assert report.collected == 3
    assert platform.calls[-2:] == [["1", "2"], ["3"]]  # batches of max_batch


def test_an_account_without_insights_permission_stops_until_it_is_reconnected(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.fail = [InsightsNotAllowed("Reconnect X and allow reading post figures.",
                                        provider="x")]
    report = run(collector.collect_due(now=T0))
    assert report.unavailable == 1
    assert job(services, target).state == "unavailable"
    assert "Reconnect" in job(services, target).last_error
    assert run(collector.collect_due(now=T0 + timedelta(days=1))).collected == 0
    assert platform.calls == [["111"]]  # not asked again while the account lacks permission
    connect_account(services, "x", "1001")  # the creator connects the account again
    platform.values["111"] = {"views": 9}
    assert run(collector.collect_due(now=datetime.now(UTC))).collected == 1
    assert job(services, target).state == "active"


def test_a_refused_token_is_refreshed_once(services: Any, collector: MetricsCollector,
                                           platform: ScriptedPlatform) -> None:
    publish(services, "111")
    platform.values["111"] = {"views": 9}
    platform.fail = [AuthExpired("expired", provider="x")]
    assert run(collector.collect_due(now=T0)).collected == 1
    assert platform.tokens == ["token-1", "token-2"]


def test_a_platform_outage_backs_off_and_tries_again(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.fail = [ProviderUnavailable("X is not answering", provider="x"),
                     ProviderUnavailable("X is not answering", provider="x")]
    run(collector.collect_due(now=T0))
    first = job(services, target)
    assert first.failures == 1 and first.next_due_at == T0 + timedelta(minutes=10)
    run(collector.collect_due(now=first.next_due_at))
    second = job(services, target)
    assert second.failures == 2 and second.next_due_at - first.next_due_at == timedelta(
        minutes=20)
    platform.values["111"] = {"views": 3}
    assert run(collector.collect_due(now=second.next_due_at)).collected == 1
    assert job(services, target).failures == 0


def test_this_computers_clock_going_back_keeps_a_series_in_order(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")
    platform.values["111"] = {"views": 10}
    run(collector.collect_due(now=T0 + timedelta(hours=1)))
    platform.values["111"] = {"views": 12}
    def due_now(c: sqlite3.Connection) -> None:
        c.execute("UPDATE metric_jobs SET next_due_at = ?", (format_time(T0),))
    run(services.worker.call(due_now))
    run(collector.collect_due(now=T0 + timedelta(minutes=30)))  # the clock went back 30 min
    times = [at for _, at, _ in samples(services, target)]
    assert times == sorted(times) and len(set(times)) == 2


def test_a_post_the_platform_only_could_not_find_is_looked_for_once_more(
        services: Any, collector: MetricsCollector, platform: ScriptedPlatform) -> None:
    target = publish(services, "111")

    async def not_found(account_id: str, token: str, ids: Sequence[str]) -> list[PostStats]:
        platform.calls.append(list(ids))
        return [PostStats(i, deleted=True, certain=False) for i in ids]

    platform.post_stats = not_found  # type: ignore[method-assign]
    first = run(collector.collect_due(now=T0))
    assert first.deleted == 0 and job(services, target).state == "active"
    second = run(collector.collect_due(now=T0 + timedelta(minutes=5)))
    assert second.deleted == 1 and job(services, target).state == "deleted"
    assert len(platform.calls) == 2


def test_two_processes_collecting_at_once_ask_the_platform_once(
        services: Any, platform: ScriptedPlatform) -> None:
    """The publish timer's process and the open window run a pass at the same moment."""
    publish(services, "111")
    platform.values["111"] = {"views": 4}
    original = platform.post_stats

    async def slow(account_id: str, token: str, ids: Sequence[str]) -> list[PostStats]:
        await asyncio.sleep(0.2)
        return await original(account_id, token, ids)

    platform.post_stats = slow  # type: ignore[method-assign]
    first, second = (MetricsCollector(services.worker, services.settings, Accounts(),  # type: ignore[arg-type]
                                      readers={"x": platform}) for _ in range(2))

    async def both() -> tuple[Any, Any]:
        return await asyncio.gather(first.collect_due(now=T0), second.collect_due(now=T0))

    reports = run(both())
    assert sorted(r.collected for r in reports) == [0, 1]
    assert platform.calls == [["111"]]
