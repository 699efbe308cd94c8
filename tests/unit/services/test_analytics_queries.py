"""What the Analytics panel and the exports read: latest figures per post, one series per post,
comparisons per platform and account, the best-hours heatmap (which feeds the Schedule
dialog's best-time hints), hashtag performance, filters, and the CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from analytics_seed import seed_published
from helpers import run

from mbv_desktop.core.analytics import engagement
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.scheduling import best_times
from mbv_desktop.services.analytics_queries import AnalyticsFilter, hashtags_of, top_posts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def seeded(services: Any) -> Any:
    def write(c: sqlite3.Connection) -> Any:
        return seed_published(c, 60, 30, now=NOW, days=30)

    # the seeder manages its own transaction; give it a plain connection on the store thread
    return run(services.worker.call(write, write=False))


def test_hashtags_are_read_from_the_text() -> None:
    assert hashtags_of("New #AI tools! #ai #Design, not an anchor&#39; or mail@x#y") == (
        "ai", "design")


def test_latest_figures_and_series_agree_with_what_was_stored(services: Any,
                                                               seeded: Any) -> None:
    q = services.analytics_queries
    overview = run(q.overview(AnalyticsFilter(), "views"))
    assert len(overview.posts) == 60
    stored = run(services.worker.call(lambda c: c.execute(
        "SELECT count(*) FROM metric_samples WHERE metric = 'views'").fetchone()[0],
        write=False))
    assert overview.points == stored
    for series in overview.series:
        assert np.all(np.diff(series.times) > 0)
        post = next(p for p in overview.posts if str(p.target_id) == series.key)
        assert series.values[-1] == post.values["views"]
    eng = run(q.overview(AnalyticsFilter(), "engagement"))
    for series in eng.series:
        post = next(p for p in eng.posts if str(p.target_id) == series.key)
        assert series.values[-1] == pytest.approx(engagement(post.values))


def test_comparisons_sum_each_posts_latest_figures(services: Any, seeded: Any) -> None:
    overview = run(services.analytics_queries.overview(AnalyticsFilter()))
    assert [g.key for g in overview.by_platform] == ["instagram", "tiktok", "x"]
    for group in overview.by_platform:
        members = [p for p in overview.posts if p.provider == group.key]
        assert group.posts == len(members) == 20
        assert group.totals["views"] == sum(p.values["views"] for p in members)
    assert sum(g.posts for g in overview.by_account) == 60


def test_filters_by_platform_tag_and_dates(services: Any, seeded: Any) -> None:
    q = services.analytics_queries
    only_x = run(q.posts(AnalyticsFilter(platforms=("x",))))
    assert {p.provider for p in only_x} == {"x"} and len(only_x) == 20
    tagged = run(q.posts(AnalyticsFilter(tag="#AI")))
    assert tagged and all("ai" in p.hashtags for p in tagged)
    recent = run(q.posts(AnalyticsFilter().with_days(date(2026, 11, 13), date(2026, 11, 20))))
    assert recent and all(p.published_at >= datetime(2026, 11, 13, tzinfo=UTC)
                          for p in recent)
    assert len(recent) < 60


def test_heatmap_feeds_the_best_time_hints(services: Any, seeded: Any) -> None:
    q = services.analytics_queries
    overview = run(q.overview(AnalyticsFilter()))
    assert int(overview.heatmap.counts.sum()) == 60
    hours = run(q.engagement_by_hour("x"))
    assert sum(1 for _ in hours) == int(
        run(q.overview(AnalyticsFilter(platforms=("x",)))).heatmap.counts.astype(bool).sum())
    hints = best_times("x", hours, min_posts=5)
    assert hints and all(h.source == "your posts" for h in hints)
    best = max(hours.items(), key=lambda kv: kv[1])[0]
    assert (hints[0].weekday, hints[0].hour) == best


def test_hashtag_table_ranks_tags_by_how_their_posts_did(services: Any, seeded: Any) -> None:
    overview = run(services.analytics_queries.overview(AnalyticsFilter()))
    means = [g.mean_engagement for g in overview.hashtags]
    assert means == sorted(means, reverse=True)
    first = overview.hashtags[0]
    members = [p for p in overview.posts if first.key in p.hashtags]
    assert first.posts == len(members)
    top = top_posts(overview.posts, 5)
    assert [p.engagement for p in top] == sorted((p.engagement for p in top), reverse=True)


def test_export_csv_and_json_hold_every_sample_in_the_range(services: Any,
                                                            seeded: Any) -> None:
    q = services.analytics_queries
    text = run(q.export("csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == seeded.points
    assert set(rows[0]) == {"collected_at", "published_at", "platform", "account_id",
                            "post_id", "url", "title", "metric", "value"}
    as_json = json.loads(run(q.export("json")))
    assert len(as_json) == seeded.points and as_json[0]["metric"] == rows[0]["metric"]
    day = date(2026, 11, 19)
    one_day = list(csv.DictReader(io.StringIO(run(q.export("csv", day, day)))))
    assert one_day and all(r["collected_at"].startswith("2026-11-19") for r in one_day)
    with pytest.raises(InvalidInput, match="before its start"):
        run(q.export("csv", day, day - timedelta(days=1)))
    with pytest.raises(InvalidInput):
        run(q.export("xml"))
