"""Multipart upload of a large file to the loopback S3 server: our R2Client against bare boto3.

Makes a random file (200 MB by default), starts the sandbox's S3 server (moto, loopback) and runs
``--rounds`` rounds. Each round uploads the file once with a bare boto3 ``upload_file`` (boto3's
``TransferConfig`` defaults, a plain client as ``SandboxS3.client()`` makes it) and once with
:meth:`R2Client.upload_file` for each ``--concurrency`` value, the order reversed every other
round, each to a fresh key (ours: a content-addressed key under a new account each time, so its
"already stored" HEAD never skips the upload). Every object is deleted after its upload so the
server's memory stays flat. One upload of each, untimed, warms up first.

A control runs too (``--no-control`` leaves it out): bare boto3 with its CRC32 checksums turned
off, as R2Client configures its client. moto joins the parts of an upload that declared no
checksum much more slowly (it falls back to a whole-object checksum, copying the object twice
more), so the time in CompleteMultipartUpload is printed apart, with MB/s without it.

Prints MB/s per upload, the medians, the ratio ours/bare (median over rounds; the issue's target
is at least 0.8) and, when psutil is installed, the peak RSS growth of this process during an
upload (sampled every 5 ms; the allocator keeps freed memory, so later uploads may show less).

By default the server runs in a child process, so the figures are the client's alone (no GIL
shared with the server, and RSS is the client's); ``--server in-process`` runs it on a thread of
this process, as the app's ``--sandbox`` does. The file is read from the page cache (it was just
written), so disk speed is not measured.

    python bench/r2_upload.py [--mb 200] [--rounds 3] [--concurrency 4 8 10] [--part-mb 8]
                              [--server subprocess|in-process] [--no-control]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mbv_desktop.integrations.storage import R2Client, R2Config, object_key
from mbv_desktop.sandbox.s3 import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, SandboxS3

MiB = 2**20
MB = 10**6
CONTENT_TYPE = "application/octet-stream"
_DEFAULTS = inspect.signature(R2Client.__init__).parameters
DEFAULT_PART_MB = _DEFAULTS["part_size"].default // MiB
DEFAULT_CONCURRENCY = _DEFAULTS["max_concurrency"].default

try:
    import psutil
except ImportError:  # the figure is optional
    psutil = None


# --- the server ----------------------------------------------------------------------------------

def _serve(conn: Connection) -> None:
    """Child process: runs the sandbox's S3 server until the parent says stop."""
    server = SandboxS3(None)
    server.start()
    conn.send(server.endpoint_url)
    with contextlib.suppress(EOFError):
        conn.recv()  # anything (or EOF when the parent dies) means stop
    server.stop()


@contextmanager
def s3_server(where: str) -> Iterator[str]:
    """The endpoint URL of a running SandboxS3, in this process or a child process."""
    if where == "in-process":
        server = SandboxS3(None)
        server.start()
        try:
            yield server.endpoint_url
        finally:
            server.stop()
        return
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while not parent.poll(0.1):
            if not proc.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the S3 server did not start (see the child's error above)")
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()


def plain_client(endpoint_url: str, *, checksums: bool = True) -> Any:
    """A boto3 client made as ``SandboxS3.client()`` makes it (default config); without
    ``checksums``, with the flexible checksums turned off as R2Client turns them off."""
    import boto3
    from botocore.config import Config

    config = None if checksums else Config(request_checksum_calculation="when_required",
                                           response_checksum_validation="when_required")
    return boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                        config=config)


# --- measuring -----------------------------------------------------------------------------------

