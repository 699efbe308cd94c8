"""The TikTok publisher (``integrations.social.tiktok``) against a small in-process fake of the
Content Posting API (``httpx.MockTransport``): TikTok's chunk rules, the creator-info step and
the privacy level chosen, ``publish_id`` and ``upload_url`` checkpointed before any byte is
sent, chunked PUTs with their ``Content-Range``, resuming an upload part-way, status polling,
the lookup by ``publish_id``, and TikTok's errors in words."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.integrations.http import FakeClock, ProviderClient, ProviderPolicy
from mbv_desktop.integrations.social import _common
from mbv_desktop.integrations.social.base import MediaFile, PostRequest, PublishResult
from mbv_desktop.integrations.social.tiktok import (
    MAX_CHUNK_SIZE,
    MIB,
    MIN_CHUNK_SIZE,
    TikTokPublisher,
    chunk_plan,
    chunk_ranges,
)

TOKEN = "act.tiktok-token-CANARY-0123456789abcdef"
OPEN_ID = "-000OpenIdSandbox"
API = "https://open.tiktok.test"
UPLOAD = "https://upload.tiktok.test/video/"
MIN = 1000  # the tests' minimum chunk size


# --- chunk maths ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size, expected", [
    (1, (1, 1)),
    (4 * MIB, (4 * MIB, 1)),  # under 5 MiB: one chunk of its size
    (5 * MIB, (5 * MIB, 1)),
    (10 * MIB, (10 * MIB, 1)),
    (25 * MIB + 7, (10 * MIB, 2)),  # the last chunk takes the remainder (15 MiB + 7)
    (4096 * MIB, (10 * MIB, 409)),
])
def test_chunk_plan_examples(size: int, expected: tuple[int, int]) -> None:
    assert chunk_plan(size) == expected


@given(st.integers(min_value=1, max_value=20 * 1024 * MIB),
       st.integers(min_value=1, max_value=100 * MIB))
def test_chunk_plan_keeps_tiktok_s_rules(size: int, preferred: int) -> None:
    chunk, count = chunk_plan(size, chunk_size=preferred)
    ranges = chunk_ranges(size, chunk, count)
    assert len(ranges) == count == size // chunk
    assert 1 <= count <= 1000
    assert ranges[0][0] == 0 and ranges[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    sizes = [last - first + 1 for first, last in ranges]
    if size < MIN_CHUNK_SIZE:
        assert (chunk, count) == (size, 1)
    else:
        assert all(MIN_CHUNK_SIZE <= s <= MAX_CHUNK_SIZE for s in sizes[:-1])
        assert MIN_CHUNK_SIZE <= sizes[-1] <= 128 * MIB
        assert chunk <= MAX_CHUNK_SIZE


def test_chunk_plan_refuses_empty_and_huge_files() -> None:
    with pytest.raises(InvalidInput):
        chunk_plan(0)
    with pytest.raises(InvalidInput):
        chunk_plan(1001 * MAX_CHUNK_SIZE)


# --- the fake TikTok -----------------------------------------------------------------------------

def envelope(data: Mapping[str, Any] | None = None, code: str = "ok", message: str = "",
             status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": dict(data or {}), "error": {
        "code": code, "message": message, "log_id": "202501010000000000"}})


class FakeTikTok:
    def __init__(self, *, options: tuple[str, ...] = ("SELF_ONLY",), **creator: Any) -> None:
        self.requests: list[httpx.Request] = []
        self.creator = {"creator_username": "maya.creates", "creator_nickname": "Maya",
                        "creator_avatar_url": "https://p.test/a.jpg",
                        "privacy_level_options": list(options), "comment_disabled": False,
                        "duet_disabled": False, "stitch_disabled": False,
                        "max_video_post_duration_sec": 600, **creator}
        self.attempts: dict[str, dict[str, Any]] = {}
        self.statuses: list[dict[str, Any]] = []
        self.faults: dict[tuple[str, str], list[Any]] = {}
        self._next = 0

    def calls(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == "upload.tiktok.test":
            assert "authorization" not in request.headers  # the URL is pre-signed
        else:
            assert request.headers.get("authorization") == f"Bearer {TOKEN}"
        steps = self.faults.get((request.method, request.url.path))
        after: type[httpx.TransportError] | None = None
        if steps:
            step = steps.pop(0)
            if isinstance(step, tuple):
                after = step[1]
            elif isinstance(step, httpx.Response):
                return step
            else:
                raise step("injected", request=request)
        response = self.route(request)
        if after is not None:
            raise after("connection reset after the request was handled", request=request)
        return response

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v2/post/publish/creator_info/query/":
            assert json.loads(request.content) == {}
            return envelope(self.creator)
        if path == "/v2/post/publish/video/init/":
            body = json.loads(request.content)
            source = body["source_info"]
            size, chunk, count = (source["video_size"], source["chunk_size"],
                                  source["total_chunk_count"])
            assert source["source"] == "FILE_UPLOAD"
            if size < MIN:
                assert (chunk, count) == (size, 1)
            else:
                assert chunk >= MIN and count == size // chunk
            if body["post_info"]["privacy_level"] not in self.creator["privacy_level_options"]:
                return envelope(code="privacy_level_option_mismatch", status=400,
                                message="privacy_level is not one of the options")
            self._next += 1
            publish_id = f"v_pub_file~v2-1.{self._next}"
            self.attempts[publish_id] = {"body": body, "received": bytearray(),
                                         "size": size}
            return envelope({"publish_id": publish_id,
                             "upload_url": f"{UPLOAD}?upload_id={self._next}&upload_token=t"})
        if request.method == "PUT" and request.url.host == "upload.tiktok.test":
            attempt = list(self.attempts.values())[int(request.url.params["upload_id"]) - 1]
            first_last, total = request.headers["content-range"].removeprefix(
                "bytes ").split("/")
            first, last = (int(v) for v in first_last.split("-"))
            assert int(total) == attempt["size"]
            assert first == len(attempt["received"])  # strictly in order
            assert last - first + 1 == len(request.content)
            assert request.headers["content-type"] == "video/mp4"
            attempt["received"] += request.content
            return httpx.Response(201 if len(attempt["received"]) == attempt["size"] else 206)
        if path == "/v2/post/publish/status/fetch/":
            publish_id = json.loads(request.content)["publish_id"]
            if publish_id not in self.attempts:
                return envelope(code="invalid_params", status=400, message="bad publish_id")
            step = self.statuses.pop(0) if self.statuses else {
                "status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [7400000000001]}
            return envelope({**step,
                             "uploaded_bytes": len(self.attempts[publish_id]["received"])})
        return envelope(code="invalid_params", status=404, message="no such path")


class Checkpoints:
    def __init__(self, server: FakeTikTok) -> None:
        self.server = server
        self.saved: list[tuple[int, dict[str, Any]]] = []

    async def __call__(self, progress: Mapping[str, Any]) -> None:
        self.saved.append((len(self.server.requests), json.loads(json.dumps(progress))))

    @property
    def last(self) -> dict[str, Any]:
        return self.saved[-1][1] if self.saved else {}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def publisher(server: FakeTikTok, sleeps: Sleeps | None = None, **kwargs: Any) -> TikTokPublisher:
    client = ProviderClient(ProviderPolicy("tiktok"), transport=httpx.MockTransport(server),
                            clock=FakeClock())
    kwargs.setdefault("chunk_size", MIN)
    kwargs.setdefault("min_chunk_size", MIN)
    return TikTokPublisher(API, client=client, poll_interval=2.0, sleep=sleeps or Sleeps(),
                           **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def publish(pub: TikTokPublisher, request: PostRequest, checkpoints: Checkpoints,
                  progress: Mapping[str, Any] | None = None) -> PublishResult:
    try:
        return await pub.publish(OPEN_ID, TOKEN, request, progress=progress or {},
                                 checkpoint=checkpoints)
    finally:
        await pub.aclose()


async def find(pub: TikTokPublisher, request: PostRequest,
               progress: Mapping[str, Any]) -> PublishResult | None:
    try:
        return await pub.find(OPEN_ID, TOKEN, request, progress=progress)
    finally:
        await pub.aclose()


@pytest.fixture
def clip(tmp_path: Path) -> MediaFile:
    data = bytes(range(256)) * 14 + b"tail"  # 3,588 bytes: chunks 1000, 1000, 1588
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return MediaFile(path=path, mime="video/mp4", kind="video", size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), duration_s=12.0)


def video(item: MediaFile, text: str = "Behind the scenes #studio",
          **options: Any) -> PostRequest:
    return PostRequest(target_key="tt-1", post_type="video", text=text, media=(item,),
                       options=options)


# --- publishing ----------------------------------------------------------------------------------

def test_a_video_is_announced_checkpointed_uploaded_in_chunks_and_polled(
        clip: MediaFile) -> None:
    server = FakeTikTok()
    server.statuses = [{"status": "PROCESSING_UPLOAD"}, {"status": "PROCESSING_DOWNLOAD"},
                       {"status": "PUBLISH_COMPLETE",
                        "publicaly_available_post_id": [7400000000000000123]}]
    checkpoints = Checkpoints(server)
    sleeps = Sleeps()
    result = run(publish(publisher(server, sleeps), video(clip), checkpoints))

    paths = [r.url.path for r in server.requests]
    assert paths == ["/v2/post/publish/creator_info/query/", "/v2/post/publish/video/init/",
                     "/video/", "/video/", "/video/"] + ["/v2/post/publish/status/fetch/"] * 3
    init = json.loads(server.requests[1].content)
    assert init == {"post_info": {"title": "Behind the scenes #studio",
                                  "privacy_level": "SELF_ONLY", "disable_comment": False,
                                  "disable_duet": False, "disable_stitch": False},
                    "source_info": {"source": "FILE_UPLOAD", "video_size": 3588,
                                    "chunk_size": 1000, "total_chunk_count": 3}}
    ranges = [r.headers["content-range"] for r in server.requests[2:5]]
    assert ranges == ["bytes 0-999/3588", "bytes 1000-1999/3588", "bytes 2000-3587/3588"]
    attempt = next(iter(server.attempts.values()))
    assert bytes(attempt["received"]) == clip.path.read_bytes()
    # publish_id and upload_url saved before the first byte went out; each chunk after it.
    seen, first = checkpoints.saved[0]
    assert seen == 2 and first["publish_id"] == next(iter(server.attempts))
    assert first["upload_url"].startswith(UPLOAD) and first["chunks_done"] == 0
    assert [(n, p["chunks_done"], p["uploaded"]) for n, p in checkpoints.saved[1:]] == [
        (3, 1, False), (4, 2, False), (5, 3, True)]
    status_body = json.loads(server.requests[-1].content)
    assert status_body == {"publish_id": first["publish_id"]}
    assert sleeps.calls == [2.0, 2.0]
    assert result.post_id == "7400000000000000123"
    assert result.url == "https://www.tiktok.com/@maya.creates/video/7400000000000000123"
    assert result.extra["privacy_level"] == "SELF_ONLY"


def test_a_small_video_is_one_chunk_of_its_size(tmp_path: Path) -> None:
    path = tmp_path / "tiny.mp4"
    path.write_bytes(b"v" * 600)
    tiny = MediaFile(path=path, mime="video/mp4", kind="video", size=600, sha256="0" * 64)
    server = FakeTikTok()
    run(publish(publisher(server), video(tiny), Checkpoints(server)))
    source = json.loads(server.calls("POST", "/v2/post/publish/video/init/")[0].content)
    assert source["source_info"]["chunk_size"] == 600
    assert source["source_info"]["total_chunk_count"] == 1
    assert [r.headers["content-range"] for r in server.calls("PUT", "/video/")] == [
        "bytes 0-599/600"]


def test_chunks_are_read_one_at_a_time_off_the_event_loop(
        clip: MediaFile, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[int, bool]] = []
    original = _common._read_range

    def spy(path: Path, offset: int, length: int) -> bytes:
        reads.append((length, threading.current_thread() is threading.main_thread()))
        return original(path, offset, length)

    monkeypatch.setattr(_common, "_read_range", spy)
    server = FakeTikTok()
    run(publish(publisher(server), video(clip), Checkpoints(server)))
    assert reads == [(1000, False), (1000, False), (1588, False)]


@pytest.mark.parametrize("options, wanted, used", [
    (("PUBLIC_TO_EVERYONE", "SELF_ONLY"), "PUBLIC_TO_EVERYONE", "PUBLIC_TO_EVERYONE"),
    (("SELF_ONLY",), "PUBLIC_TO_EVERYONE", "SELF_ONLY"),  # an unaudited app
    (("FOLLOWER_OF_CREATOR", "SELF_ONLY"), None, "SELF_ONLY"),
])
def test_the_privacy_level_is_one_tiktok_offers(clip: MediaFile, options: tuple[str, ...],
                                                wanted: str | None, used: str) -> None:
    server = FakeTikTok(options=options)
    extra = {"privacy_level": wanted} if wanted else {}
    result = run(publish(publisher(server), video(clip, **extra), Checkpoints(server)))
    init = json.loads(server.calls("POST", "/v2/post/publish/video/init/")[0].content)
    assert init["post_info"]["privacy_level"] == used
    assert result.extra["privacy_level"] == used


def test_settings_the_creator_turned_off_stay_off(clip: MediaFile) -> None:
    server = FakeTikTok(comment_disabled=True, duet_disabled=True)
    run(publish(publisher(server), video(clip, disable_stitch=True, is_aigc=True),
                Checkpoints(server)))
    info = json.loads(server.calls("POST", "/v2/post/publish/video/init/")[0].content)[
        "post_info"]
    assert info["disable_comment"] and info["disable_duet"] and info["disable_stitch"]
    assert info["is_aigc"] is True


def test_a_video_longer_than_the_account_may_post_sends_nothing_more(
        clip: MediaFile) -> None:
    server = FakeTikTok(max_video_post_duration_sec=10)
    with pytest.raises(InvalidInput, match="up to 10 seconds"):
        run(publish(publisher(server), video(clip), Checkpoints(server)))
    assert [r.url.path for r in server.requests] == ["/v2/post/publish/creator_info/query/"]


def test_a_private_video_has_no_public_id_yet(clip: MediaFile) -> None:
    server = FakeTikTok()
    server.statuses = [{"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": []}]
    result = run(publish(publisher(server), video(clip), Checkpoints(server)))
    assert result.post_id == next(iter(server.attempts))
    assert result.url == "https://www.tiktok.com/@maya.creates"


def test_a_public_video_waits_a_little_for_its_id(clip: MediaFile) -> None:
    server = FakeTikTok(options=("PUBLIC_TO_EVERYONE",))
    server.statuses = [{"status": "PUBLISH_COMPLETE"}, {"status": "PUBLISH_COMPLETE"},
                       {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": ["99"]}]
    result = run(publish(publisher(server), video(clip, privacy_level="PUBLIC_TO_EVERYONE"),
                         Checkpoints(server)))
    assert result.post_id == "99"


def test_a_failed_post_is_rejected_in_words(clip: MediaFile) -> None:
    server = FakeTikTok()
    server.statuses = [{"status": "PROCESSING_UPLOAD"},
                       {"status": "FAILED", "fail_reason": "frame_rate_check_failed"}]
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), video(clip), Checkpoints(server)))
    assert str(caught.value) == ("TikTok could not publish the video: TikTok does not accept "
                                 "the video's frame rate.")
    assert caught.value.code == "frame_rate_check_failed"


# --- resuming and the lookup ---------------------------------------------------------------------

def _started(server: FakeTikTok, clip: MediaFile, chunks_done: int) -> dict[str, Any]:
    """Progress of an attempt that sent ``chunks_done`` chunks before the app stopped."""
    server._next += 1
    publish_id = f"v_pub_file~v2-1.{server._next}"
    data = clip.path.read_bytes()
    server.attempts[publish_id] = {"body": {}, "received": bytearray(data[:chunks_done * 1000]),
                                   "size": len(data)}
    return {"username": "maya.creates", "privacy_level": "SELF_ONLY",
            "publish_id": publish_id, "upload_url": f"{UPLOAD}?upload_id={server._next}",
            "video_size": len(data), "chunk_size": 1000, "chunk_count": 3,
            "chunks_done": chunks_done, "uploaded": chunks_done == 3}


def test_a_resume_sends_only_the_chunks_not_yet_sent(clip: MediaFile) -> None:
    server = FakeTikTok()
    progress = _started(server, clip, 2)
    server.statuses = [{"status": "PROCESSING_UPLOAD"}, {"status": "PUBLISH_COMPLETE",
                                                         "publicaly_available_post_id": [5]}]
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), video(clip), checkpoints, progress))
    assert not server.calls("POST", "/v2/post/publish/video/init/")
    assert not server.calls("POST", "/v2/post/publish/creator_info/query/")
    assert [r.headers["content-range"] for r in server.calls("PUT", "/video/")] == [
        "bytes 2000-3587/3588"]
    assert checkpoints.last["uploaded"] is True and result.post_id == "5"


def test_a_resume_goes_on_from_what_tiktok_received(clip: MediaFile) -> None:
    server = FakeTikTok()
    progress = _started(server, clip, 2) | {"chunks_done": 1}  # chunk 2's checkpoint was lost
    server.statuses = [{"status": "PROCESSING_UPLOAD"}]
    run(publish(publisher(server), video(clip), Checkpoints(server), progress))
    assert [r.headers["content-range"] for r in server.calls("PUT", "/video/")] == [
        "bytes 2000-3587/3588"]


def test_a_resume_after_the_upload_only_polls(clip: MediaFile) -> None:
    server = FakeTikTok()
    progress = _started(server, clip, 3)
    run(publish(publisher(server), video(clip), Checkpoints(server), progress))
    assert [r.url.path for r in server.requests] == ["/v2/post/publish/status/fetch/"]


def test_a_resume_of_a_failed_upload_starts_a_new_attempt(clip: MediaFile) -> None:
    server = FakeTikTok()
    progress = _started(server, clip, 1)
    server.statuses = [{"status": "FAILED", "fail_reason": "internal"}]
    checkpoints = Checkpoints(server)
    run(publish(publisher(server), video(clip), checkpoints, progress))
    assert len(server.calls("POST", "/v2/post/publish/video/init/")) == 1
    assert len(server.calls("PUT", "/video/")) == 3
    assert "publish_id" not in checkpoints.saved[0][1]  # the dead attempt forgotten first
    assert checkpoints.last["publish_id"] != progress["publish_id"]


def test_a_reset_after_init_is_not_retried_and_find_knows_nothing_was_posted(
        clip: MediaFile) -> None:
    server = FakeTikTok()
    server.faults[("POST", "/v2/post/publish/video/init/")] = [
        ("after", httpx.RemoteProtocolError)]
    checkpoints = Checkpoints(server)
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), video(clip), checkpoints))
    assert caught.value.maybe_sent is True
    assert len(server.calls("POST", "/v2/post/publish/video/init/")) == 1
    before = len(server.requests)
    assert run(find(publisher(server), video(clip), checkpoints.last)) is None
    assert len(server.requests) == before  # no lookup by caption exists


def test_find_asks_the_status_of_the_saved_publish_id(clip: MediaFile) -> None:
    server = FakeTikTok()
    progress = _started(server, clip, 3)
    server.statuses = [
        {"status": "PUBLISH_COMPLETE", "publicaly_available_post_id": [42]},
        {"status": "FAILED", "fail_reason": "spam_risk_text"},
        {"status": "PROCESSING_DOWNLOAD"}]
    found = run(find(publisher(server), video(clip), progress))
    assert found is not None and found.post_id == "42"
    assert found.url == "https://www.tiktok.com/@maya.creates/video/42"
    assert run(find(publisher(server), video(clip), progress)) is None
    # Still processing: not out yet; publish() with the same progress waits for it (a lookup
    # that raised here instead would send the outbox round in circles).
    assert run(find(publisher(server), video(clip), progress)) is None


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, error, text", [
    (envelope(code="access_token_invalid", status=401,
              message="The access token is invalid or not found in the request."),
     AuthExpired, "TikTok no longer accepts the saved sign-in"),
    (envelope(code="rate_limit_exceeded", status=429, message="Too many requests"),
     RateLimited, "limiting requests"),
    (envelope(code="spam_risk_too_many_posts", status=403, message="Too many posts"),
     RateLimited, "how many videos this account can post"),
    (envelope(code="unaudited_client_can_only_post_to_private_accounts", status=403,
              message="Unaudited clients can only post to private accounts"),
     Rejected, "only private"),
    (envelope(code="invalid_params", status=400, message="Video size is out of range."),
     Rejected, "TikTok refused the video: Video size is out of range."),
    (envelope(code="scope_not_authorized", status=200, message="scope"),
     AuthExpired, "connect the TikTok account again"),
])
def test_tiktok_errors_in_words(clip: MediaFile, answer: httpx.Response,
                                error: type[Exception], text: str) -> None:
    server = FakeTikTok()
    # Three times: the policy itself repeats an init TikTok refused with 429 (never acted on).
    server.faults[("POST", "/v2/post/publish/video/init/")] = [answer] * 3
    with pytest.raises(error) as caught:
        run(publish(publisher(server), video(clip), Checkpoints(server)))
    assert text in str(caught.value) and TOKEN not in str(caught.value)
    assert not server.calls("PUT", "/video/")


def test_wrong_requests_send_nothing(clip: MediaFile, tmp_path: Path) -> None:
    server = FakeTikTok()
    picture = MediaFile(path=tmp_path / "a.jpg", mime="image/jpeg", kind="image", size=1,
                        sha256="0" * 64)
    for bad in (PostRequest(target_key="t", post_type="video", text="x", media=(picture,)),
                PostRequest(target_key="t", post_type="video", text="x", media=(clip, clip)),
                PostRequest(target_key="t", post_type="photo", text="x", media=(clip,))):
        with pytest.raises(InvalidInput):
            run(publish(publisher(server), bad, Checkpoints(server)))
    assert server.requests == []
