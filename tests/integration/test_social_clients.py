"""The publishing clients against the sandbox's posting emulators over real loopback sockets.

Accounts are connected the way a creator connects them (``services.accounts.authorize`` with
the sandbox's consent page answered by ``services.sandbox_consent``); the token comes from
``services.accounts.access_token``. Then, with the clients as the outbox will use them: an X
thread with an image, and a video sent in segments whose post's answer is lost (the emulator
posts, then resets the connection) and is found again instead of posted twice; an Instagram
carousel whose pictures the emulator downloads from a small HTTP server of the test's own, and
a reel; a TikTok video (a real MP4 made with PyAV) sent in chunks, and one whose upload was
cut part-way and resumed. What each emulator recorded (``{base}/_posts``) is checked, not only
what the client says.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import random
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image
from support.helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.errors import ProviderUnavailable
from mbv_desktop.integrations.social.base import MediaFile, PostRequest
from mbv_desktop.integrations.social.instagram import InstagramPublisher
from mbv_desktop.integrations.social.tiktok import TikTokPublisher
from mbv_desktop.integrations.social.x import XPublisher
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


@pytest.fixture
def profile(sandbox: SandboxHost, data_dir: Path) -> Iterator[Services]:
    services = open_services(data_dir, env={}, overrides=sandbox_overrides(sandbox.urls()),
                             sandbox=True)
    yield services
    services.close()


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for files put in the returned folder: Instagram (and its
    emulator) fetch media from a public address."""
    folder = tmp_path / "public"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Checkpoints:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, progress: Mapping[str, Any]) -> None:
        self.saved.append(json.loads(json.dumps(progress)))

    @property
    def last(self) -> dict[str, Any]:
        return self.saved[-1] if self.saved else {}


