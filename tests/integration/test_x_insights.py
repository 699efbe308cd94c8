"""X figures and trends, end to end: :class:`XInsights` against the sandbox's X emulator over real
loopback sockets, with an X account connected the way a creator connects it and posts made by
:class:`XPublisher` or straight through the emulator's API.

What a creator would notice: figures that grow as time passes (the emulator's clock is moved
forward) and never go down; figures a lower X access level does not give shown as missing, not
as zeros; a deleted post marked deleted; X's rate limit making collection wait (with X's own
wait) instead of recording anything; a passing X outage retried; trends for the world and a
city, an unknown place, trends for the account; the account's followers. The emulator's answers
are checked against X's OpenAPI document (``shared/specs/x``), and a small stand-in server gives
the refusals the emulator cannot (an app without access, a used-up monthly allowance).
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from integration.test_sandbox_social import x_token
from integration.test_social_clients import connect, post_json
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from support.helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.analytics import METRICS, Trend
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    NotFound,
    ProviderUnavailable,
    RateLimited,
)
from mbv_desktop.integrations.social.base import PostRequest
from mbv_desktop.integrations.social.insights import InsightsNotAllowed, InsightsReader
from mbv_desktop.integrations.social.x import XPublisher
from mbv_desktop.integrations.social.x_insights import (
    USAGE_CAP_HOLD_S,
    XInsights,
    parse_post_count,
)
from mbv_desktop.sandbox.common import EmulatorContext
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.sandbox.oauth.x import ACCOUNTS, XEmulator
from mbv_desktop.sandbox.social.x_api import WEEKDAY_TAGS, XPosting
from mbv_desktop.services.container import Services, open_services

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "x" / "openapi.json"
MAYA = "1700000000000000001"
POST_METRICS = ("impression_count", "like_count", "reply_count", "repost_count", "quote_count",
                "bookmark_count")
T = TypeVar("T")
Body = Callable[[XInsights, str, str], Awaitable[T]]


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("x-insights")) as host:
        yield host


@pytest.fixture
def base(sandbox: SandboxHost) -> Iterator[str]:
    """The X emulator's base URL; its clock, tunables, posts and faults are reset afterwards."""
    url = sandbox.urls()["x"]
    yield url
    sandbox.faults.clear()
    post_json(f"{url}/_settings", {"reset": True})
    post_json(f"{url}/_social_settings", {"reset": True})
    httpx.delete(f"{url}/_posts").raise_for_status()


@pytest.fixture
def profile(sandbox: SandboxHost, data_dir: Path) -> Iterator[Services]:
    services = open_services(data_dir, env={}, overrides=sandbox_overrides(sandbox.urls()),
                             sandbox=True)
    yield services
    services.close()


@pytest.fixture(scope="module")
def spec() -> Callable[[str, Any], None]:
    """Validates a body against a schema of X's OpenAPI document (OpenAPI 3.0's schemas read
    as JSON Schema, as the posting emulator's tests do)."""
    if not SPEC.exists():
        pytest.skip("the X OpenAPI document is not in shared/specs")
    doc = json.loads(SPEC.read_text(encoding="utf-8"))
    registry = Registry().with_resource("urn:spec:x", DRAFT202012.create_resource(doc))

    def validate(schema: str, body: Any) -> None:
        Draft202012Validator({"$ref": f"urn:spec:x#/components/schemas/{schema}"},
                             registry=registry).validate(body)
    return validate


def with_x(profile: Services, base: str, body: Body[T]) -> T:
    """Connects the demo X account in ``profile``, then runs ``body(insights, account, token)``
    on one event loop and closes everything."""
    async def scenario() -> T:
        account_id, token = await connect(profile, "x")
        insights = XInsights(base)
        try:
            return await body(insights, account_id, token)
        finally:
            await insights.aclose()
            await profile.aclose()
    return run(scenario())


# --- talking to the emulator directly ------------------------------------------------------------

