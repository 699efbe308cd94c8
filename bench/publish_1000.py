"""1,000 due posts across X, Instagram and TikTok published through the sandbox, with the real
window open (offscreen) on the Schedule panel and the GUI heartbeat measured meanwhile.

The sandbox (emulators and moto's S3 server standing in for R2) runs in its own process, as the
platforms do, so its work does not count against the app's GUI thread. One account per
platform. Posts: X text posts (every tenth a two-part thread), Instagram single photos (JPEG,
fetched by the emulator from a presigned R2 URL) and TikTok videos (uploaded in chunks).

Phase 1 measures throughput with the platforms' limits lifted, in the emulators and in the
app's own gate for X (processing still takes ``--ig-delay`` / ``--tiktok-delay`` seconds per
item); with real limits one account could not post 1,000 times in a day. Phase 2 checks that
rate limits are respected: X's 300 posts per window, with the window shortened to
``--x-window`` seconds so the bench ends; it prints the most posts X saw in any window and how
many 429s the app drew.

    python bench/publish_1000.py [--posts 1000] [--x-window 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def start_sandbox(state: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``mbv-desktop sandbox`` in a child process; its printed base URLs."""
    child = subprocess.Popen(
        [sys.executable, "-c", "from mbv_desktop.sandbox.host import main; "
         "raise SystemExit(main())", "--state-dir", str(state)],
        stdout=subprocess.PIPE, text=True)
    urls: dict[str, str] = {}
    assert child.stdout is not None
    for line in child.stdout:
        found = re.match(r"\s+(\w+)\s+(http://\S+)", line)
        if found:
            urls[found[1]] = found[2]
        if line.strip().startswith("control"):
            break
    return child, urls


