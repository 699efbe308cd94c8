"""Process start to first paint of the main window, against a bare QMainWindow in the same
run, and the app's resident memory right after start.

Both children print a line on stderr at their first paint; the time is taken here when that
line arrives, from just before the process was spawned. Offscreen, so it runs anywhere.

    python bench/first_paint.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.startswith("first-paint"):
                elapsed = time.perf_counter() - start
                rss = psutil.Process(proc.pid).memory_info().rss
                break
        else:
            raise RuntimeError(f"{cmd} ended without painting")
    finally:
        proc.wait(timeout=60)
    return elapsed * 1000, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "MBV_REPORT_FIRST_PAINT": "1"}
    bare_ms, app_ms, app_rss = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        app_cmd = [sys.executable, "-m", "mbv_desktop", "--data-dir", str(Path(tmp) / "data"),
                   "--screenshot", str(shot)]
        measure(app_cmd, env)  # first run creates the profile; not counted
        for _ in range(args.runs):
            ms, _rss = measure([sys.executable, str(HERE / "bare_window.py")], env)
            bare_ms.append(ms)
            ms, rss = measure(app_cmd, env)
            app_ms.append(ms)
            app_rss.append(rss)
    bare, app = statistics.median(bare_ms), statistics.median(app_ms)
    print(f"runs: {args.runs} each, interleaved, offscreen")
    print(f"bare QMainWindow first paint: median {bare:.0f} ms (min {min(bare_ms):.0f})")
    print(f"mbv-desktop first paint:      median {app:.0f} ms (min {min(app_ms):.0f})")
    print(f"ratio app/bare: {app / bare:.2f}  (target <= 2.5)")
    print(f"RSS after start: median {statistics.median(app_rss) / 2**20:.0f} MB "
          f"(target <= 200 MB)")


if __name__ == "__main__":
    main()
