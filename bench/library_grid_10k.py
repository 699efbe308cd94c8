"""The Library grid with 10,000 assets, in the real window (offscreen).

Records 10,000 assets (each with its own small PNG in the data dir, so thumbnails are really
made), then measures: time from opening the Library panel to the grid being filled, the GUI
heartbeat's longest gap (a 5 ms QTimer) while the grid is scrolled from top to bottom a page at
a time with thumbnails being made for what comes into view, how many thumbnails were asked for
(only what was on screen should be), and RSS.

    python bench/library_grid_10k.py [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def seed_assets(data_dir: Path, count: int) -> None:
    """``count`` distinct 64x48 PNGs kept and recorded as the library would."""
    import hashlib
    import io
    import sqlite3

    from PIL import Image

    from mbv_desktop.core.drafts import format_time

    media = data_dir / "media"
    conn = sqlite3.connect(data_dir / "mbv.sqlite3")
    now = format_time(datetime.now(UTC))
    rows = []
    for i in range(count):
        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (i % 256, (i // 256) % 256, 120)).save(buf, "PNG")
        data = buf.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        path = media / sha[:2] / f"{sha}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append((sha, "image", "image/png", "png", len(data), 64, 48,
                     f"frame {i:05d}.png", "imported", now))
    conn.executemany(
        "INSERT INTO assets (sha256, kind, mime, ext, bytes, width, height, original_name,"
        " source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()

    import psutil
    from qt_bench import Heartbeat, qt_loop

    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow

    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        open_services(data_dir, env={}).close()  # creates the schema
        t = time.perf_counter()
        seed_assets(data_dir, args.count)
        print(f"recorded {args.count} assets in {time.perf_counter() - t:.1f} s (not counted)")
        services = open_services(data_dir, env={})
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(1280, 800)
        window.show()
        panel = window.panels["library"]
        heartbeat = Heartbeat()
        figures: dict[str, float] = {}

        async def scenario() -> None:
            await asyncio.sleep(0.5)
            start = time.perf_counter()
            window.show_panel("library")
            while panel.model.rowCount() < args.count:
                await asyncio.sleep(0.001)
            figures["filled_ms"] = (time.perf_counter() - start) * 1000
            bar = panel.grid.verticalScrollBar()
            previous, steady = -1, 0
            while steady < 10:  # the layout is done in batches; wait until it stops growing
                await asyncio.sleep(0.01)
                steady = steady + 1 if bar.maximum() == previous else 0
                previous = bar.maximum()
            figures["laid_out_ms"] = (time.perf_counter() - start) * 1000 - 100
            await window.tasks.wait_idle()
            heartbeat.start()
            start = time.perf_counter()
            while bar.value() < bar.maximum():
                bar.setValue(bar.value() + bar.pageStep())
                await asyncio.sleep(0.016)  # about one frame per page
            figures["scroll_s"] = time.perf_counter() - start
            await window.tasks.wait_idle()
            heartbeat.stop()

        loop.run_until_complete(scenario())
        asked = len(panel.model._asked)
        rss = psutil.Process().memory_info().rss / 2**20
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()

    print(f"grid filled with {args.count} items: {figures['filled_ms']:.0f} ms after opening "
          f"the panel; fully laid out after {figures['laid_out_ms']:.0f} ms")
    print(f"scrolled top to bottom a page per frame in {figures['scroll_s']:.1f} s; "
          f"thumbnails asked for: {asked} of {args.count}")
    print(f"while scrolling: {heartbeat.summary()}; RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
