"""The Analytics panel in the real window.

On the sandbox: a creator's posts go out to X, Instagram and TikTok, collection runs a few
times ("Collect now") while the emulators' audiences grow, and the panel shows real charts of
those posts: one line per post, the platforms compared, the best hours, the top posts, their
hashtags, X's trends (and a plain sentence for the platforms without any), a campaign and
integration health. Each chart's exported CSV is checked against the figures in the database:
what the chart shows is what was collected.

With 1,000 seeded posts and 100,000 points: the chart draws the top lines, says how many more
there are, and its CSV still holds every point, equal to the database's.

With ``ANALYTICS_SCREENSHOTS`` set, each tab is saved there as a PNG (how the README's
analytics screenshots are made).
"""

from __future__ import annotations

import asyncio
import csv
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from analytics_seed import seed_published
from helpers import close_window, eventually
from integration.test_publishing_sandbox import fast_emulators, portrait_clip
from integration.test_social_clients import picture, post_json
from support.s3 import s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.analytics import ENGAGEMENT_METRICS
from mbv_desktop.core.scheduling import parse_when
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.sandbox.s3 import SandboxS3
from mbv_desktop.services.container import open_services
from mbv_desktop.services.sandbox_consent import answer_consent
from mbv_desktop.ui.main_window import MainWindow
from mbv_desktop.ui.panels.analytics.panel import REFRESH_MS

POSTS = (
    ("x", "Golden hour over the harbour #sunrise #photo", None),
    ("x", "Five tips for shooting at dawn #photo #tips", None),
    ("instagram", "The harbour at first light #sunrise", "photo"),
    ("tiktok", "Sixty seconds of dawn #timelapse", "clip"),
)


@pytest.fixture
def sandbox_window(data_dir: Path, tmp_path: Path, loop: Any,
                   s3: SandboxS3) -> Iterator[tuple[Any, SandboxHost]]:  # noqa: F811
    from PySide6.QtCore import QCoreApplication, QEvent

    host = SandboxHost(tmp_path / "sandbox")
    host.start()
    fast_emulators(host)
    for name in ("x", "facebook", "tiktok"):  # an hour of audience per real second
        post_json(f"{host.urls()[name]}/_social_settings", {"metrics_time_scale": 3600.0})
    overrides = sandbox_overrides(host.urls() | {"r2": s3.endpoint_url})
    overrides["analytics.collect_first_interval_s"] = 0.3
    services = open_services(data_dir, env={}, overrides=overrides, sandbox=True,
                             sandbox_control_url=host.control_url)
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.resize(1400, 900)
    window.show()
    loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
    yield window, host
    loop.run_until_complete(close_window(window))
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    services.close()
    host.stop()


async def publish(window: Any, tmp_path: Path) -> dict[str, Any]:
    services = window.services
    ids = {}
    for provider in ("x", "instagram", "tiktok"):
        account = await services.accounts.authorize(provider, open_url=answer_consent,
                                                    timeout=10)
        ids[provider] = account.account_id
    files = {"photo": picture(tmp_path / "harbour.jpg", (40, 100, 170)),
             "clip": portrait_clip(tmp_path / "dawn.mp4")}
    assets = {}
    for key, path in files.items():
        [added] = await services.library.add_files([path])
        assets[key] = added.asset.id
    now = parse_when("now", "UTC")
    for provider, text, media in POSTS:
        draft = await services.drafting.create(text)
        if media:
            await services.library.attach(draft.id, [assets[media]])
        await services.scheduling.schedule(draft.id, [ids[provider]], now)
    for _ in range(30):
        await services.publishing.publish_due()
        rows = await services.scheduling.targets()
        if all(r.state == "published" for r in rows):
            return {r.id: r for r in rows}
        await asyncio.sleep(0.2)
    raise AssertionError(f"not published: {[(r.provider, r.state) for r in rows]}")


def stored(services: Any) -> dict[int, dict[str, list[tuple[float, float]]]]:
    """target → metric → [(at, value)] from the database."""
    def read(c: sqlite3.Connection) -> dict[int, dict[str, list[tuple[float, float]]]]:
        out: dict[int, dict[str, list[tuple[float, float]]]] = defaultdict(
            lambda: defaultdict(list))
        for target, metric, at, value in c.execute(
                "SELECT target_id, metric, at, value FROM metric_samples ORDER BY at"):
            out[target][metric].append((at, value))
        return out

    return services.worker.submit(read, write=False).result()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def epoch(text: str) -> float:
    """A CSV time (ISO 8601, UTC, "Z") as epoch seconds, to the millisecond."""
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp(), 3)


async def rendered(panel: Any) -> None:
    done = asyncio.Event()
    panel.rendered.connect(lambda _ms: done.set())
    await asyncio.wait_for(done.wait(), 20)


