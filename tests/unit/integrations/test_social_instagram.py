"""The Instagram publisher (``integrations.social.instagram``) against a small in-process fake of
the Graph API's content publishing (``httpx.MockTransport``): container shapes for feed posts,
carousels, reels and stories, the quota read first, container ids checkpointed before polling,
``media_publish`` sent once, resuming from a container (also one already published), the
lookup by caption, and Graph errors in words."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import urllib.parse
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.integrations.http import FakeClock, ProviderClient, ProviderPolicy
from mbv_desktop.integrations.social.base import MediaFile, PostRequest, PublishResult
from mbv_desktop.integrations.social.instagram import InstagramPublisher

TOKEN = "EAAG-ig-token-CANARY-0123456789abcdef"
IG_USER = "17841400000000001"
API = "https://graph.test"


def graph_error(message: str, code: int, subcode: int | None = None,
                user_msg: str | None = None, status: int = 400) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code,
                             "fbtrace_id": "AbCdEf"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_msg is not None:
        error["error_user_msg"] = user_msg
    return httpx.Response(status, json={"error": error})


class FakeGraph:
    """Containers, publishing, the quota and the media lists of one Instagram account.

    ``statuses[url]`` is the list of ``status_code`` values a container made for that media URL
    reports before ``FINISHED``; ``faults[(method, path)]`` as in the X tests.
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.containers: dict[str, dict[str, Any]] = {}
        self.media: list[dict[str, Any]] = []
        self.stories: list[dict[str, Any]] = []
        self.statuses: dict[str, list[str]] = {}
        self.quota_used = 0
        self.faults: dict[tuple[str, str], list[Any]] = {}
        self._next = 17_900_000_000_000_000

    def new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def calls(self, method: str, suffix: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path.endswith(suffix)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers.get("authorization") == f"Bearer {TOKEN}"
        assert TOKEN not in str(request.url)
        assert request.url.path.startswith("/v21.0/")
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
        response = self.route(request, request.url.path.removeprefix("/v21.0"))
        if after is not None:
            raise after("connection reset after the request was handled", request=request)
        return response

    def form(self, request: httpx.Request) -> dict[str, str]:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        return dict(urllib.parse.parse_qsl(request.content.decode()))

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if path == f"/{IG_USER}/content_publishing_limit":
            assert request.url.params["fields"] == "quota_usage,config"
            return httpx.Response(200, json={"data": [{
                "quota_usage": self.quota_used,
                "config": {"quota_total": 50, "quota_duration": 86400}}]})
        if request.method == "POST" and path == f"/{IG_USER}/media":
            fields = self.form(request)
            cid = self.new_id()
            url = fields.get("image_url") or fields.get("video_url") or ""
            pending = list(self.statuses.get(url, []))
            if fields.get("media_type") == "CAROUSEL":
                for child in fields["children"].split(","):
                    assert self.containers[child]["fields"]["is_carousel_item"] == "true"
                    assert self.containers[child]["states"] == ["FINISHED"]
            self.containers[cid] = {"fields": fields, "states": [*pending, "FINISHED"]}
            return httpx.Response(200, json={"id": cid})
        if request.method == "POST" and path == f"/{IG_USER}/media_publish":
            cid = self.form(request)["creation_id"]
            container = self.containers[cid]
            if container["states"][0] == "PUBLISHED":
                return graph_error("This media container has already been published.", 100)
            if container["states"][0] != "FINISHED":
                return graph_error("Media ID is not available", 9007, 2207027,
                                   "The media is not ready for publishing, please wait for a "
                                   "moment")
            container["states"] = ["PUBLISHED"]
            self.quota_used += 1
            media_id = self.new_id()
            fields = container["fields"]
            item = {"id": media_id, "caption": fields.get("caption"),
                    "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                    "permalink": f"https://www.instagram.com/p/{media_id[-6:]}/"}
            (self.stories if fields.get("media_type") == "STORIES" else self.media).append(item)
            return httpx.Response(200, json={"id": media_id})
        if request.method == "GET" and path in (f"/{IG_USER}/media", f"/{IG_USER}/stories"):
            items = self.media if path.endswith("/media") else self.stories
            data = [{k: v for k, v in item.items() if v is not None}
                    for item in reversed(items)]
            return httpx.Response(200, json={"data": data})
        match = re.fullmatch(r"/(\d+)", path)
        if request.method == "GET" and match:
            key = match.group(1)
            if key in self.containers:
                assert request.url.params["fields"] == "status_code,status"
                states = self.containers[key]["states"]
                code = states.pop(0) if len(states) > 1 else states[0]
                body: dict[str, Any] = {"id": key, "status_code": code}
                if code == "ERROR":
                    body["status"] = "Error: Media upload has failed with error code 2207026"
                return httpx.Response(200, json=body)
            for item in self.media + self.stories:
                if item["id"] == key:
                    return httpx.Response(200, json={"id": key, "permalink": item["permalink"]})
        return graph_error("Unsupported request", 100, 33)


class Checkpoints:
    def __init__(self, server: FakeGraph) -> None:
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


def publisher(server: FakeGraph, sleeps: Sleeps | None = None,
              api: str = API) -> InstagramPublisher:
    client = ProviderClient(ProviderPolicy("instagram"), transport=httpx.MockTransport(server),
                            clock=FakeClock())
    return InstagramPublisher(api, client=client, poll_interval=5.0, sleep=sleeps or Sleeps())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def publish(pub: InstagramPublisher, request: PostRequest, checkpoints: Checkpoints,
                  progress: Mapping[str, Any] | None = None) -> PublishResult:
    try:
        return await pub.publish(IG_USER, TOKEN, request, progress=progress or {},
                                 checkpoint=checkpoints)
    finally:
        await pub.aclose()


async def find(pub: InstagramPublisher, request: PostRequest,
               progress: Mapping[str, Any]) -> PublishResult | None:
    try:
        return await pub.find(IG_USER, TOKEN, request, progress=progress)
    finally:
        await pub.aclose()


def media(tmp_path: Path, name: str, kind: str, url: str | None = "auto") -> MediaFile:
    data = (b"\xff\xd8\xff" if kind == "image" else b"\x00\x00\x00\x18ftypmp42") + name.encode()
    path = tmp_path / name
    path.write_bytes(data)
    return MediaFile(path=path, mime="image/jpeg" if kind == "image" else "video/mp4",
                     kind=kind, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                     public_url=f"https://media.test/{name}" if url == "auto" else url)


def request(post_type: str, items: tuple[MediaFile, ...], text: str = "Sunset #glow",
            **kwargs: Any) -> PostRequest:
    kwargs.setdefault("not_before", datetime.now(UTC))
    return PostRequest(target_key="ig-1", post_type=post_type, text=text, media=items,
                       **kwargs)


# --- publishing ----------------------------------------------------------------------------------

def test_a_feed_post_reads_the_quota_checkpoints_the_container_and_publishes_once(
        tmp_path: Path) -> None:
    server = FakeGraph()
    pic = media(tmp_path, "a.jpg", "image")
    server.statuses[pic.public_url or ""] = ["IN_PROGRESS"]
    checkpoints = Checkpoints(server)
    sleeps = Sleeps()
    result = run(publish(publisher(server, sleeps), request("feed", (pic,)), checkpoints))

    paths = [(r.method, r.url.path.removeprefix("/v21.0")) for r in server.requests]
    cid = next(iter(server.containers))
    media_id = server.media[0]["id"]
    assert paths == [("GET", f"/{IG_USER}/content_publishing_limit"),
                     ("POST", f"/{IG_USER}/media"),
                     ("GET", f"/{cid}"), ("GET", f"/{cid}"),
                     ("POST", f"/{IG_USER}/media_publish"),
                     ("GET", f"/{media_id}")]
    assert server.containers[cid]["fields"] == {"image_url": "https://media.test/a.jpg",
                                                "caption": "Sunset #glow"}
    assert server.form(server.requests[4]) == {"creation_id": cid}
    assert sleeps.calls == [5.0]
    # Container saved before polling; "about to publish" saved before media_publish.
    assert checkpoints.saved[0] == (2, {"container": cid})
    assert checkpoints.saved[1] == (4, {"container": cid,
                                        "pending": checkpoints.saved[1][1]["pending"]})
    assert checkpoints.last == {"container": cid, "media_id": media_id}
    assert result.post_id == media_id and result.url == server.media[0]["permalink"]


def test_a_carousel_makes_children_then_the_album(tmp_path: Path) -> None:
    server = FakeGraph()
    pic = media(tmp_path, "a.jpg", "image")
    clip = media(tmp_path, "b.mp4", "video")
    server.statuses[clip.public_url or ""] = ["IN_PROGRESS", "IN_PROGRESS"]
    checkpoints = Checkpoints(server)
    sleeps = Sleeps()
    run(publish(publisher(server, sleeps), request("carousel", (pic, clip)), checkpoints))

    first, second, album = (c["fields"] for c in server.containers.values())
    assert first == {"is_carousel_item": "true", "image_url": "https://media.test/a.jpg"}
    assert second == {"is_carousel_item": "true", "media_type": "VIDEO",
                      "video_url": "https://media.test/b.mp4"}
    children = list(server.containers)[:2]
    assert album == {"media_type": "CAROUSEL", "children": ",".join(children),
                     "caption": "Sunset #glow"}
    assert sleeps.calls == [5.0, 5.0]  # the video child was waited for
    saved = [p for _, p in checkpoints.saved]
    assert saved[0] == {"children": children[:1]}
    assert saved[1] == {"children": children}
    assert saved[2]["container"] == list(server.containers)[2]
    assert len(server.calls("POST", "/media_publish")) == 1


@pytest.mark.parametrize("post_type, kind, expected", [
    ("reel", "video", {"media_type": "REELS", "video_url": "https://media.test/m",
                       "caption": "Sunset #glow", "share_to_feed": "false"}),
    ("story", "video", {"media_type": "STORIES", "video_url": "https://media.test/m"}),
    ("story", "image", {"media_type": "STORIES", "image_url": "https://media.test/m"}),
])
def test_reels_and_stories(tmp_path: Path, post_type: str, kind: str,
                           expected: dict[str, str]) -> None:
    server = FakeGraph()
    item = media(tmp_path, "m", kind)
    result = run(publish(publisher(server), request(post_type, (item,),
                                                    options={"share_to_feed": False}),
                         Checkpoints(server)))
    assert next(iter(server.containers.values()))["fields"] == expected
    assert result.url.startswith("https://www.instagram.com/p/")


def test_an_older_api_base_with_a_version_is_kept(tmp_path: Path) -> None:
    server = FakeGraph()
    run(publish(publisher(server, api=API + "/v21.0/"),
                request("feed", (media(tmp_path, "a.jpg", "image"),)), Checkpoints(server)))
    assert all(r.url.path.startswith("/v21.0/") and "/v21.0/v21.0" not in r.url.path
               for r in server.requests)


# --- refusals before anything is created ---------------------------------------------------------

@pytest.mark.parametrize("post_type, kinds, message", [
    ("feed", ("video",), "exactly one image"),
    ("feed", ("image", "image"), "exactly one image"),
    ("carousel", ("image",), "2 to 10"),
    ("reel", ("image",), "exactly one video"),
    ("story", (), "exactly one image or video"),
    ("thread", ("image",), "not 'thread'"),
])
def test_wrong_media_sends_nothing(tmp_path: Path, post_type: str, kinds: tuple[str, ...],
                                   message: str) -> None:
    server = FakeGraph()
    items = tuple(media(tmp_path, f"{i}", kind) for i, kind in enumerate(kinds))
    with pytest.raises(InvalidInput, match=message):
        run(publish(publisher(server), request(post_type, items), Checkpoints(server)))
    assert server.requests == []


def test_media_without_a_public_address_sends_nothing(tmp_path: Path) -> None:
    server = FakeGraph()
    with pytest.raises(InvalidInput, match="no public address"):
        run(publish(publisher(server),
                    request("feed", (media(tmp_path, "a.jpg", "image", url=None),)),
                    Checkpoints(server)))
    assert server.requests == []


def test_a_used_up_quota_is_rate_limited_before_any_container(tmp_path: Path) -> None:
    server = FakeGraph()
    server.quota_used = 50
    with pytest.raises(RateLimited) as caught:
        run(publish(publisher(server), request("feed", (media(tmp_path, "a.jpg", "image"),)),
                    Checkpoints(server)))
    assert caught.value.retry_after == 3600.0
    assert "50 posts a day" in str(caught.value)
    assert [r.method for r in server.requests] == ["GET"]


def test_a_container_error_is_rejected_with_instagram_s_status(tmp_path: Path) -> None:
    server = FakeGraph()
    clip = media(tmp_path, "bad.mp4", "video")
    server.statuses[clip.public_url or ""] = ["IN_PROGRESS", "ERROR"]
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), request("reel", (clip,)), Checkpoints(server)))
    assert str(caught.value) == ("Instagram could not use the media: Media upload has failed "
                                 "with error code 2207026.")
    assert not server.calls("POST", "/media_publish")


