"""Campaigns on a real profile database: results add up each target's latest metric values
(per metric, per platform and over time), a post in two campaigns counts in both, deleting a
campaign keeps its posts, bad input is refused with a sentence and writes nothing, and creating
one sends the campaign_create event once with its parameters."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from helpers import run

from mbv_desktop.core.analytics import ENGAGEMENT_METRICS
from mbv_desktop.core.errors import InvalidInput, NotFound
from mbv_desktop.services.campaigns import CampaignsChanged, CampaignsService

MAY_1, MAY_31 = date(2024, 5, 1), date(2024, 5, 31)


class FakeAnalytics:
    """Stands in for AnalyticsService: records what would be tracked."""

    def __init__(self) -> None:
        self.tracked: list[tuple[str, dict[str, Any]]] = []

    async def track(self, name: str, params: Mapping[str, Any] | None = None) -> bool:
        self.tracked.append((name, dict(params or {})))
        return True


@pytest.fixture
def analytics() -> FakeAnalytics:
    return FakeAnalytics()


@pytest.fixture
def campaigns(services: Any, analytics: FakeAnalytics) -> CampaignsService:
    return CampaignsService(services.worker, analytics)  # type: ignore[arg-type]


def make_post(services: Any, *accounts: tuple[str, str]) -> tuple[int, list[int]]:
    """A scheduled post going to ``accounts`` ((provider, account id)); its id and target ids."""
    from mbv_desktop.store.posts import PostRepository

    at = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
    return run(services.worker.call(lambda c: PostRepository(c).create(
        draft_id=None, body="Launch day!", media=[], scheduled_at=at, time_zone="UTC",
        local_time="09:00", targets=[(p, a, "post") for p, a in accounts], at=at)))


def collect(services: Any, target_id: int, at: float, **values: float) -> None:
    """One collection of a target's metrics, as the collector stores it."""
    run(services.worker.call(lambda c: c.executemany(
        "INSERT INTO metric_samples (target_id, metric, at, value) VALUES (?, ?, ?, ?)",
        [(target_id, metric, at, value) for metric, value in values.items()])))


def count(services: Any, table: str) -> int:
    return run(services.worker.call(
        lambda c: c.execute(f"SELECT count(*) FROM {table}").fetchone()[0], write=False))


def test_results_add_up_the_latest_value_of_each_metric_of_each_target(
        services: Any, campaigns: CampaignsService) -> None:
    post_a, (a_x, a_ig) = make_post(services, ("x", "1001"), ("instagram", "ig-1"))
    post_b, (b_x, b_ig) = make_post(services, ("x", "1001"), ("instagram", "ig-1"))
    _, (other,) = make_post(services, ("x", "1001"))
    collect(services, a_x, 100, views=50, likes=5)
    collect(services, a_x, 200, views=90, likes=8)  # the latest: only these count
    collect(services, a_ig, 150, reach=40, likes=3, saves=1)
    collect(services, b_x, 120, views=10, likes=2, reposts=1)
    collect(services, other, 130, views=1000, likes=500)  # not in the campaign

    campaign = run(campaigns.create("Spring launch", MAY_1, MAY_31, 300.0, "engagement",
                                    [post_a, post_b]))
    results = run(campaigns.results(campaign.id))

    assert results.post_ids == [post_a, post_b]
    # A metric no target has (comments) is absent, not zero.
    assert results.totals == {"views": 100, "reach": 40, "likes": 13, "saves": 1, "reposts": 1,
                              "engagement": 15}
    assert results.by_platform == {
        "instagram": {"reach": 40, "likes": 3, "saves": 1, "engagement": 4},
        "x": {"views": 100, "likes": 10, "reposts": 1, "engagement": 11},
    }
    by_target = {t.target_id: t for t in results.targets}
    assert by_target[a_x].values == {"views": 90, "likes": 8}
    assert by_target[b_ig].values == {} and by_target[b_ig].engagement is None  # no data yet
    # The chart: the sum of each target's latest engagement at each collection.
    assert results.engagement_over_time == [(100, 5), (120, 8), (150, 12), (200, 15)]
    assert results.budget_usd == 300.0 and results.spent_usd is None
    assert results.budget_per_engagement == pytest.approx(20.0)
    assert [(c.name, c.post_count) for c in run(campaigns.list())] == [("Spring launch", 2)]


