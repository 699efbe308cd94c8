"""Campaigns: group posts (name, dates, budget, goal) and see their results together.

A campaign's results add up, for each of its posts on each account it went to (a *target*),
the latest value of each metric collected so far: totals per metric and per platform, and the
campaign's engagement over time. A post may be in several campaigns and counts fully in each.
A metric no target has is absent from the totals, never a zero. The app knows no ad spend, so
results show the budget as planned only. Creating a campaign sends the ``campaign_create``
analytics event (only ever sent when the creator opted in; see ``AnalyticsService``).
"""

from __future__ import annotations

import builtins
import math
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from mbv_desktop.core.analytics import ENGAGEMENT_METRICS, engagement, sum_figures
from mbv_desktop.core.errors import InvalidInput, NotFound
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.campaigns import Campaign, CampaignRepository, CampaignTarget
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.services.analytics import AnalyticsService

__all__ = ["GOALS", "Campaign", "CampaignResults", "CampaignsChanged", "CampaignsService",
           "TargetResult"]

#: What a campaign can aim for ("" is no particular goal).
GOALS: tuple[str, ...] = ("reach", "engagement", "followers", "traffic")
NAME_MAX = 80


@dataclass(frozen=True)
class CampaignsChanged:
    """A campaign was created, changed (also its posts) or deleted."""

    campaign_id: int


@dataclass(frozen=True)
class TargetResult:
    """One post on one account, with the latest value of each metric collected for it."""

    target_id: int
    post_id: int
    provider: str
    account_id: str
    state: str
    url: str | None
    values: dict[str, float]  # metric -> latest value; a metric not collected is absent
    engagement: float | None  # None: no engagement metric collected yet


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    post_ids: list[int]
    targets: list[TargetResult]
    #: Metric -> sum over the targets of their latest values, with ``"engagement"`` last.
    totals: dict[str, float]
    #: Platform (``"x"``, ``"instagram"``, ``"tiktok"``) -> totals as above, for its targets.
    by_platform: dict[str, dict[str, float]]
    budget_usd: float | None
    #: ``(epoch seconds, total engagement)`` at each collection of any target, ascending.
    engagement_over_time: list[tuple[float, float]]
    #: Ad spend is not known to the app: always ``None`` (results show the budget only).
    spent_usd: float | None = None

    @property
    def budget_per_engagement(self) -> float | None:
        """The budget divided by the engagement so far (what each engagement cost if the
        budget was all spent), or ``None`` without a budget or engagement."""
        total = self.totals.get("engagement")
        if not self.budget_usd or not total:
            return None
        return self.budget_usd / total


