"""The posting emulators (X API v2, Instagram Graph publishing, TikTok Content Posting) over real
sockets: tokens come from the sign-in emulators' consent flow; media are served to Instagram and
TikTok by a loopback HTTP server of the test; X answers are validated against the official
OpenAPI document in ``shared/specs/x``. Also: the ``reset_after`` fault (a post created whose
answer never arrives) and posts surviving a host restart."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import json
import os
import re
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from jsonschema import Draft202012Validator
from PIL import Image
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
REDIRECT = "http://127.0.0.1:53682/callback"
X_SCOPE = "tweet.read tweet.write users.read media.write offline.access"
FB_SCOPE = "instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement"
TT_SCOPE = "user.info.basic,video.publish,video.upload"
MAYA_X, LEO_X = "1700000000000000001", "1700000000000000002"
MAYA_IG, LEO_IG = "17841400000000001", "17841400000000002"
PROBLEMS = "https://api.x.com/2/problems"
Clients = dict[str, httpx.Client]


# -- media the tests upload --------------------------------------------------------------------

def jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, "JPEG", quality=70)
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 80, 240)).save(out, "PNG")
    return out.getvalue()


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(seconds: float, size: int = 10_000) -> bytes:
    """A small MP4 container (ftyp, moov/mvhd with the duration, mdat padding)."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    mvhd = _box(b"mvhd", b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, 1000,
                                                           int(seconds * 1000)) + bytes(80))
    head = ftyp + _box(b"moov", mvhd)
    return head + _box(b"mdat", os.urandom(max(0, size - len(head) - 8)))


# -- a loopback server for media URLs -------------------------------------------------------

class MediaServer:
    """Serves ``files`` (path → (bytes, content type)) on 127.0.0.1; 404 for anything else."""

    def __init__(self) -> None:
        files: dict[str, tuple[bytes, str]] = {}
        self.files = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = files.get(self.path)
                if found is None:
                    self.send_error(404)
                    return
                body, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def put(self, name: str, body: bytes, content_type: str) -> str:
        self.files[f"/{name}"] = (body, content_type)
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path_factory.mktemp("sandbox-social")) as running:
        yield running


@pytest.fixture(scope="module")
def clients(host: SandboxHost) -> Iterator[Clients]:
    made = {name: httpx.Client(base_url=host.urls()[name], timeout=10)
            for name in ("x", "facebook", "tiktok")}
    yield made
    for c in made.values():
        c.close()


@pytest.fixture(scope="module")
def media() -> Iterator[MediaServer]:
    server = MediaServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh(clients: Clients, host: SandboxHost) -> Iterator[None]:
    yield
    host.faults.clear()
    for c in clients.values():
        c.post("/_settings", json={"reset": True}).raise_for_status()
        c.post("/_social_settings", json={"reset": True}).raise_for_status()
        c.delete("/_posts").raise_for_status()


@pytest.fixture(scope="module")
def x_schema() -> Any:
    path = SPECS / "x" / "openapi.json"
    if not path.exists():
        pytest.skip("the X OpenAPI document is not in shared/specs")
    doc = json.loads(path.read_text(encoding="utf-8"))
    registry = Registry().with_resource("urn:spec:x", DRAFT202012.create_resource(doc))

    def validate(schema: str, body: Any) -> None:
        Draft202012Validator({"$ref": f"urn:spec:x#/components/schemas/{schema}"},
                             registry=registry).validate(body)
    return validate


# -- sign-in through the consent page ----------------------------------------------------------

def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(32)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _code(c: httpx.Client, path: str, params: dict[str, str], account: int) -> tuple[str, str]:
    verifier, challenge = _pkce()
    page = c.get(path, params={**params, "redirect_uri": REDIRECT, "response_type": "code",
                               "state": "s1", "code_challenge": challenge,
                               "code_challenge_method": "S256"})
    found = re.search(r'data-consent-id="([^"]+)"', page.text)
    assert page.status_code == 200 and found, page.text
    back = c.post(f"/_consent/{found.group(1)}", data={"decision": "allow",
                                                       "account": str(account)})
    assert back.status_code == 302, back.text
    query = dict(parse_qsl(urlsplit(back.headers["location"]).query))
    return query["code"], verifier


