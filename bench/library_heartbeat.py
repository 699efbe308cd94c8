"""The GUI heartbeat while the Library imports photos and backs them up, in the real window.

A 5 ms QTimer beats on the GUI thread while N photos (default 500) are added through the Library
panel (the same path as a drop) and the upload outbox sends them to the sandbox's S3 server.
Prints the heartbeat's longest and 99th-percentile extra gap (target: at most 50 ms), how long
import and upload took, and files per second.

    python bench/library_heartbeat.py [--count 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_photos(folder: Path, count: int) -> list[Path]:
    """Distinct JPEGs of about 100-200 KB (1200x900 with noise blocks)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    base = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    paths = []
    for i in range(count):
        img = base.copy()
        noise = Image.frombytes("RGB", (160, 120), rng.randbytes(160 * 120 * 3))
        img.paste(noise, (rng.randrange(0, 1000), rng.randrange(0, 760)))
        path = folder / f"photo {i:04d}.jpg"
        img.save(path, quality=85)
        paths.append(path)
    return paths


def start_s3(where: str) -> tuple[Any, subprocess.Popen[str] | None]:
    """The sandbox's S3 server, here or in a child process (then a handle for inspection)."""
    from mbv_desktop.sandbox.s3 import SandboxS3, free_loopback_port

    if where == "in-process":
        server = SandboxS3(None)
        server.start()
        return server, None
    port = free_loopback_port()
    code = ("import sys; from mbv_desktop.sandbox.s3 import SandboxS3; "
            "s = SandboxS3(None, port=int(sys.argv[1])); s.start(); print('ready', flush=True); "
            "sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", code, str(port)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    handle = SandboxS3(None, port=port)
    handle._endpoint = handle.planned_url  # the child serves it; this only inspects
    return handle, child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--s3", choices=("subprocess", "in-process"), default="subprocess",
                        help="where moto's S3 server runs: in its own process, as R2 would be "
                             "elsewhere (default), or inside the app's process as --sandbox runs "
                             "it (its request handling then competes for the GIL)")
    args = parser.parse_args()

    from qt_bench import Heartbeat, qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow

    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        photos = make_photos(root / "photos", args.count)
        megabytes = sum(p.stat().st_size for p in photos) / 1e6
        print(f"made {len(photos)} photos ({megabytes:.0f} MB) in "
              f"{time.perf_counter() - t:.1f} s (not counted)")
        s3, child = start_s3(args.s3)
        services = open_services(root / "data", env={},
                                 overrides=sandbox_overrides({"r2": s3.endpoint_url}))
        window = MainWindow(services, show_dialogs=False)
        window.resize(1280, 800)
        window.show()
        window.show_panel("library")
        panel = window.panels["library"]
        heartbeat = Heartbeat()
        times: dict[str, float] = {}

        async def scenario() -> None:
            while panel.uploads_view is None:  # built after the first paint
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            heartbeat.start()
            start = time.perf_counter()
            services.uploads.start()
            added: list[object] = []
            panel._added = lambda results: added.extend(results)  # type: ignore[method-assign]
            panel.add_paths(photos)
            while not added:
                await asyncio.sleep(0.01)
            times["import"] = time.perf_counter() - start
            panel.refresh()
            while (await services.uploads.summary()).done < len(photos):
                await asyncio.sleep(0.05)
            times["all"] = time.perf_counter() - start
            await asyncio.sleep(0.2)
            heartbeat.stop()

        loop.run_until_complete(scenario())
        keys = len(s3.keys())
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()
        if child is None:
            s3.stop()
        else:
            child.terminate()
            child.wait(10)

    print(f"photos: {args.count}; S3 server: {args.s3}; objects in the bucket afterwards: {keys}")
    print(f"import through the Library panel: {times['import']:.1f} s "
          f"({args.count / times['import']:.0f} files/s)")
    print(f"import + upload, end to end: {times['all']:.1f} s "
          f"({args.count / times['all']:.0f} files/s)")
    print(heartbeat.summary())


if __name__ == "__main__":
    main()
