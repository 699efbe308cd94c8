"""AI spend on a real profile database: the ledger grouped per UTC day, provider and model, and
this month's spend against the monthly budget with its projection and cumulative line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.services.ai_spend import AiSpendService, SpendRow


@pytest.fixture
def budgeted(data_dir: Path) -> Iterator[Any]:
    """A profile whose monthly AI budget is $10."""
    from mbv_desktop.services.container import open_services

    services = open_services(data_dir, env={}, overrides={"ai.monthly_budget_usd": "10"})
    yield services
    services.close()


def record(services: Any, at: datetime, provider: str = "openai", model: str = "gpt-4o-mini",
           cost: float = 0.0, *, tokens: tuple[int, int] = (0, 0), images: int = 0,
           priced: bool = True, status: str = "complete") -> None:
    """One AI run in the ledger, as generation records it."""
    from mbv_desktop.store.ai_runs import AiRunRecord, AiRunRepository

    run_record = AiRunRecord(provider, model, "caption", status, tokens_in=tokens[0],
                             tokens_out=tokens[1], images=images, cost_usd=cost, priced=priced)
    run(services.worker.call(lambda c: AiRunRepository(c).record(run_record, at)))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_spend_is_grouped_per_utc_day_provider_and_model(services: Any) -> None:
    record(services, utc(2024, 4, 30, 23, 59), cost=9.0)  # before the period
    record(services, utc(2024, 5, 1, 8), cost=0.25, tokens=(1000, 200))
    # 01:30 in UTC+2 is still 1 May in UTC: days are UTC days.
    record(services, datetime(2024, 5, 2, 1, 30, tzinfo=timezone(timedelta(hours=2))),
           cost=0.5, tokens=(3000, 100))
    record(services, utc(2024, 5, 1, 9), model="gpt-image-1", cost=0.04, images=1)
    record(services, utc(2024, 5, 2, 0, 0, 1), cost=0.1, tokens=(10, 20), status="failed")
    record(services, utc(2024, 5, 2, 7), provider="workers_ai", model="llama-3.1-8b",
           priced=False)
    record(services, utc(2024, 5, 3, 23, 59, 59), provider="local", model="mistral")
    record(services, utc(2024, 5, 4), cost=7.0)  # after the period

    rows = run(AiSpendService(services.worker, services.settings).by_day(date(2024, 5, 1),
                                                                         date(2024, 5, 3)))

    assert rows == [
        SpendRow(date(2024, 5, 1), "openai", "gpt-4o-mini", 2, 0.75, 4000, 300, 0, 0),
        SpendRow(date(2024, 5, 1), "openai", "gpt-image-1", 1, 0.04, 0, 0, 1, 0),
        SpendRow(date(2024, 5, 2), "openai", "gpt-4o-mini", 1, 0.1, 10, 20, 0, 0),
        SpendRow(date(2024, 5, 2), "workers_ai", "llama-3.1-8b", 1, 0.0, 0, 0, 0, 1),
        SpendRow(date(2024, 5, 3), "local", "mistral", 1, 0.0, 0, 0, 0, 0),
    ]


def test_a_period_that_ends_before_it_starts_is_refused(services: Any) -> None:
    with pytest.raises(InvalidInput, match=r"cannot end \(2024-05-01\) before it starts"):
        run(AiSpendService(services.worker, services.settings).by_day(date(2024, 5, 2),
                                                                      date(2024, 5, 1)))


def test_the_month_is_shown_against_the_budget_with_a_straight_line_projection(
        budgeted: Any) -> None:
    record(budgeted, utc(2024, 4, 30, 23), cost=50.0)  # last month
    record(budgeted, utc(2024, 5, 1, 10), cost=1.0)
    record(budgeted, utc(2024, 5, 3, 10), cost=1.5)
    record(budgeted, utc(2024, 5, 3, 11), provider="workers_ai", model="flux", cost=0.5,
           images=1)
    record(budgeted, utc(2024, 5, 10, 9), cost=2.0)
    record(budgeted, utc(2024, 5, 10, 9), provider="workers_ai", model="x", priced=False)
    record(budgeted, utc(2024, 6, 1, 0), cost=40.0)  # next month

    status = run(AiSpendService(budgeted.worker, budgeted.settings).month_status(
        utc(2024, 5, 10, 12)))

    assert (status.month_start, status.month_end, status.days_in_month) == (
        date(2024, 5, 1), date(2024, 5, 31), 31)
    assert status.spent_usd == pytest.approx(5.0)
    assert (status.runs, status.unpriced_runs) == (5, 1)
    assert status.budget_usd == 10.0 and status.share_used == pytest.approx(0.5)
    assert status.remaining_usd == pytest.approx(5.0) and not status.over_budget
    # $5 over 10 days is $0.50 a day; 31 days of that is $15.50: over the budget by then.
    assert status.projected_usd == pytest.approx(15.5)
    assert status.projected_share == pytest.approx(1.55) and status.projected_over_budget
    assert [day.day for day, _ in status.cumulative] == list(range(1, 11))
    assert [round(total, 2) for _, total in status.cumulative] == [
        1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 5.0]


def test_without_a_budget_there_is_no_share_and_nothing_is_over(data_dir: Path) -> None:
    from mbv_desktop.services.container import open_services

    services = open_services(data_dir, env={}, overrides={"ai.monthly_budget_usd": "0"})
    try:
        record(services, utc(2024, 2, 29, 18), cost=3.0)
        status = run(AiSpendService(services.worker, services.settings).month_status(
            datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))))  # still February
        assert (status.month_end, status.spent_usd, status.budget_usd) == (
            date(2024, 2, 29), 3.0, 0.0)
        assert status.share_used is None and status.projected_share is None
        assert not status.over_budget and not status.projected_over_budget
        assert status.projected_usd == pytest.approx(3.0)  # the last day: nothing more to come
        assert status.cumulative[-1] == (date(2024, 2, 29), 3.0)
    finally:
        services.close()


def test_a_month_with_no_runs_is_a_flat_zero_line(services: Any) -> None:
    status = run(AiSpendService(services.worker, services.settings).month_status(
        utc(2024, 7, 3, 12)))
    assert status.spent_usd == 0 and status.projected_usd == 0
    assert status.share_used == 0.0  # the default budget applies
    assert status.cumulative == [(date(2024, 7, d), 0.0) for d in (1, 2, 3)]


def test_a_time_without_a_zone_is_refused(services: Any) -> None:
    with pytest.raises(InvalidInput, match="without a time zone"):
        run(AiSpendService(services.worker, services.settings).month_status(
            datetime(2024, 5, 10, 12)))
