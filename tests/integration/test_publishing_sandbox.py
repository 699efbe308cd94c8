"""Scheduling and the publishing outbox end to end, on the sandbox over real loopback sockets.

A creator's profile on the sandbox (emulators for X, Instagram Graph and TikTok, moto's S3
server standing in for R2) connects its accounts the way the Accounts panel does, drafts posts
with media from the library, schedules them and lets :class:`PublishingService` send what is
due. What each emulator recorded (``{base}/_posts``) is the judge: exactly one post each, with
its media, never "the client said so".
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from integration.test_social_clients import get_json, picture, post_json
from PIL import Image
from support.s3 import s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.scheduling import parse_when
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.sandbox.s3 import SandboxS3
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent

THREAD = ("Five things I learned filming at dawn. " * 3 + "The light changes every minute, so "
          "plan each shot before the sun is up. " * 4 + "Bring a second battery, always. " * 3)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


@pytest.fixture
def profile(sandbox: SandboxHost, s3: SandboxS3,  # noqa: F811
            data_dir: Path) -> Iterator[Services]:
    urls = sandbox.urls() | {"r2": s3.endpoint_url}
    services = open_services(data_dir, env={}, overrides=sandbox_overrides(urls), sandbox=True)
    yield services
    services.close()




def portrait_clip(path: Path, seconds: float = 4.0) -> Path:
    """A real 360x640 MP4 (smooth colours, so it stays small): TikTok's smallest size."""
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height = 360, 640
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * 10)):
            frame = av.VideoFrame.from_image(Image.new("RGB", (360, 640), (i * 6, 80, 140)))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def fast_emulators(sandbox: SandboxHost) -> None:
    """Processing takes a fraction of a second instead of seconds, so tests stay quick."""
    urls = sandbox.urls()
    post_json(f"{urls['x']}/_social_settings", {"processing_delay": 0.1})
    post_json(f"{urls['facebook']}/_social_settings", {"image_delay": 0.1, "video_delay": 0.2})
    post_json(f"{urls['tiktok']}/_social_settings", {"processing_delay": 0.2})


async def connect(profile: Services, *providers: str) -> dict[str, str]:
    ids = {}
    for provider in providers:
        account = await profile.accounts.authorize(provider, open_url=answer_consent,
                                                   timeout=10)
        ids[provider] = account.account_id
    return ids


async def draft_with(profile: Services, body: str, files: list[Path]) -> int:
    draft = await profile.drafting.create(body)
    if files:
        results = await profile.library.add_files(files)
        assert all(r.asset is not None for r in results), [r.error for r in results]
        await profile.library.attach(draft.id, [r.asset.id for r in results if r.asset])
    return draft.id


async def publish_until_settled(profile: Services, *, passes: int = 20) -> list[Any]:
    """publish_due until no target is pending or in flight (waits are short in tests)."""
    for _ in range(passes):
        await profile.publishing.publish_due(now=datetime.now(UTC) + timedelta(hours=2))
        rows = await profile.scheduling.targets()
        if all(r.state not in ("pending", "in_flight") for r in rows):
            return rows
    return await profile.scheduling.targets()


