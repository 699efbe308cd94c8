"""The analytics queue's decisions, with a stand-in GA4 client and the real store: what the
sandbox's validation refuses is dropped with its message and the rest is sent; a send that
certainly did not arrive waits for later, one that may have arrived is never sent again;
events too old for GA4, an overfull queue and old history are tidied; an offline sender waits
instead of trying again on every new event; the generation ledger reports complete runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from mbv_desktop.core.errors import ProviderUnavailable, RateLimited, Rejected
from mbv_desktop.integrations.analytics.ga4 import ValidationMessage
from mbv_desktop.services import analytics as analytics_module
from mbv_desktop.services.analytics import AnalyticsService
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.store.ai_runs import AiRunRecord
from mbv_desktop.store.ga4_events import Ga4EventRepository


class FakeGa4:
    """Records what would be sent; ``fail`` (an error) is raised by the next sends,
    ``messages`` is what the validation endpoint answers."""

    def __init__(self) -> None:
        self.sent: list[list[str]] = []
        self.validated: list[list[str]] = []
        self.fail: Exception | None = None
        self.messages: list[ValidationMessage] = []

    async def send(self, client_id: str, events: Sequence[tuple[str, Any]], *,
                   timestamp_micros: int | None = None) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append([name for name, _ in events])

    async def validate(self, client_id: str, events: Sequence[tuple[str, Any]], *,
                       timestamp_micros: int | None = None) -> list[ValidationMessage]:
        self.validated.append([name for name, _ in events])
        return self.messages

    async def aclose(self) -> None:
        pass


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    s = open_services(data_dir, env={}, overrides={
        "analytics.opt_in": True, "ga4.measurement_id": "G-TEST", "sandbox.enabled": True})
    yield s
    s.close()


def service(services: Services, fake: FakeGa4) -> AnalyticsService:
    return AnalyticsService(services.settings, services.secrets, services.data_dir,
                            services.worker, client=fake)  # type: ignore[arg-type]


def states(services: Services) -> list[tuple[str, str, str | None]]:
    rows = run(services.worker.call(lambda c: Ga4EventRepository(c).recent(10_000),
                                    write=False))
    return [(r.name, r.state, r.last_error) for r in reversed(rows)]


def queue(services: Services, *names: str, at: datetime | None = None) -> None:
    when = at or datetime.now(UTC)
    run(services.worker.call(lambda c: [Ga4EventRepository(c).add(
        n, {"method": "Google", "engagement_time_msec": 100, "session_id": 1}, at=when)
        for n in names]))


def test_events_the_validation_endpoint_refuses_are_dropped_with_its_message(
        services: Services, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeGa4()
    fake.messages = [ValidationMessage("events[1].params.method", "Value too long.",
                                       "VALUE_OUT_OF_BOUNDS")]
    queue(services, "login", "sign_up", "login")
    with caplog.at_level(logging.INFO, logger="mbv_desktop.services.analytics"):
        report = run(service(services, fake).flush())
    assert (report.sent, report.dropped, report.waiting) == (2, 1, 0)
    assert fake.validated == [["login", "sign_up", "login"]]
    assert fake.sent == [["login", "login"]]  # the refused one never goes out
    rows = states(services)
    assert [s for _, s, _ in rows] == ["sent", "dropped", "sent"]
    assert "VALUE_OUT_OF_BOUNDS (events[1].params.method): Value too long." in (rows[1][2] or "")
    assert any("sign_up event was dropped" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)


def test_a_validation_message_about_the_whole_request_drops_the_batch(
        services: Services) -> None:
    fake = FakeGa4()
    fake.messages = [ValidationMessage("client_id", "client_id is required.", "VALUE_REQUIRED")]
    queue(services, "login", "sign_up")
    report = run(service(services, fake).flush())
    assert (report.sent, report.dropped) == (0, 2) and fake.sent == []


def test_outside_the_sandbox_nothing_is_validated_first(data_dir: Path) -> None:
    s = open_services(data_dir, env={}, overrides={
        "analytics.opt_in": True, "ga4.measurement_id": "G-TEST"})
    try:
        fake = FakeGa4()
        queue(s, "login")
        assert run(service(s, fake).flush()).sent == 1
        assert fake.validated == [] and fake.sent == [["login"]]
    finally:
        s.close()


@pytest.mark.parametrize(("error", "state"), [
    (ProviderUnavailable(provider="ga4"), "queued"),  # no connection: certainly not sent
    (RateLimited(5, provider="ga4"), "queued"),  # 429: GA4 did not take it
    (ProviderUnavailable(provider="ga4", maybe_sent=True), "dropped"),  # broke after sending
    (ProviderUnavailable(provider="ga4", status=503, maybe_sent=True), "dropped"),
    (Rejected("bad request", provider="ga4", status=400), "dropped"),
])
def test_what_certainly_did_not_arrive_waits_and_what_may_have_is_never_resent(
        services: Services, error: Exception, state: str) -> None:
    fake = FakeGa4()
    fake.fail = error
    queue(services, "login", "sign_up")
    report = run(service(services, fake).flush())
    assert [s for _, s, _ in states(services)] == [state, state]
    assert states(services)[0][2] and str(error) in (states(services)[0][2] or "")
    assert report.waiting == (2 if state == "queued" else 0)
    fake.fail = None
    run(service(services, fake).flush())  # later, back online
    assert fake.sent == ([["login", "sign_up"]] if state == "queued" else [])


def test_an_offline_sender_waits_instead_of_retrying_on_each_new_event(
        services: Services) -> None:
    fake = FakeGa4()
    fake.fail = ProviderUnavailable(provider="ga4")
    analytics = service(services, fake)
    calls: list[int] = []
    original = fake.send

    async def counting(*args: Any, **kwargs: Any) -> None:
        calls.append(1)
        await original(*args, **kwargs)

    fake.send = counting  # type: ignore[method-assign]

    async def offline_noted() -> bool:
        rows = await analytics.recent()
        return bool(rows and rows[0].last_error)

    async def scenario() -> None:
        await analytics.track("login", {"method": "Google"})
        for _ in range(100):  # until the first send failed (and the sender pauses)
            await asyncio.sleep(0.01)
            if await offline_noted():
                break
        for _ in range(5):
            await analytics.track("sign_up", {"method": "Google"})
        await asyncio.sleep(0.1)
        await analytics.aclose()

    run(scenario())
    assert len(calls) == 1
    assert [s for _, s, _ in states(services)] == ["queued"] * 6


def test_events_older_than_ga4_takes_are_dropped_unsent(services: Services) -> None:
    fake = FakeGa4()
    queue(services, "login", at=datetime.now(UTC) - timedelta(hours=73))
    queue(services, "sign_up")
    report = run(service(services, fake).flush())
    assert (report.sent, report.dropped) == (1, 1)
    assert fake.sent == [["sign_up"]]
    assert "72 hours" in (states(services)[0][2] or "")


def test_events_far_apart_go_in_separate_requests_each_with_its_own_time(
        services: Services) -> None:
    fake = FakeGa4()
    queue(services, "login", at=datetime.now(UTC) - timedelta(hours=2))
    queue(services, "sign_up", "login")
    run(service(services, fake).flush())
    assert fake.sent == [["login"], ["sign_up", "login"]]


def test_the_queue_keeps_the_newest_events_and_history_is_pruned(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics_module, "MAX_QUEUED", 3)
    queue(services, "login", at=datetime.now(UTC) - timedelta(days=40))
    run(services.worker.call(lambda c: c.execute("UPDATE ga4_events SET state = 'sent'")))
    queue(services, "sign_up", "sign_up", "sign_up")
    fake = FakeGa4()
    fake.fail = ProviderUnavailable(provider="ga4")
    analytics = service(services, fake)

    async def one_more() -> None:
        await analytics.recent()  # start-up tidying: the 40-day-old sent event goes
        await analytics.track("content_publish", {"platform": "x", "post_type": "post"})
        await analytics.aclose()

    run(one_more())
    rows = states(services)
    assert [(n, s) for n, s, _ in rows] == [
        ("sign_up", "dropped"), ("sign_up", "queued"), ("sign_up", "queued"),
        ("content_publish", "queued")]
    assert "oldest were dropped" in (rows[0][2] or "")


def test_complete_generation_runs_are_reported_without_the_prompt(services: Services) -> None:
    fake = FakeGa4()
    generation = services.generation
    generation.analytics = service(services, fake)

    async def runs() -> None:
        for status, kind in (("complete", "x_post"), ("partial", "x_post"),
                             ("failed", "image"), ("complete", "image"),
                             ("complete", "embedding"), ("cancelled", "x_thread")):
            await generation._record(AiRunRecord("openai", "gpt-4o-mini", kind, status))
        assert generation.analytics is not None
        await generation.analytics.aclose()

    run(runs())
    rows = run(services.worker.call(lambda c: Ga4EventRepository(c).recent(10), write=False))
    assert [(r.name, r.params["kind"]) for r in reversed(rows)] == [
        ("content_generation", "x_post"), ("content_generation", "image")]
    assert set(rows[0].params) == {"provider", "model", "kind", "engagement_time_msec",
                                   "session_id"}
    assert rows[0].params["provider"] == "openai" and rows[0].params["model"] == "gpt-4o-mini"