# --- resuming and the lookup ---------------------------------------------------------------------

def test_a_resume_with_a_finished_container_publishes_it_once(tmp_path: Path) -> None:
    server = FakeGraph()
    server.containers["42"] = {"fields": {"image_url": "u", "caption": "Sunset #glow"},
                               "states": ["FINISHED"]}
    progress = {"container": "42", "pending": {"since": "2025-01-01T00:00:00Z"}}
    result = run(publish(publisher(server),
                         request("feed", (media(tmp_path, "a.jpg", "image"),)),
                         Checkpoints(server), progress))
    assert not server.calls("POST", f"/{IG_USER}/media")  # no new container
    assert len(server.calls("POST", "/media_publish")) == 1
    assert result.post_id == server.media[0]["id"]


def test_a_resume_with_a_published_container_looks_it_up(tmp_path: Path) -> None:
    server = FakeGraph()
    server.containers["42"] = {"fields": {"image_url": "u"}, "states": ["PUBLISHED"]}
    server.media += [
        {"id": "900", "caption": "Sunset   #glow", "permalink": "https://ig.test/p/900/",
         "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")},
        {"id": "901", "caption": "something else", "permalink": "https://ig.test/p/901/",
         "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")}]
    checkpoints = Checkpoints(server)
    progress = {"container": "42",
                "pending": {"since": (datetime.now(UTC) - timedelta(minutes=1)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")}}
    result = run(publish(publisher(server),
                         request("feed", (media(tmp_path, "a.jpg", "image"),)),
                         checkpoints, progress))
    assert not server.calls("POST", "/media_publish")
    assert result.post_id == "900" and result.url == "https://ig.test/p/900/"
    assert checkpoints.last["media_id"] == "900"


def test_a_resume_with_the_media_id_only_fetches_the_link(tmp_path: Path) -> None:
    server = FakeGraph()
    server.media.append({"id": "77", "caption": "x", "permalink": "https://ig.test/p/77/",
                         "timestamp": "2025-01-01T00:00:00+0000"})
    result = run(publish(publisher(server),
                         request("feed", (media(tmp_path, "a.jpg", "image"),)),
                         Checkpoints(server), {"container": "1", "media_id": "77"}))
    assert [r.url.path for r in server.requests] == ["/v21.0/77"]
    assert result.url == "https://ig.test/p/77/"


def test_expired_containers_from_a_day_ago_are_made_again(tmp_path: Path) -> None:
    server = FakeGraph()
    server.containers["41"] = {"fields": {"is_carousel_item": "true"}, "states": ["EXPIRED"]}
    server.containers["42"] = {"fields": {"media_type": "CAROUSEL"}, "states": ["EXPIRED"]}
    items = (media(tmp_path, "a.jpg", "image"), media(tmp_path, "b.jpg", "image"))
    checkpoints = Checkpoints(server)
    run(publish(publisher(server), request("carousel", items), checkpoints,
                {"children": ["41"], "container": "42"}))
    assert len(server.calls("POST", f"/{IG_USER}/media")) == 3
    assert len(server.calls("POST", "/media_publish")) == 1
    assert checkpoints.saved[0][1] == {}  # the stale ids dropped before new ones are made


def test_a_reset_after_media_publish_is_not_retried_and_find_reconciles(
        tmp_path: Path) -> None:
    server = FakeGraph()
    server.faults[("POST", f"/v21.0/{IG_USER}/media_publish")] = [
        ("after", httpx.RemoteProtocolError)]
    checkpoints = Checkpoints(server)
    post = request("feed", (media(tmp_path, "a.jpg", "image"),))
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), post, checkpoints))
    assert caught.value.maybe_sent is True
    assert len(server.calls("POST", "/media_publish")) == 1
    saved = checkpoints.last
    assert "pending" in saved and "media_id" not in saved

    found = run(find(publisher(server), post, saved))
    assert found is not None and found.post_id == server.media[0]["id"]
    listing = server.calls("GET", f"/{IG_USER}/media")[-1]
    assert set(listing.url.params["fields"].split(",")) >= {"id", "caption", "timestamp",
                                                            "permalink"}


