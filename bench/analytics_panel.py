"""The Analytics panel with 1,000 posts and 100,000 metric points, and the GUI while collecting.

Phase 1 (render): a profile with 1,000 published posts across X, Instagram and TikTok, each with
100 collections of views (100,000 points on the "Views over time" chart, about 500,000 samples
in all), is opened in the real window (offscreen). It prints the time from asking the panel
for a view to that view drawn (the read off the GUI thread, then the charts), for the first
showing and for filter changes, and the GUI heartbeat meanwhile.

Phase 2 (collect): the sandbox runs in its own process, as the platforms do. The app publishes
``--posts`` posts to X, Instagram and TikTok (limits lifted), then collects every post's
figures ``--rounds`` times with the Analytics panel on screen (it redraws as figures arrive),
and prints the collection throughput and the GUI heartbeat's longest gap.

    python bench/analytics_panel.py [--posts 300] [--rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from publish_1000 import media, post_json, start_sandbox


async def rendered(panel: Any, action: Any) -> float:
    """Runs ``action`` and waits for the panel's next drawn view; its milliseconds."""
    done: asyncio.Future[float] = asyncio.get_event_loop().create_future()

    def note(ms: float) -> None:
        if not done.done():
            done.set_result(ms)

    panel.rendered.connect(note)
    try:
        action()
        return await asyncio.wait_for(done, 30)
    finally:
        panel.rendered.disconnect(note)


def close(loop: Any, window: Any) -> None:
    """Closes the window as a person does; it saves and closes the services itself."""
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.close()
    loop.run_until_complete(asyncio.wait_for(closed.wait(), 30))


def phase_render(loop: Any, folder: Path) -> None:
    from analytics_seed import seed_published
    from qt_bench import Heartbeat

    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow

    services = open_services(folder / "render", env={})
    started = time.perf_counter()
    seeded = services.worker.submit(
        lambda c: seed_published(c, 1000, 0, collections=100), write=False).result()
    points = services.worker.submit(lambda c: c.execute(
        "SELECT count(*) FROM metric_samples WHERE metric = 'views'").fetchone()[0],
        write=False).result()
    print(f"seeded 1,000 posts: {seeded.points:,} samples, {points:,} of them views "
          f"({time.perf_counter() - started:.1f} s)")
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.resize(1400, 900)
    window.show()
    heartbeat = Heartbeat()
    first_beat = Heartbeat()  # holds the first showing's gaps (the charts are made then)
    panel = window.panels["analytics"]
    figures: dict[str, list[float]] = {"first": [], "filter": []}

    async def scenario() -> None:
        await asyncio.sleep(0.5)  # the first frame and the deferred build
        from mbv_desktop.ui.widgets.charts import preload

        await asyncio.to_thread(preload)  # as the app does after its first frame
        heartbeat.start()

        def show() -> None:
            window.show_panel("analytics")
            panel.performance.metric_choice.setCurrentIndex(
                panel.performance.metric_choice.findData("views"))

        figures["first"].append(await rendered(panel, show))
        await asyncio.sleep(0.3)
        heartbeat.stop()
        first_beat.gaps = list(heartbeat.gaps)
        heartbeat.gaps.clear()
        heartbeat.start()
        shown = panel.performance.over_time
        print(f"views chart: {sum(len(s.x) for s in shown._state.every):,} points in "
              f"{len(shown._state.every)} series, {len(shown.shown_series)} drawn")
        platforms = panel.filters.platform
        for n in range(6):
            figures["filter"].append(await rendered(
                panel, lambda n=n: platforms.setCurrentIndex((n + 1) % platforms.count())))
            await asyncio.sleep(0.2)
        heartbeat.stop()

    loop.run_until_complete(scenario())
    print(f"panel render, first showing: {figures['first'][0]:.0f} ms (target <= 500 ms)")
    print(f"panel render after a filter change: median {statistics.median(figures['filter']):.0f}"
          f" ms, worst {max(figures['filter']):.0f} ms over {len(figures['filter'])}")
    print("first showing (the charts made, then drawn): " + first_beat.summary())
    print("filter changes (drawn again): " + heartbeat.summary())
    close(loop, window)
    services.close()


