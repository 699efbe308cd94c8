"""The X publisher (``integrations.social.x``) against a small in-process fake of X's API v2
(``httpx.MockTransport``): request shapes (checked against X's OpenAPI where it has a schema),
segment maths, the order of checkpoints, resuming without a second upload or post, the lookup
that reconciles an ambiguous failure, and errors in words a creator understands."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.integrations.http import FakeClock, ProviderClient, ProviderPolicy
from mbv_desktop.integrations.social.base import MediaFile, PostRequest, PublishResult
from mbv_desktop.integrations.social.x import XPublisher

TOKEN = "x-user-token-CANARY-0123456789abcdef"
ACCOUNT = "1460001"
API = "https://api.x.test"
SPEC = Path(__file__).resolve().parents[4] / "shared" / "specs" / "x" / "openapi.json"


# --- X's OpenAPI, for request bodies -------------------------------------------------------------

def _validator(schema_name: str) -> Draft202012Validator | None:
    if not SPEC.exists():
        return None
    spec = json.loads(SPEC.read_text())
    registry: Registry[Any] = Registry().with_resource(
        "urn:x-openapi", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:x-openapi#/components/schemas/{schema_name}"},
                                registry=registry)


VALIDATORS = {name: _validator(name) for name in
              ("CreatePostsRequest", "InitializeMediaUploadRequest")}


def check_schema(name: str, body: Any) -> None:
    validator = VALIDATORS[name]
    if validator is not None:
        validator.validate(body)


def multipart(request: httpx.Request) -> dict[str, bytes]:
    """The fields of a multipart/form-data request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
        head + request.content)
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


# --- the fake X ----------------------------------------------------------------------------------

Fault = Callable[[httpx.Request], httpx.Response | None]


