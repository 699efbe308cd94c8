"""Instagram insights: the Graph emulator's media and account insights and the app's client,
over real loopback sockets.

The account is connected the way a creator connects it (``services.accounts.authorize`` with the
sandbox's consent page answered); posts are published with the real ``InstagramPublisher``, the
emulator downloading their pictures and video from a small HTTP server of the test's own. Time
moves with the Facebook emulator's clock (``POST /_settings {"advance": s}``); the insights
clock's skew and the throttle are the Instagram emulator's tunables (``/_social_settings``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import itertools
import json
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from integration.test_social_clients import (
    Checkpoints,
    clip,
    connect,
    get_json,
    media_file,
    picture,
    post_json,
)
from support.helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.analytics import PLATFORM_METRICS
from mbv_desktop.core.errors import AuthExpired, RateLimited
from mbv_desktop.integrations.social.base import PostRequest
from mbv_desktop.integrations.social.insights import InsightsNotAllowed, PostStats
from mbv_desktop.integrations.social.instagram import InstagramPublisher
from mbv_desktop.integrations.social.instagram_insights import InstagramInsights
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services

MAYA_IG = "17841400000000001"
FEED_APP_METRICS = {"views", "reach", "likes", "comments", "shares", "saves"}


# --- fixtures ------------------------------------------------------------------------------------

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


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def public(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server for the files put in the returned folder (Instagram fetches
    media itself)."""
    folder = tmp_path / "public"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- helpers -------------------------------------------------------------------------------------

class Instagram:
    """The connected account, its publisher and insights client, and the emulator's knobs."""

    def __init__(self, sandbox: SandboxHost, profile: Services,
                 public: tuple[str, Path]) -> None:
        self.base = sandbox.urls()["facebook"]
        self.sandbox = sandbox
        self.profile = profile
        self.address, self.folder = public
        self.account_id = ""
        self.token = ""

    async def __aenter__(self) -> Instagram:
        self.account_id, self.token = await connect(self.profile, "instagram")
        self.publisher = InstagramPublisher(self.base, poll_interval=0.05)
        self.insights = InstagramInsights(self.base)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.publisher.aclose()
        await self.insights.aclose()
        await self.profile.aclose()

    async def publish(self, kind: str, name: str) -> str:
        """A feed image, reel or story published for real; its media id."""
        if kind == "reel":
            media = media_file(clip(self.folder / f"{name}.mp4", 3.5), "video/mp4", "video",
                               public=self.address, duration=3.5)
        else:
            shade = int(hashlib.sha256(name.encode()).hexdigest()[:2], 16)
            media = media_file(picture(self.folder / f"{name}.jpg", (shade, 90, 200)),
                               "image/jpeg", "image", public=self.address)
        request = PostRequest(target_key=name, post_type=kind, text=f"{name} #sandbox",
                              media=(media,), not_before=datetime.now(UTC))
        result = await self.publisher.publish(self.account_id, self.token, request,
                                              progress={}, checkpoint=Checkpoints())
        return result.post_id

    async def stats(self, *media_ids: str) -> list[PostStats]:
        return await self.insights.post_stats(self.account_id, self.token, media_ids)

    def advance(self, seconds: float) -> None:
        post_json(f"{self.base}/_settings", {"advance": seconds})

    def tune(self, **changes: Any) -> dict[str, Any]:
        return dict(post_json(f"{self.base}/_social_settings", changes))

    async def graph(self, path: str, token: str | None = None,
                    **params: str) -> httpx.Response:
        """A Graph call straight to the emulator (not through the app's client)."""
        async with httpx.AsyncClient(timeout=10) as http:
            return await http.get(f"{self.base}/v21.0{path}", params=params,
                                  headers={"Authorization": f"Bearer {token or self.token}"})


def graph_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    return dict(body["error"])


def get_usage(response: httpx.Response) -> dict[str, Any]:
    """The account's entry of ``X-Business-Use-Case-Usage``."""
    usage = json.loads(response.headers["x-business-use-case-usage"])
    return dict(usage[MAYA_IG][0])


def check_growth(series: Sequence[dict[str, float]]) -> None:
    """Every metric present throughout and never lower than before; views really grew."""
    for earlier, later in itertools.pairwise(series):
        assert set(later) == set(earlier)
        for name, value in earlier.items():
            assert later[name] >= value, (name, earlier, later)
    assert series[-1]["views"] > series[0]["views"]