def x_token(c: httpx.Client, account: int = 0, scope: str = X_SCOPE) -> str:
    code, verifier = _code(c, "/i/oauth2/authorize", {"client_id": "sandbox-x",
                                                      "scope": scope}, account)
    r = c.post("/2/oauth2/token", data={"grant_type": "authorization_code", "code": code,
                                        "redirect_uri": REDIRECT, "client_id": "sandbox-x",
                                        "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def fb_token(c: httpx.Client, account: int = 0, scope: str = FB_SCOPE) -> str:
    code, verifier = _code(c, "/v21.0/dialog/oauth", {"client_id": "sandbox-facebook",
                                                      "scope": scope}, account)
    r = c.get("/v21.0/oauth/access_token",
              params={"client_id": "sandbox-facebook", "client_secret": "sandbox-facebook-secret",
                      "redirect_uri": REDIRECT, "code": code, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def tt_token(c: httpx.Client, account: int = 0, scope: str = TT_SCOPE) -> str:
    code, verifier = _code(c, "/v2/auth/authorize/", {"client_key": "sandbox-tiktok",
                                                      "scope": scope}, account)
    r = c.post("/v2/oauth/token/", data={"client_key": "sandbox-tiktok",
                                         "client_secret": "sandbox-tiktok-secret",
                                         "code": code, "grant_type": "authorization_code",
                                         "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def social(c: httpx.Client, **changes: Any) -> dict[str, Any]:
    r = c.post("/_social_settings", json=changes)
    assert r.status_code == 200, r.text
    return dict(r.json())


def advance(c: httpx.Client, seconds: float) -> None:
    c.post("/_settings", json={"advance": seconds}).raise_for_status()


# -- X -----------------------------------------------------------------------------------------

def x_post(c: httpx.Client, token: str, body: dict[str, Any]) -> httpx.Response:
    return c.post("/2/tweets", json=body, headers=bearer(token))


def x_upload_image(c: httpx.Client, token: str, data: bytes) -> dict[str, Any]:
    r = c.post("/2/media/upload", headers=bearer(token),
               files={"media": ("photo.jpg", data, "application/octet-stream")},
               data={"media_category": "tweet_image"})
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


def x_upload_chunked(c: httpx.Client, token: str, data: bytes, media_type: str = "video/mp4",
                     category: str = "tweet_video", segment: int = 4000) -> dict[str, Any]:
    init = c.post("/2/media/upload/initialize", headers=bearer(token),
                  json={"media_type": media_type, "total_bytes": len(data),
                        "media_category": category})
    assert init.status_code == 200, init.text
    media_id = init.json()["data"]["id"]
    for index, start in enumerate(range(0, len(data), segment)):
        r = c.post(f"/2/media/upload/{media_id}/append", headers=bearer(token),
                   files={"media": ("blob", data[start:start + segment],
                                    "application/octet-stream")},
                   data={"segment_index": str(index)})
        assert r.status_code == 200, r.text
    r = c.post(f"/2/media/upload/{media_id}/finalize", headers=bearer(token))
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


def x_status(c: httpx.Client, token: str, media_id: str) -> httpx.Response:
    return c.get("/2/media/upload", params={"command": "STATUS", "media_id": media_id},
                 headers=bearer(token))


def test_x_media_upload_post_thread_and_lookup(clients: Clients, x_schema: Any) -> None:
    c = clients["x"]
    token = x_token(c)
    image = x_upload_image(c, token, jpeg(1200, 675))
    x_schema("MediaUploadResponse", {"data": image})
    assert image["image"] == {"image_type": "image/jpeg", "w": 1200, "h": 675}
    assert "processing_info" not in image and image["media_key"] == f"3_{image['id']}"

    # Chunked video: INIT → APPEND ×3 → FINALIZE (pending) → STATUS in_progress → succeeded.
    # (Audiences frozen, so the reply_count read below is the one real reply.)
    social(c, processing_delay=20, metrics_time_scale=0)
    video = mp4(12, 11_000)
    init = c.post("/2/media/upload/initialize", headers=bearer(token),
                  json={"media_type": "video/mp4", "total_bytes": len(video),
                        "media_category": "amplify_video"})
    x_schema("InitializeMediaUploadResponse", init.json())
    media_id = init.json()["data"]["id"]
    for index in range(3):
        part = video[index * 4000:(index + 1) * 4000]
        encoded = base64.b64encode(part).decode()
        r = c.post(f"/2/media/upload/{media_id}/append", headers=bearer(token),
                   json={"media": encoded, "segment_index": index})  # JSON form (base64)
        assert r.status_code == 200, r.text
        x_schema("AppendMediaUploadResponse", r.json())
    final = c.post(f"/2/media/upload/{media_id}/finalize", headers=bearer(token)).json()
    x_schema("FinalizeMediaUploadResponse", final)
    assert final["data"]["processing_info"]["state"] == "pending"
    assert final["data"]["processing_info"]["check_after_secs"] >= 1
    refused = x_post(c, token, {"text": "too early", "media": {"media_ids": [media_id]}})
    assert refused.status_code == 400  # still processing
    advance(c, 10)
    status = x_status(c, token, media_id).json()
    x_schema("GetMediaUploadStatusResponse", status)
    assert status["data"]["processing_info"]["state"] == "in_progress"
    assert 0 < status["data"]["processing_info"]["progress_percent"] < 100
    advance(c, 11)
    assert x_status(c, token, media_id).json()["data"]["processing_info"] == {
        "state": "succeeded", "progress_percent": 100}

    # A thread: the root carries the image, the second post the video.
    root = x_post(c, token, {"text": "Thread 1/3: a new studio 🎬",
                             "media": {"media_ids": [image["id"]]}})
    assert root.status_code == 201, root.text
    x_schema("CreatePostsResponse", root.json())
    root_id = root.json()["data"]["id"]
    assert root.json()["data"]["edit_history_tweet_ids"] == [root_id]
    assert int(root.headers["x-rate-limit-remaining"]) == 98  # the refused one counted too
    ids = [root_id]
    for n, extra in ((2, {"media": {"media_ids": [media_id]}}), (3, {})):
        r = x_post(c, token, {"text": f"Thread {n}/3", "reply": {"in_reply_to_tweet_id":
                                                                 ids[-1]}, **extra})
        assert r.status_code == 201, r.text
        ids.append(r.json()["data"]["id"])

    timeline = c.get(f"/2/users/{MAYA_X}/tweets", headers=bearer(token),
                     params={"max_results": 5, "tweet.fields": "created_at,public_metrics,"
                             "conversation_id,in_reply_to_user_id,attachments"})
    assert timeline.status_code == 200, timeline.text
    body = timeline.json()
    x_schema("GetUsersPostsResponse", body)
    assert [t["id"] for t in body["data"]] == ids[::-1]
    assert {t["conversation_id"] for t in body["data"]} == {root_id}
    assert body["meta"] == {"result_count": 3, "newest_id": ids[2], "oldest_id": ids[0]}
    assert body["data"][2]["attachments"]["media_keys"] == [image["media_key"]]
    assert body["data"][1]["public_metrics"]["reply_count"] == 1
    assert body["data"][0]["created_at"].endswith("Z")

    since = c.get(f"/2/users/{MAYA_X}/tweets", headers=bearer(token),
                  params={"since_id": ids[0], "exclude": "replies"}).json()
    assert since == {"meta": {"result_count": 0}}
    one = c.get(f"/2/tweets/{ids[1]}", headers=bearer(token),
                params={"expansions": "attachments.media_keys,author_id",
                        "media.fields": "duration_ms"}).json()
    x_schema("GetPostsByIdResponse", one)
    assert one["includes"]["media"] == [{"media_key": f"7_{media_id}", "type": "video",
                                         "duration_ms": 12000}]
    assert one["includes"]["users"][0]["username"] == "maya_creates"

    gone = c.delete(f"/2/tweets/{ids[2]}", headers=bearer(token))
    assert gone.json() == {"data": {"deleted": True}}
    x_schema("DeletePostsResponse", gone.json())
    missing = c.get(f"/2/tweets/{ids[2]}", headers=bearer(token))
    assert missing.status_code == 200 and missing.json()["errors"][0]["type"] == \
        f"{PROBLEMS}/resource-not-found"
    x_schema("GetPostsByIdResponse", missing.json())

    posts = c.get("/_posts", params={"account": "maya_creates"}).json()
    assert [p["id"] for p in posts["data"]] == ids[:2]
    assert posts["data"][1]["media"][0]["duration_sec"] == 12.0
    assert c.get("/_posts", params={"all": "true"}).json()["meta"]["count"] == 3


def test_x_pagination(clients: Clients) -> None:
    c = clients["x"]
    token = x_token(c, account=2)
    made = []
    for n in range(7):
        r = x_post(c, token, {"text": f"note {n}"})
        assert r.status_code == 201
        made.append(r.json()["data"]["id"])
    page1 = c.get("/2/users/1700000000000000003/tweets", headers=bearer(token),
                  params={"max_results": 5}).json()
    assert [t["id"] for t in page1["data"]] == made[:1:-1]
    page2 = c.get("/2/users/1700000000000000003/tweets", headers=bearer(token),
                  params={"max_results": 5, "pagination_token": page1["meta"]["next_token"]})
    assert [t["id"] for t in page2.json()["data"]] == made[1::-1]
    assert "next_token" not in page2.json()["meta"]
    bad = c.get("/2/users/1700000000000000003/tweets", headers=bearer(token),
                params={"max_results": 3})
    assert bad.status_code == 400
    after = c.get("/2/users/1700000000000000003/tweets", headers=bearer(token),
                  params={"start_time": "2000-01-01T00:00:00Z", "max_results": 100}).json()
    assert after["meta"]["result_count"] == 7


def test_x_rejections_are_problem_objects(clients: Clients, x_schema: Any) -> None:
    c = clients["x"]
    token, leo = x_token(c), x_token(c, account=1)
    assert x_post(c, token, {"text": "Same words twice"}).status_code == 201
    dup = x_post(c, token, {"text": "Same words twice"})
    assert dup.status_code == 403
    assert dup.headers["content-type"].startswith("application/problem+json")
    assert dup.json() == {"detail": "You are not allowed to create a Tweet with duplicate "
                                    "content.", "type": "about:blank", "title": "Forbidden",
                          "status": 403}
    assert x_post(c, leo, {"text": "Same words twice"}).status_code == 201  # another user

    # 280 weighted: CJK weighs 2, a URL 23, an emoji 2.
    assert x_post(c, token, {"text": "字" * 140}).status_code == 201
    long = x_post(c, token, {"text": "字" * 141})
    assert long.status_code == 403 and "too long" in long.json()["detail"]
    url = "https://example.com/" + "a" * 300
    assert x_post(c, token, {"text": url + " " + "b" * 256}).status_code == 201

    bad_media = x_post(c, token, {"text": "x", "media": {"media_ids": ["123"]}})
    assert bad_media.status_code == 400
    x_schema("Problem", bad_media.json())
    assert bad_media.json()["errors"][0]["parameters"] == {"media.media_ids": ["123"]}
    five = x_post(c, token, {"text": "x", "media": {"media_ids": ["1"] * 5}})
    assert five.status_code == 400
    foreign = x_upload_image(c, leo, jpeg(400, 400))
    assert x_post(c, token, {"text": "not mine", "media": {"media_ids": [foreign["id"]]}}
                  ).status_code == 400
    orphan = x_post(c, token, {"text": "hello?", "reply": {"in_reply_to_tweet_id": "42"}})
    assert orphan.status_code == 403 and "deleted or not visible" in orphan.json()["detail"]
    unknown = x_post(c, token, {"text": "x", "colour": "red"})
    assert unknown.status_code == 400
    x_schema("Problem", unknown.json())
    empty = x_post(c, token, {"text": " "})
    assert empty.status_code == 400
    unknown_media = c.get("/2/media/upload", params={"command": "STATUS", "media_id": "99"},
                          headers=bearer(token))
    assert unknown_media.status_code == 404
    x_schema("Problem", unknown_media.json())
    bad_field = c.get(f"/2/users/{MAYA_X}/tweets", params={"tweet.fields": "colour"},
                      headers=bearer(token))
    assert bad_field.status_code == 400
    x_schema("Problem", bad_field.json())


def test_x_media_rules(clients: Clients) -> None:
    c = clients["x"]
    token = x_token(c)

    def init(**body: Any) -> httpx.Response:
        return c.post("/2/media/upload/initialize", json=body, headers=bearer(token))

    assert init(media_type="image/jpeg", total_bytes=5 * 2**20 + 1,
                media_category="tweet_image").status_code == 400
    assert init(media_type="image/gif", total_bytes=15 * 2**20,
                media_category="tweet_gif").status_code == 200
    assert init(media_type="video/mp4", total_bytes=512 * 2**20 + 1,
                media_category="tweet_video").status_code == 400
    assert init(media_type="image/png", total_bytes=100,
                media_category="tweet_video").status_code == 400
    short = init(media_type="video/mp4", total_bytes=9000, media_category="tweet_video")
    media_id = short.json()["data"]["id"]
    c.post(f"/2/media/upload/{media_id}/append", headers=bearer(token),
           files={"media": ("b", mp4(5, 4000), "application/octet-stream")},
           data={"segment_index": "0"})
    r = c.post(f"/2/media/upload/{media_id}/finalize", headers=bearer(token))
    assert r.status_code == 400 and "total file size" in r.json()["errors"][0]["message"]
    with pytest.raises(AssertionError):
        x_upload_chunked(c, token, png(64, 64), media_type="image/jpeg",
                         category="tweet_image")  # the bytes are a PNG
    too_long = x_upload_chunked(c, token, mp4(200, 6000))
    state = x_status(c, token, too_long["id"]).json()
    assert state["data"]["processing_info"]["state"] == "failed"
    assert "longer than 140" in state["errors"][0]["detail"]

    social(c, fail_next_media=1, media_error="InvalidMedia")
    rejected = x_upload_image(c, token, jpeg(300, 300))
    assert rejected["processing_info"]["state"] == "pending"
    assert rejected["processing_info"]["check_after_secs"] == 0
    failed = x_status(c, token, rejected["id"]).json()
    assert failed["data"]["processing_info"]["state"] == "failed"
    assert failed["errors"][0]["detail"].startswith("InvalidMedia")
    assert x_post(c, token, {"text": "with a failed upload",
                             "media": {"media_ids": [rejected["id"]]}}).status_code == 400
    gif = x_upload_chunked(c, token, b"GIF89a" + bytes(3000), media_type="image/gif",
                           category="tweet_gif")
    assert gif["media_key"].startswith("16_")
    legacy = c.post("/2/media/upload", headers=bearer(token),
                    data={"command": "INIT", "media_type": "image/jpeg", "total_bytes": "5",
                          "media_category": "tweet_image"})
    assert legacy.status_code == 200 and legacy.json()["data"]["id"]


def test_x_post_rate_limit_and_reset_header(clients: Clients, x_schema: Any) -> None:
    c = clients["x"]
    token = x_token(c)
    social(c, post_limit=3, post_window=60)
    started = time.time()
    remaining = [x_post(c, token, {"text": f"post {n}"}).headers["x-rate-limit-remaining"]
                 for n in range(3)]
    assert remaining == ["2", "1", "0"]
    limited = x_post(c, token, {"text": "one too many"})
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-limit"] == "3"
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert started < int(limited.headers["x-rate-limit-reset"]) <= started + 62
    assert limited.json() == {"title": "Too Many Requests", "detail": "Too Many Requests",
                              "type": "about:blank", "status": 429}
    advance(c, 61)
    assert x_post(c, token, {"text": "after the window"}).status_code == 201
    assert c.get("/_posts").json()["meta"]["count"] == 4


def test_x_reset_after_the_handler_creates_a_post_whose_answer_is_lost(
        host: SandboxHost, clients: Clients) -> None:
    c = clients["x"]
    token = x_token(c)
    host.faults.add("x", Fault(kind="reset_after", path_prefix="/2/tweets", method="POST"))
    with pytest.raises(httpx.TransportError):
        x_post(c, token, {"text": "Did this go out?"})
    found = c.get(f"/2/users/{MAYA_X}/tweets", headers=bearer(token)).json()
    assert [t["text"] for t in found["data"]] == ["Did this go out?"]
    log = host.state.requests("x", "/x/2/tweets")
    assert (log[-1].status, log[-1].fault) == (201, "reset_after")
    again = x_post(c, token, {"text": "Did this go out?"})  # a blind retry is a duplicate
    assert again.status_code == 403


def test_x_token_expiry_and_scopes(clients: Clients) -> None:
    c = clients["x"]
    token = x_token(c)
    reader = x_token(c, scope="tweet.read users.read")
    assert x_post(c, reader, {"text": "no tweet.write"}).status_code == 403
    assert c.post("/2/media/upload/initialize", headers=bearer(reader),
                  json={"media_type": "image/png", "total_bytes": 10}).status_code == 403
    advance(c, 7201)
    expired = x_post(c, token, {"text": "late"})
    assert expired.status_code == 401
    assert expired.json() == {"title": "Unauthorized", "type": "about:blank", "status": 401,
                              "detail": "Unauthorized"}
    assert c.get(f"/2/users/{MAYA_X}/tweets", headers=bearer(token)).status_code == 401


# -- Instagram ---------------------------------------------------------------------------------

def ig(c: httpx.Client, method: str, path: str, token: str, **params: Any) -> httpx.Response:
    return c.request(method, f"/v21.0/{path}", params={**params, "access_token": token})


def ig_error(r: httpx.Response) -> tuple[int, int | None]:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] in ("OAuthException", "GraphMethodException") and error["fbtrace_id"]
    return error["code"], error.get("error_subcode")


def ig_publish(c: httpx.Client, token: str, container: str,
               user: str = MAYA_IG) -> httpx.Response:
    return ig(c, "POST", f"{user}/media_publish", token, creation_id=container)


def ig_status(c: httpx.Client, token: str, container: str) -> dict[str, Any]:
    r = ig(c, "GET", container, token, fields="status_code,status")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_ig_single_image_publish_and_lookups(clients: Clients, media: MediaServer) -> None:
    c = clients["facebook"]
    token = fb_token(c)
    url = media.put("portrait.jpg", jpeg(1080, 1350), "image/jpeg")
    created = ig(c, "POST", f"{MAYA_IG}/media", token, image_url=url,
                 caption="Morning light #studio")
    assert created.status_code == 200, created.text
    container = created.json()["id"]
    assert ig_status(c, token, container)["status_code"] == "FINISHED"
    published = ig_publish(c, token, container)
    assert published.status_code == 200, published.text
    media_id = published.json()["id"]
    assert ig_status(c, token, container)["status_code"] == "PUBLISHED"
    assert ig_error(ig_publish(c, token, container)) == (100, None)  # a container publishes once

    node = ig(c, "GET", media_id, token, fields="id,caption,media_type,media_product_type,"
              "permalink,timestamp,username").json()
    assert node["caption"] == "Morning light #studio"
    assert (node["media_type"], node["media_product_type"]) == ("IMAGE", "FEED")
    assert re.fullmatch(r"https://www\.instagram\.com/p/[A-Za-z0-9_-]+/", node["permalink"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", node["timestamp"])
    listing = ig(c, "GET", f"{MAYA_IG}/media", token,
                 fields="id,caption,timestamp,permalink,media_type").json()
    assert [m["id"] for m in listing["data"]] == [media_id]
    assert listing["paging"]["cursors"]["after"]
    limit = ig(c, "GET", f"{MAYA_IG}/content_publishing_limit", token,
               fields="quota_usage,config").json()
    assert limit == {"data": [{"quota_usage": 1, "config": {"quota_total": 50,
                                                            "quota_duration": 86400}}]}
    # Leo's token cannot see or post to Maya's account; the Page lookups still work.
    leo = fb_token(c, account=1)
    assert ig_error(ig(c, "GET", media_id, leo, fields="id")) == (100, 33)
    assert ig_error(ig(c, "POST", f"{MAYA_IG}/media", leo, image_url=url)) == (100, 33)
    assert ig(c, "GET", LEO_IG, leo, fields="username").json()["username"] == "leo.lens"
    posts = c.get("/_posts").json()
    assert posts["meta"]["count"] == 1 and posts["data"][0]["container_id"] == container


def test_ig_carousel_reel_and_story(clients: Clients, media: MediaServer) -> None:
    c = clients["facebook"]
    token = fb_token(c)
    children = []
    for n, (w, h) in enumerate(((1080, 1080), (1080, 1350), (1200, 628))):
        url = media.put(f"slide{n}.jpg", jpeg(w, h), "image/jpeg")
        r = ig(c, "POST", f"{MAYA_IG}/media", token, image_url=url, is_carousel_item="true")
        assert r.status_code == 200, r.text
        children.append(r.json()["id"])
    assert ig_error(ig_publish(c, token, children[0]))[0] == 100  # an item alone
    carousel = ig(c, "POST", f"{MAYA_IG}/media", token, media_type="CAROUSEL",
                  children=",".join(children), caption="Three looks").json()["id"]
    album = ig_publish(c, token, carousel).json()["id"]
    node = ig(c, "GET", album, token, fields="media_type,children{id,media_type}").json()
    assert node["media_type"] == "CAROUSEL_ALBUM"
    assert [ch["media_type"] for ch in node["children"]["data"]] == ["IMAGE"] * 3
    assert ig_error(ig(c, "POST", f"{MAYA_IG}/media", token, media_type="CAROUSEL",
                       children=children[0])) == (100, None)

    # A reel processes for a while: publishing early is "not ready" (9007/2207027).
    social(c, video_delay=30)
    reel_url = media.put("reel.mp4", mp4(15), "video/mp4")
    reel = ig(c, "POST", f"{MAYA_IG}/media", token, media_type="REELS", video_url=reel_url,
              caption="A reel").json()["id"]
    assert ig_status(c, token, reel) == {"id": reel, "status_code": "IN_PROGRESS",
                                         "status": "In Progress: Media is still being "
                                                   "processed."}
    assert ig_error(ig_publish(c, token, reel)) == (9007, 2207027)
    advance(c, 31)
    assert ig_status(c, token, reel)["status_code"] == "FINISHED"
    reel_media = ig_publish(c, token, reel).json()["id"]
    reel_node = ig(c, "GET", reel_media, token, fields="media_type,media_product_type,"
                   "permalink").json()
    assert (reel_node["media_type"], reel_node["media_product_type"]) == ("VIDEO", "REELS")
    assert "/reel/" in reel_node["permalink"]

    tall = media.put("story.jpg", jpeg(1080, 1920), "image/jpeg")
    story = ig(c, "POST", f"{MAYA_IG}/media", token, media_type="STORIES", image_url=tall)
    story_media = ig_publish(c, token, story.json()["id"]).json()["id"]
    stories = ig(c, "GET", f"{MAYA_IG}/stories", token, fields="id,media_product_type").json()
    assert stories["data"] == [{"id": story_media, "media_product_type": "STORY"}]
    feed = ig(c, "GET", f"{MAYA_IG}/media", token, limit=1).json()
    assert [m["id"] for m in feed["data"]] == [reel_media]  # newest first, no story
    nxt = c.get(feed["paging"]["next"]).json()
    assert [m["id"] for m in nxt["data"]] == [album]
    usage = ig(c, "GET", f"{MAYA_IG}/content_publishing_limit", token).json()
    assert usage == {"data": [{"quota_usage": 3}]}  # a carousel counts once


def test_ig_media_errors_and_container_error(clients: Clients, media: MediaServer) -> None:
    c = clients["facebook"]
    token = fb_token(c)

    def create(**params: Any) -> httpx.Response:
        return ig(c, "POST", f"{MAYA_IG}/media", token, **params)

    assert ig_error(create(image_url=media.put("a.png", png(800, 800), "image/png"))) == \
        (36001, 2207005)
    tall = create(image_url=media.put("tall.jpg", jpeg(1080, 1920), "image/jpeg"))
    assert ig_error(tall) == (36003, 2207009)
    assert "aspect ratio" in tall.json()["error"]["message"]
    remote = create(image_url="https://cdn.example.com/a.jpg")
    assert ig_error(remote) == (9004, 2207052)
    assert remote.json()["error"]["error_user_title"].startswith("Media download has failed")
    assert ig_error(create(image_url=media.put("x", b"", "image/jpeg") + "-missing")) == \
        (9004, 2207052)
    assert ig_error(create(video_url=media.put("v.mp4", mp4(5), "video/mp4"))) == \
        (100, None)  # a single feed video must be a reel
    assert ig_error(create(image_url=media.put("c.jpg", jpeg(500, 500), "image/jpeg"),
                           caption="#a " * 31)) == (100, 2207010)

    bad_video = create(media_type="REELS",
                       video_url=media.put("notes.mp4", b"plain text, not a video",
                                           "video/mp4")).json()["id"]
    status = ig_status(c, token, bad_video)
    assert status["status_code"] == "ERROR"
    assert status["status"] == "Error: Media upload has failed with error code 2207026"
    assert ig_error(ig_publish(c, token, bad_video)) == (-1, 2207032)
    short = create(media_type="REELS", video_url=media.put("s.mp4", mp4(1.5), "video/mp4"))
    assert ig_status(c, token, short.json()["id"])["status_code"] == "ERROR"

    social(c, fail_next_containers=1, container_error_subcode=2207053)
    injected = create(image_url=media.put("ok.jpg", jpeg(1000, 1000), "image/jpeg")).json()["id"]
    assert ig_status(c, token, injected)["status"].endswith("2207053")
    fine = create(image_url=media.put("ok.jpg", jpeg(1000, 1000), "image/jpeg")).json()["id"]
    assert ig_status(c, token, fine)["status_code"] == "FINISHED"

    social(c, quota_total=1)
    assert ig_publish(c, token, fine).status_code == 200
    another = create(image_url=media.put("ok.jpg", jpeg(1000, 1000), "image/jpeg")).json()["id"]
    assert ig_error(ig_publish(c, token, another)) == (9, 2207042)
    assert ig(c, "GET", f"{MAYA_IG}/content_publishing_limit", token,
              fields="config").json()["data"][0]["config"]["quota_total"] == 1
    advance(c, 86401)
    token = fb_token(c)  # the old one expired too
    assert ig_status(c, token, another)["status_code"] == "EXPIRED"
    containers = c.get("/_posts", params={"all": "true"}).json()["containers"]
    assert {ct["status_code"] for ct in containers} == {"ERROR", "PUBLISHED", "EXPIRED"}


def test_ig_token_errors(clients: Clients, media: MediaServer) -> None:
    c = clients["facebook"]
    token = fb_token(c)
    reader = fb_token(c, scope="instagram_basic,pages_show_list")
    url = media.put("t.jpg", jpeg(800, 800), "image/jpeg")
    assert ig_error(ig(c, "POST", f"{MAYA_IG}/media", reader, image_url=url)) == (10, None)
    advance(c, 3601)
    expired = ig(c, "POST", f"{MAYA_IG}/media", token, image_url=url)
    assert ig_error(expired) == (190, 463)
    assert expired.headers["www-authenticate"].startswith('OAuth "Facebook Platform" '
                                                          '"invalid_token"')
    assert ig_error(ig(c, "GET", f"{MAYA_IG}/content_publishing_limit", token)) == (190, 463)
    bearer_call = c.get(f"/v21.0/{MAYA_IG}/media", headers=bearer("EAAnonsense"))
    assert ig_error(bearer_call) == (190, None)


# -- TikTok ------------------------------------------------------------------------------------

def tt(c: httpx.Client, path: str, token: str, body: dict[str, Any] | None = None,
       ) -> httpx.Response:
    return c.post(f"/v2/post/publish/{path}", json=body if body is not None else {},
                  headers=bearer(token))


def tt_ok(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["error"]["code"] == "ok" and body["error"]["log_id"]
    return dict(body["data"])


def tt_error(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    assert body["data"] == {} and body["error"]["log_id"], body
    return r.status_code, str(body["error"]["code"])


def tt_status(c: httpx.Client, token: str, publish_id: str) -> dict[str, Any]:
    return tt_ok(tt(c, "status/fetch/", token, {"publish_id": publish_id}))


def put_chunk(upload_url: str, data: bytes, first: int, total: int,
              content_type: str = "video/mp4") -> httpx.Response:
    last = first + len(data) - 1
    return httpx.put(upload_url, content=data, timeout=10,
                     headers={"Content-Type": content_type,
                              "Content-Range": f"bytes {first}-{last}/{total}"})


POST_INFO = {"title": "Studio tour #behindthescenes", "privacy_level": "PUBLIC_TO_EVERYONE",
             "disable_duet": False, "disable_comment": False, "disable_stitch": False,
             "video_cover_timestamp_ms": 1000}


def test_tiktok_file_upload_in_chunks(clients: Clients) -> None:
    c = clients["tiktok"]
    token = tt_token(c)
    info = tt_ok(tt(c, "creator_info/query/", token))
    assert info["creator_username"] == "maya.creates"
    assert "PUBLIC_TO_EVERYONE" in info["privacy_level_options"]
    assert info["max_video_post_duration_sec"] == 600
    social(c, min_chunk_size=1024, max_chunk_size=4096, moderation_delay=20)
    video = mp4(30, 10_000)
    bad_plan = tt(c, "video/init/", token, {"post_info": POST_INFO, "source_info": {
        "source": "FILE_UPLOAD", "video_size": 10_000, "chunk_size": 4096,
        "total_chunk_count": 3}})
    assert tt_error(bad_plan) == (400, "invalid_params")
    data = tt_ok(tt(c, "video/init/", token, {"post_info": POST_INFO, "source_info": {
        "source": "FILE_UPLOAD", "video_size": 10_000, "chunk_size": 4096,
        "total_chunk_count": 2}}))
    publish_id, upload_url = data["publish_id"], data["upload_url"]
    assert publish_id.startswith("v_pub_file~v2-1.")
    assert upload_url.startswith(c.base_url.join("/tiktok/video/").__str__().rstrip("/"))
    assert tt_error(put_chunk(upload_url, video[4096:], 4096, 10_000)) == \
        (400, "invalid_file_upload")  # out of order
    assert tt_error(put_chunk(upload_url, video[:4096], 0, 10_000, "text/plain")) == \
        (400, "invalid_file_upload")
    assert put_chunk(upload_url, video[:4096], 0, 10_000).status_code == 206
    assert put_chunk(upload_url, video[:4096], 0, 10_000).status_code == 206  # resent
    state = tt_status(c, token, publish_id)
    assert state == {"status": "PROCESSING_UPLOAD", "publicaly_available_post_id": [],
                     "uploaded_bytes": 4096}
    assert put_chunk(upload_url, video[4096:], 4096, 10_000).status_code == 201
    done = tt_status(c, token, publish_id)
    assert done["status"] == "PUBLISH_COMPLETE" and done["uploaded_bytes"] == 10_000
    assert done["publicaly_available_post_id"] == []  # still in moderation
    advance(c, 21)
    post_ids = tt_status(c, token, publish_id)["publicaly_available_post_id"]
    assert len(post_ids) == 1 and isinstance(post_ids[0], int)
    posts = c.get("/_posts").json()["data"]
    assert [(p["publish_id"], p["post_id"], p["duration_sec"]) for p in posts] == \
        [(publish_id, str(post_ids[0]), 30.0)]
    assert posts[0]["share_url"].endswith(f"/video/{post_ids[0]}")


def test_tiktok_pull_from_url_and_inbox(clients: Clients, media: MediaServer) -> None:
    c = clients["tiktok"]
    token = tt_token(c)
    url = media.put("clip.mp4", mp4(20, 20_000), "video/mp4")
    data = tt_ok(tt(c, "video/init/", token, {"post_info": POST_INFO, "source_info": {
        "source": "PULL_FROM_URL", "video_url": url}}))
    assert set(data) == {"publish_id"} and data["publish_id"].startswith("v_pub_url~")
    assert tt_status(c, token, data["publish_id"]) == {
        "status": "PUBLISH_COMPLETE", "downloaded_bytes": 20_000,
        "publicaly_available_post_id": tt_status(c, token, data["publish_id"])[
            "publicaly_available_post_id"]}
    remote = tt(c, "video/init/", token, {"post_info": POST_INFO, "source_info": {
        "source": "PULL_FROM_URL", "video_url": "https://cdn.example.com/v.mp4"}})
    assert tt_error(remote) == (403, "url_ownership_unverified")
    missing = tt_ok(tt(c, "video/init/", token, {"post_info": POST_INFO, "source_info": {
        "source": "PULL_FROM_URL", "video_url": url + "-gone"}}))
    assert tt_status(c, token, missing["publish_id"])["fail_reason"] == "video_pull_failed"
    draft = tt_ok(tt(c, "inbox/video/init/", token, {"source_info": {
        "source": "PULL_FROM_URL", "video_url": url}}))
    assert draft["publish_id"].startswith("v_inbox_url~")
    assert tt_status(c, token, draft["publish_id"])["status"] == "SEND_TO_USER_INBOX"
    assert [p["kind"] for p in c.get("/_posts").json()["data"]] == ["direct", "inbox"]
    assert c.get("/_posts", params={"all": "1"}).json()["meta"]["count"] == 3


def test_tiktok_failures_limits_and_tokens(clients: Clients, media: MediaServer) -> None:
    c = clients["tiktok"]
    token = tt_token(c)
    nia = tt_token(c, account=2)

    def pull(tok: str, video: bytes, **info: Any) -> str:
        url = media.put(f"v{secrets.token_hex(4)}.mp4", video, "video/mp4")
        r = tt(c, "video/init/", tok, {"post_info": {**POST_INFO, **info}, "source_info": {
            "source": "PULL_FROM_URL", "video_url": url}})
        return str(tt_ok(r)["publish_id"])

    social(c, fail_next_publishes=1, fail_reason="spam_risk_too_many_posts")
    failed = tt_status(c, token, pull(token, mp4(10)))
    assert (failed["status"], failed["fail_reason"]) == ("FAILED", "spam_risk_too_many_posts")
    assert tt_status(c, token, pull(token, b"not a video at all"))["fail_reason"] == \
        "file_format_check_failed"
    assert tt_status(c, nia, pull(nia, mp4(90), privacy_level="SELF_ONLY"))["fail_reason"] == \
        "duration_check_failed"  # Nia may post 60 s
    mismatch = tt(c, "video/init/", nia, {"post_info": POST_INFO, "source_info": {
        "source": "PULL_FROM_URL", "video_url": media.put("n.mp4", mp4(5), "video/mp4")}})
    assert tt_error(mismatch) == (400, "privacy_level_option_mismatch")
    assert tt_error(tt(c, "status/fetch/", nia, {"publish_id": "v_pub_url~v2-1.1"})) == \
        (400, "invalid_params")
    assert c.get("/_posts").json()["data"] == []

    social(c, init_limit=2)
    body = {"post_info": POST_INFO, "source_info": {"source": "FILE_UPLOAD",
                                                    "video_size": 1000, "chunk_size": 1000,
                                                    "total_chunk_count": 1}}
    assert [tt(c, "video/init/", token, body).status_code for _ in range(3)] == [200, 200, 429]
    limited = tt(c, "video/init/", token, body)
    assert tt_error(limited) == (429, "rate_limit_exceeded")
    assert tt(c, "video/init/", nia, {**body, "post_info": {**POST_INFO, "privacy_level":
                                                            "SELF_ONLY"}}).status_code == 200

    no_publish = tt_token(c, scope="user.info.basic")
    assert tt_error(tt(c, "creator_info/query/", no_publish)) == (401, "scope_not_authorized")
    advance(c, 86401)
    assert tt_error(tt(c, "creator_info/query/", token)) == (401, "access_token_invalid")
    assert tt_error(tt(c, "status/fetch/", token, {"publish_id": "x"})) == \
        (401, "access_token_invalid")


# -- shared contracts --------------------------------------------------------------------------

def test_social_settings_contract(clients: Clients) -> None:
    for c in clients.values():
        current = c.get("/_social_settings").json()
        assert "now" in current
        bad = c.post("/_social_settings", json={"no_such_setting": 1})
        assert bad.status_code == 400 and "unknown setting" in bad.json()["error"]["message"]
        assert c.post("/_social_settings", json=[1]).status_code == 400
    x = clients["x"]
    assert x.post("/_social_settings", json={"post_limit": -1}).status_code == 400
    assert social(x, post_limit=7)["post_limit"] == 7
    assert social(x, reset=True)["post_limit"] == 100
    assert social(clients["facebook"])["quota_total"] == 50
    assert social(clients["tiktok"])["min_chunk_size"] == 5 * 1024 * 1024


def test_posts_survive_a_host_restart(tmp_path: Path) -> None:
    with SandboxHost(tmp_path) as first, httpx.Client(base_url=first.urls()["x"]) as c:
        token = x_token(c)
        created = x_post(c, token, {"text": "kept across restarts"}).json()["data"]["id"]
    assert (tmp_path / "social.sqlite3").exists()
    with SandboxHost(tmp_path) as second, httpx.Client(base_url=second.urls()["x"]) as c:
        assert [p["id"] for p in c.get("/_posts").json()["data"]] == [created]
        again = x_post(c, token, {"text": "kept across restarts"})  # still signed in
        assert again.status_code == 403  # and still a duplicate