class FakeX:
    """Enough of X for publishing: media (one-shot and chunked), posts, the user timeline.

    ``faults[(method, path)]`` is a list of steps taken by the next matching requests: a status
    (answered as a problem), an ``httpx.Response``, an exception class (raised before acting) or
    ``("after", exception class)`` (acted on, then the connection breaks).
    """

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.media: dict[str, dict[str, Any]] = {}
        self.tweets: list[dict[str, Any]] = []
        self.processing: list[dict[str, Any]] = []
        self.faults: dict[tuple[str, str], list[Any]] = {}
        self.tweet_headers: list[dict[str, str]] = []
        self._next = 1_870_000_000_000_000_000

    def new_id(self) -> str:
        self._next += 1
        return str(self._next)

    def calls(self, method: str, path: str | re.Pattern[str]) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and (
            r.url.path == path if isinstance(path, str) else path.fullmatch(r.url.path))]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.headers.get("authorization") == f"Bearer {TOKEN}"
        steps = self.faults.get((request.method, request.url.path))
        after: type[httpx.TransportError] | None = None
        if steps:
            step = steps.pop(0)
            if isinstance(step, tuple):
                after = step[1]
            elif isinstance(step, int):
                return problem(step, "Injected", f"injected {step}")
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
        if request.method == "POST" and path == "/2/media/upload":
            fields = multipart(request)
            media_id = self.new_id()
            self.media[media_id] = {"category": fields["media_category"].decode(),
                                    "bytes": fields["media"], "state": "succeeded"}
            return httpx.Response(200, json={"data": {
                "id": media_id, "media_key": f"3_{media_id}", "size": len(fields["media"]),
                "expires_after_secs": 86400, "image": {"image_type": "image/png", "w": 2,
                                                       "h": 2}}})
        if request.method == "POST" and path == "/2/media/upload/initialize":
            body = json.loads(request.content)
            check_schema("InitializeMediaUploadRequest", body)
            media_id = self.new_id()
            self.media[media_id] = {"category": body["media_category"],
                                    "media_type": body["media_type"],
                                    "total": body["total_bytes"], "segments": {}}
            return httpx.Response(200, json={"data": {
                "id": media_id, "media_key": f"7_{media_id}", "expires_after_secs": 86400}})
        match = re.fullmatch(r"/2/media/upload/(\d+)/(append|finalize)", path)
        if request.method == "POST" and match:
            media = self.media[match.group(1)]
            if match.group(2) == "append":
                fields = multipart(request)
                media["segments"][int(fields["segment_index"])] = fields["media"]
                return httpx.Response(200, json={"data": {"expires_at": 1}})
            data = b"".join(media["segments"][i] for i in sorted(media["segments"]))
            assert len(data) == media["total"]
            media["bytes"] = data
            info: dict[str, Any] = {"id": match.group(1), "media_key": f"7_{match.group(1)}",
                                    "size": len(data), "expires_after_secs": 86400}
            if self.processing:
                info["processing_info"] = {"state": "pending", "check_after_secs": 1}
            return httpx.Response(200, json={"data": info})
        if request.method == "GET" and path == "/2/media/upload":
            assert request.url.params["command"] == "STATUS"
            media_id = request.url.params["media_id"]
            if media_id not in self.media:
                return problem(404, "Not Found Error", "Could not find media")
            step = self.processing.pop(0) if self.processing else {"state": "succeeded"}
            return httpx.Response(200, json={"data": {"id": media_id,
                                                      "processing_info": step}})
        if request.method == "POST" and path == "/2/tweets":
            body = json.loads(request.content)
            check_schema("CreatePostsRequest", body)
            if any(t["text"] == body["text"] for t in self.tweets):
                return problem(403, "Forbidden",
                               "You are not allowed to create a Tweet with duplicate content.")
            tweet = {"id": self.new_id(), "text": body["text"],
                     "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
            reply = body.get("reply")
            if reply:
                tweet["referenced_tweets"] = [{"type": "replied_to",
                                               "id": reply["in_reply_to_tweet_id"]}]
            if body.get("media"):
                tweet["media_ids"] = body["media"]["media_ids"]
            self.tweets.append(tweet)
            headers = self.tweet_headers.pop(0) if self.tweet_headers else {}
            return httpx.Response(201, headers=headers, json={"data": {
                "id": tweet["id"], "text": tweet["text"], "edit_history_tweet_ids": [tweet["id"]]}})
        match = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if request.method == "GET" and match:
            start = request.url.params.get("start_time")
            out = []
            for tweet in reversed(self.tweets):  # newest first, as X answers
                if start and tweet["created_at"] < start:
                    continue
                shown = {k: v for k, v in tweet.items() if k != "media_ids"}
                shown["text"] = as_x_shows(tweet["text"])
                out.append(shown)
            return httpx.Response(200, json={"data": out, "meta": {"result_count": len(out)}}
                                  if out else {"meta": {"result_count": 0}})
        return problem(404, "Not Found Error", f"no route {request.method} {path}")


def as_x_shows(text: str) -> str:
    """X's rendering of a posted text: links wrapped as t.co, & < > escaped."""
    shown = re.sub(r"https?://\S+", "https://t.co/AbCdEf123", text)
    return shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def problem(status: int, title: str, detail: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers={"content-type": "application/problem+json",
                                           **headers},
                          json={"title": title, "detail": detail, "type": "about:blank",
                                "status": status})


# --- helpers -------------------------------------------------------------------------------------

class Checkpoints:
    """Records each checkpoint and how many requests the server had seen by then."""

    def __init__(self, server: FakeX) -> None:
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


def publisher(server: FakeX, sleeps: Sleeps | None = None, **kwargs: Any) -> XPublisher:
    client = ProviderClient(ProviderPolicy("x", rate_limit=(300, 900.0)),
                            transport=httpx.MockTransport(server), clock=FakeClock())
    return XPublisher(API, client=client, poll_interval=0.0, sleep=sleeps or Sleeps(),
                      **kwargs)


def media_file(path: Path, data: bytes, mime: str, kind: str) -> MediaFile:
    path.write_bytes(data)
    return MediaFile(path=path, mime=mime, kind=kind, size=len(data),
                     sha256=hashlib.sha256(data).hexdigest())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def publish(pub: XPublisher, request: PostRequest, checkpoints: Checkpoints,
                  progress: Mapping[str, Any] | None = None) -> PublishResult:
    try:
        return await pub.publish(ACCOUNT, TOKEN, request, progress=progress or {},
                                 checkpoint=checkpoints)
    finally:
        await pub.aclose()


async def find(pub: XPublisher, request: PostRequest,
               progress: Mapping[str, Any]) -> PublishResult | None:
    try:
        return await pub.find(ACCOUNT, TOKEN, request, progress=progress)
    finally:
        await pub.aclose()


def post(text: str = "Hello from the studio", **kwargs: Any) -> PostRequest:
    kwargs.setdefault("not_before", datetime.now(UTC))
    return PostRequest(target_key="t-1", post_type="post", text=text, **kwargs)


def thread(*parts: str, **kwargs: Any) -> PostRequest:
    kwargs.setdefault("not_before", datetime.now(UTC))
    return PostRequest(target_key="t-2", post_type="thread", text=parts[0], parts=parts,
                       **kwargs)


@pytest.fixture
def image(tmp_path: Path) -> MediaFile:
    return media_file(tmp_path / "pic.png", b"\x89PNG\r\n\x1a\n" + b"p" * 300, "image/png",
                      "image")


@pytest.fixture
def video(tmp_path: Path) -> MediaFile:
    return media_file(tmp_path / "clip.mp4", bytes(range(256)) * 10, "video/mp4", "video")


# --- posting -------------------------------------------------------------------------------------

def test_a_post_with_an_image_checkpoints_the_media_before_posting(image: MediaFile) -> None:
    server = FakeX()
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), post(media=(image,)), checkpoints))

    upload, create = server.requests
    assert upload.url.path == "/2/media/upload"
    fields = multipart(upload)
    assert fields["media_category"] == b"tweet_image"
    assert fields["media"] == image.path.read_bytes()
    body = json.loads(create.content)
    media_id = next(iter(server.media))
    assert body == {"text": "Hello from the studio", "media": {"media_ids": [media_id]}}
    assert result.post_id == server.tweets[0]["id"]
    assert result.url == f"https://x.com/i/web/status/{result.post_id}"
    assert result.extra["tweet_ids"] == [result.post_id]
    # The media id was saved (request 1 done, the post not yet sent) before the post went out.
    seen, first = checkpoints.saved[0]
    assert seen == 1 and first["media"][0]["id"] == media_id and first["media"][0]["ready"]
    assert first["media"][0]["sha256"] == image.sha256
    pending = next(p for n, p in checkpoints.saved if "pending" in p)
    assert pending["pending"]["index"] == 0 and pending["tweets"] == []
    assert checkpoints.last["tweets"] == [result.post_id] and "pending" not in checkpoints.last


