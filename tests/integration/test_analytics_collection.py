"""Metrics collection end to end on the sandbox, over real loopback sockets.

A creator publishes through the outbox to X, Instagram and TikTok; collection then reads each
post's figures from the emulators (whose audiences grow with time) into the time series. The
figures grow and never go down; a post deleted on the platform stops being collected and keeps
its history; a 429 during collection holds the account and records nothing for the gap; the
command line's ``analytics refresh`` and ``analytics export`` work on the same profile.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.test_cli import mbv
from integration.test_publishing_sandbox import (
    connect,
    draft_with,
    fast_emulators,
    portrait_clip,
    publish_until_settled,
)
from integration.test_social_clients import picture, post_json
from support.s3 import s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.scheduling import parse_when
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.sandbox.s3 import SandboxS3
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.store.metrics import MetricsRepository


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


def fast_audiences(sandbox: SandboxHost, scale: float = 3600.0) -> None:
    """Audiences grow an hour per real second."""
    urls = sandbox.urls()
    for name in ("x", "facebook", "tiktok"):
        post_json(f"{urls[name]}/_social_settings", {"metrics_time_scale": scale})


def series(profile: Services, target_id: int, metric: str) -> list[float]:
    def read(c: sqlite3.Connection) -> list[float]:
        return [v for m, _, v in MetricsRepository(c).samples(target_id) if m == metric]

    return list(profile.worker.submit(read, write=False).result())


def jobs(profile: Services) -> dict[int, Any]:
    return {j.target_id: j for j in profile.worker.submit(
        lambda c: MetricsRepository(c).jobs(), write=False).result()}


async def publish_three(profile: Services, tmp_path: Path) -> dict[str, Any]:
    """One post per platform, published; returns the targets by platform."""
    ids = await connect(profile, "x", "instagram", "tiktok")
    now = parse_when("now", "UTC")
    text = await draft_with(profile, "Morning light over the harbour #sunrise #photo", [])
    photo = await draft_with(profile, "Harbour at dawn #sunrise",
                             [picture(tmp_path / "harbour.jpg", (30, 90, 160))])
    clip = await draft_with(profile, "Sixty seconds of dawn #timelapse",
                            [portrait_clip(tmp_path / "dawn.mp4")])
    for draft, provider in ((text, "x"), (photo, "instagram"), (clip, "tiktok")):
        await profile.scheduling.schedule(draft, [ids[provider]], now)
    rows = await publish_until_settled(profile)
    assert {r.provider: r.state for r in rows} == {
        "x": "published", "instagram": "published", "tiktok": "published"}
    return {r.provider: r for r in rows}


def later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


def test_figures_of_published_posts_grow_and_a_deleted_post_stops(
        profile: Services, sandbox: SandboxHost, tmp_path: Path) -> None:
    fast_emulators(sandbox)
    fast_audiences(sandbox)

    async def scenario() -> tuple[dict[str, Any], list[Any]]:
        try:
            targets = await publish_three(profile, tmp_path)
            reports = []
            for step in range(4):
                await asyncio.sleep(0.6)  # ~36 sandbox minutes of audience
                reports.append(await profile.metrics_collection.collect_due(
                    now=later(60 * 24 * step)))
            # X's post is removed on the platform
            x = targets["x"]
            token = await profile.accounts.access_token("x", x.account_id)
            async with httpx.AsyncClient() as http:
                gone = await http.delete(f"{sandbox.urls()['x']}/2/tweets/"
                                         f"{x.platform_post_id}",
                                         headers={"Authorization": f"Bearer {token}"})
                assert gone.status_code == 200, gone.text
            reports.append(await profile.metrics_collection.collect_due(now=later(60 * 24 * 9)))
            return targets, reports
        finally:
            await profile.aclose()

    targets, reports = asyncio.run(scenario())
    assert [r.collected for r in reports[:4]] == [3, 3, 3, 3]
    assert reports[-1].deleted == 1 and reports[-1].collected == 2
    for provider, target in targets.items():
        views = series(profile, target.id, "views")
        assert len(views) == (4 if provider == "x" else 5), provider
        assert views == sorted(views) and views[-1] > views[0], (provider, views)
        likes = series(profile, target.id, "likes")
        assert likes == sorted(likes), provider
    state = jobs(profile)
    assert state[targets["x"].id].state == "deleted"
    assert "removed" in (state[targets["x"].id].last_error or "")
    assert len(series(profile, targets["x"].id, "views")) == 4  # history kept
    assert state[targets["tiktok"].id].state == "active"
    # the platforms' own names were translated; what X cannot give is absent, not zero
    x_metrics = {m for m, _, _ in profile.worker.submit(
        lambda c: MetricsRepository(c).samples(targets["x"].id), write=False).result()}
    assert {"views", "likes", "comments", "reposts"} <= x_metrics
    assert "saves" not in x_metrics and "reach" not in x_metrics


def test_a_rate_limit_during_collection_holds_the_account_and_records_no_gap(
        profile: Services, sandbox: SandboxHost, tmp_path: Path) -> None:
    fast_emulators(sandbox)

    async def scenario() -> tuple[dict[str, Any], Any, Any, int]:
        try:
            targets = await publish_three(profile, tmp_path)
            sandbox.faults.add("x", Fault("429", path_prefix="/2/tweets", method="GET",
                                          retry_after=900, times=5))
            before = sandbox.request_count("x", "/x/2/tweets")
            held = await profile.metrics_collection.collect_due(now=later(1))
            asked = sandbox.request_count("x", "/x/2/tweets") - before
            await profile.metrics_collection.collect_due(now=later(10))
            early = sandbox.request_count("x", "/x/2/tweets") - before - asked
            return targets, held, early, asked
        finally:
            await profile.aclose()

    targets, held, early, asked = asyncio.run(scenario())
    assert held.rate_limited and held.collected == 2  # Instagram and TikTok went on
    assert asked == 1  # X was asked once, not retried into its limit
    x_job = jobs(profile)[targets["x"].id]
    assert x_job.state == "active" and x_job.failures == 0
    assert x_job.next_due_at is not None and x_job.next_due_at > later(14)
    assert series(profile, targets["x"].id, "views") == []  # no zeros for the gap
    assert early == 0  # X not asked again before its reset


def test_cli_publish_due_collects_and_export_writes_csv_and_json(tmp_path: Path) -> None:
    """The headless path, as the publish timer runs it: each command its own process, the
    sandbox in the data dir, tokens in a keyring file that outlives each process."""
    data = tmp_path / "cli"
    env = {"PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
           "MBV_TEST_KEYRING_FILE": str(tmp_path / "keyring.json")}
    assert mbv("--sandbox", "login", "x", "--yes", data_dir=data, env=env).returncode == 0
    added = mbv("drafts", "add", "Dawn over the harbour #sunrise", "--json", data_dir=data,
                env=env)
    draft = json.loads(added.stdout)["id"]
    scheduled = mbv("--sandbox", "schedule", str(draft), "--to", "x", "--at", "now",
                    data_dir=data, env=env)
    assert scheduled.returncode == 0, scheduled.stderr
    due = mbv("--sandbox", "publish-due", "--json", data_dir=data, env=env)
    assert due.returncode == 0, due.stderr
    assert json.loads(due.stdout)["analytics"]["collected"] == 1  # first figures right away
    refreshed = mbv("--sandbox", "analytics", "refresh", "--json", data_dir=data, env=env)
    assert refreshed.returncode == 0, refreshed.stderr
    assert json.loads(refreshed.stdout)["collected"] == 0  # the next one is not due yet
    out = mbv("analytics", "export", "--format", "csv", data_dir=data, env=env)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert {r["platform"] for r in rows} == {"x"}
    assert {"views", "likes"} <= {r["metric"] for r in rows}
    assert all(r["title"] == "Dawn over the harbour #sunrise" for r in rows)
    target = tmp_path / "figures.json"
    written = mbv("analytics", "export", "--format", "json", "--output", str(target),
                  "--from", "2020-01-01", data_dir=data, env=env)
    assert written.returncode == 0, written.stderr
    assert len(json.loads(target.read_text(encoding="utf-8"))) == len(rows)
    bad = mbv("analytics", "export", "--format", "csv", "--from", "26/11/2026",
              data_dir=data, env=env)
    assert bad.returncode != 0 and "is not a date" in bad.stderr