def tweet(base: str, token: str, text: str, reply_to: str | None = None) -> str:
    body: dict[str, Any] = {"text": text}
    if reply_to is not None:
        body["reply"] = {"in_reply_to_tweet_id": reply_to}
    r = httpx.post(f"{base}/2/tweets", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return str(r.json()["data"]["id"])


def raw(base: str, token: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{base}{path}", params=params,
                     headers={"Authorization": f"Bearer {token}"})


def raw_metrics(base: str, token: str, ids: list[str]) -> dict[str, dict[str, int]]:
    r = raw(base, token, "/2/tweets", ids=",".join(ids), **{"tweet.fields": "public_metrics"})
    assert r.status_code == 200, r.text
    return {t["id"]: t["public_metrics"] for t in r.json()["data"]}


def advance(base: str, seconds: float) -> None:
    post_json(f"{base}/_settings", {"advance": seconds})


def social(base: str, **changes: Any) -> dict[str, Any]:
    return dict(post_json(f"{base}/_social_settings", changes))


# --- post figures --------------------------------------------------------------------------------

def test_figures_grow_with_time_never_go_down_and_count_real_replies(
        profile: Services, base: str, spec: Callable[[str, Any], None]) -> None:
    request = PostRequest(target_key="x-thread", post_type="thread", text="Dawn, day one",
                          parts=("Dawn, day one", "Dawn, day two"),
                          not_before=datetime.now(UTC))

    async def body(insights: XInsights, account_id: str,
                   token: str) -> tuple[list[str], list[dict[str, dict[str, float]]]]:
        publisher = XPublisher(base)
        try:
            async def keep(progress: Any) -> None:
                pass
            posted = await publisher.publish(account_id, token, request, progress={},
                                             checkpoint=keep)
        finally:
            await publisher.aclose()
        ids = list(posted.extra["tweet_ids"])
        readings = []
        for step in (0, 600, 3000):  # 10 hours, then 50 more, of audience (60x)
            advance(base, step)
            before = raw_metrics(base, token, ids)
            stats = await insights.post_stats(account_id, token, ids)
            after = raw_metrics(base, token, ids)
            assert [s.post_id for s in stats] == ids
            assert not any(s.deleted or s.note for s in stats)
            # The client's figures are X's, under the app's names, read between two raw reads.
            for s in stats:
                for app_name, x_name in (("views", "impression_count"), ("likes", "like_count"),
                                         ("comments", "reply_count"),
                                         ("reposts", "repost_count"), ("quotes", "quote_count"),
                                         ("bookmarks", "bookmark_count")):
                    assert before[s.post_id][x_name] <= s.values[app_name] \
                        <= after[s.post_id][x_name]
            readings.append({s.post_id: dict(s.values) for s in stats})
        return ids, readings

    ids, readings = with_x(profile, base, body)
    root = ids[0]
    assert set(readings[0][root]) == {"views", "likes", "comments", "reposts", "quotes",
                                      "bookmarks"} <= set(METRICS)
    assert readings[0][root]["comments"] >= 1  # the thread's second part replies to it
    for earlier, later in itertools.pairwise(readings):
        for post_id in ids:
            assert later[post_id]["views"] > earlier[post_id]["views"]
            assert all(later[post_id][m] >= earlier[post_id][m] for m in earlier[post_id])
    assert readings[-1][root]["views"] > 250  # two and a half days of audience
    assert readings[-1][root]["likes"] > 0
    token = fresh_token(base)
    spec("GetPostsByIdsResponse", raw(base, token, "/2/tweets", ids=",".join(ids),
                                      **{"tweet.fields": "public_metrics"}).json())


def fresh_token(base: str) -> str:
    """A token for @maya_creates straight from the emulator's consent flow."""
    with httpx.Client(base_url=base, timeout=10) as c:
        return x_token(c)


def test_a_lower_access_level_leaves_views_and_bookmarks_out_not_zero(
        profile: Services, base: str) -> None:
    with pytest.raises(httpx.HTTPStatusError):  # the emulator knows only its two tiers
        r = httpx.post(f"{base}/_social_settings", json={"metrics_tier": "gold"})
        r.raise_for_status()
    social(base, metrics_tier="basic")

    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        post_id = tweet(base, token, "Basic tier post")
        advance(base, 3600)
        answer = raw(base, token, "/2/tweets", ids=post_id, **{"tweet.fields": "public_metrics"})
        return answer.json(), await insights.post_stats(account_id, token, [post_id])

    answer, (stats,) = with_x(profile, base, body)
    assert set(answer["data"][0]["public_metrics"]) == {"like_count", "reply_count",
                                                        "retweet_count", "repost_count",
                                                        "quote_count"}
    assert set(stats.values) == {"likes", "comments", "reposts", "quotes"}
    assert "views" not in stats.values and "bookmarks" not in stats.values
    assert stats.values["likes"] > 0 and not stats.deleted


def test_x_clock_running_ahead_shows_later_figures(profile: Services, base: str) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        post_id = tweet(base, token, "Skewed clocks")
        advance(base, 60)
        (level,) = await insights.post_stats(account_id, token, [post_id])
        social(base, clock_skew_s=1800)  # X's clock half an hour ahead: 30 hours of audience
        (ahead,) = await insights.post_stats(account_id, token, [post_id])
        return level, ahead

    level, ahead = with_x(profile, base, body)
    assert ahead.values["views"] > level.values["views"] > 0
    assert all(ahead.values[m] >= level.values[m] for m in level.values)


def test_a_deleted_post_is_marked_deleted_and_the_rest_still_count(
        profile: Services, base: str, spec: Callable[[str, Any], None]) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        kept = tweet(base, token, "This one stays")
        gone = tweet(base, token, "This one goes")
        r = httpx.delete(f"{base}/2/tweets/{gone}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        advance(base, 600)
        asked = [gone, kept, "not-an-id", kept]
        answer = raw(base, token, "/2/tweets", ids=f"{kept},{gone}",
                     **{"tweet.fields": "public_metrics"}).json()
        return asked, answer, await insights.post_stats(account_id, token, asked)

    asked, answer, stats = with_x(profile, base, body)
    spec("GetPostsByIdsResponse", answer)
    assert answer["errors"][0]["type"] == "https://api.x.com/2/problems/resource-not-found"
    assert [s.post_id for s in stats] == asked
    assert stats[0].deleted and not stats[0].values
    assert not stats[1].deleted and stats[1].values["views"] > 0
    assert not stats[2].deleted and not stats[2].values and "not an X post id" in stats[2].note
    assert stats[3] == stats[1]


def test_more_posts_than_one_request_takes_is_refused_before_asking_x(
        sandbox: SandboxHost, profile: Services, base: str) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> int:
        before = sandbox.request_count("x", "/x/2/tweets")
        with pytest.raises(InvalidInput, match="at most 100 posts"):
            await insights.post_stats(account_id, token, [str(n) for n in range(1, 102)])
        assert await insights.post_stats(account_id, token, []) == []
        return sandbox.request_count("x", "/x/2/tweets") - before

    assert with_x(profile, base, body) == 0


def test_x_rate_limit_makes_collection_wait_and_records_nothing(
        sandbox: SandboxHost, profile: Services, base: str) -> None:
    sandbox.faults.add("x", Fault("429", path_prefix="/2/tweets", method="GET",
                                  retry_after=600))

    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        post_id = tweet(base, token, "Rate limited")
        before = sandbox.request_count("x", "/x/2/tweets")
        with pytest.raises(RateLimited) as caught:
            await insights.post_stats(account_id, token, [post_id])
        sent = sandbox.request_count("x", "/x/2/tweets") - before
        later = await insights.post_stats(account_id, token, [post_id])  # the fault is spent
        return caught.value, sent, later

    error, sent, later = with_x(profile, base, body)
    assert error.retry_after is not None and 590 <= error.retry_after <= 601  # x-rate-limit-reset
    assert "X is limiting" in str(error) and "about 10 minutes" in str(error)
    assert sent == 1  # a ten-minute wait is not slept through: the collector reschedules
    assert not later[0].deleted and "views" in later[0].values


def test_a_passing_x_outage_is_retried_and_a_lasting_one_reported(
        sandbox: SandboxHost, profile: Services, base: str) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        post_id = tweet(base, token, "Through an outage")
        sandbox.faults.add("x", Fault("503", path_prefix="/2/tweets", method="GET", times=1))
        start = sandbox.request_count("x", "/x/2/tweets")
        passing = await insights.post_stats(account_id, token, [post_id])
        once = sandbox.request_count("x", "/x/2/tweets") - start
        sandbox.faults.add("x", Fault("503", path_prefix="/2/tweets", method="GET", times=None))
        with pytest.raises(ProviderUnavailable) as caught:
            await insights.post_stats(account_id, token, [post_id])
        lasting = sandbox.request_count("x", "/x/2/tweets") - start - once
        return passing, once, caught.value, lasting

    passing, once, error, lasting = with_x(profile, base, body)
    assert "views" in passing[0].values and once == 2
    assert lasting == 3 and error.status == 503 and "X is not available" in str(error)


def test_a_refused_sign_in_and_a_missing_permission(base: str) -> None:
    async def scenario() -> Any:
        insights = XInsights(base)
        try:
            with pytest.raises(AuthExpired):
                await insights.post_stats(MAYA, "not-a-token", ["1"])
            with httpx.Client(base_url=base, timeout=10) as c:
                narrow = x_token(c, scope="tweet.read offline.access")  # no users.read
            with pytest.raises(InsightsNotAllowed) as posts:
                await insights.post_stats(MAYA, narrow, ["1"])
            with pytest.raises(InsightsNotAllowed) as personal:
                await insights.personalized_trends(narrow)
            return posts.value, personal.value
        finally:
            await insights.aclose()

    posts, personal = run(scenario())
    assert "allow the app to read its posts and profile" in str(posts)
    assert "Reconnect X" in str(posts) and posts.status == 403
    assert "X Premium" in str(personal)


# --- trends --------------------------------------------------------------------------------------

def test_trends_for_the_world_and_a_city_and_an_unknown_place(
        sandbox: SandboxHost, profile: Services, base: str,
        spec: Callable[[str, Any], None]) -> None:
    now = float(httpx.get(f"{base}/_social_settings").json()["now"])
    weekday_tag = WEEKDAY_TAGS[time.gmtime(now).tm_wday][0]

    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        world = await insights.trends(token)
        again = await insights.trends(token, woeid=1)
        london = await insights.trends(token, woeid=44418, max_trends=50)
        answers = [raw(base, token, "/2/trends/by/woeid/1",
                       **{"trend.fields": "trend_name,tweet_count"}).json(),
                   raw(base, token, "/2/trends/by/woeid/12345").json()]
        with pytest.raises(NotFound) as unknown:
            await insights.trends(token, woeid=12345)
        before = sandbox.request_count("x", "/x/2/trends")
        with pytest.raises(InvalidInput):
            await insights.trends(token, max_trends=51)
        assert sandbox.request_count("x", "/x/2/trends") == before
        advance(base, 3600)
        next_hour = await insights.trends(token)
        return world, again, london, answers, unknown.value, next_hour

    world, again, london, answers, unknown, next_hour = with_x(profile, base, body)
    for answer in answers:
        spec("GetTrendsByWoeidResponse", answer)
    assert len(world) == 20 and world == again  # the same list all hour
    assert all(isinstance(t, Trend) and t.name for t in world)
    assert [t.name for t in world] == [item["trend_name"] for item in answers[0]["data"]]
    assert [t.volume for t in world] == [item.get("tweet_count")
                                         for item in answers[0]["data"]]
    counted = [t.volume for t in world if t.volume is not None]
    assert counted == sorted(counted, reverse=True)  # most posted about first
    names = {t.name for t in london}
    assert 20 < len(london) <= 50
    assert weekday_tag in names  # e.g. #MondayMotivation on a Monday
    assert {"#LondonFashionWeek", "Notting Hill", "Tube strike"} <= names  # the city's own
    assert any(t.is_hashtag for t in london) and any(not t.is_hashtag for t in london)
    assert answers[1]["errors"][0]["type"].endswith("/resource-not-found")
    assert "12345" in str(unknown)
    assert next_hour != world  # trends move on with the clock


def test_personalised_trends_and_their_own_rate_limit(
        profile: Services, base: str, spec: Callable[[str, Any], None]) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        answer = raw(base, token, "/2/users/personalized_trends")
        trends = await insights.personalized_trends(token)
        for _ in range(8):  # 10 per 15 minutes: the raw read and this make ten
            await insights.personalized_trends(token)
        with pytest.raises(RateLimited) as caught:
            await insights.personalized_trends(token)
        place = await insights.trends(token)  # trends by place have a window of their own
        return answer, trends, caught.value, place

    answer, trends, limited, place = with_x(profile, base, body)
    spec("GetTrendsPersonalizedTrendsResponse", answer.json())
    assert answer.headers["x-rate-limit-limit"] == "10"
    data = answer.json()["data"]
    assert [t.name for t in trends] == [item["trend_name"] for item in data]
    assert all(t.category for t in trends)
    for trend, item in zip(trends, data, strict=True):
        assert trend.volume == parse_post_count(item.get("post_count"))
        if "post_count" in item:
            assert item["post_count"].endswith(" posts") and trend.volume is not None
        else:
            assert trend.volume is None
    assert limited.retry_after is not None and 850 <= limited.retry_after <= 901
    assert place


@pytest.mark.parametrize(("text", "number"), [
    ("12.5K posts", 12_500), ("950 posts", 950), ("1,204 posts", 1204), ("2M posts", 2_000_000),
    ("1.2M posts", 1_200_000), ("", None), ("Trending", None), (None, None), (5120, 5120),
])
def test_post_counts_as_x_writes_them(text: object, number: int | None) -> None:
    assert parse_post_count(text) == number


# --- the account ---------------------------------------------------------------------------------

def test_account_figures(profile: Services, base: str) -> None:
    async def body(insights: XInsights, account_id: str, token: str) -> Any:
        answer = raw(base, token, "/2/users/me", **{"user.fields": "public_metrics"}).json()
        return account_id, answer, await insights.account_stats(account_id, token)

    account_id, answer, stats = with_x(profile, base, body)
    metrics = answer["data"]["public_metrics"]
    assert account_id == MAYA
    assert stats == {"followers": metrics["followers_count"],
                     "following": metrics["following_count"],
                     "posts": metrics.get("post_count", metrics["tweet_count"]),
                     "listed": metrics["listed_count"]}
    assert stats["followers"] >= 12840 and stats["following"] == 311


def test_the_account_answer_matches_the_spec(base: str,
                                             spec: Callable[[str, Any], None]) -> None:
    token = fresh_token(base)
    spec("GetUsersMeResponse", raw(base, token, "/2/users/me",
                                   **{"user.fields": "public_metrics"}).json())


def test_followers_grow_with_the_accounts_posts_and_never_go_down(
        sandbox: SandboxHost, base: str) -> None:
    # The emulator's model for /2/users/me, read in-process over the sandbox's own store.
    posting = XPosting(XEmulator(EmulatorContext("x", sandbox.state)).core)
    maya = ACCOUNTS[0]
    start = posting.user_public_metrics(maya)
    assert start["followers_count"] == 12840 and start["post_count"] == 2207
    token = fresh_token(base)
    ids = [tweet(base, token, f"Follow-worthy {n}") for n in range(3)]
    seen = []
    for minutes in (0, 1, 10, 60, 1440):  # 60x: a minute of clock is an hour of audience
        posting.core.settings.clock_offset = minutes * 60.0
        seen.append(posting.user_public_metrics(maya))
    assert [s["post_count"] for s in seen] == [2210] * 5
    followers = [s["followers_count"] for s in seen]
    assert followers == sorted(followers) and followers[-1] > followers[0] >= 12840
    httpx.delete(f"{base}/2/tweets/{ids[0]}",
                 headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    after = posting.user_public_metrics(maya)
    assert after["post_count"] == 2209 and after["followers_count"] >= followers[-1]


# --- refusals the emulator cannot give -----------------------------------------------------------

class CannedX:
    """A stand-in for X answering every GET with one canned status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/problem+json"
                                 if status >= 400 else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _problem(kind: str, detail: str) -> dict[str, Any]:
    return {"type": f"https://api.x.com/2/problems/{kind}", "title": "Forbidden",
            "detail": detail, "status": 403}


def refusal(canned: CannedX) -> Exception:
    """What reading one post's figures raises when X answers with ``canned``."""
    reader: InsightsReader = XInsights(canned.url)

    async def scenario() -> None:
        try:
            await reader.post_stats(MAYA, "token", ["1"])
        finally:
            await reader.aclose()

    try:
        with pytest.raises(Exception) as caught:  # which one: the caller checks
            run(scenario())
    finally:
        canned.close()
    return caught.value


@pytest.mark.parametrize(("kind", "sentence", "host"), [
    ("client-forbidden", "its X developer access does not include them", "api.x.com"),
    ("not-authorized-for-resource", "does not let this account see", "api.twitter.com"),
])
def test_x_refusing_access_is_said_plainly(kind: str, sentence: str, host: str) -> None:
    body = _problem(kind, "When authenticating requests to the Twitter API v2 endpoints, you "
                          "must use keys and tokens from an App")
    body["type"] = f"https://{host}/2/problems/{kind}"  # X has answered with both hosts
    caught = refusal(CannedX(403, body))
    assert isinstance(caught, InsightsNotAllowed)
    assert sentence in str(caught) and caught.code == kind


def test_a_used_up_monthly_allowance_waits_instead_of_stopping_for_good() -> None:
    caught = refusal(CannedX(403, _problem("usage-capped", "Usage cap exceeded")))
    assert isinstance(caught, RateLimited)
    assert "used up its X API allowance for the month" in str(caught)
    assert caught.retry_after == USAGE_CAP_HOLD_S


def test_a_post_x_will_not_show_gets_a_note_not_zeros() -> None:
    canned = CannedX(200, {"data": [{"id": "2", "text": "hi", "public_metrics": {
        "retweet_count": 4, "reply_count": 1, "like_count": 9, "quote_count": 0}}],
        "errors": [{"type": "https://api.x.com/2/problems/not-authorized-for-resource",
                    "title": "Authorization Error", "resource_type": "tweet",
                    "resource_id": "1", "value": "1", "parameter": "ids",
                    "detail": "Sorry, you are not authorized to see the Tweet with ids: [1]."}]})
    async def scenario() -> list[Any]:
        insights = XInsights(canned.url)
        try:
            return list(await insights.post_stats(MAYA, "token", ["1", "2", "3"]))
        finally:
            await insights.aclose()

    try:
        protected, other, missing = run(scenario())
    finally:
        canned.close()
    assert not protected.values and not protected.deleted and "protected" in protected.note
    assert other.values == {"likes": 9, "comments": 1, "reposts": 4, "quotes": 0}
    assert not missing.values and missing.note