def raw_token(base: str, scope: str) -> str:
    """A token for Maya from the Facebook dialog asked for ``scope`` only (what a person who
    unticked a permission on Facebook's dialog leaves the app with)."""
    verifier = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()) \
        .rstrip(b"=").decode()
    redirect = "http://127.0.0.1:53682/callback"
    with httpx.Client(base_url=base, timeout=10) as http:
        page = http.get("/v21.0/dialog/oauth", params={
            "client_id": "sandbox-facebook", "scope": scope, "redirect_uri": redirect,
            "response_type": "code", "state": "s", "code_challenge": challenge,
            "code_challenge_method": "S256"})
        found = re.search(r'data-consent-id="([^"]+)"', page.text)
        assert found, page.text
        back = http.post(f"/_consent/{found.group(1)}", data={"decision": "allow",
                                                              "account": "0"})
        code = dict(parse_qsl(urlsplit(back.headers["location"]).query))["code"]
        answer = http.get("/v21.0/oauth/access_token", params={
            "client_id": "sandbox-facebook", "client_secret": "sandbox-facebook-secret",
            "redirect_uri": redirect, "code": code, "code_verifier": verifier})
        return str(answer.json()["access_token"])


# --- figures over time ---------------------------------------------------------------------------

def test_figures_grow_with_the_clock_and_never_go_down(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    def graph_calls(media_id: str) -> int:
        return sandbox.request_count("facebook", f"/facebook/v21.0/{media_id}")

    async def scenario() -> tuple[list[list[PostStats]], str, str, int]:
        async with Instagram(sandbox, profile, public) as ig:
            image = await ig.publish("feed", "street")
            reel = await ig.publish("reel", "dawn")
            published = graph_calls(image)
            rounds = []
            for _ in range(4):
                ig.advance(240)  # four minutes: four hours of audience at the default scale
                rounds.append(await ig.stats(image, reel))
            return rounds, image, reel, graph_calls(image) - published

    rounds, image, reel, calls = run(scenario())
    assert set(PLATFORM_METRICS["instagram"]) >= FEED_APP_METRICS  # what the app stores
    for index, media_id in enumerate((image, reel)):
        series = [stats[index] for stats in rounds]
        assert all(s.post_id == media_id and not s.deleted and not s.note for s in series)
        # Reels and pictures give the app the same figures (a reel's plays are its views).
        assert set(series[0].values) == FEED_APP_METRICS
        check_growth([dict(s.values) for s in series])
        assert series[-1].values["reach"] <= series[-1].values["views"]
    # The type is asked once per media; the insights once per collection.
    assert sandbox.request_count("facebook", f"/facebook/v21.0/{image}/insights") == 4
    assert calls == 4 + 1


def test_a_story_gives_its_own_figures_and_none_after_a_day(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> tuple[PostStats, PostStats, httpx.Response]:
        async with Instagram(sandbox, profile, public) as ig:
            story = await ig.publish("story", "morning")
            ig.advance(600)
            fresh = (await ig.stats(story))[0]
            ig.advance(86400)
            old = (await ig.stats(story))[0]
            return fresh, old, await ig.graph(f"/{story}/insights", metric="views,replies")

    fresh, old, direct = run(scenario())
    # Stories have no likes or saves; their replies are the app's comments.
    assert set(fresh.values) == {"views", "reach", "comments", "shares"}
    assert fresh.values["views"] > 0
    assert old.values == {} and not old.deleted and "24 hours" in old.note
    assert direct.status_code == 200 and direct.json() == {"data": []}


# --- what the emulator accepts -------------------------------------------------------------------

def test_an_unsupported_or_deprecated_metric_fails_the_whole_call(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> dict[str, httpx.Response]:
        async with Instagram(sandbox, profile, public) as ig:
            image = await ig.publish("feed", "plate")
            reel = await ig.publish("reel", "waves")
            story = await ig.publish("story", "coffee")
            ig.advance(600)
            asked = {
                "reel": (reel, "views,ig_reels_avg_watch_time,ig_reels_video_view_total_time,"
                               "saved"),
                "image_reel_metric": (image, "views,ig_reels_avg_watch_time"),
                "story_likes": (story, "views,likes"),
                "impressions": (image, "reach,impressions"),
                "plays": (reel, "views,plays"),
                "video_views": (reel, "video_views"),
                "engagement": (image, "likes,engagement"),
                "made_up": (image, "views,sparkle"),
                "image": (image, "views,profile_visits,follows,total_interactions,likes,"
                                 "comments,shares,saved"),
            }
            return {key: await ig.graph(f"/{media}/insights", metric=metrics,
                                        period="lifetime")
                    for key, (media, metrics) in asked.items()}

    answers = run(scenario())
    reel = answers["reel"]
    assert reel.status_code == 200
    data = reel.json()["data"]
    assert [d["name"] for d in data] == ["views", "ig_reels_avg_watch_time",
                                        "ig_reels_video_view_total_time", "saved"]
    media_id = data[0]["id"].split("/")[0]
    for entry in data:
        assert entry["period"] == "lifetime" and entry["title"] and entry["description"]
        assert entry["id"] == f"{media_id}/insights/{entry['name']}/lifetime"
        assert isinstance(entry["values"][0]["value"], int)
    views, average, total = (d["values"][0]["value"] for d in data[:3])
    assert total == views * average  # milliseconds
    image = {d["name"]: d["values"][0]["value"] for d in answers["image"].json()["data"]}
    assert image["total_interactions"] == (image["likes"] + image["comments"] + image["shares"]
                                           + image["saved"])
    for key, metric in (("image_reel_metric", "ig_reels_avg_watch_time"),
                        ("story_likes", "likes"), ("impressions", "impressions"),
                        ("plays", "plays"), ("video_views", "video_views"),
                        ("engagement", "engagement"), ("made_up", "sparkle")):
        response = answers[key]
        assert response.status_code == 400, key
        error = graph_error(response)
        assert error["code"] == 100 and error["type"] == "OAuthException", key
        assert metric in error["message"], (key, error)
        assert "data" not in response.json()  # nothing of what was valid comes back


# --- refusals ------------------------------------------------------------------------------------

def test_an_account_without_the_insights_permission(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Instagram(sandbox, profile, public) as ig:
            image = await ig.publish("feed", "bridge")
            ig.advance(600)
            out["before"] = (await ig.stats(image))[0]
            # The person unticked "insights" on Facebook's dialog: a token without the scope.
            narrow = raw_token(ig.base, "instagram_basic,instagram_content_publish,"
                                        "pages_show_list,pages_read_engagement")
            with pytest.raises(InsightsNotAllowed) as caught:
                await ig.insights.post_stats(ig.account_id, narrow, [image])
            out["narrow"] = caught.value
            out["direct"] = await ig.graph(f"/{image}/insights", narrow, metric="views")
            # The sandbox's switch for an account connected through the app.
            ig.tune(insights_denied="maya.makes")
            with pytest.raises(InsightsNotAllowed) as caught:
                await ig.stats(image)
            out["denied"] = caught.value
            out["account"] = await ig.insights.account_stats(ig.account_id, ig.token)
            with pytest.raises(AuthExpired):
                await ig.insights.post_stats(ig.account_id, "EAAnot-a-token", [image])
        return out

    out = run(scenario())
    assert out["before"].values["views"] > 0
    for error in (out["narrow"], out["denied"]):
        assert "reconnect instagram and allow insights" in str(error).lower()
        assert error.provider == "instagram" and error.code == "10"
    direct = out["direct"]
    assert direct.status_code == 403
    assert graph_error(direct)["message"] == ("(#10) Application does not have permission for "
                                              "this action")
    # The account's own counts need no insights permission; its reach and views do.
    assert out["account"]["followers"] >= 48210 and "reach" not in out["account"]


def test_a_post_deleted_on_instagram_is_marked_deleted(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> tuple[list[PostStats], list[PostStats], list[PostStats],
                                  httpx.Response]:
        async with Instagram(sandbox, profile, public) as ig:
            kept = await ig.publish("feed", "kept")
            gone = await ig.publish("feed", "gone")
            ig.advance(600)
            before = await ig.stats(kept, gone)
            removed = httpx.delete(f"{ig.base}/_posts/{gone}", timeout=5)
            assert removed.status_code == 200
            after = await ig.stats(kept, gone)  # its type is remembered: insights say gone
            fresh = InstagramInsights(ig.base)  # a new session asks the type: gone too
            try:
                anew = await fresh.post_stats(ig.account_id, ig.token, [gone, kept])
            finally:
                await fresh.aclose()
            return before, after, anew, await ig.graph(f"/{gone}/insights", metric="views")

    before, after, anew, direct = run(scenario())
    assert not before[1].deleted and before[1].values["views"] > 0
    assert after[1].deleted and after[1].values == {}
    assert anew[0].deleted and anew[0].post_id == before[1].post_id
    for kept in (after[0], anew[1]):
        assert not kept.deleted and set(kept.values) == FEED_APP_METRICS
    error = graph_error(direct)
    assert direct.status_code == 400 and (error["code"], error["error_subcode"]) == (100, 33)


def test_not_enough_viewers_is_a_note_not_zeros_even_with_a_skewed_clock(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> tuple[PostStats, httpx.Response, PostStats]:
        async with Instagram(sandbox, profile, public) as ig:
            # Instagram's clock an hour behind: the new post has had no audience yet.
            ig.tune(clock_skew_s=-3600.0)
            image = await ig.publish("feed", "quiet")
            early = (await ig.stats(image))[0]
            direct = await ig.graph(f"/{image}/insights", metric="views")
            ig.tune(clock_skew_s=0.0)
            ig.advance(600)
            later = (await ig.stats(image))[0]
            return early, direct, later

    early, direct, later = run(scenario())
    assert early.values == {} and not early.deleted
    assert "enough people" in early.note
    error = graph_error(direct)
    assert direct.status_code == 400 and error["code"] == 10
    assert error["message"] == "(#10) Not enough viewers for the media to show insights"
    assert set(later.values) == FEED_APP_METRICS and later.values["views"] >= 10


# --- throttling ----------------------------------------------------------------------------------

def test_throttled_insights_say_when_to_come_back(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Instagram(sandbox, profile, public) as ig:
            first = await ig.publish("feed", "one")
            second = await ig.publish("feed", "two")
            ig.advance(600)
            ig.tune(insights_per_hour=3)
            out["allowed"] = await ig.stats(first, second)  # two of the three calls
            with pytest.raises(RateLimited) as caught:
                await ig.stats(first, second)  # the third passes, the fourth is refused
            out["limited"] = caught.value
            out["direct"] = await ig.graph(f"/{first}/insights", metric="views")
            ig.advance(3601)  # the hour has passed
            out["again"] = await ig.stats(first, second)
            # A plain HTTP 429 from Graph's front door is a throttle too.
            sandbox.faults.add("facebook", Fault("429", path_prefix=f"/v21.0/{second}/insights",
                                                 retry_after=120))
            with pytest.raises(RateLimited) as caught:
                await ig.stats(second)
            out["front_door"] = caught.value
        return out

    out = run(scenario())
    assert all(set(s.values) == FEED_APP_METRICS for s in out["allowed"] + out["again"])
    limited = out["limited"]
    assert limited.provider == "instagram" and limited.retry_after is not None
    assert 3500 <= limited.retry_after <= 3600  # the oldest call leaves the hour in ~60 min
    assert "try again in about 60 minutes" in str(limited)
    direct = out["direct"]
    error = graph_error(direct)
    assert direct.status_code == 403 and error["code"] == 17
    usage = get_usage(direct)
    assert usage["call_count"] == 100 and usage["estimated_time_to_regain_access"] >= 59
    assert out["front_door"].retry_after == 120


# --- the account ---------------------------------------------------------------------------------

def test_account_figures_count_the_new_posts(
        sandbox: SandboxHost, profile: Services, public: tuple[str, Path]) -> None:
    async def scenario() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with Instagram(sandbox, profile, public) as ig:
            out["start"] = await ig.insights.account_stats(ig.account_id, ig.token)
            await ig.publish("feed", "first")
            await ig.publish("story", "aside")  # stories do not count as posts
            ig.advance(3600)
            out["later"] = await ig.insights.account_stats(ig.account_id, ig.token)
            out["series"] = await ig.graph(f"/{ig.account_id}/insights",
                                           metric="follower_count,reach", period="day")
            out["views_series"] = await ig.graph(f"/{ig.account_id}/insights", metric="views",
                                                 period="day")
            out["impressions"] = await ig.graph(f"/{ig.account_id}/insights",
                                                metric="impressions", period="day",
                                                metric_type="total_value")
        return out

    out = run(scenario())
    start, later = out["start"], out["later"]
    assert set(start) == {"followers", "following", "posts", "reach", "views"}
    assert (start["followers"], start["following"], start["posts"]) == (48210, 310, 512)
    assert later["posts"] == 513 and later["following"] == 310
    assert later["followers"] >= start["followers"]
    assert later["views"] > start["views"] and later["reach"] > start["reach"]
    series = out["series"].json()
    assert out["series"].status_code == 200 and "next" in series["paging"]
    for entry in series["data"]:
        assert entry["period"] == "day" and len(entry["values"]) == 2
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", v["end_time"])
                   for v in entry["values"])
    assert graph_error(out["views_series"])["message"].endswith("metric_type=total_value")
    assert "impressions" in graph_error(out["impressions"])["message"]
    # The emulator's own listing agrees with what was published.
    assert len(get_json(f"{sandbox.urls()['facebook']}/_posts?account={MAYA_IG}")["data"]) == 2