def test_a_thread_replies_to_each_previous_part_and_checkpoints_each_id() -> None:
    server = FakeX()
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), thread("One", "Two", "Three"), checkpoints))

    bodies = [json.loads(r.content) for r in server.calls("POST", "/2/tweets")]
    ids = [t["id"] for t in server.tweets]
    assert bodies == [{"text": "One"},
                      {"text": "Two", "reply": {"in_reply_to_tweet_id": ids[0]}},
                      {"text": "Three", "reply": {"in_reply_to_tweet_id": ids[1]}}]
    assert result.post_id == ids[0] and result.extra["tweet_ids"] == ids
    # Before each post: a checkpoint naming it as pending; after: its id, in order.
    states = [(p.get("pending", {}).get("index"), p["tweets"]) for _, p in checkpoints.saved]
    assert states == [(0, []), (None, ids[:1]), (1, ids[:1]), (None, ids[:2]), (2, ids[:2]),
                      (None, ids)]
    # Each checkpoint came before the request it protects.
    posts_at = [i for i, r in enumerate(server.requests) if r.url.path == "/2/tweets"]
    pendings_at = [n for n, p in checkpoints.saved if "pending" in p]
    assert pendings_at == posts_at


def test_a_video_goes_in_segments_and_waits_for_processing(tmp_path: Path) -> None:
    data = bytes(range(256)) * 10  # 2,560 bytes
    clip = media_file(tmp_path / "clip.mp4", data, "video/mp4", "video")
    server = FakeX()
    server.processing = [{"state": "in_progress", "check_after_secs": 3,
                          "progress_percent": 40},
                         {"state": "in_progress", "check_after_secs": 1},
                         {"state": "succeeded", "progress_percent": 100}]
    sleeps = Sleeps()
    checkpoints = Checkpoints(server)
    run(publish(publisher(server, sleeps, segment_size=1000), post(media=(clip,)),
                checkpoints))

    init = json.loads(server.calls("POST", "/2/media/upload/initialize")[0].content)
    assert init == {"media_type": "video/mp4", "total_bytes": 2560,
                    "media_category": "tweet_video"}
    appends = [multipart(r) for r in server.calls("POST", re.compile(r".*/append"))]
    assert [a["segment_index"] for a in appends] == [b"0", b"1", b"2"]
    assert [len(a["media"]) for a in appends] == [1000, 1000, 560]
    assert b"".join(a["media"] for a in appends) == data
    assert len(server.calls("POST", re.compile(r".*/finalize"))) == 1
    assert len(server.calls("GET", "/2/media/upload")) == 3
    assert sleeps.calls == [3.0, 1.0]  # check_after_secs honoured
    # Checkpointed once finalized (not ready), then ready, then the post.
    media_states = [p["media"][0]["ready"] for _, p in checkpoints.saved if p.get("media")]
    assert media_states[:2] == [False, True]
    create = json.loads(server.calls("POST", "/2/tweets")[0].content)
    assert create["media"]["media_ids"] == [next(iter(server.media))]