def media(folder: Path) -> tuple[Path, Path]:
    import av
    from PIL import Image

    photo = folder / "photo.jpg"
    Image.new("RGB", (1080, 1080), (200, 120, 60)).save(photo, quality=85)
    clip = folder / "clip.mp4"
    with av.open(str(clip), "w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 360, 640, "yuv420p"
        for i in range(40):
            frame = av.VideoFrame.from_image(Image.new("RGB", (360, 640), (i * 6, 80, 140)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return photo, clip


def span(times: list[Any]) -> str:
    """First to last publication of one platform, in seconds."""
    return f"{(max(times) - min(times)).total_seconds():.1f} s" if times else "-"


def count_requests(state: Path, provider: str, status: int) -> int:
    with sqlite3.connect(state / "sandbox.sqlite3") as conn:
        return int(conn.execute("SELECT count(*) FROM requests WHERE provider = ? AND status = ?",
                                (provider, status)).fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--ig-delay", type=float, default=0.1)
    parser.add_argument("--tiktok-delay", type=float, default=0.2)
    parser.add_argument("--x-window", type=float, default=15.0)
    parser.add_argument("--x-limit-posts", type=int, default=400)
    args = parser.parse_args()

    from qt_bench import Heartbeat, qt_loop

    from mbv_desktop.app import preload_after_first_paint
    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.scheduling import parse_when
    from mbv_desktop.integrations.http import ProviderClient
    from mbv_desktop.integrations.social.x import XPublisher, x_policy
    from mbv_desktop.services.container import open_services
    from mbv_desktop.services.sandbox_consent import answer_consent
    from mbv_desktop.ui.main_window import MainWindow

    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        child, urls = start_sandbox(folder / "sandbox")
        photo, clip = media(folder)
        overrides = sandbox_overrides(urls) | {"publishing.poll_interval_s": 0.1}
        services = open_services(folder / "data", env={}, overrides=overrides, sandbox=True)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.show()
        heartbeat = Heartbeat()
        figures: dict[str, Any] = {}

        def lift_limits() -> None:
            post_json(urls["x"] + "/_social_settings",
                      {"post_limit": 1_000_000, "duplicate_window": 0})
            post_json(urls["facebook"] + "/_social_settings",
                      {"quota_total": 1_000_000, "image_delay": args.ig_delay})
            post_json(urls["tiktok"] + "/_social_settings",
                      {"init_limit": 1_000_000, "status_limit": 1_000_000,
                       "creator_info_limit": 1_000_000,
                       "processing_delay": args.tiktok_delay})

        async def schedule(plan: list[tuple[str, str, Path | None]]) -> None:
            when = parse_when("now", "UTC")
            assets: dict[Path, int] = {}
            for file in {p for _, _, p in plan if p is not None}:
                [added] = await services.library.add_files([file])
                assert added.asset is not None, added.error
                assets[file] = added.asset.id
            for provider, text, attached in plan:
                draft = await services.drafting.create(text)
                if attached is not None:
                    await services.library.attach(draft.id, [assets[attached]])
                await services.scheduling.schedule(draft.id, [provider], when)

        async def use_x_gate(limit: tuple[int, float] | None) -> None:
            old = services.publishing.use_publisher("x", XPublisher(
                urls["x"], poll_interval=0.1,
                client=ProviderClient(replace(x_policy(), rate_limit=limit))))
            if old is not None:
                await old.aclose()

        async def wait_settled(total: int) -> float:
            start = last_note = time.perf_counter()
            while True:
                rows = await services.scheduling.targets(limit=100_000)
                done = sum(r.state in ("published", "failed", "needs_attention") for r in rows)
                if done >= total:
                    return time.perf_counter() - start
                if time.perf_counter() - last_note > 10:
                    last_note = time.perf_counter()
                    waiting = {p: sum(r.provider == p and r.state == "pending" for r in rows)
                               for p in ("x", "instagram", "tiktok")}
                    print(f"  {last_note - start:5.0f} s: {done} of {total} done; waiting "
                          f"{waiting}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.25)

        async def scenario() -> None:
            while window.panels["schedule"].parent() is None:
                await asyncio.sleep(0.01)
            for provider in ("x", "instagram", "tiktok"):
                await services.accounts.authorize(provider, open_url=answer_consent, timeout=10)
            await asyncio.to_thread(lift_limits)
            n = args.posts
            plan: list[tuple[str, str, Path | None]] = []
            for i in range(n):
                share = i % 10
                if share < 5:
                    text = f"Post {i}: morning light over the harbour."
                    if share == 0 and i % 20 == 0:  # a thread of two parts
                        text = " ".join(f"Post {i}, note {k}: the light moves fast, plan "
                                        "every shot before sunrise." for k in range(6))
                    plan.append(("x", text, None))
                elif share < 8:
                    plan.append(("instagram", f"Post {i}: the harbour at dawn #sunrise", photo))
                else:
                    plan.append(("tiktok", f"Post {i}: sixty seconds of dawn", clip))
            # The app's own gate holds X to 300 posts per 15 minutes: lifted here like the
            # emulators' limits (phase 2 puts both back, on a shorter window).
            await use_x_gate(None)
            started = time.perf_counter()
            await schedule(plan)
            figures["schedule_s"] = time.perf_counter() - started
            window.show_panel("schedule")
            await window.tasks.wait_idle()
            await asyncio.to_thread(preload_after_first_paint)  # as the app does
            heartbeat.start()
            services.publishing.start()
            figures["publish_s"] = await wait_settled(n)
            rows = await services.scheduling.targets(limit=100_000)
            figures["states"] = {s: sum(r.state == s for r in rows)
                                 for s in {r.state for r in rows}}
            figures["by_platform"] = {p: sum(r.provider == p for r in rows)
                                      for p in ("x", "instagram", "tiktok")}
            figures["retried"] = sum(r.attempts > 1 for r in rows)
            figures["errors"] = sorted({r.last_error or "" for r in rows} - {""})[:3]
            figures["spans"] = {p: span([r.published_at for r in rows
                                         if r.provider == p and r.published_at])
                                for p in ("x", "instagram", "tiktok")}

            # Phase 2: X's limit of 300 posts per (shortened) window, at X and in the app's own
            # gate (which holds to 300 per 15 minutes; here shortened the same way).
            await asyncio.to_thread(post_json, urls["x"] + "/_social_settings",
                                    {"post_limit": 300, "post_window": args.x_window})
            await use_x_gate((300, args.x_window))
            before_429 = count_requests(folder / "sandbox", "x", 429)
            await schedule([("x", f"Limited {i}: harbour light", None)
                            for i in range(args.x_limit_posts)])
            started = time.perf_counter()
            figures["limited_s"] = await wait_settled(n + args.x_limit_posts)
            figures["x_429"] = count_requests(folder / "sandbox", "x", 429) - before_429
            heartbeat.stop()
            posts = get_json(urls["x"] + "/_posts?all=true")["data"]
            # X's windows are fixed, each starting at the first post after the last one ended
            # (as the emulator counts them); ids carry the millisecond they were made.
            stamps = sorted(((int(p["id"]) >> 22) + 1288834974657) / 1000 for p in posts
                            if p["text"].startswith("Limited"))
            windows: list[int] = []
            start = None
            for t in stamps:
                if start is None or t - start >= args.x_window:
                    start = t
                    windows.append(0)
                windows[-1] += 1
            figures["x_windows"] = windows
            figures["x_limited_posted"] = len(stamps)

        try:
            loop.run_until_complete(scenario())
        finally:
            loop.run_until_complete(services.aclose())
            window.close()
            services.close()
            child.terminate()
            child.wait(10)
    n = args.posts
    print(f"{n} posts scheduled in {figures['schedule_s']:.1f} s; by platform "
          f"{figures['by_platform']}")
    print(f"published in {figures['publish_s']:.1f} s: {n / figures['publish_s']:.1f} posts/s "
          f"(one account per platform; Instagram processing {args.ig_delay} s, TikTok "
          f"{args.tiktok_delay} s per item); states {figures['states']}")
    print(f"first to last per platform {figures['spans']}; tried more than once "
          f"{figures['retried']}; errors {figures['errors']}")
    print(f"rate limit: {args.x_limit_posts} X posts against 300 per {args.x_window:.0f} s "
          f"window: all {figures['x_limited_posted']} out in {figures['limited_s']:.1f} s, per "
          f"window {figures['x_windows']}, {figures['x_429']} answers 429 (each held the "
          f"account's posts until the reset)")
    print(heartbeat.summary())


if __name__ == "__main__":
    main()
