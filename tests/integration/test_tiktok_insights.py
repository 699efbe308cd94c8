"""TikTok video and account figures: TikTokInsights against the sandbox's TikTok emulator over
loopback, with videos published by TikTokPublisher (a real MP4 made with PyAV) from an account
connected through the app's own sign-in.

The app's sign-in asks for ``video.list`` but not ``user.info.stats`` today, so account figures
are read with a token from the emulator's sign-in asked for that scope directly (the consent
page grants what the authorization request asks for).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import av
import httpx
import pytest
from PIL import Image
from support.helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.errors import AuthExpired, InvalidInput, RateLimited
from mbv_desktop.integrations.social.base import MediaFile, PostRequest
from mbv_desktop.integrations.social.insights import InsightsNotAllowed, PostStats
from mbv_desktop.integrations.social.tiktok import TikTokPublisher
from mbv_desktop.integrations.social.tiktok_insights import TikTokInsights
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent

REDIRECT = "http://127.0.0.1:53682/callback/"
METRICS = {"views", "likes", "comments", "shares"}
Bracket = tuple[dict[str, dict[str, Any]], list[PostStats], dict[str, dict[str, Any]]]
RAW_FIELDS = {"view_count": "views", "like_count": "likes", "comment_count": "comments",
              "share_count": "shares"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


@pytest.fixture
def base(sandbox: SandboxHost) -> str:
    return sandbox.urls()["tiktok"]


@pytest.fixture
def profile(sandbox: SandboxHost, data_dir: Path) -> Iterator[Services]:
    services = open_services(data_dir, env={}, overrides=sandbox_overrides(sandbox.urls()),
                             sandbox=True)
    yield services
    services.close()


@pytest.fixture
def video(tmp_path: Path) -> MediaFile:
    path = clip(tmp_path / "studio.mp4", 1.0)
    data = path.read_bytes()
    return MediaFile(path=path, mime="video/mp4", kind="video", size=len(data),
                     sha256=hashlib.sha256(data).hexdigest(), duration_s=1.0)


# --- helpers -------------------------------------------------------------------------------------

def clip(path: Path, seconds: float, size: tuple[int, int] = (64, 48)) -> Path:
    """A real MP4 (MPEG-4 part 2 video, 10 frames a second) of ``seconds`` seconds."""
    fps = 10
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        noise = random.Random(7)
        for _ in range(int(seconds * fps)):
            frame = av.VideoFrame.from_image(
                Image.frombytes("RGB", size, noise.randbytes(size[0] * size[1] * 3)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def settings(base: str, **changes: Any) -> dict[str, Any]:
    """Changes the TikTok emulator's figures settings (``/_social_settings``)."""
    answer = httpx.post(f"{base}/_social_settings", json=changes, timeout=5)
    answer.raise_for_status()
    return dict(answer.json())


def advance(base: str, seconds: float) -> None:
    """Moves the emulator's clock forward."""
    httpx.post(f"{base}/_settings", json={"advance": seconds}, timeout=5).raise_for_status()


def scoped_token(base: str, scopes: str, account: int = 0) -> str:
    """A user token from the emulator's own sign-in, for exactly ``scopes``."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with httpx.Client(base_url=base, timeout=5) as c:
        page = c.get("/v2/auth/authorize/", params={
            "client_key": "sandbox-tiktok", "scope": scopes, "redirect_uri": REDIRECT,
            "response_type": "code", "state": "s", "code_challenge": challenge,
            "code_challenge_method": "S256"})
        consent = re.search(r'data-consent-id="([^"]+)"', page.text)
        assert consent, page.text
        back = c.post(f"/_consent/{consent.group(1)}",
                      data={"decision": "allow", "account": str(account)})
        code = dict(parse_qsl(urlsplit(back.headers["location"]).query))["code"]
        answer = c.post("/v2/oauth/token/", data={
            "client_key": "sandbox-tiktok", "client_secret": "sandbox-tiktok-secret",
            "code": code, "grant_type": "authorization_code", "redirect_uri": REDIRECT,
            "code_verifier": verifier})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def raw_query(base: str, token: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """What TikTok's video/query itself answers, by video id."""
    answer = httpx.post(f"{base}/v2/video/query/",
                        params={"fields": "id,view_count,like_count,comment_count,share_count"},
                        json={"filters": {"video_ids": ids}},
                        headers={"Authorization": f"Bearer {token}"}, timeout=5)
    answer.raise_for_status()
    return {v["id"]: v for v in answer.json()["data"]["videos"]}


async def connect(profile: Services) -> tuple[str, str]:
    """Connects the demo TikTok account through the app's own sign-in."""
    account = await profile.accounts.authorize("tiktok", open_url=answer_consent, timeout=10)
    return account.account_id, await profile.accounts.access_token("tiktok", account.account_id)