def _as_date(value: object, label: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise InvalidInput(f"The campaign's {label} must be a date.")


def _checked(name: str, starts_on: date, ends_on: date, budget_usd: float | None,
             goal: str) -> tuple[str, date, date, float | None, str]:
    """The fields as stored, or InvalidInput with a sentence saying what to change."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the campaign a name.")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"A campaign name can be at most {NAME_MAX} characters; this one has "
                           f"{len(name)}.")
    start, end = _as_date(starts_on, "start"), _as_date(ends_on, "end")
    if end < start:
        raise InvalidInput(f"The campaign cannot end ({end.isoformat()}) before it starts "
                           f"({start.isoformat()}).")
    if budget_usd is not None:
        if isinstance(budget_usd, bool) or not isinstance(budget_usd, int | float) \
                or not math.isfinite(budget_usd):
            raise InvalidInput("The budget must be an amount in US dollars.")
        if budget_usd < 0:
            raise InvalidInput("The budget cannot be negative; leave it empty for no budget.")
        budget_usd = float(budget_usd)
    goal = (goal or "").strip().lower()
    if goal and goal not in GOALS:
        raise InvalidInput(f"'{goal}' is not a campaign goal; choose one of "
                           f"{', '.join(GOALS)}, or none.")
    return name, start, end, budget_usd, goal


def _check_posts(repo: CampaignRepository, post_ids: Sequence[int]) -> None:
    missing = repo.missing_posts(post_ids)
    if missing:
        listed = ", ".join(str(post_id) for post_id in missing)
        raise InvalidInput(f"There is no post with id {listed}; nothing was changed."
                           if len(missing) == 1 else
                           f"There are no posts with ids {listed}; nothing was changed.")


def _get(repo: CampaignRepository, campaign_id: int) -> Campaign:
    campaign = repo.get(campaign_id)
    if campaign is None:
        raise NotFound("That campaign no longer exists.")
    return campaign


def _totals(results: Iterable[TargetResult]) -> dict[str, float]:
    """Sums per metric in METRICS order (other names after), engagement last."""
    return sum_figures(t.values for t in results)


def _target_results(targets: list[CampaignTarget], latest: list[tuple[int, str, float]]
                    ) -> list[TargetResult]:
    values: dict[int, dict[str, float]] = {t.target_id: {} for t in targets}
    for target_id, metric, value in latest:
        values.setdefault(target_id, {})[metric] = value
    return [TargetResult(t.target_id, t.post_id, t.provider, t.account_id, t.state, t.url,
                         values[t.target_id], engagement(values[t.target_id]))
            for t in targets]


class CampaignsService:
    def __init__(self, worker: StoreWorker, analytics: AnalyticsService | None) -> None:
        self._worker = worker
        self._analytics = analytics
        self.events: EventHub[CampaignsChanged] = EventHub()

    async def create(self, name: str, starts_on: date, ends_on: date, budget_usd: float | None,
                     goal: str, post_ids: Sequence[int] = ()) -> Campaign:
        """A new campaign with ``post_ids`` in it; InvalidInput (and nothing written) for a
        bad field or an unknown post."""
        fields = _checked(name, starts_on, ends_on, budget_usd, goal)
        post_ids = list(dict.fromkeys(post_ids))

        def write(c: sqlite3.Connection) -> Campaign:
            repo = CampaignRepository(c)
            _check_posts(repo, post_ids)
            campaign_id = repo.create(name=fields[0], starts_on=fields[1], ends_on=fields[2],
                                      budget_usd=fields[3], goal=fields[4], at=datetime.now(UTC))
            repo.add_posts(campaign_id, post_ids)
            return _get(repo, campaign_id)

        campaign = await self._worker.call(write)
        self.events.publish(CampaignsChanged(campaign.id))
        if self._analytics is not None:
            goal, budget = campaign.goal, campaign.budget_usd
            await self._analytics.track("campaign_create", {
                "goal": goal or "none", "budget_usd": budget or 0, "posts": len(post_ids)})
        return campaign

    async def update(self, campaign_id: int, name: str, starts_on: date, ends_on: date,
                     budget_usd: float | None, goal: str) -> Campaign:
        """Replaces every field (as an edit form saves); its posts stay as they are."""
        fields = _checked(name, starts_on, ends_on, budget_usd, goal)

        def write(c: sqlite3.Connection) -> Campaign:
            repo = CampaignRepository(c)
            if not repo.update(campaign_id, name=fields[0], starts_on=fields[1],
                               ends_on=fields[2], budget_usd=fields[3], goal=fields[4],
                               at=datetime.now(UTC)):
                raise NotFound("That campaign no longer exists.")
            return _get(repo, campaign_id)

        campaign = await self._worker.call(write)
        self.events.publish(CampaignsChanged(campaign_id))
        return campaign

    async def delete(self, campaign_id: int) -> None:
        """Deletes the campaign; its posts and their metrics stay."""
        if not await self._worker.call(lambda c: CampaignRepository(c).delete(campaign_id)):
            raise NotFound("That campaign no longer exists.")
        self.events.publish(CampaignsChanged(campaign_id))

    # This method shadows the builtin ``list`` in the class's later annotations: they spell
    # ``builtins.list``.
    async def list(self) -> list[Campaign]:
        """Every campaign, the latest to start first."""
        return await self._worker.call(lambda c: CampaignRepository(c).all(), write=False)

    async def get(self, campaign_id: int) -> Campaign:
        return await self._worker.call(lambda c: _get(CampaignRepository(c), campaign_id),
                                       write=False)

    async def add_posts(self, campaign_id: int, post_ids: Sequence[int]) -> int:
        """Adds posts (those already in it are skipped); how many were added."""
        post_ids = list(dict.fromkeys(post_ids))

        def write(c: sqlite3.Connection) -> int:
            repo = CampaignRepository(c)
            _get(repo, campaign_id)
            _check_posts(repo, post_ids)
            added = repo.add_posts(campaign_id, post_ids)
            repo.touch(campaign_id, datetime.now(UTC))
            return added

        added = await self._worker.call(write)
        self.events.publish(CampaignsChanged(campaign_id))
        return added

    async def remove_posts(self, campaign_id: int, post_ids: Sequence[int]) -> int:
        """Takes posts out of the campaign (the posts themselves stay); how many were in it."""

        def write(c: sqlite3.Connection) -> int:
            repo = CampaignRepository(c)
            _get(repo, campaign_id)
            removed = repo.remove_posts(campaign_id, list(dict.fromkeys(post_ids)))
            repo.touch(campaign_id, datetime.now(UTC))
            return removed

        removed = await self._worker.call(write)
        self.events.publish(CampaignsChanged(campaign_id))
        return removed

    async def posts_of(self, campaign_id: int) -> builtins.list[int]:
        """The campaign's post ids, ascending."""

        def read(c: sqlite3.Connection) -> list[int]:
            repo = CampaignRepository(c)
            _get(repo, campaign_id)
            return repo.post_ids(campaign_id)

        return await self._worker.call(read, write=False)

    async def results(self, campaign_id: int) -> CampaignResults:
        """The campaign's posts and their metrics added up (see the module's docstring)."""

        def read(c: sqlite3.Connection) -> CampaignResults:
            repo = CampaignRepository(c)
            campaign = _get(repo, campaign_id)
            targets = _target_results(repo.targets(campaign_id), repo.latest_values(campaign_id))
            platforms: dict[str, list[TargetResult]] = {}
            for target in targets:
                platforms.setdefault(target.provider, []).append(target)
            return CampaignResults(
                campaign=campaign, post_ids=repo.post_ids(campaign_id), targets=targets,
                totals=_totals(targets),
                by_platform={p: _totals(ts) for p, ts in sorted(platforms.items())},
                budget_usd=campaign.budget_usd,
                engagement_over_time=repo.total_over_time(campaign_id, ENGAGEMENT_METRICS))

        def read_in_snapshot(c: sqlite3.Connection) -> CampaignResults:
            # One read transaction, so the totals and the series agree even while another
            # process (the command line's collection) adds samples.
            c.execute("BEGIN")
            try:
                return read(c)
            finally:
                c.execute("ROLLBACK")

        return await self._worker.call(read_in_snapshot, write=False)
