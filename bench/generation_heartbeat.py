"""Generation under load, in the real window with the sandbox's OpenAI emulator:

1. the GUI heartbeat's longest gap (a 5 ms QTimer) while 3 generations stream and 50 API calls
   run through the integration layer;
2. time from a token arriving on the socket to it being painted in the variant view: the
   emulator stamps each SSE chunk with its send time; the paint is taken from the view's
   viewport paint event (same machine, same clock);
3. the integration layer's overhead per call over a bare httpx call to the same loopback server.

    python bench/generation_heartbeat.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def overhead(base_url: str, n: int = 300) -> tuple[float, float]:
    import httpx

    from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

    headers = {"Authorization": "Bearer sk-bench"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as bare:
        for _ in range(20):
            await bare.get("/models")
        t = time.perf_counter()
        for _ in range(n):
            await bare.get("/models")
        bare_ms = (time.perf_counter() - t) / n * 1000
    async with ProviderClient(ProviderPolicy("openai"), base_url=base_url,
                              headers=headers) as client:
        for _ in range(20):
            await client.request("GET", "/models")
        t = time.perf_counter()
        for _ in range(n):
            await client.request("GET", "/models")
        policy_ms = (time.perf_counter() - t) / n * 1000
    return bare_ms, policy_ms


def main() -> None:
    from PySide6.QtCore import QEvent, QObject
    from qt_bench import Heartbeat, qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.generation import Provider, TaskKind
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow

    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        host = SandboxHost(Path(tmp) / "sandbox", stream_delay=0.01)
        host.start()
        services = open_services(Path(tmp) / "data", env={},
                                 overrides=sandbox_overrides(host.urls()))
        window = MainWindow(services, show_dialogs=False)
        window.show()
        heartbeat = Heartbeat()

        paint_times: list[float] = []

        class PaintWatch(QObject):
            def eventFilter(self, watched: QObject, event: QEvent) -> bool:
                if event.type() == QEvent.Type.Paint:
                    paint_times.append(time.perf_counter())
                return False

        arrivals: list[float] = []
        loop.run_until_complete(asyncio.sleep(0.2))
        box = window.create_panel.generate_box
        assert box is not None
        box.provider_box.setCurrentIndex(box.provider_box.findData(Provider.OPENAI))
        box.task_box.setCurrentIndex(box.task_box.findData(TaskKind.INSTAGRAM_CAPTION))
        box.topic_edit.setText("sunrise coffee cart launch")
        original_on_delta = box._on_delta

        def on_delta(delta: object) -> None:
            arrivals.append(time.perf_counter())
            original_on_delta(delta)

        box._on_delta = on_delta  # type: ignore[method-assign]
        watch = PaintWatch()

        async def scenario() -> None:
            while window.create_panel.generate_box is None:  # built after the first paint
                await asyncio.sleep(0.01)
            # Warm up as the app does after its first paint (X rules, SDK import, first
            # connection), so the figures are about streaming, not one-time loading.
            from mbv_desktop.core import platforms

            await asyncio.to_thread(platforms.preload)
            await services.generation.generate_text(TaskKind.X_POST, topic="warm up",
                                                    provider=Provider.OPENAI)
            await asyncio.sleep(0.3)
            heartbeat.start()
            box.generate()  # one in the window, painted
            for view in box._views:
                view.viewport().installEventFilter(watch)
            gen = services.generation
            others = [gen.generate_text(TaskKind.X_THREAD, topic="morning routine",
                                        provider=Provider.OPENAI) for _ in range(2)]
            client = await gen.client(Provider.OPENAI)
            calls = [client.list_models() for _ in range(50)]
            await asyncio.gather(*others, *calls)
            while box.running:
                await asyncio.sleep(0.01)
            heartbeat.stop()

        loop.run_until_complete(scenario())
        # token -> paint: for each arrival, the first paint after it
        latencies = []
        for t in arrivals:
            after = [p for p in paint_times if p >= t]
            if after:
                latencies.append((after[0] - t) * 1000)
        bare_ms, policy_ms = loop.run_until_complete(overhead(host.urls()["openai"]))
        loop.run_until_complete(services.aclose())
        host.stop()
    print("3 generations streaming (10 ms between chunks) + 50 API calls, real window:")
    print(f"  {heartbeat.summary()}")
    if latencies:
        print(f"  token arrival -> painted: p50 {statistics.median(latencies):.1f} ms, "
              f"p95 {pct(latencies, 95):.1f} ms over {len(latencies)} tokens "
              f"(target p95 <= 30 ms)")
    print(f"integration layer per call: {policy_ms:.3f} ms vs bare httpx {bare_ms:.3f} ms: "
          f"overhead {policy_ms - bare_ms:.3f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()