async def publish(base: str, account_id: str, token: str, video: MediaFile, text: str,
                  privacy: str = "PUBLIC_TO_EVERYONE") -> str:
    """Publishes ``video`` with TikTokPublisher; the post id the app stores."""
    publisher = TikTokPublisher(base, poll_interval=0.02)
    request = PostRequest(target_key=text, post_type="video", text=text, media=(video,),
                          options={"privacy_level": privacy})

    async def keep(progress: Any) -> None:
        pass

    try:
        result = await publisher.publish(account_id, token, request, progress={},
                                         checkpoint=keep)
    finally:
        await publisher.aclose()
    return result.post_id


def query_count(sandbox: SandboxHost, base: str) -> int:
    return sandbox.request_count("tiktok", urlsplit(base).path + "/v2/video/query/")


# --- tests ---------------------------------------------------------------------------------------

def test_figures_of_published_videos_grow_with_time_and_never_go_down(
        profile: Services, sandbox: SandboxHost, base: str, video: MediaFile) -> None:
    async def scenario() -> tuple[list[str], list[list[PostStats]], Bracket]:
        account_id, token = await connect(profile)
        ids = [await publish(base, account_id, token, video, "Studio morning"),
               await publish(base, account_id, token, video, "Only for me", "SELF_ONLY")]
        insights = TikTokInsights(base)
        reads = []
        try:
            for step in (0, 300, 1800, 7200):  # a minute here is an hour of audience
                advance(base, step)
                reads.append(await insights.post_stats(account_id, token, ids))
            before = raw_query(base, token, ids)
            now = await insights.post_stats(account_id, token, ids)
            after = raw_query(base, token, ids)
        finally:
            await insights.aclose()
            await profile.aclose()
        return ids, reads, (before, now, after)

    ids, reads, (before, now, after) = run(scenario())
    for read in reads:
        assert [s.post_id for s in read] == ids
        assert all(not s.deleted and set(s.values) == METRICS for s in read)
    for index in range(len(ids)):
        series = [read[index].values for read in reads]
        for earlier, later in itertools.pairwise(series):
            assert all(later[m] >= earlier[m] for m in METRICS), series
        assert series[-1]["views"] > series[1]["views"] > 0
        assert series[-1]["likes"] > series[-1]["comments"] > 0
    # Each figure is the one TikTok reports under its own name (nothing swapped).
    for stats in now:
        for field, metric in RAW_FIELDS.items():
            assert before[stats.post_id][field] <= stats.values[metric] \
                <= after[stats.post_id][field]


def test_a_deleted_video_is_marked_deleted_and_the_others_keep_their_figures(
        profile: Services, sandbox: SandboxHost, base: str, video: MediaFile) -> None:
    async def scenario() -> tuple[list[str], list[PostStats], list[PostStats], int]:
        account_id, token = await connect(profile)
        gone = await publish(base, account_id, token, video, "Deleted later")
        kept = await publish(base, account_id, token, video, "Kept")
        advance(base, 3600)
        deleted = httpx.delete(f"{base}/_posts/{gone}", timeout=5)
        assert deleted.json() == {"removed": 1}
        insights = TikTokInsights(base)
        try:
            stats = await insights.post_stats(account_id, token, [gone, "7400000000000000001",
                                                                  kept])
            queries = query_count(sandbox, base)
            # A private video TikTok gave no public id (the publisher then keeps its
            # publish_id): nothing to ask TikTok, and not taken for deleted.
            unnamed = await insights.post_stats(account_id, token,
                                                ["v_pub_file~v2-1.7412345678901234567"])
            asked = query_count(sandbox, base) - queries
        finally:
            await insights.aclose()
            await profile.aclose()
        return [gone, kept], stats, unnamed, asked

    (gone, kept), stats, unnamed, asked = run(scenario())
    assert [s.post_id for s in stats] == [gone, "7400000000000000001", kept]
    assert stats[0].deleted and stats[0].values == {} and "deleted" in stats[0].note
    assert stats[1].deleted  # never there (or not this creator's): TikTok says the same
    assert not stats[2].deleted and stats[2].values["views"] > 0
    assert not unnamed[0].deleted and unnamed[0].values == {} and unnamed[0].note
    assert asked == 0