def test_published_posts_show_in_charts_whose_exports_match_the_database(
        sandbox_window: tuple[Any, SandboxHost], loop: Any, tmp_path: Path) -> None:
    shots = os.environ.get("ANALYTICS_SCREENSHOTS")

    async def scenario() -> None:
        window, _host = sandbox_window
        services = window.services
        targets = await publish(window, tmp_path)
        window.show_panel("analytics")
        panel = window.panels["analytics"]
        await eventually(lambda: panel.performance is not None
                         and panel.performance.heatmap is not None)
        for _ in range(20):  # "Collect now", as figures come due (0.3 s, 0.6 s, 1.2 s…)
            await asyncio.sleep(0.5)
            panel.collect.click()
            await window.tasks.wait_idle()
            counts = stored(services)
            if all(len(counts[t]["views"]) >= 3 for t in targets):
                break
        assert "Collected" in panel.status.text() or "posts" in panel.status.text()
        panel.refresh()
        await rendered(panel)
        perf = panel.performance
        db = stored(services)

        # one line per post, each as collected
        assert perf.over_time.hidden_count == 0
        assert len(perf.over_time.shown_series) == len(POSTS)
        line_csv = tmp_path / "over_time.csv"
        perf.over_time.export_csv(line_csv)
        rows = read_csv(line_csv)
        by_series: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for row in rows:
            by_series[row["series"]].append((epoch(row["time_utc"]), float(row["Engagement"])))
        expected: dict[str, list[tuple[float, float]]] = {}
        for target_id, target in targets.items():
            per_time: dict[float, float] = defaultdict(float)
            for metric in ENGAGEMENT_METRICS:
                for at, value in db[target_id].get(metric, []):
                    per_time[at] += value
            label = next(s.name for s in perf.over_time.shown_series
                         if s.name.endswith(target.body.split("\n")[0][:40]))
            expected[label] = [(round(at, 3), per_time[at]) for at in sorted(per_time)]
            assert len(expected[label]) >= 3, (target.provider, expected[label])
            values = [v for _, v in expected[label]]
            assert values == sorted(values) and values[-1] > values[0]  # they grew
        assert dict(by_series) == expected

        # platforms compared: each bar is the sum of its posts' latest figures
        bars_csv = tmp_path / "by_platform.csv"
        perf.by_platform.export_csv(bars_csv)
        latest_views: dict[str, float] = defaultdict(float)
        for target_id, target in targets.items():
            latest_views[target.provider] += db[target_id]["views"][-1][1]
        bars = {r["category"]: float(r["Views"]) for r in read_csv(bars_csv)}
        assert bars == {
            "X": latest_views["x"], "Instagram": latest_views["instagram"],
            "TikTok": latest_views["tiktok"]}
        assert perf.top.rowCount() == len(POSTS)
        heat = perf.heatmap.data_table()[1]
        assert sum(1 for row in heat if row[-1] not in (None, "")) >= 1

        # followers: one line per connected account
        await eventually(lambda: len(perf.followers.shown_series) == 3)

        # filters: X only, then one hashtag
        def lines() -> set[str]:
            return {s.name.split(":")[0] for s in perf.over_time.shown_series}

        panel.filters.platform.setCurrentIndex(panel.filters.platform.findData("x"))
        await eventually(lambda: len(perf.over_time.shown_series) == 2)
        assert lines() == {"x"}
        panel.filters.platform.setCurrentIndex(0)
        panel.filters.tag.setText("#sunrise")
        await eventually(lambda: lines() == {"x", "instagram"})
        tags = panel.hashtags
        await eventually(lambda: tags.table.rowCount() == 2)  # sunrise, and photo with it
        assert tags.table.item(0, 0).text() in ("#sunrise", "#photo")
        if shots:
            panel.filters.tag.clear()
            await eventually(lambda: len(perf.over_time.shown_series) == len(POSTS))
            await asyncio.sleep(0.5)
            window.grab().save(str(Path(shots) / "screenshot-analytics-performance.png"))

        # trends: X has them; Instagram and TikTok say they have none
        panel.tabs.setCurrentIndex(1)
        await eventually(lambda: tags.trends.count() > 0, timeout=10)
        assert "X gives trending topics" in tags.trend_note.text()
        tags.trend_platform.setCurrentIndex(tags.trend_platform.findData("tiktok"))
        await eventually(lambda: "no trends API" in tags.trend_note.text())
        assert tags.trends.count() == 0
        tags.trend_platform.setCurrentIndex(0)
        tags.draft.setPlainText("A quiet morning at the harbour, shooting the sunrise")
        tags.suggest_button.click()
        await eventually(lambda: tags.suggestions.count() > 0, timeout=10)
        assert any("#photo" in tags.suggestions.item(i).text()
                   for i in range(tags.suggestions.count()))
        if shots:
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-analytics-hashtags.png"))

        # a campaign of the three first posts
        post_ids = sorted({t.post_id for t in targets.values()})[:3]
        campaign = await services.campaigns.create(
            "Harbour week", datetime.now(UTC).date(), datetime.now(UTC).date(), 50.0,
            "engagement", post_ids)
        panel.tabs.setCurrentIndex(2)
        tab = panel.campaigns
        await eventually(lambda: tab is not None and tab.list.count() == 1)
        await eventually(lambda: "Harbour week" in tab.summary.text())
        assert campaign.post_count == 3
        assert len(tab.over_time.shown_series) == 1
        if shots:
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-analytics-campaigns.png"))

        # AI spend: the suggestions' embeddings were a (sandbox) OpenAI run
        panel.tabs.setCurrentIndex(3)
        await eventually(lambda: panel.spend is not None and panel.spend.table.rowCount() >= 1)
        assert panel.spend.table.item(0, 0).text() == "openai"
        assert "This month" in panel.spend.summary.text()
        if shots:
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-analytics-spend.png"))

        # integration health: the platforms the collector called
        services.health_history.sample()
        panel.tabs.setCurrentIndex(4)
        health = panel.health
        await eventually(lambda: health.table.rowCount() >= 3)
        names = {health.table.item(r, 0).text() for r in range(health.table.rowCount())}
        assert {"X", "Instagram", "TikTok"} <= names
        if shots:
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-analytics-health.png"))

        # Leave nothing in flight: the loop stops when this returns, and pytest-qt's teardown
        # processes Qt events, which would step a task (a redraw for figures collected in the
        # background) with no running loop.
        await services.metrics_collection.aclose()
        await asyncio.sleep(REFRESH_MS / 1000 + 0.3)  # a redraw already asked for starts
        await window.tasks.wait_idle()

    loop.run_until_complete(scenario())