async def connect(profile: Services, provider: str) -> tuple[str, str]:
    account = await profile.accounts.authorize(provider, open_url=answer_consent, timeout=10)
    token = await profile.accounts.access_token(provider, account.account_id)
    return account.account_id, token


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def post_json(url: str, body: Mapping[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def media_file(path: Path, mime: str, kind: str, *, public: str | None = None,
               duration: float | None = None) -> MediaFile:
    data = path.read_bytes()
    return MediaFile(path=path, mime=mime, kind=kind, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), duration_s=duration,
                     public_url=f"{public}/{path.name}" if public else None)


def picture(path: Path, color: tuple[int, int, int], fmt: str = "JPEG") -> Path:
    image = Image.new("RGB", (120, 100), color)
    image.paste((255, 255, 255), (10, 10, 60, 50))
    image.save(path, fmt)
    return path


def clip(path: Path, seconds: float, size: tuple[int, int] = (64, 48)) -> Path:
    """A real MP4 (MPEG-4 part 2 video, 10 frames a second) of ``seconds`` seconds."""
    fps = 10
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        noise = random.Random(7)
        for _ in range(int(seconds * fps)):  # noise, so the file is a few tens of KB
            pixels = noise.randbytes(size[0] * size[1] * 3)
            frame = av.VideoFrame.from_image(Image.frombytes("RGB", size, pixels))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


# --- X -------------------------------------------------------------------------------------------

def test_an_x_thread_with_an_image(profile: Services, sandbox: SandboxHost,
                                   tmp_path: Path) -> None:
    base = sandbox.urls()["x"]
    image = media_file(picture(tmp_path / "cover.png", (200, 40, 40), "PNG"), "image/png",
                       "image")
    parts = ("Three things I learned filming at dawn 🧵 https://example.com/dawn",
             "1. The light changes every minute.", "2. Bring a second battery.")
    request = PostRequest(target_key="x-thread", post_type="thread", text=parts[0],
                          parts=parts, media=(image,), not_before=datetime.now(UTC))
    checkpoints = Checkpoints()

    async def scenario() -> tuple[Any, Any, str]:
        account_id, token = await connect(profile, "x")
        publisher = XPublisher(base, poll_interval=0.05)
        try:
            result = await publisher.publish(account_id, token, request, progress={},
                                             checkpoint=checkpoints)
            found = await publisher.find(account_id, token, request, progress={})
        finally:
            await publisher.aclose()
            await profile.aclose()
        return result, found, account_id

    result, found, account_id = run(scenario())
    posts = get_json(f"{base}/_posts?account={account_id}")["data"]
    assert [p["text"] for p in posts] == list(parts)
    assert [p["id"] for p in posts] == result.extra["tweet_ids"]
    assert posts[0]["in_reply_to_tweet_id"] is None
    assert posts[1]["in_reply_to_tweet_id"] == posts[0]["id"]
    assert posts[2]["in_reply_to_tweet_id"] == posts[1]["id"]
    assert [m["id"] for m in posts[0]["media"]] == [checkpoints.saved[0]["media"][0]["id"]]
    assert result.url == f"https://x.com/i/web/status/{posts[0]['id']}"
    # The lookup finds the same thread (its first part carries a link X wraps as t.co).
    assert found is not None and found.extra["tweet_ids"] == result.extra["tweet_ids"]


def test_an_x_video_in_segments_and_a_lost_answer_posted_once(
        profile: Services, sandbox: SandboxHost, tmp_path: Path) -> None:
    base = sandbox.urls()["x"]
    video = media_file(clip(tmp_path / "dawn.mp4", 2.0), "video/mp4", "video", duration=2.0)
    assert video.size > 3 * 4096
    request = PostRequest(target_key="x-video", post_type="post", text="Dawn, in two seconds",
                          media=(video,), not_before=datetime.now(UTC))
    checkpoints = Checkpoints()
    # X posts it, then the connection breaks before its answer reaches the app.
    sandbox.faults.add("x", Fault("reset_after", path_prefix="/2/tweets", method="POST"))

    async def scenario() -> tuple[Any, Any, Any, str]:
        account_id, token = await connect(profile, "x")
        publisher = XPublisher(base, poll_interval=0.05, segment_size=4096)
        try:
            with pytest.raises(ProviderUnavailable) as caught:
                await publisher.publish(account_id, token, request, progress={},
                                        checkpoint=checkpoints)
            saved = checkpoints.last
            found = await publisher.find(account_id, token, request, progress=saved)
            again = await publisher.publish(account_id, token, request, progress=saved,
                                            checkpoint=checkpoints)
        finally:
            await publisher.aclose()
            await profile.aclose()
        return caught.value, found, again, account_id

    error, found, again, account_id = run(scenario())
    assert error.maybe_sent is True
    assert sandbox.request_count("x", "/x/2/tweets") == 1  # never a second POST
    segments = sandbox.request_count("x", "/x/2/media/upload/")
    assert segments >= 1 + (video.size + 4095) // 4096 + 1  # initialize, appends, finalize
    posts = get_json(f"{base}/_posts?account={account_id}")["data"]
    assert len(posts) == 1 and posts[0]["media"][0]["type"] in ("video", "animated_gif")
    assert found is not None and found.post_id == posts[0]["id"]
    assert again.post_id == posts[0]["id"]


# --- Instagram -----------------------------------------------------------------------------------

def test_an_instagram_carousel_and_a_reel(profile: Services, sandbox: SandboxHost,
                                          media_server: tuple[str, Path]) -> None:
    base = sandbox.urls()["facebook"]
    public, folder = media_server
    first = media_file(picture(folder / "one.jpg", (230, 120, 30)), "image/jpeg", "image",
                       public=public)
    second = media_file(picture(folder / "two.jpg", (30, 120, 230)), "image/jpeg", "image",
                        public=public)
    reel_file = media_file(clip(folder / "reel.mp4", 4.0), "video/mp4", "video",
                           public=public, duration=4.0)
    carousel = PostRequest(target_key="ig-carousel", post_type="carousel",
                           text="Two moods of the same street #colour",
                           media=(first, second), not_before=datetime.now(UTC))
    reel = PostRequest(target_key="ig-reel", post_type="reel", text="Four seconds of dawn",
                       media=(reel_file,), not_before=datetime.now(UTC))
    checkpoints = Checkpoints()

    async def scenario() -> tuple[Any, Any, Any, str]:
        account_id, token = await connect(profile, "instagram")
        publisher = InstagramPublisher(base, poll_interval=0.05)
        try:
            album = await publisher.publish(account_id, token, carousel, progress={},
                                            checkpoint=checkpoints)
            saved = checkpoints.last
            found = await publisher.find(account_id, token, carousel, progress={
                key: value for key, value in saved.items() if key != "media_id"})
            video = await publisher.publish(account_id, token, reel, progress={},
                                            checkpoint=Checkpoints())
        finally:
            await publisher.aclose()
            await profile.aclose()
        return album, found, video, account_id

    album, found, video, account_id = run(scenario())
    posts = get_json(f"{base}/_posts?account={account_id}")["data"]
    assert [p["media_type"] for p in posts] == ["CAROUSEL_ALBUM", "VIDEO"]
    assert posts[0]["id"] == album.post_id and posts[0]["caption"] == carousel.text
    assert len(posts[0]["children"]) == 2
    assert album.url == posts[0]["permalink"]
    assert posts[1]["id"] == video.post_id and posts[1]["media_product_type"] == "REELS"
    assert len(checkpoints.saved[1]["children"]) == 2  # both children saved before the album
    assert found is not None and found.post_id == album.post_id


# --- TikTok --------------------------------------------------------------------------------------

def test_a_tiktok_video_in_chunks_and_a_resumed_upload(profile: Services, sandbox: SandboxHost,
                                                       tmp_path: Path) -> None:
    base = sandbox.urls()["tiktok"]
    post_json(f"{base}/_social_settings", {"min_chunk_size": 4096})
    video = media_file(clip(tmp_path / "studio.mp4", 3.0), "video/mp4", "video", duration=3.0)
    assert video.size >= 3 * 4096
    request = PostRequest(target_key="tt-video", post_type="video",
                          text="A morning in the studio #behindthescenes", media=(video,),
                          options={"privacy_level": "PUBLIC_TO_EVERYONE"})
    checkpoints = Checkpoints()

    class StopAfterTwoChunks(Checkpoints):
        async def __call__(self, progress: Mapping[str, Any]) -> None:
            await super().__call__(progress)
            if progress.get("chunks_done") == 2:
                raise KeyboardInterrupt  # the app stops here (as if killed)

    cut = StopAfterTwoChunks()
    second = PostRequest(target_key="tt-video-2", post_type="video", text="Take two",
                         media=(video,))

    async def scenario() -> tuple[Any, Any, Any, str]:
        account_id, token = await connect(profile, "tiktok")
        publisher = TikTokPublisher(base, poll_interval=0.05, chunk_size=4096,
                                    min_chunk_size=4096)
        try:
            result = await publisher.publish(account_id, token, request, progress={},
                                             checkpoint=checkpoints)
            found = await publisher.find(account_id, token, request,
                                         progress=checkpoints.last)
            with pytest.raises(KeyboardInterrupt):
                await publisher.publish(account_id, token, second, progress={},
                                        checkpoint=cut)
            resumed = await publisher.publish(account_id, token, second, progress=cut.last,
                                              checkpoint=cut)
        finally:
            await publisher.aclose()
            await profile.aclose()
        return result, found, resumed, account_id

    result, found, resumed, account_id = run(scenario())
    attempts = get_json(f"{base}/_posts?account={account_id}&all=true")["data"]
    done = [a for a in attempts if a["status"] == "PUBLISH_COMPLETE"]
    assert [a["title"] for a in done] == [request.text, second.text]
    assert done[0]["video_size"] == video.size
    assert done[0]["privacy_level"] == "PUBLIC_TO_EVERYONE"
    assert result.post_id == str(done[0]["post_id"])
    assert result.url.endswith(f"/video/{result.post_id}") and "/@" in result.url
    assert found is not None and found.post_id == result.post_id
    assert len(attempts) == 2  # the resumed upload went on with the same publish_id
    assert resumed.extra["publish_id"] == done[1]["publish_id"] == cut.saved[0]["publish_id"]
    chunks = checkpoints.saved[0]["chunk_count"]
    assert chunks >= 3 and chunks == video.size // 4096