def test_a_post_in_two_campaigns_counts_fully_in_both(services: Any,
                                                     campaigns: CampaignsService) -> None:
    shared, (shared_x,) = make_post(services, ("x", "1001"))
    own, (own_x,) = make_post(services, ("x", "1001"))
    collect(services, shared_x, 100, likes=7, views=70)
    collect(services, own_x, 100, likes=1, views=10)

    spring = run(campaigns.create("Spring", MAY_1, MAY_31, None, "", [shared, own]))
    evergreen = run(campaigns.create("Evergreen", MAY_1, MAY_31, None, "", [shared]))

    assert run(campaigns.results(spring.id)).totals == {"views": 80, "likes": 8,
                                                        "engagement": 8}
    assert run(campaigns.results(evergreen.id)).totals == {"views": 70, "likes": 7,
                                                           "engagement": 7}


def test_deleting_a_campaign_keeps_its_posts_and_their_metrics(
        services: Any, campaigns: CampaignsService) -> None:
    post, (target,) = make_post(services, ("x", "1001"))
    collect(services, target, 100, likes=4)
    doomed = run(campaigns.create("Doomed", MAY_1, MAY_31, None, "", [post]))
    kept = run(campaigns.create("Kept", MAY_1, MAY_31, None, "", [post]))

    run(campaigns.delete(doomed.id))

    assert [c.name for c in run(campaigns.list())] == ["Kept"]
    assert count(services, "posts") == 1 and count(services, "metric_samples") == 1
    assert run(campaigns.posts_of(kept.id)) == [post]
    assert run(campaigns.results(kept.id)).totals["likes"] == 4
    with pytest.raises(NotFound, match="no longer exists"):
        run(campaigns.results(doomed.id))
    with pytest.raises(NotFound, match="no longer exists"):
        run(campaigns.delete(doomed.id))


@pytest.mark.parametrize(("name", "ends_on", "budget", "goal", "posts", "message"), [
    ("", MAY_31, None, "", [], "Give the campaign a name"),
    ("   ", MAY_31, None, "", [], "Give the campaign a name"),
    ("x" * 81, MAY_31, None, "", [], "at most 80 characters; this one has 81"),
    ("Spring", date(2024, 4, 30), None, "", [], r"cannot end \(2024-04-30\) before it starts"),
    ("Spring", MAY_31, -5.0, "", [], "budget cannot be negative"),
    ("Spring", MAY_31, math.nan, "", [], "amount in US dollars"),
    ("Spring", MAY_31, None, "virality", [], "'virality' is not a campaign goal; choose one "
                                              "of reach, engagement, followers, traffic"),
    ("Spring", MAY_31, None, "reach", [999], "There is no post with id 999; nothing was"),
])
def test_bad_input_is_refused_with_a_sentence_and_writes_nothing(
        services: Any, campaigns: CampaignsService, analytics: FakeAnalytics, name: str,
        ends_on: date, budget: float | None, goal: str, posts: Sequence[int],
        message: str) -> None:
    changes: list[CampaignsChanged] = []
    campaigns.events.subscribe(changes.append)
    with pytest.raises(InvalidInput, match=message):
        run(campaigns.create(name, MAY_1, ends_on, budget, goal, posts))
    assert run(campaigns.list()) == []
    assert count(services, "campaigns") == 0 and count(services, "campaign_posts") == 0
    assert analytics.tracked == [] and changes == []


def test_an_unknown_post_added_later_changes_nothing(services: Any,
                                                     campaigns: CampaignsService) -> None:
    post, _ = make_post(services, ("x", "1001"))
    campaign = run(campaigns.create("Spring", MAY_1, MAY_31, None, ""))
    with pytest.raises(InvalidInput, match="no posts with ids 404, 405"):
        run(campaigns.add_posts(campaign.id, [post, 404, 405]))
    assert run(campaigns.posts_of(campaign.id)) == []


def test_campaign_create_is_tracked_once_with_its_parameters(
        services: Any, campaigns: CampaignsService, analytics: FakeAnalytics) -> None:
    first, _ = make_post(services, ("x", "1001"))
    second, _ = make_post(services, ("tiktok", "tt-1"))

    campaign = run(campaigns.create("Spring", MAY_1, MAY_31, 250.0, "reach", [first, second]))
    run(campaigns.update(campaign.id, "Spring sale", MAY_1, MAY_31, 300.0, "traffic"))
    run(campaigns.add_posts(campaign.id, [first]))
    run(campaigns.create("Quiet", MAY_1, MAY_1, None, ""))

    assert analytics.tracked == [
        ("campaign_create", {"goal": "reach", "budget_usd": 250.0, "posts": 2}),
        ("campaign_create", {"goal": "none", "budget_usd": 0, "posts": 0}),
    ]
    from mbv_desktop.services.analytics import checked_params

    for name, params in analytics.tracked:  # what the real service's catalogue accepts
        assert checked_params(name, params) == params