def test_a_thread_a_carousel_and_a_video_go_out_once_each_with_state_and_link(
        profile: Services, sandbox: SandboxHost, tmp_path: Path) -> None:
    fast_emulators(sandbox)
    photos = [picture(tmp_path / f"p{i}.jpg", (40 * i, 90, 160)) for i in range(3)]
    video = portrait_clip(tmp_path / "dawn.mp4")

    async def scenario() -> tuple[dict[str, str], list[Any], list[Any]]:
        try:
            ids = await connect(profile, "x", "instagram", "tiktok")
            now = parse_when("now", "Europe/Berlin")
            thread = await draft_with(profile, THREAD, [])
            carousel = await draft_with(profile, "Dawn in three frames #sunrise", photos)
            reel = await draft_with(profile, "Sixty seconds of dawn #timelapse", [video])
            for draft, provider in ((thread, "x"), (carousel, "instagram"), (reel, "tiktok")):
                scheduled = await profile.scheduling.schedule(draft, [provider], now)
                assert [r.state for r in scheduled.targets] == ["pending"]
            rows = await publish_until_settled(profile)
            history = [await profile.scheduling.history(r.id) for r in rows]
            return ids, rows, history
        finally:
            await profile.aclose()

    ids, rows, history = asyncio.run(scenario())
    health = profile.metrics.snapshot_all()  # what the Integration health tab shows
    assert all(health[p]["calls"] > 0 for p in ("x", "instagram", "tiktok"))
    by_provider = {r.provider: r for r in rows}
    assert {r.provider: r.state for r in rows} == {"x": "published", "instagram": "published",
                                                   "tiktok": "published"}
    assert {r.provider: r.post_type for r in rows} == {"x": "thread", "instagram": "carousel",
                                                       "tiktok": "video"}
    urls = sandbox.urls()
    tweets = get_json(f"{urls['x']}/_posts?account={ids['x']}")["data"]
    assert len(tweets) >= 2 and all(len(t["text"]) <= 280 for t in tweets)
    assert " ".join(t["text"] for t in tweets).split() == THREAD.split()
    assert by_provider["x"].platform_post_id == tweets[0]["id"]
    assert by_provider["x"].url.endswith(tweets[0]["id"])
    media = get_json(f"{urls['facebook']}/_posts?account={ids['instagram']}")["data"]
    assert len(media) == 1 and media[0]["media_type"] == "CAROUSEL_ALBUM"
    assert len(media[0]["children"]) == 3
    assert by_provider["instagram"].platform_post_id == media[0]["id"]
    videos = get_json(f"{urls['tiktok']}/_posts?account={ids['tiktok']}")["data"]
    assert len(videos) == 1
    assert by_provider["tiktok"].url
    for row, events in zip(rows, history, strict=True):
        states = [e.to_state for e in events]
        assert states[0] == "pending" and states[-1] == "published", states
        assert "in_flight" in states
        assert row.late == 0


def test_a_lost_answer_is_reconciled_and_posted_once(profile: Services,
                                                       sandbox: SandboxHost) -> None:
    """The emulator posts, then resets the connection: the outbox looks the post up before
    sending anything again, and the creator sees one post, published."""
    base = sandbox.urls()["x"]

    async def scenario() -> tuple[str, Any, Any]:
        try:
            ids = await connect(profile, "x")
            draft = await draft_with(profile, "Dawn light, one take.", [])
            await profile.scheduling.schedule(draft, ["x"], parse_when("now", "UTC"))
            sandbox.faults.add("x", Fault("reset_after", path_prefix="/2/tweets", method="POST",
                                             times=1))
            first = await profile.publishing.publish_due(
                now=datetime.now(UTC) + timedelta(hours=1))
            rows = await publish_until_settled(profile)
            return ids["x"], first, rows
        finally:
            await profile.aclose()

    account, first, rows = asyncio.run(scenario())
    assert first.delayed == 1 and first.published == 0
    assert [r.state for r in rows] == ["published"]
    posts = get_json(f"{base}/_posts?account={account}")["data"]
    assert [p["text"] for p in posts] == ["Dawn light, one take."]
    assert rows[0].platform_post_id == posts[0]["id"]


def schedule_text(profile: Services, text: str, account: str, when: str = "now") -> Any:
    async def go() -> Any:
        draft = await draft_with(profile, text, [])
        return await profile.scheduling.schedule(draft, [account], parse_when(when, "UTC"))
    return go()


def test_an_expired_token_is_refreshed_once_then_the_post_goes_out(
        profile: Services, sandbox: SandboxHost) -> None:
    """X's clock has moved past the token's life while ours has not: X answers 401, the
    outbox refreshes once and posts."""
    urls = sandbox.urls()

    async def scenario() -> list[Any]:
        try:
            await connect(profile, "x")
            await schedule_text(profile, "Expired, refreshed, posted.", "x")
            await asyncio.to_thread(post_json, urls["x"] + "/_settings", {"advance": 3 * 3600})
            before = sandbox.request_count("x", "/x/2/oauth2/token")
            report = await profile.publishing.publish_due()
            assert report.published == 1
            assert sandbox.request_count("x", "/x/2/oauth2/token") == before + 1
            return await profile.scheduling.targets()
        finally:
            await profile.aclose()

    rows = asyncio.run(scenario())
    assert [r.state for r in rows] == ["published"]