def phase_collect(loop: Any, folder: Path, posts: int, rounds: int) -> None:
    from qt_bench import Heartbeat

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.scheduling import parse_when
    from mbv_desktop.services.container import open_services
    from mbv_desktop.services.sandbox_consent import answer_consent
    from mbv_desktop.ui.main_window import MainWindow

    child, urls = start_sandbox(folder / "sandbox")
    try:
        photo, clip = media(folder)
        overrides = sandbox_overrides(urls) | {"publishing.poll_interval_s": 0.1}
        services = open_services(folder / "collect", env={}, overrides=overrides, sandbox=True)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(1400, 900)
        window.show()
        heartbeat = Heartbeat()
        figures: dict[str, Any] = {}

        async def scenario() -> None:
            await asyncio.sleep(0.5)
            for provider in ("x", "instagram", "tiktok"):
                await services.accounts.authorize(provider, open_url=answer_consent, timeout=10)
            post_json(urls["x"] + "/_social_settings",
                      {"post_limit": 1_000_000, "duplicate_window": 0, "processing_delay": 0.1})
            post_json(urls["facebook"] + "/_social_settings",
                      {"quota_total": 1_000_000, "image_delay": 0.1})
            post_json(urls["tiktok"] + "/_social_settings",
                      {"init_limit": 1_000_000, "status_limit": 1_000_000,
                       "creator_info_limit": 1_000_000, "processing_delay": 0.2})
            [added_photo] = await services.library.add_files([photo])
            [added_clip] = await services.library.add_files([clip])
            assert added_photo.asset and added_clip.asset
            when = parse_when("now", "UTC")
            for i in range(posts):
                provider = ("x", "x", "instagram", "tiktok")[i % 4]
                draft = await services.drafting.create(f"Post {i} at the harbour #dawn")
                if provider == "instagram":
                    await services.library.attach(draft.id, [added_photo.asset.id])
                elif provider == "tiktok":
                    await services.library.attach(draft.id, [added_clip.asset.id])
                await services.scheduling.schedule(draft.id, [provider], when)
            started = time.perf_counter()
            while True:
                report = await services.publishing.publish_due(limit=5000)
                rows = await services.scheduling.targets(limit=100_000)
                if all(r.state not in ("pending", "in_flight") for r in rows):
                    break
                if not report.published:
                    await asyncio.sleep(0.2)
            published = sum(r.state == "published" for r in rows)
            print(f"published {published} of {posts} posts in "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
            window.show_panel("analytics")
            await asyncio.sleep(1.0)
            heartbeat.start()
            collected, started = 0, time.perf_counter()
            for n in range(rounds):
                report = await services.metrics_collection.collect_due(
                    now=datetime.now(UTC) + timedelta(days=n + 1))
                collected += report.collected
            figures["seconds"] = time.perf_counter() - started
            figures["collected"] = collected
            await asyncio.sleep(1.5)  # the panel's last redraw
            heartbeat.stop()

        loop.run_until_complete(scenario())
        print(f"collected {figures['collected']:,} post figures in {figures['seconds']:.1f} s "
              f"({figures['collected'] / figures['seconds']:.0f} posts/s), panel on screen")
        print("while collecting: " + heartbeat.summary())
        close(loop, window)
        services.close()
    finally:
        child.terminate()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--skip-collect", action="store_true")
    parser.add_argument("--skip-render", action="store_true")
    args = parser.parse_args()
    from qt_bench import qt_loop

    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_render:
            phase_render(loop, Path(tmp))
        if not args.skip_collect:
            phase_collect(loop, Path(tmp), args.posts, args.rounds)


if __name__ == "__main__":
    main()