def test_a_campaign_without_analytics_is_still_created(services: Any) -> None:
    plain = CampaignsService(services.worker, None)
    campaign = run(plain.create("Offline", MAY_1, MAY_31, 10, "followers"))
    assert (campaign.name, campaign.budget_usd, campaign.goal) == ("Offline", 10.0, "followers")


def test_editing_a_campaign_and_its_posts(services: Any, campaigns: CampaignsService) -> None:
    first, _ = make_post(services, ("x", "1001"))
    second, _ = make_post(services, ("x", "1001"))
    third, _ = make_post(services, ("x", "1001"))
    changes: list[CampaignsChanged] = []
    campaigns.events.subscribe(changes.append)
    campaign = run(campaigns.create(" Spring ", MAY_1, MAY_31, 100.0, "Reach", [first]))

    edited = run(campaigns.update(campaign.id, "Spring sale", date(2024, 5, 3),
                                  date(2024, 6, 2), None, ""))
    assert run(campaigns.add_posts(campaign.id, [third, first, second])) == 2  # first: already
    assert run(campaigns.remove_posts(campaign.id, [first, 999])) == 1

    assert (campaign.name, campaign.goal) == ("Spring", "reach")
    assert (edited.name, edited.starts_on, edited.ends_on, edited.budget_usd, edited.goal) == (
        "Spring sale", date(2024, 5, 3), date(2024, 6, 2), None, "")
    assert run(campaigns.posts_of(campaign.id)) == [second, third]
    assert run(campaigns.get(campaign.id)).post_count == 2
    assert len(changes) == 4 and {c.campaign_id for c in changes} == {campaign.id}
    with pytest.raises(InvalidInput, match="cannot end"):
        run(campaigns.update(campaign.id, "Spring", MAY_31, MAY_1, None, ""))
    with pytest.raises(NotFound):
        run(campaigns.update(campaign.id + 1, "Ghost", MAY_1, MAY_31, None, ""))
    assert run(campaigns.get(campaign.id)).name == "Spring sale"


def test_engagement_over_time_for_a_large_campaign_matches_a_step_by_step_count(
        services: Any, campaigns: CampaignsService) -> None:
    """200 targets × 100 collections, values that mostly grow and sometimes fall (an unlike):
    the chart's line equals adding up each target's latest values moment by moment."""
    from mbv_desktop.store.posts import PostRepository

    rng = random.Random(7)
    at = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)

    def write(c: Any) -> tuple[list[int], list[int]]:
        repo, posts, targets = PostRepository(c), [], []
        for _ in range(100):
            post_id, ids = repo.create(
                draft_id=None, body="p", media=[], scheduled_at=at, time_zone="UTC",
                local_time="09:00", targets=[("x", "1001", "post"), ("tiktok", "t", "post")],
                at=at)
            posts.append(post_id)
            targets += ids
        rows = []
        for target_id in targets:
            likes = comments = 0.0
            for i in range(100):
                likes = max(0.0, likes + rng.randint(-1, 5))
                comments += rng.randint(0, 2)
                when = 1000.0 + i * 60 + rng.randint(0, 59)
                rows += [(target_id, "likes", when, likes), (target_id, "comments", when, comments),
                         (target_id, "views", when, likes * 10)]
        c.executemany("INSERT INTO metric_samples VALUES (?, ?, ?, ?)", rows)
        return posts, targets

    posts, _ = run(services.worker.call(write))
    campaign = run(campaigns.create("Big", MAY_1, MAY_31, None, "", posts))
    results = run(campaigns.results(campaign.id))

    samples = run(services.worker.call(lambda c: c.execute(
        "SELECT target_id, metric, at, value FROM metric_samples").fetchall(), write=False))
    engaging = [s for s in samples if s[1] in ENGAGEMENT_METRICS]

    def total_at(moment: float) -> float:  # the plain way: each series' last value by then
        latest: dict[tuple[int, str], tuple[float, float]] = {}
        for target_id, metric, when, value in engaging:
            key = (target_id, metric)
            if when <= moment and (key not in latest or when > latest[key][0]):
                latest[key] = (when, value)
        return sum(value for _, value in latest.values())

    series = results.engagement_over_time
    assert [when for when, _ in series] == sorted({s[2] for s in engaging})
    for when, total in series[::250] + series[-1:]:
        assert total == pytest.approx(total_at(when))
    assert results.engagement_over_time[-1][1] == pytest.approx(results.totals["engagement"])
    assert len(results.targets) == 200