def test_already_published_on_publish_adopts_the_post(tmp_path: Path) -> None:
    server = FakeGraph()
    server.media.append({"id": "950", "caption": "Sunset #glow",
                         "permalink": "https://ig.test/p/950/",
                         "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")})
    server.faults[("POST", f"/v21.0/{IG_USER}/media_publish")] = [
        graph_error("This media container has already been published.", 100)]
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), request("feed", (media(tmp_path, "a.jpg", "image"),)),
                         checkpoints))
    assert result.post_id == "950" and checkpoints.last["media_id"] == "950"


def test_find_says_none_when_the_container_was_never_published(tmp_path: Path) -> None:
    server = FakeGraph()
    server.containers["42"] = {"fields": {}, "states": ["FINISHED"]}
    post = request("feed", (media(tmp_path, "a.jpg", "image"),))
    assert run(find(publisher(server), post, {"container": "42"})) is None
    story = request("story", (media(tmp_path, "s.jpg", "image"),))
    assert run(find(publisher(server), story, {})) is None


def test_find_without_a_container_matches_the_caption_since_the_attempt(
        tmp_path: Path) -> None:
    server = FakeGraph()
    now = datetime.now(UTC)
    server.media += [
        {"id": "1", "caption": "Sunset #glow", "permalink": "https://ig.test/p/1/",
         "timestamp": (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+0000")}]
    post = request("feed", (media(tmp_path, "a.jpg", "image"),), not_before=now)
    assert run(find(publisher(server), post, {})) is None  # same caption, but too old
    server.media.append({"id": "2", "caption": "Sunset\n#glow",
                         "permalink": "https://ig.test/p/2/",
                         "timestamp": now.strftime("%Y-%m-%dT%H:%M:%S+0000")})
    found = run(find(publisher(server), post, {}))
    assert found is not None and found.post_id == "2"


# --- errors --------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, error, text", [
    (graph_error("Error validating access token: Session has expired", 190, 463),
     AuthExpired, "connect the Instagram account again"),
    (graph_error("Application request limit reached", 4), RateLimited,
     "limiting requests"),
    (graph_error("Application request limit reached", 9, 2207042,
                 status=403), RateLimited, "daily limit"),
    (graph_error("(#10) Application does not have permission for this action", 10),
     Rejected, "has not allowed the app to publish"),
    (graph_error("Invalid parameter", 100, 2207052,
                 "The media could not be fetched from this URI"),
     Rejected, "Instagram refused the media: The media could not be fetched from this URI."),
])
def test_graph_errors_in_words(tmp_path: Path, answer: httpx.Response,
                               error: type[Exception], text: str) -> None:
    server = FakeGraph()
    server.faults[("POST", f"/v21.0/{IG_USER}/media")] = [answer]
    with pytest.raises(error) as caught:
        run(publish(publisher(server), request("feed", (media(tmp_path, "a.jpg", "image"),)),
                    Checkpoints(server)))
    assert text in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_transient_error_on_publish_may_have_been_sent(tmp_path: Path) -> None:
    server = FakeGraph()
    server.faults[("POST", f"/v21.0/{IG_USER}/media_publish")] = [
        graph_error("An unexpected error has occurred. Please retry your request later.", 2)]
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), request("feed", (media(tmp_path, "a.jpg", "image"),)),
                    Checkpoints(server)))
    assert caught.value.maybe_sent is True
    assert len(server.calls("POST", "/media_publish")) == 1
