"""The upload outbox against a real S3 server on loopback (the sandbox's moto server).

What a creator notices: files added to the library end up in the bucket under content-addressed
keys; a paused or interrupted upload goes on where it stopped, even in a new process; cancel
leaves nothing behind; no connection means "waiting", and the queue carries on by itself when
the endpoint answers again; wrong credentials, a missing bucket or a lost local copy are named.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.helpers import eventually, run
from support.s3 import r2_env, s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.integrations.storage import KEY_PATTERN
from mbv_desktop.sandbox.s3 import BUCKET, SandboxS3
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.library import MEDIA_DIR
from mbv_desktop.services.uploads import UploadQueue, UploadStatus

MiB = 2**20
PART = 5 * MiB


def _photo(path: Path, *, seed: int, size: tuple[int, int] = (64, 48)) -> Path:
    from PIL import Image

    rng = random.Random(seed)
    Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(path)
    return path


def _big_photo(path: Path, seed: int = 7) -> Path:
    """A PNG of noise, about 12 MB: three 5 MiB parts."""
    return _photo(path, seed=seed, size=(2000, 2000))


@pytest.fixture
def profile(data_dir: Path, r2_env: dict[str, str]) -> Iterator[Services]:  # noqa: F811
    services = open_services(data_dir, env=r2_env)
    yield services
    services.close()


def _queue(services: Services, **kwargs: Any) -> UploadQueue:
    media = services.data_dir / MEDIA_DIR
    return UploadQueue(services.worker, services.settings, services.secrets,
                       lambda sha, ext: media / sha[:2] / f"{sha}.{ext}",
                       part_size=PART, **kwargs)


def _add(services: Services, *paths: Path) -> list[int]:
    results = run(services.library.add_files(list(paths)))
    assert all(r.error is None for r in results), [r.error for r in results]
    return [r.asset.id for r in results if r.asset is not None]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_added_files_reach_the_bucket_under_content_addressed_keys(
        profile: Services, s3: SandboxS3, tmp_path: Path) -> None:  # noqa: F811
    small = [_photo(tmp_path / f"Holiday photo {i} ..é.png", seed=i) for i in range(3)]
    big = _big_photo(tmp_path / "big.png")
    ids = _add(profile, *small, big)
    queue = _queue(profile)

    summary = run(queue.drain())

    assert (summary.done, summary.waiting, summary.failed) == (4, 0, 0), run(queue.rows())
    keys = s3.keys("default/")
    assert len(keys) == 4 and all(KEY_PATTERN.match(k) for k in keys)
    assert not any("Holiday" in k or "big" in k for k in keys)  # never the user's file name
    rows = {r.asset_id: r for r in run(queue.rows())}
    assert all(rows[i].status is UploadStatus.DONE and rows[i].fraction == 1.0 for i in ids)
    kept = profile.data_dir / MEDIA_DIR
    for key in keys:
        sha, ext = key.split("/")[1].split(".")
        body = s3.client().get_object(Bucket=BUCKET, Key=key)
        assert hashlib.sha256(body["Body"].read()).hexdigest() == sha
        assert (kept / sha[:2] / f"{sha}.{ext}").is_file()
        assert body["CacheControl"] == "public, max-age=31536000"
        assert body["ContentType"] == "image/png"
        assert set(body["Metadata"]) == {"uploadedby", "uploadedat", "originalname"}
    # Nothing is sent twice: a second drain finds nothing to do and makes no request.
    assert run(queue.drain()).done == 4


def test_pause_keeps_the_parts_and_a_new_process_resumes_at_the_next_part(
        data_dir: Path, r2_env: dict[str, str], s3: SandboxS3, tmp_path: Path) -> None:  # noqa: F811
    big = _big_photo(tmp_path / "big.png")
    first = open_services(data_dir, env=r2_env)
    [asset_id] = _add(first, big)
    queue = _queue(first, concurrency=1, part_concurrency=1)
    paused = threading.Event()

    async def pause_during_the_first_part() -> None:
        client = await queue.client()
        sent: list[int] = []

        def on_part(params: dict[str, Any], **_: Any) -> None:
            sent.append(int(params["query_string"]["partNumber"]))
            paused.wait(10)  # part 1 is on its way when the creator presses Pause

        client.s3.meta.events.register("before-call.s3.UploadPart", on_part)
        drain = asyncio.ensure_future(queue.drain())
        await eventually(lambda: sent, timeout=20)
        await queue.pause(asset_id)
        paused.set()
        await drain
        assert sent == [1]

    run(pause_during_the_first_part())
    [row] = run(queue.rows())
    assert row.status is UploadStatus.PAUSED
    assert 0 < row.bytes_done < row.bytes_total
    assert s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    first.close()

    second = open_services(data_dir, env=r2_env)  # as after quitting and starting again
    try:
        again = _queue(second)
        parts_sent: list[int] = []

        async def resume() -> None:
            client = await again.client()
            client.s3.meta.events.register(
                "before-call.s3.UploadPart",
                lambda params, **_: parts_sent.append(int(params["query_string"]["partNumber"])))
            await again.resume(asset_id)
            await again.drain()

        run(resume())
        [row] = run(again.rows())
        assert row.status is UploadStatus.DONE
        assert 1 not in parts_sent and parts_sent  # part 1 was kept, not sent again
        [key] = s3.keys("default/")
        body = s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == _sha(big)
        assert not s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    finally:
        second.close()


def test_cancel_aborts_the_unfinished_upload(profile: Services, s3: SandboxS3,  # noqa: F811
                                             tmp_path: Path) -> None:
    [asset_id] = _add(profile, _big_photo(tmp_path / "big.png"))
    queue = _queue(profile, concurrency=1, part_concurrency=1)
    cancelled = threading.Event()

    async def cancel_mid_way() -> None:
        client = await queue.client()
        sent: list[int] = []

        def on_part(**_: Any) -> None:
            sent.append(1)
            cancelled.wait(10)

        client.s3.meta.events.register("before-call.s3.UploadPart", on_part)
        drain = asyncio.ensure_future(queue.drain())
        await eventually(lambda: sent, timeout=20)
        await queue.cancel(asset_id)
        cancelled.set()
        await drain

    run(cancel_mid_way())
    [row] = run(queue.rows())
    assert row.status is UploadStatus.CANCELLED
    assert not s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert s3.keys() == []
    run(queue.resume(asset_id))  # the creator changes their mind: it is sent from scratch
    assert run(queue.drain()).done == 1
    assert len(s3.keys("default/")) == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_offline_waits_and_carries_on_by_itself_when_the_endpoint_answers(
        data_dir: Path, tmp_path: Path) -> None:
    port = _free_port()
    server = SandboxS3(tmp_path / "s3-state", port=port)
    env = {"MBV_R2_ENDPOINT_URL": f"http://127.0.0.1:{port}", "MBV_R2_BUCKET": BUCKET,
           "MBV_R2_ACCESS_KEY_ID": "k", "MBV_R2_SECRET_ACCESS_KEY": "s"}
    services = open_services(data_dir, env=env)
    try:
        _add(services, _photo(tmp_path / "a.png", seed=1), _photo(tmp_path / "b.png", seed=2))
        queue = _queue(services, retry_cap_s=0.3)

        async def scenario() -> None:
            queue.start()
            await eventually(lambda: queue._offline_since is not None, timeout=10)
            summary = await queue.summary()
            assert summary.offline and summary.waiting == 2
            rows = await queue.rows()
            assert any("Waiting to try again" in (r.error or "") for r in rows)
            await asyncio.to_thread(server.start)  # the endpoint comes back
            try:
                async def all_done() -> bool:
                    return (await queue.summary()).done == 2

                deadline = asyncio.get_running_loop().time() + 15
                while not await all_done():
                    assert asyncio.get_running_loop().time() < deadline, (
                        await queue.rows(), await queue.summary(), server.start_error)
                    await asyncio.sleep(0.05)
                assert not (await queue.summary()).offline
            finally:
                await queue.aclose()
                await asyncio.to_thread(server.stop)

        run(scenario())
    finally:
        services.close()


def test_wrong_credentials_stop_the_queue_with_a_sentence_naming_the_settings(
        profile: Services, s3: SandboxS3, tmp_path: Path) -> None:  # noqa: F811
    _add(profile, _photo(tmp_path / "a.png", seed=1), _photo(tmp_path / "b.png", seed=2))
    s3.require_auth()
    queue = _queue(profile, concurrency=1)
    summary = run(queue.drain())
    assert summary.done == 0 and summary.failed == 1 and summary.pending == 1  # one try only
    assert summary.problem and "r2.access_key_id" in summary.problem
    s3.require_auth(False)
    run(queue.resume_all())
    assert run(queue.drain()).done == 2


def test_a_missing_bucket_is_named(profile: Services, s3: SandboxS3,  # noqa: F811
                                   tmp_path: Path) -> None:
    s3.client().delete_bucket(Bucket=BUCKET)
    _add(profile, _photo(tmp_path / "a.png", seed=1))
    summary = run(_queue(profile).drain())
    assert summary.failed == 1
    assert summary.problem and "mbv-sandbox" in summary.problem and "does not exist" in \
        summary.problem


def test_a_lost_local_copy_fails_that_file_only(profile: Services, s3: SandboxS3,  # noqa: F811
                                                tmp_path: Path) -> None:
    ids = _add(profile, _photo(tmp_path / "a.png", seed=1), _photo(tmp_path / "b.png", seed=2))
    items = {i.asset.id: i for i in run(profile.library.items())}
    items[ids[0]].path.unlink()
    queue = _queue(profile)
    summary = run(queue.drain())
    assert (summary.done, summary.failed) == (1, 1)
    failed = next(r for r in run(queue.rows()) if r.status is UploadStatus.FAILED)
    assert failed.asset_id == ids[0] and "missing from the data folder" in (failed.error or "")
    assert summary.problem is None  # the other files are not held up


def test_not_configured_keeps_everything_waiting(data_dir: Path, tmp_path: Path) -> None:
    services = open_services(data_dir, env={})
    try:
        _add(services, _photo(tmp_path / "a.png", seed=1))
        queue = _queue(services)
        assert not queue.configured
        run(queue.enqueue_missing())
        summary = run(queue.summary())
        assert summary.pending == 1 and not summary.configured
    finally:
        services.close()