def test_a_revoked_account_needs_reconnecting_and_nothing_loops(
        profile: Services, sandbox: SandboxHost) -> None:
    graph = sandbox.urls()["facebook"]

    async def scenario() -> tuple[list[Any], list[Any], int, int]:
        try:
            await connect(profile, "instagram")
            draft = await draft_with(profile, "Revoked before it went out", [])
            [account] = [a for a in await profile.accounts.accounts()
                         if a.provider == "instagram"]
            token = await profile.accounts.access_token("instagram", account.account_id)
            revoke = urllib.request.Request(
                f"{graph}/v21.0/me/permissions?access_token={token}", method="DELETE")
            await asyncio.to_thread(urllib.request.urlopen, revoke, timeout=5)
            photos = await profile.library.add_files(
                [picture(Path(profile.data_dir) / "a.jpg", (10, 20, 30))])
            await profile.library.attach(draft, [photos[0].asset.id])  # type: ignore[union-attr]
            await profile.scheduling.schedule(draft, ["instagram"], parse_when("now", "UTC"))
            first = await profile.publishing.publish_due()
            calls = sandbox.request_count("facebook")
            second = await profile.publishing.publish_due(
                now=datetime.now(UTC) + timedelta(days=1))
            rows = await profile.scheduling.targets()
            [*_, last] = await profile.scheduling.history(rows[0].id)
            assert "reconnect" in last.reason
            return [first, second], rows, calls, sandbox.request_count("facebook")
        finally:
            await profile.aclose()

    reports, rows, calls, calls_after = asyncio.run(scenario())
    assert reports[0].needs_attention == 1
    assert [r.state for r in rows] == ["needs_attention"]
    assert reports[1].published == reports[1].needs_attention == 0
    assert calls_after == calls  # nothing tried again by itself


def test_a_used_up_rate_limit_delays_posts_instead_of_failing_them(
        profile: Services, sandbox: SandboxHost) -> None:
    """X's own window (no Retry-After, only x-rate-limit-reset, minutes away): the first two go
    out, the rest wait for the reset without asking X again, then go out."""
    urls = sandbox.urls()
    post_json(f"{urls['x']}/_social_settings", {"post_limit": 2, "post_window": 600.0})

    async def scenario() -> tuple[Any, list[Any], Any]:
        try:
            await connect(profile, "x")
            for n in range(5):
                await schedule_text(profile, f"Limit test number {n}", "x")
            first = await profile.publishing.publish_due()
            after_first = await profile.scheduling.targets()
            waits = [(r.due_at - datetime.now(UTC)).total_seconds() for r in after_first
                     if r.state == "pending"]
            assert all(500 < w <= 601 for w in waits), waits
            assert sandbox.request_count("x", "/x/2/tweets") == 3  # 2 posts, one 429, no more
            await asyncio.to_thread(post_json, f"{urls['x']}/_social_settings",
                                    {"post_limit": 100})  # as if the window had passed
            rows = await publish_until_settled(profile)
            return first, after_first, rows
        finally:
            await profile.aclose()

    first, after_first, rows = asyncio.run(scenario())
    assert first.published == 2 and first.delayed == 3 and first.failed == 0
    assert sorted(r.state for r in after_first) == ["pending"] * 3 + ["published"] * 2
    assert [r.state for r in rows] == ["published"] * 5
    assert len(get_json(f"{urls['x']}/_posts?all=true")["data"]) == 5


@pytest.mark.parametrize("retry_after", [1.0, 120.0])
def test_a_429_with_retry_after_waits_in_line_or_in_the_outbox(
        profile: Services, sandbox: SandboxHost, retry_after: float) -> None:
    """A short Retry-After is waited out in the call; a long one puts the post back in the
    outbox with that time, not failed."""
    sandbox.faults.add("x", Fault("429", path_prefix="/2/tweets", method="POST", times=1,
                                  retry_after=retry_after))

    async def scenario() -> tuple[Any, list[Any]]:
        try:
            await connect(profile, "x")
            await schedule_text(profile, "Wait for it.", "x")
            report = await profile.publishing.publish_due()
            return report, await profile.scheduling.targets()
        finally:
            await profile.aclose()

    report, rows = asyncio.run(scenario())
    if retry_after < 10:
        assert report.published == 1 and rows[0].state == "published"
    else:
        assert report.delayed == 1 and rows[0].state == "pending"
        wait = (rows[0].due_at - datetime.now(UTC)).total_seconds()
        assert 100 < wait <= 121