def test_a_gif_is_a_chunked_tweet_gif(tmp_path: Path) -> None:
    gif = media_file(tmp_path / "a.gif", b"GIF89a" + b"g" * 100, "image/gif", "image")
    server = FakeX()
    run(publish(publisher(server), post(media=(gif,)), Checkpoints(server)))
    init = json.loads(server.calls("POST", "/2/media/upload/initialize")[0].content)
    assert init["media_category"] == "tweet_gif" and init["media_type"] == "image/gif"
    assert not server.calls("POST", "/2/media/upload")


def test_failed_processing_is_rejected_with_x_s_reason(video: MediaFile) -> None:
    server = FakeX()
    server.processing = [{"state": "failed", "error": {
        "code": 1, "name": "InvalidMedia", "message": "Unsupported video codec"}}]
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), post(media=(video,)), Checkpoints(server)))
    assert str(caught.value) == "X could not process the media: Unsupported video codec."
    assert not server.calls("POST", "/2/tweets")


def test_a_failure_reported_as_a_top_level_problem_is_worded(video: MediaFile) -> None:
    server = FakeX()
    server.processing = [{"state": "in_progress", "check_after_secs": 1}]
    server.faults[("GET", "/2/media/upload")] = [httpx.Response(200, json={
        "data": {"id": "1", "processing_info": {"state": "failed"}},
        "errors": [{"title": "Invalid Request", "type": "about:blank",
                    "detail": "The video is longer than 140 seconds."}]})]
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), post(media=(video,)), Checkpoints(server)))
    assert str(caught.value) == ("X could not process the media: The video is longer than 140 "
                                 "seconds.")


def test_four_images_go_one_by_one(tmp_path: Path) -> None:
    images = tuple(media_file(tmp_path / f"{i}.jpg", b"\xff\xd8\xff" + bytes([i]) * 50,
                              "image/jpeg", "image") for i in range(4))
    server = FakeX()
    run(publish(publisher(server), post(media=images), Checkpoints(server)))
    body = json.loads(server.calls("POST", "/2/tweets")[0].content)
    assert body["media"]["media_ids"] == list(server.media)


# --- resuming ------------------------------------------------------------------------------------

def test_a_resume_reuses_media_and_continues_after_the_last_part(image: MediaFile) -> None:
    server = FakeX()
    server.tweets.append({"id": "1870000000000000001", "text": "One",
                          "created_at": "2025-01-01T00:00:00.000Z"})
    progress = {"media": [{"sha256": image.sha256, "id": "555", "media_key": "3_555",
                           "expires_at": time.time() + 20 * 3600, "ready": True}],
                "tweets": ["1870000000000000001"]}
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), thread("One", "Two", media=(image,)), checkpoints,
                         progress))
    assert [r.url.path for r in server.requests] == ["/2/tweets"]  # no upload, one post
    body = json.loads(server.requests[0].content)
    assert body == {"text": "Two", "reply": {"in_reply_to_tweet_id": "1870000000000000001"}}
    assert result.post_id == "1870000000000000001"