class PeakRss:
    """Samples this process's RSS on a thread; ``growth`` is peak minus the RSS at start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.growth = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakRss:
        if psutil is not None:
            process = psutil.Process()
            base = process.memory_info().rss

            def sample() -> None:
                peak = base
                while not self._stop.wait(self.interval):
                    peak = max(peak, process.memory_info().rss)
                peak = max(peak, process.memory_info().rss)
                self.growth = peak - base

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class CallTimer:
    """Wall time spent in each S3 operation of one boto3 client (botocore event hooks)."""

    def __init__(self, client: Any) -> None:
        self.seconds: dict[str, float] = {}
        client.meta.events.register("before-call.s3", self._before)
        client.meta.events.register("after-call.s3", self._after)

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_t0"] = time.perf_counter()

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        took = time.perf_counter() - context.get("bench_t0", time.perf_counter())
        self.seconds[model.name] = self.seconds.get(model.name, 0.0) + took

    def take(self, operation: str) -> float:
        """Seconds spent in ``operation`` since the last ``take``; resets every counter."""
        took = self.seconds.get(operation, 0.0)
        self.seconds.clear()
        return took


def make_file(path: Path, size: int) -> str:
    """Writes ``size`` random bytes to ``path``; returns their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(left, 4 * MiB))
            digest.update(block)
            fh.write(block)
            left -= len(block)
    return digest.hexdigest()


@dataclass
class Contender:
    """One way of uploading the file. ``upload(tag)`` sends it to a key new for ``tag`` and
    returns that key; ``client`` is the boto3 client it goes through (its calls are timed)."""

    name: str
    client: Any
    upload: Callable[[str], str]
    seconds: list[float] = field(default_factory=list)
    complete_s: list[float] = field(default_factory=list)
    growth: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.timer = CallTimer(self.client)

    def run(self, tag: str) -> str:
        """Times one upload, records it and returns the key it wrote."""
        self.timer.take("")
        with PeakRss() as rss:
            t0 = time.perf_counter()
            key = self.upload(tag)
            seconds = time.perf_counter() - t0
        self.seconds.append(seconds)
        self.growth.append(rss.growth)
        self.complete_s.append(self.timer.take("CompleteMultipartUpload"))
        return key

    def median_speed(self, size: int, *, without_complete: bool = False) -> float:
        """Median MB/s; ``without_complete`` leaves out the time in CompleteMultipartUpload."""
        if without_complete:
            return statistics.median(size / MB / (t - c)
                                     for t, c in zip(self.seconds, self.complete_s, strict=True))
        return statistics.median(size / MB / t for t in self.seconds)


# --- the two contenders --------------------------------------------------------------------------

def bare_upload(client: Any, path: Path, key: str) -> None:
    from boto3.s3.transfer import TransferConfig

    client.upload_file(str(path), BUCKET, key, Config=TransferConfig(),
                       ExtraArgs={"ContentType": CONTENT_TYPE})


def ours_upload(r2: R2Client, path: Path, key: str) -> None:
    states: list[str] = []
    # What the app does per part: persist the state (here only serialised) and report progress.
    r2.upload_file(key, path, content_type=CONTENT_TYPE,
                   metadata={"originalname": path.name},
                   on_state=lambda state: states.append(state.to_json()),
                   on_progress=lambda done, total: None)


def r2_client(endpoint_url: str, part_mb: int, concurrency: int) -> R2Client:
    config = R2Config(endpoint_url=endpoint_url, bucket=BUCKET, access_key_id=ACCESS_KEY_ID,
                      secret_access_key=SECRET_ACCESS_KEY)
    return R2Client(config, part_size=part_mb * MiB, max_concurrency=concurrency)


# --- the run -------------------------------------------------------------------------------------

def fmt_mb(value: int) -> str:
    return f"{value / MiB:.0f} MiB" if psutil is not None else "n/a (psutil not installed)"


