"""100,000 drafts: import time, search latency (p50/p95), time to show the draft list, and RSS.

Search goes through the same service call the search box uses (count + first page on the
store's worker thread). The list is timed from building the main window to the first paint of
the list's viewport, offscreen.

    python bench/drafts_100k.py [--drafts 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil

from mbv_desktop.core.drafts import DraftQuery
from mbv_desktop.services.container import open_services

WORDS = (
    "launch sale summer winter coffee morning routine studio camera travel recipe fitness "
    "music playlist giveaway tutorial behind scenes product review unboxing vlog podcast "
    "design sketch brand collab story reel trend challenge dance comedy tips hacks guide "
    "weekend sunset beach city night market vintage fashion makeup skincare garden plants "
    "books reading writing coding startup growth community thanks announcement"
).split()
TAGS = ["promo", "launch", "bts", "tips", "collab", "weekly", "video", "photo"]


def zipf_vocabulary(rng: random.Random, size: int = 5000) -> tuple[list[str], list[float]]:
    """Made-up words with Zipf-distributed frequencies, the shape of real text."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = list(WORDS)
    while len(words) < size:
        words.append("".join(rng.choices(letters, k=rng.randint(4, 10))))
    weights = [1 / (rank + 1) ** 1.05 for rank in range(size)]
    return words, weights


def make_jsonl(n: int, rng: random.Random, corpus: str = "dense") -> bytes:
    out = io.StringIO()
    vocab, weights = zipf_vocabulary(rng) if corpus == "zipf" else (WORDS, None)
    for i in range(n):
        words = rng.choices(vocab, weights=weights, k=rng.randint(20, 60))
        out.write(json.dumps({
            "body": " ".join(words).capitalize() + f". Post {i}.",
            "tags": rng.sample(TAGS, k=rng.randint(0, 3)),
            "platforms": rng.sample(["x", "instagram", "tiktok"], k=rng.randint(1, 3)),
        }) + "\n")
    return out.getvalue().encode()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def import_and_search(services: object, data: bytes, queries: list[str]
                            ) -> tuple[float, list[float]]:
    drafting = services.drafting  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    report = await drafting.import_jsonl(io.BytesIO(data))
    import_s = time.perf_counter() - t0
    assert not report.problems
    timings = []
    for q in queries:
        t = time.perf_counter()
        await drafting.search(DraftQuery(text=q))
        timings.append((time.perf_counter() - t) * 1000)
    return import_s, timings


def time_list(services: object) -> float:
    import qasync
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from mbv_desktop.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    painted: list[float] = []

    class Watch(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint and not painted:
                painted.append(time.perf_counter())
            return False

    t0 = time.perf_counter()
    window = MainWindow(services, show_dialogs=False)  # type: ignore[arg-type]
    watch = Watch()
    window.create_panel.list.viewport().installEventFilter(watch)
    window.show()

    async def until_painted() -> None:
        deadline = time.monotonic() + 30
        while not painted and time.monotonic() < deadline:
            await asyncio.sleep(0.001)

    loop.run_until_complete(until_painted())
    shown = (painted[0] - t0) * 1000 if painted else float("nan")
    loop.run_until_complete(window.tasks.wait_idle())
    rows = window.create_panel.model.rowCount()
    total = window.create_panel.model.total
    print(f"draft list: {rows} rows loaded of {total:,}")
    return shown


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drafts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--corpus", choices=["dense", "zipf"], default="dense",
                        help="dense: 60 words, each in ~40%% of drafts (worst case); "
                        "zipf: 5,000 words with natural frequencies")
    args = parser.parse_args()
    rng = random.Random(7)
    data = make_jsonl(args.drafts, rng, args.corpus)
    vocab = WORDS if args.corpus == "dense" else zipf_vocabulary(random.Random(7))[0][:1000]
    queries = []
    for _ in range(args.queries):
        kind = rng.random()
        if kind < 0.4:
            queries.append(rng.choice(vocab))
        elif kind < 0.7:
            queries.append(rng.choice(vocab)[: rng.randint(2, 4)])  # typing a prefix
        else:
            queries.append(" ".join(rng.sample(vocab, 2)))
    with tempfile.TemporaryDirectory() as tmp:
        services = open_services(Path(tmp) / "data", env={})
        try:
            import_s, timings = asyncio.run(import_and_search(services, data, queries))
            print(f"corpus: {args.corpus}")
            print(f"import {args.drafts:,} drafts: {import_s:.2f} s "
                  f"({args.drafts / import_s:,.0f} drafts/s)")
            print(f"search ({len(timings)} queries: words, prefixes, pairs): "
                  f"p50 {statistics.median(timings):.2f} ms, p95 {pct(timings, 95):.2f} ms, "
                  f"max {max(timings):.2f} ms  (target p95 <= 20 ms)")
            list_ms = time_list(services)
            print(f"draft list shown in {list_ms:.0f} ms (target <= 300 ms)")
            rss = psutil.Process().memory_info().rss
            print(f"RSS with {args.drafts:,} drafts and the window open: {rss / 2**20:.0f} MB")
        finally:
            services.close()


if __name__ == "__main__":
    main()