def test_a_finished_thread_is_not_posted_again() -> None:
    server = FakeX()
    result = run(publish(publisher(server), thread("One", "Two"), Checkpoints(server),
                         {"tweets": ["11", "12"]}))
    assert server.requests == [] and result.extra["tweet_ids"] == ["11", "12"]


def test_expired_or_foreign_media_is_uploaded_again(image: MediaFile) -> None:
    server = FakeX()
    for entry in ({"sha256": image.sha256, "id": "555", "expires_at": time.time() + 60,
                   "ready": True},
                  {"sha256": "0" * 64, "id": "556", "expires_at": time.time() + 9e4,
                   "ready": True}):
        server.tweets.clear()
        before = len(server.calls("POST", "/2/media/upload"))
        run(publish(publisher(server), post(media=(image,)), Checkpoints(server),
                    {"media": [entry]}))
        assert len(server.calls("POST", "/2/media/upload")) == before + 1


def test_a_media_still_processing_at_the_crash_is_polled_not_reuploaded(
        video: MediaFile) -> None:
    server = FakeX()
    server.media["777"] = {"category": "tweet_video"}
    server.processing = [{"state": "in_progress", "check_after_secs": 2},
                         {"state": "succeeded"}]
    progress = {"media": [{"sha256": video.sha256, "id": "777", "expires_at": time.time() + 9e4,
                           "ready": False}]}
    run(publish(publisher(server), post(media=(video,)), Checkpoints(server), progress))
    assert [r.url.path for r in server.requests] == [
        "/2/media/upload", "/2/media/upload", "/2/tweets"]
    assert json.loads(server.requests[-1].content)["media"]["media_ids"] == ["777"]


def test_a_resume_adopts_a_part_that_went_out_without_its_id() -> None:
    server = FakeX()
    started = datetime.now(UTC) - timedelta(minutes=1)
    first = {"id": "1870000000000000101", "text": "One",
             "created_at": iso(started + timedelta(seconds=1))}
    second = {"id": "1870000000000000102", "text": "Two",
              "referenced_tweets": [{"type": "replied_to", "id": first["id"]}],
              "created_at": iso(started + timedelta(seconds=2))}
    server.tweets += [first, second]
    progress = {"tweets": [first["id"]],
                "pending": {"index": 1, "since": iso(started)}}
    checkpoints = Checkpoints(server)
    result = run(publish(publisher(server), thread("One", "Two", "Three"), checkpoints,
                         progress))
    posted = [json.loads(r.content) for r in server.calls("POST", "/2/tweets")]
    assert posted == [{"text": "Three", "reply": {"in_reply_to_tweet_id": second["id"]}}]
    assert result.extra["tweet_ids"] == [first["id"], second["id"], server.tweets[-1]["id"]]
    assert checkpoints.saved[0][1]["tweets"] == [first["id"], second["id"]]


def test_a_resume_posts_the_pending_part_when_x_does_not_have_it() -> None:
    server = FakeX()
    progress = {"tweets": [], "pending": {"index": 0, "since": iso(datetime.now(UTC))}}
    run(publish(publisher(server), post("Only once"), Checkpoints(server), progress))
    assert [r.method for r in server.requests] == ["GET", "POST"]
    assert len(server.tweets) == 1


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


# --- the ambiguous failure and the lookup --------------------------------------------------------