def contenders(endpoint: str, path: Path, sha: str, args: argparse.Namespace
               ) -> list[Contender]:
    def bare(client: Any) -> Callable[[str], str]:
        def upload(tag: str) -> str:
            key = f"bench/{tag}.bin"
            bare_upload(client, path, key)
            return key
        return upload

    def ours(r2: R2Client) -> Callable[[str], str]:
        def upload(tag: str) -> str:
            key = object_key(tag, sha, "bin")  # a new content-addressed key: never skipped
            ours_upload(r2, path, key)
            return key
        return upload

    plain = plain_client(endpoint)
    out = [Contender("bare", plain, bare(plain))]
    if args.control:
        no_checksums = plain_client(endpoint, checksums=False)
        out.append(Contender("bare no-CRC", no_checksums, bare(no_checksums)))
    for c in args.concurrency:
        r2 = r2_client(endpoint, args.part_mb, c)
        out.append(Contender(f"ours c={c}", r2.s3, ours(r2)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="file size in MB (10^6 bytes)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[DEFAULT_CONCURRENCY],
                        help=f"R2Client max_concurrency values to try (default "
                        f"{DEFAULT_CONCURRENCY}, R2Client's own default)")
    parser.add_argument("--part-mb", type=int, default=DEFAULT_PART_MB,
                        help=f"R2Client part size in MiB (default {DEFAULT_PART_MB})")
    parser.add_argument("--server", choices=["subprocess", "in-process"], default="subprocess",
                        help="where moto's S3 server runs (default: a child process)")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="leave out the control: bare boto3 with its CRC checksums off, "
                        "as R2Client configures its client")
    args = parser.parse_args()

    from boto3.s3.transfer import TransferConfig

    tc = TransferConfig()
    size = args.mb * MB
    print(f"file: {size / MB:,.0f} MB of random bytes; server: moto S3 on loopback "
          f"({args.server}); {os.cpu_count()} CPUs")
    print(f"bare: boto3 upload_file, TransferConfig defaults (threshold "
          f"{tc.multipart_threshold // MiB} MiB, {tc.multipart_chunksize // MiB} MiB parts, "
          f"max_concurrency {tc.max_concurrency}), default client config (CRC32 per part)")
    if args.control:
        print("bare no-CRC: the same with request_checksum_calculation='when_required', as "
              "R2Client sets it")
    print(f"ours: R2Client.upload_file, {args.part_mb} MiB parts, max_concurrency "
          f"{', '.join(map(str, args.concurrency))}; HEAD first, MD5 per part, state "
          f"serialised after each part")

    with tempfile.TemporaryDirectory() as tmp, s3_server(args.server) as endpoint:
        path = Path(tmp) / "upload.bin"
        sha = make_file(path, size)
        runners = contenders(endpoint, path, sha, args)
        admin = plain_client(endpoint)

        # Warm up with the file itself: clients made, connections open, code paths loaded.
        for runner in runners:
            admin.delete_object(Bucket=BUCKET, Key=runner.upload("warm-" + slug(runner.name)))

        for n in range(1, args.rounds + 1):
            # Alternate the order every round, so no contender always goes first.
            order = runners if n % 2 else runners[::-1]
            for runner in order:
                key = runner.run(f"round{n}-{slug(runner.name)}")
                admin.delete_object(Bucket=BUCKET, Key=key)
            print(f"round {n}: " + ", ".join(
                f"{r.name} {size / MB / r.seconds[-1]:.1f} MB/s" for r in runners))

    bare = runners[0]
    print(f"medians over {args.rounds} rounds; 'complete' is the time in "
          "CompleteMultipartUpload (the server joining the parts):")
    if args.server == "in-process":
        print("  (in-process: the RSS growth includes the server's copies of the object)")
    for runner in runners:
        speed = runner.median_speed(size)
        parts_speed = runner.median_speed(size, without_complete=True)
        line = (f"  {runner.name:<13} {speed:6.1f} MB/s  complete "
                f"{statistics.median(runner.complete_s):.2f} s  without complete "
                f"{parts_speed:6.1f} MB/s  peak RSS growth {fmt_mb(max(runner.growth))}")
        if runner is not bare:
            line += (f"  ratio to bare {speed / bare.median_speed(size):.2f} (target >= 0.8), "
                     f"without complete "
                     f"{parts_speed / bare.median_speed(size, without_complete=True):.2f}")
        print(line)


def slug(name: str) -> str:
    """A contender's name as key-safe text ("ours c=4" -> "ours-c4")."""
    return "-".join("".join(ch for ch in word if ch.isalnum()) for word in name.split())


if __name__ == "__main__":
    main()