def test_more_than_twenty_ids_are_refused_before_anything_is_sent(
        sandbox: SandboxHost, base: str) -> None:
    token = scoped_token(base, "user.info.basic,video.list")
    ids = [f"74{n:017d}" for n in range(21)]

    async def scenario() -> list[PostStats]:
        insights = TikTokInsights(base)
        try:
            with pytest.raises(InvalidInput, match="at most 20"):
                await insights.post_stats("", token, ids)
            return await insights.post_stats("", token, ids[:20])
        finally:
            await insights.aclose()

    twenty = run(scenario())
    assert query_count(sandbox, base) == 1  # only the batch of 20 went out
    assert len(twenty) == 20 and all(s.deleted for s in twenty)
    # The limit is TikTok's own: 21 ids sent anyway are refused.
    refused = httpx.post(f"{base}/v2/video/query/", params={"fields": "id,view_count"},
                         json={"filters": {"video_ids": ids}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_params"


def test_missing_permissions_and_a_refused_token(profile: Services, sandbox: SandboxHost,
                                                 base: str) -> None:
    without_list = scoped_token(base, "user.info.basic,video.publish")
    insights = TikTokInsights(base)

    async def scenario() -> tuple[InsightsNotAllowed, InsightsNotAllowed]:
        account_id, app_token = await connect(profile)
        try:
            with pytest.raises(InsightsNotAllowed) as videos:
                await insights.post_stats(account_id, without_list, ["7400000000000000001"])
            # An account connected before the app asked for user.info.stats
            with pytest.raises(InsightsNotAllowed) as account:
                await insights.account_stats(account_id, without_list)
            # The app's own sign-in asks for both now
            assert "followers" in await insights.account_stats(account_id, app_token)
            with pytest.raises(AuthExpired):
                await insights.post_stats(account_id, "act.not-a-token", ["7400000000000000001"])
        finally:
            await insights.aclose()
            await profile.aclose()
        return videos.value, account.value

    videos, account = run(scenario())
    assert "reconnect TikTok" in str(videos) and "video.list" in str(videos)
    assert "reconnect TikTok" in str(account) and "user.info.stats" in str(account)
    assert videos.code == "scope_not_authorized"


def test_rate_limits_raise_at_once_and_wait_out_the_window(sandbox: SandboxHost, base: str) -> None:
    token = scoped_token(base, "user.info.basic,video.list")
    settings(base, video_query_limit=2)
    ids = ["7400000000000000001"]

    async def scenario() -> tuple[list[list[PostStats]], RateLimited, RateLimited, int]:
        insights = TikTokInsights(base)
        try:
            answered = [await insights.post_stats("", token, ids) for _ in range(2)]
            with pytest.raises(RateLimited) as window:
                await insights.post_stats("", token, ids)
            # A 429 that names a long wait: given back at once, with that wait.
            settings(base, reset=True)
            sandbox.faults.add("tiktok", Fault("429", path_prefix="/v2/video/query",
                                               retry_after=90))
            before = query_count(sandbox, base)
            with pytest.raises(RateLimited) as told:
                await insights.post_stats("", token, ids)
            return answered, window.value, told.value, query_count(sandbox, base) - before
        finally:
            await insights.aclose()

    answered, window, told, sent = run(scenario())
    assert all(len(a) == 1 for a in answered)
    assert window.retry_after == 60  # TikTok names no wait: its one-minute window
    assert told.retry_after == 90 and sent == 1  # asked once, not retried into the limit


def test_account_figures(sandbox: SandboxHost, base: str) -> None:
    token = scoped_token(base, "user.info.basic,user.info.stats,video.list")

    async def scenario() -> Mapping[str, float]:
        insights = TikTokInsights(base)
        try:
            return await insights.account_stats("", token)
        finally:
            await insights.aclose()

    figures = run(scenario())
    raw = httpx.get(f"{base}/v2/user/info/",
                    params={"fields": "follower_count,following_count,likes_count,video_count"},
                    headers={"Authorization": f"Bearer {token}"}, timeout=5).json()["data"]["user"]
    assert figures == {"followers": raw["follower_count"], "following": raw["following_count"],
                       "likes": raw["likes_count"], "posts": raw["video_count"]}
    assert figures["followers"] > 0


def test_a_tiktok_clock_behind_gives_zero_figures_not_missing_ones(
        profile: Services, sandbox: SandboxHost, base: str, video: MediaFile) -> None:
    assert settings(base, clock_skew_s=-7200)["clock_skew_s"] == -7200

    async def scenario() -> tuple[PostStats, PostStats]:
        account_id, token = await connect(profile)
        post_id = await publish(base, account_id, token, video, "Clock behind")
        insights = TikTokInsights(base)
        try:
            early = (await insights.post_stats(account_id, token, [post_id]))[0]
            advance(base, 7200 + 600)
            caught_up = (await insights.post_stats(account_id, token, [post_id]))[0]
        finally:
            await insights.aclose()
            await profile.aclose()
        return early, caught_up

    early, caught_up = run(scenario())
    assert early.values == {"views": 0, "likes": 0, "comments": 0, "shares": 0}
    assert caught_up.values["views"] > 0