def test_a_connection_reset_after_the_post_is_not_retried_and_find_reconciles() -> None:
    server = FakeX()
    server.faults[("POST", "/2/tweets")] = [("after", httpx.RemoteProtocolError)]
    checkpoints = Checkpoints(server)
    request = post("Launch day! https://example.com/launch?utm=1 & more")
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), request, checkpoints))
    assert caught.value.maybe_sent is True
    assert len(server.calls("POST", "/2/tweets")) == 1  # never a second POST
    assert len(server.tweets) == 1
    saved = checkpoints.last
    assert saved["pending"]["index"] == 0 and saved["tweets"] == []

    found = run(find(publisher(server), request, saved))
    assert found is not None and found.post_id == server.tweets[0]["id"]
    lookup = server.calls("GET", f"/2/users/{ACCOUNT}/tweets")[0]
    assert lookup.url.params["max_results"] == "100"
    assert "created_at" in lookup.url.params["tweet.fields"]
    assert "text" in lookup.url.params["tweet.fields"]
    assert request.not_before is not None
    expected_start = (request.not_before - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert lookup.url.params["start_time"] == expected_start
    # And publishing with the saved progress adopts it rather than posting again.
    result = run(publish(publisher(server), request, Checkpoints(server), saved))
    assert result.post_id == found.post_id and len(server.calls("POST", "/2/tweets")) == 1


def test_find_matches_normalised_text_and_says_none_when_absent() -> None:
    server = FakeX()
    server.tweets.append({"id": "1870000000000000201",
                          "text": "Big  news:\nread https://example.com/a?b=c & share",
                          "created_at": iso(datetime.now(UTC))})
    assert run(find(publisher(server), post("Big news: read https://example.com/a?b=c & share"),
                    {})) is not None
    assert run(find(publisher(server), post("Something else"), {})) is None
    # Posts from before the attempt began (less the clock margin) are not looked at.
    old = post("Big news: read https://example.com/a?b=c & share",
               not_before=datetime.now(UTC) + timedelta(hours=1))
    assert run(find(publisher(server), old, {})) is None


def test_find_wants_every_part_of_a_thread_as_replies() -> None:
    server = FakeX()
    now = datetime.now(UTC)
    server.tweets += [
        {"id": "301", "text": "One", "created_at": iso(now)},
        {"id": "302", "text": "Two", "created_at": iso(now),
         "referenced_tweets": [{"type": "replied_to", "id": "999"}]},  # a reply elsewhere
    ]
    request = thread("One", "Two")
    assert run(find(publisher(server), request, {})) is None
    server.tweets.append({"id": "303", "text": "Two", "created_at": iso(now),
                          "referenced_tweets": [{"type": "replied_to", "id": "301"}]})
    found = run(find(publisher(server), request, {}))
    assert found is not None and found.extra["tweet_ids"] == ["301", "303"]
    # A thread already complete in the progress needs no request.
    before = len(server.requests)
    assert run(find(publisher(server), request, {"tweets": ["301", "303"]})) is not None
    assert len(server.requests) == before


def test_find_follows_pages() -> None:
    pages: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        pages.append(request)
        if "pagination_token" not in request.url.params:
            return httpx.Response(200, json={"data": [{"id": "1", "text": "other"}],
                                             "meta": {"next_token": "p2"}})
        return httpx.Response(200, json={"data": [{"id": "2", "text": "Wanted"}],
                                         "meta": {"result_count": 1}})

    client = ProviderClient(ProviderPolicy("x"), transport=httpx.MockTransport(handler))
    pub = XPublisher(API, client=client)
    found = run(find(pub, post("Wanted"), {}))
    assert found is not None and found.post_id == "2"
    assert pages[1].url.params["pagination_token"] == "p2"


# --- errors --------------------------------------------------------------------------------------

def test_duplicate_content_is_a_sentence() -> None:
    server = FakeX()
    server.tweets.append({"id": "1", "text": "Same again", "created_at": iso(datetime.now(UTC))})
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), post("Same again"), Checkpoints(server)))
    assert str(caught.value) == "X refused the post: it is the same as a recent one."
    assert caught.value.code == "duplicate" and caught.value.status == 403


def test_other_refusals_carry_x_s_detail() -> None:
    server = FakeX()
    server.faults[("POST", "/2/tweets")] = [problem(
        400, "Invalid Request", "One or more parameters to your request was invalid.")]
    with pytest.raises(Rejected) as caught:
        run(publish(publisher(server), post(), Checkpoints(server)))
    assert str(caught.value) == ("X refused the post: One or more parameters to your request "
                                 "was invalid.")


def test_an_expired_token_is_auth_expired_and_never_in_the_message() -> None:
    server = FakeX()
    server.faults[("POST", "/2/tweets")] = [problem(401, "Unauthorized", "Unauthorized")]
    with pytest.raises(AuthExpired) as caught:
        run(publish(publisher(server), post(), Checkpoints(server)))
    assert TOKEN not in str(caught.value)
    assert len(server.calls("POST", "/2/tweets")) == 1


