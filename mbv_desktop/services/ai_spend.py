"""AI spend for the Analytics panel: the usage and cost ledger that generation writes
(``ai_runs``) as totals per UTC day, provider and model, and this month's spend against the
monthly budget (setting ``ai.monthly_budget_usd``; 0 means no budget).

Months and days are UTC, as the ledger's times are, and the month's total is the same figure
the budget warning before each AI run uses (``GenerationService.budget``).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.store.ai_spend import SpendRow, spend_by_day
from mbv_desktop.store.worker import StoreWorker

__all__ = ["AiSpendService", "MonthSpend", "SpendRow"]


@dataclass(frozen=True)
class MonthSpend:
    """This calendar month's AI spend (UTC) against the budget."""

    month_start: date
    month_end: date  # the month's last day
    today: date
    spent_usd: float
    runs: int
    unpriced_runs: int  # runs with no known price: their cost is not in ``spent_usd``
    budget_usd: float  # 0: no budget set
    #: ``(day, spend from the 1st to the end of that day)`` for every day from the 1st to today
    #: (and any later day of the month with runs, if this computer's clock went back).
    cumulative: list[tuple[date, float]]

    @property
    def has_budget(self) -> bool:
        return self.budget_usd > 0

    @property
    def share_used(self) -> float | None:
        """Spent / budget (1.0 is the whole budget), or ``None`` without a budget."""
        return self.spent_usd / self.budget_usd if self.has_budget else None

    @property
    def remaining_usd(self) -> float | None:
        return max(self.budget_usd - self.spent_usd, 0.0) if self.has_budget else None

    @property
    def days_in_month(self) -> int:
        return self.month_end.day

    @property
    def projected_usd(self) -> float:
        """A straight line to the month's end: the average per day so far (today counting as
        a whole day, so one early run does not project a fortune) times the month's days."""
        elapsed = min(max((self.today - self.month_start).days + 1, 1), self.days_in_month)
        return self.spent_usd / elapsed * self.days_in_month

    @property
    def projected_share(self) -> float | None:
        return self.projected_usd / self.budget_usd if self.has_budget else None

    @property
    def over_budget(self) -> bool:
        return self.has_budget and self.spent_usd >= self.budget_usd

    @property
    def projected_over_budget(self) -> bool:
        return self.has_budget and self.projected_usd > self.budget_usd


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _cumulative(rows: list[SpendRow], first: date, last: date) -> list[tuple[date, float]]:
    per_day: dict[date, float] = {}
    for row in rows:
        per_day[row.day] = per_day.get(row.day, 0.0) + row.cost_usd
    last = max([last, *per_day])
    out: list[tuple[date, float]] = []
    total, day = 0.0, first
    while day <= last:
        total += per_day.get(day, 0.0)
        out.append((day, total))
        day += timedelta(days=1)
    return out


class AiSpendService:
    def __init__(self, worker: StoreWorker, settings: Settings) -> None:
        self._worker = worker
        self._settings = settings

    async def by_day(self, start: date, end: date) -> list[SpendRow]:
        """Spend from ``start`` to ``end`` (both included, UTC days) per day, provider and
        model, in that order; days without runs are absent."""
        if end < start:
            raise InvalidInput(f"The period cannot end ({end.isoformat()}) before it starts "
                               f"({start.isoformat()}).")
        since, until = _midnight(start), _midnight(end + timedelta(days=1))
        return await self._worker.call(lambda c: spend_by_day(c, since, until), write=False)

    async def month_status(self, now: datetime) -> MonthSpend:
        """This calendar month's spend (UTC) so far, the budget, and a projection."""
        if now.tzinfo is None:
            raise InvalidInput("A time without a time zone cannot be placed in a month.")
        today = now.astimezone(UTC).date()
        first = today.replace(day=1)
        last = today.replace(day=calendar.monthrange(today.year, today.month)[1])
        rows = await self.by_day(first, last)
        return MonthSpend(
            month_start=first, month_end=last, today=today,
            spent_usd=sum(r.cost_usd for r in rows), runs=sum(r.runs for r in rows),
            unpriced_runs=sum(r.unpriced_runs for r in rows),
            budget_usd=self._settings.get_float("ai.monthly_budget_usd"),
            cumulative=_cumulative(rows, first, today))