def test_a_hundred_thousand_points_draw_the_top_lines_and_export_every_point(
        services: Any, loop: Any, tmp_path: Path) -> None:
    from helpers import shown_window

    seeded = services.worker.submit(
        lambda c: seed_published(c, 1000, 0, collections=100), write=False).result()
    assert len(seeded.target_ids) == 1000

    with shown_window(services, loop) as window:
        async def scenario() -> None:
            panel = window.panels["analytics"]
            window.show_panel("analytics")
            await eventually(lambda: panel.performance is not None
                             and panel.performance.heatmap is not None)
            views = panel.performance.metric_choice.findData("views")
            panel.performance.metric_choice.setCurrentIndex(views)
            await rendered(panel)
            chart = panel.performance.over_time
            assert len(chart.shown_series) == 12 and chart.hidden_count == 988
            assert "988 more" in chart.title_text()
            path = tmp_path / "views.csv"
            chart.export_csv(path)
            rows = read_csv(path)
            assert len(rows) == 100_000
            assert sum(r["shown"] == "yes" for r in rows) == 1200
            in_db = services.worker.submit(lambda c: c.execute(
                "SELECT count(*), sum(value) FROM metric_samples WHERE metric = 'views'"
            ).fetchone(), write=False).result()
            assert (len(rows), sum(float(r["Views"]) for r in rows)) == (
                in_db[0], pytest.approx(in_db[1]))

        loop.run_until_complete(scenario())


def test_a_campaign_made_and_edited_in_the_dialog_shows_its_results_and_a_bad_one_is_refused(
        services: Any, loop: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from helpers import shown_window

    from mbv_desktop.ui.panels.analytics.campaigns import CampaignDialog

    seed_published_now = services.worker.submit(
        lambda c: seed_published(c, 6, 0, collections=5), write=False).result()
    assert len(seed_published_now.target_ids) == 6
    answers = iter([("Launch week", 3), ("Launch fortnight", 4), ("", 2)])

    def fill_and_accept(dialog: CampaignDialog) -> int:
        name, posts = next(answers)
        dialog.name.setText(name)
        dialog.budget.setValue(120)
        dialog.goal.setCurrentIndex(dialog.goal.findData("reach"))
        for row in range(posts):
            dialog.posts.item(row).setSelected(True)
        return int(dialog.DialogCode.Accepted)

    monkeypatch.setattr(CampaignDialog, "exec", fill_and_accept)
    with shown_window(services, loop) as window:
        async def scenario() -> None:
            panel = window.panels["analytics"]
            window.show_panel("analytics")
            await eventually(lambda: panel.performance is not None
                             and panel.performance.heatmap is not None)
            panel.tabs.setCurrentIndex(2)
            tab = panel.campaigns
            tab.new_button.click()
            await eventually(lambda: tab.list.count() == 1)
            await eventually(lambda: "Launch week" in tab.summary.text())
            assert "goal: Reach" in tab.summary.text() and "$120.00" in tab.summary.text()
            assert len(tab.over_time.shown_series) == 1
            [campaign] = await services.campaigns.list()
            assert campaign.post_count == 3
            tab.edit_button.click()  # renamed, one post more
            await eventually(lambda: "Launch fortnight" in tab.summary.text())
            [campaign] = await services.campaigns.list()
            assert campaign.post_count == 4 and campaign.goal == "reach"
            tab.new_button.click()  # no name: refused, nothing written
            await eventually(lambda: window.tasks.last_error is not None)
            assert "name" in window.tasks.last_error
            assert len(await services.campaigns.list()) == 1

        loop.run_until_complete(scenario())