def test_429_surfaces_x_rate_limit_reset_and_posts_once() -> None:
    server = FakeX()
    reset = int(time.time()) + 600
    server.faults[("POST", "/2/tweets")] = [problem(
        429, "Too Many Requests", "Too Many Requests", **{
            "x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset)})]
    with pytest.raises(RateLimited) as caught:
        run(publish(publisher(server), post(), Checkpoints(server)))
    assert caught.value.retry_after is not None and 590 <= caught.value.retry_after <= 601
    assert len(server.calls("POST", "/2/tweets")) == 1 and not server.tweets


def test_a_thread_stops_when_x_says_no_post_is_left_and_goes_on_later() -> None:
    server = FakeX()
    reset = int(time.time()) + 900
    server.tweet_headers = [{"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                             "x-rate-limit-reset": str(reset)}]
    checkpoints = Checkpoints(server)
    request = thread("One", "Two")
    with pytest.raises(RateLimited) as caught:
        run(publish(publisher(server), request, checkpoints))
    assert caught.value.retry_after is not None and 890 <= caught.value.retry_after <= 901
    assert "rest of the thread" in str(caught.value)
    assert len(server.tweets) == 1 and checkpoints.last["tweets"] == [server.tweets[0]["id"]]
    result = run(publish(publisher(server), request, Checkpoints(server), checkpoints.last))
    assert len(server.tweets) == 2 and result.extra["tweet_ids"] == [t["id"] for t in
                                                                     server.tweets]


def test_a_short_wait_for_x_s_window_is_slept() -> None:
    server = FakeX()
    server.tweet_headers = [{"x-rate-limit-remaining": "0",
                             "x-rate-limit-reset": str(int(time.time()) + 10)}]
    sleeps = Sleeps()
    run(publish(publisher(server, sleeps, now=lambda: float(int(time.time()))),
                thread("One", "Two"), Checkpoints(server)))
    assert len(server.tweets) == 2 and len(sleeps.calls) == 1 and 8 <= sleeps.calls[0] <= 10


def test_a_post_answer_that_cannot_be_read_may_have_been_sent() -> None:
    server = FakeX()
    server.faults[("POST", "/2/tweets")] = [httpx.Response(201, content=b'{"data": {"id"')]
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), post(), Checkpoints(server)))
    assert caught.value.maybe_sent is True


def test_media_requests_are_retried_but_a_post_is_not(image: MediaFile) -> None:
    server = FakeX()
    server.faults[("POST", "/2/media/upload")] = [503]
    server.faults[("POST", "/2/tweets")] = [503]
    with pytest.raises(ProviderUnavailable) as caught:
        run(publish(publisher(server), post(media=(image,)), Checkpoints(server)))
    assert len(server.calls("POST", "/2/media/upload")) == 2  # repeated after the 503
    assert len(server.calls("POST", "/2/tweets")) == 1
    assert caught.value.maybe_sent is True


@pytest.mark.parametrize("build, message", [
    (lambda img, vid: post(media=(img,) * 5), "at most 4 images"),
    (lambda img, vid: post(media=(img, vid)), "one GIF or one video"),
    (lambda img, vid: thread("One", "  "), "Part 2 of the X post is empty"),
    (lambda img, vid: PostRequest(target_key="t", post_type="reel", text="x"), "not 'reel'"),
])
def test_bad_requests_send_nothing(image: MediaFile, video: MediaFile,
                                   build: Callable[[MediaFile, MediaFile], PostRequest],
                                   message: str) -> None:
    server = FakeX()
    with pytest.raises(InvalidInput, match=message):
        run(publish(publisher(server), build(image, video), Checkpoints(server)))
    assert server.requests == []


def test_a_missing_file_is_invalid_input(tmp_path: Path, image: MediaFile) -> None:
    gone = MediaFile(path=tmp_path / "gone.png", mime="image/png", kind="image", size=10,
                     sha256="0" * 64)
    server = FakeX()
    with pytest.raises(InvalidInput, match=r"gone\.png"):
        run(publish(publisher(server), post(media=(gone,)), Checkpoints(server)))


def test_no_token_in_logs(caplog: pytest.LogCaptureFixture, video: MediaFile) -> None:
    server = FakeX()
    server.faults[("POST", "/2/tweets")] = [("after", httpx.ReadError)]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderUnavailable):
        run(publish(publisher(server), thread("One", "Two", media=(video,)),
                    Checkpoints(server)))
    assert caplog.records and TOKEN not in caplog.text
