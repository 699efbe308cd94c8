"""Import of 1,000 photos end to end through the library: files/s and MB/s, then thumbnails/s.

Generates ``--count`` distinct JPEG photos (1600x1200 by default: a gradient, coloured discs and
noise patches, different for every file, ~200-500 KB each, with camera EXIF and a GPS position)
into a temporary folder, then imports them all with one ``LibraryService.add_files`` call into a
fresh data dir, exactly as a drop of that many files on the Library panel does: each file is
checked (read, hashed, fully decoded), copied (or re-encoded) into the content-addressed store,
hashed again and recorded in SQLite. Generation is not timed. Afterwards every asset's thumbnail
is made with ``LibraryService.thumbnail`` and timed separately.

``--rotated`` gives that share of photos EXIF orientation 6 (as phones store portrait shots) and
``--strip-gps`` asks the import to remove locations: both take the re-encoding path instead of
the byte-for-byte copy. ``--breakdown`` also reports where the import's time goes (stages are
timed by wrapping the functions the service calls; adds microseconds per file).

    python bench/import_photos.py [--count 1000] [--size 1600x1200] [--rotated 0.0]
                                  [--strip-gps] [--breakdown] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import functools
import io
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, ImageDraw

from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.library import THUMB_SIZE, AddResult

T = TypeVar("T")
MB = 10**6


# --- the photos ----------------------------------------------------------------------------------

def make_photo(index: int, folder: str, width: int, height: int, seed: int,
               rotated_share: float) -> int:
    """Writes photo number ``index`` (different from every other) and returns its size."""
    rng = random.Random(seed * 1_000_003 + index)
    ramp = Image.linear_gradient("L")
    channels = [ramp.rotate(rng.choice((0, 90, 180, 270))).resize((width, height))
                for _ in range(3)]
    img = Image.merge("RGB", channels)
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randint(40, 300)
        draw.ellipse((x - r, y - r, x + r, y + r),
                     fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    for _ in range(8):  # textured areas, so the JPEG has the weight of a real photo
        w, h = rng.randint(100, min(400, width)), rng.randint(100, min(300, height))
        noise = Image.merge("RGB", [Image.effect_noise((w, h), 60) for _ in range(3)])
        img.paste(noise, (rng.randrange(max(1, width - w)), rng.randrange(max(1, height - h))))
    exif = Image.Exif()
    exif[0x010F] = "BenchCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif[0x0132] = f"2024:06:{1 + index % 28:02d} 12:{index % 60:02d}:00"  # DateTime
    exif[0x0112] = 6 if rng.random() < rotated_share else 1  # Orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, float(index % 60)), 3: "E",
                                 4: (13.0, 24.0, 0.0)})  # GPS
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif)
    path = Path(folder) / f"IMG_{index:05d}.jpg"
    path.write_bytes(out.getvalue())
    return out.tell()


def make_photos(folder: Path, count: int, width: int, height: int, seed: int,
                rotated_share: float) -> list[Path]:
    """All the photos, made on every CPU; returns their paths in order."""
    job = functools.partial(make_photo, folder=str(folder), width=width, height=height,
                            seed=seed, rotated_share=rotated_share)
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(job, range(count), chunksize=16))
    return [folder / f"IMG_{i:05d}.jpg" for i in range(count)]


# --- where the time goes (optional) --------------------------------------------------------------

class Stages:
    """Seconds per stage, summed over files (thread-safe: stages run on worker threads)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, name: str, took: float) -> None:
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + took

    def wrap(self, name: str, fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> T:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - t0)
        return timed

    def wrap_async(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - t0)
        return timed


def install_stages(services: Services) -> Stages:
    """Wraps what ``LibraryService._add_one`` calls (it imports them at call time)."""
    from mbv_desktop.services import media_check

    stages = Stages()
    library = services.library
    media_check.inspect_file = stages.wrap(
        "check: read + SHA-256 + verify + decode (inspect_file)", media_check.inspect_file)
    media_check.normalized_copy = stages.wrap(
        "keep: copy + fsync, or re-encode (normalized_copy)", media_check.normalized_copy)
    library._keep = stages.wrap(  # type: ignore[method-assign]
        "keep: all (normalized_copy + SHA-256 again + rename)", library._keep)
    services.worker.call = stages.wrap_async(  # type: ignore[method-assign]
        "record: SQLite insert + commit (store thread, awaited)", services.worker.call)
    return stages