@pytest.mark.parametrize("provider", ["x", "instagram", "tiktok"])
def test_media_the_platform_rejects_fails_visibly_with_its_reason(
        profile: Services, sandbox: SandboxHost, tmp_path: Path, provider: str) -> None:
    """X's media processing fails, an Instagram container ends in ERROR, TikTok's processing
    fails: the post is failed with the platform's reason, nothing was posted, nothing loops."""
    urls = sandbox.urls()
    fast_emulators(sandbox)
    knob = {"x": ("x", {"fail_next_media": 1}),
            "instagram": ("facebook", {"fail_next_containers": 1}),
            "tiktok": ("tiktok", {"fail_next_publishes": 1})}[provider]
    post_json(f"{urls[knob[0]]}/_social_settings", knob[1])
    media = (portrait_clip(tmp_path / "v.mp4") if provider != "instagram"
             else picture(tmp_path / "p.jpg", (200, 100, 50)))

    async def scenario() -> list[Any]:
        try:
            ids = await connect(profile, provider)
            draft = await draft_with(profile, "This one will be refused", [media])
            await profile.scheduling.schedule(draft, [ids[provider]], parse_when("now", "UTC"))
            return await publish_until_settled(profile, passes=3)
        finally:
            await profile.aclose()

    rows = asyncio.run(scenario())
    assert [r.state for r in rows] == ["failed"], rows
    assert rows[0].last_error and len(rows[0].last_error) > 10
    assert rows[0].attempts == 1
    published = get_json(f"{urls[knob[0]]}/_posts?all=true")["data"]
    assert [p for p in published if p.get("status", "PUBLISH_COMPLETE") == "PUBLISH_COMPLETE"
            ] == []


def test_a_post_due_while_the_computer_slept_goes_out_on_wake_marked_late(
        profile: Services, sandbox: SandboxHost) -> None:
    async def scenario() -> list[Any]:
        try:
            await connect(profile, "x")
            past = (datetime.now(UTC) - timedelta(hours=3)).isoformat(timespec="minutes")
            await schedule_text(profile, "Good morning, a bit late", "x", past)
            await profile.publishing.publish_due()
            return await profile.scheduling.targets()
        finally:
            await profile.aclose()

    rows = asyncio.run(scenario())
    assert rows[0].state == "published" and rows[0].late == 1


def test_a_locked_keyring_holds_the_post_back_instead_of_failing_it(
        profile: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The timer runs while the session's keyring is locked: nothing can be sent without the
    sign-in, so the post waits (not failed) and goes out once the keyring opens."""
    import keyring
    from keyring.errors import KeyringLocked

    backend = keyring.get_keyring()

    def locked(service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    async def scenario() -> tuple[Any, list[Any], list[Any]]:
        try:
            await connect(profile, "x")
            await schedule_text(profile, "Waiting for the keyring", "x")
            await profile.accounts.aclose()
            profile.accounts._tokens = None  # as in a fresh process: no token in memory
            with monkeypatch.context() as patch:
                patch.setattr(backend, "get_password", locked)
                report = await profile.publishing.publish_due()
            assert report.delayed == 1 and report.failed == 0
            held = await profile.scheduling.targets()
            await profile.publishing.publish_due(now=datetime.now(UTC) + timedelta(minutes=6))
            return report, held, await profile.scheduling.targets()
        finally:
            await profile.aclose()

    _, held, after = asyncio.run(scenario())
    assert held[0].state == "pending" and "keyring" in (held[0].last_error or "").lower()
    assert after[0].state == "published"


def test_an_unexpected_error_keeps_the_post_and_looks_it_up_before_any_resend(
        profile: Services, fail_on_app_warnings: Any) -> None:
    """A bug in a client (here: one that raises RuntimeError) must not leave the post stuck
    "Sending" or lose it: it goes back to the outbox, marked to be looked up first."""

    class Broken:
        async def publish(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("a bug")

        async def find(self, *args: Any, **kwargs: Any) -> Any:
            return None

        async def aclose(self) -> None:
            pass

    async def scenario() -> list[Any]:
        try:
            await connect(profile, "x")
            await schedule_text(profile, "Survives a bug", "x")
            profile.publishing.use_publisher("x", Broken())  # type: ignore[arg-type]
            report = await profile.publishing.publish_due()
            assert report.published == 0
            return await profile.scheduling.targets()
        finally:
            await profile.aclose()

    [row] = asyncio.run(scenario())
    [logged] = fail_on_app_warnings.records  # the bug is logged with its traceback
    assert "failed unexpectedly" in logged.getMessage() and logged.exc_info
    fail_on_app_warnings.records.clear()
    assert row.state == "pending" and row.check_first
    assert "RuntimeError('a bug')" in (row.last_error or "")