# --- the run -------------------------------------------------------------------------------------

async def run_import(services: Services, paths: list[Path], strip_gps: bool
                     ) -> tuple[float, list[AddResult]]:
    library = services.library
    t0 = time.perf_counter()
    results = await library.add_files(paths, strip_gps=strip_gps)
    return time.perf_counter() - t0, results


async def run_thumbnails(services: Services, results: list[AddResult]
                         ) -> tuple[float, int, list[float]]:
    library = services.library
    each: list[float] = []
    made = 0
    t0 = time.perf_counter()
    for result in results:
        if result.asset is None:
            continue
        t = time.perf_counter()
        if await library.thumbnail(result.asset) is not None:
            made += 1
        each.append((time.perf_counter() - t) * 1000)
    return time.perf_counter() - t0, made, each


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size", default="1600x1200", help="photo size, WIDTHxHEIGHT")
    parser.add_argument("--rotated", type=float, default=0.0,
                        help="share of photos with EXIF orientation 6 (re-encoded on import)")
    parser.add_argument("--strip-gps", action="store_true",
                        help="import with strip_gps=True (every photo re-encoded)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print the time per stage of the import")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true",
                        help="keep the photos and the data dir, and print where they are")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    tmp = Path(tempfile.mkdtemp(prefix="mbv-bench-import-"))
    try:
        photos_dir = tmp / "photos"
        photos_dir.mkdir()
        t = time.perf_counter()
        paths = make_photos(photos_dir, args.count, width, height, args.seed, args.rotated)
        sizes = [p.stat().st_size for p in paths]
        total_mb = sum(sizes) / MB
        print(f"generated {args.count:,} JPEGs {width}x{height} in "
              f"{time.perf_counter() - t:.1f} s (not counted): {total_mb:,.1f} MB, "
              f"{min(sizes) / 1000:.0f}-{max(sizes) / 1000:.0f} KB each "
              f"(median {statistics.median(sizes) / 1000:.0f} KB), "
              f"{args.rotated:.0%} with orientation 6, strip_gps={args.strip_gps}")

        services = open_services(tmp / "data", env={})
        try:
            stages = install_stages(services) if args.breakdown else None
            seconds, results = asyncio.run(run_import(services, paths, args.strip_gps))
            failed = [r for r in results if r.error]
            added = len(results) - len(failed)
            print(f"import {added:,} photos end to end (add_files): {seconds:.2f} s: "
                  f"{added / seconds:,.1f} files/s, {total_mb / seconds:,.1f} MB/s, "
                  f"{seconds / max(1, added) * 1000:.1f} ms per file")
            for r in failed[:5]:
                print(f"  not added: {r.source.name}: {r.error}")
            if stages is not None:
                print("  where the time goes (sum over files):")
                for name, took in stages.seconds.items():
                    print(f"    {name:<58} {took:7.2f} s  {took / seconds:5.1%}  "
                          f"{took / max(1, added) * 1000:6.2f} ms/file")
            thumb_s, made, each = asyncio.run(run_thumbnails(services, results))
            if each:
                print(f"thumbnails ({made:,} made, {THUMB_SIZE} px PNG): {thumb_s:.2f} s: "
                      f"{made / thumb_s:,.1f} thumbnails/s, p50 {statistics.median(each):.1f} ms,"
                      f" p95 {pct(each, 95):.1f} ms")
            store_mb = sum(f.stat().st_size for f in (tmp / "data" / "media").rglob("*")
                           if f.is_file()) / MB
            print(f"kept in the library: {store_mb:,.1f} MB")
        finally:
            services.close()
    finally:
        if args.keep:
            print(f"kept: photos in {photos_dir}, data dir {tmp / 'data'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
