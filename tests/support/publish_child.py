"""A publishing process that tests kill with SIGKILL (``python -m publish_child DATA MODE …``).

It opens the profile in ``DATA`` with the settings overrides in ``MBV_TEST_OVERRIDES`` (JSON:
the sandbox host and moto server the test runs) and the file keyring of
:mod:`file_keyring`, so accounts and tokens outlive the process as they would on a desktop.

Modes:
``connect PROVIDER…``
    connects each account through the sandbox's consent page; prints ``{provider: id}``.
``schedule SPEC.json``
    a list of ``{"text", "account", "media": [paths]}``: one draft each, scheduled now;
    prints the target ids.
``publish``
    publishes until nothing is due or in flight (backoffs and rate-limit waits are taken as
    passed); prints the last pass's report.

``MBV_TEST_CRASH_AT`` makes the process kill itself (SIGKILL) at one point of the first send:
``before_send`` (leased and marked in flight, nothing sent) or ``after_response`` (the platform
answered, before the outcome is written).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install_crash(point: str) -> None:
    from mbv_desktop.integrations.social.instagram import InstagramPublisher
    from mbv_desktop.integrations.social.tiktok import TikTokPublisher
    from mbv_desktop.integrations.social.x import XPublisher
    from mbv_desktop.store.posts import PostRepository

    if point == "before_send":
        for cls in (XPublisher, InstagramPublisher, TikTokPublisher):
            async def publish(self: Any, *args: Any, **kwargs: Any) -> Any:
                _die()
            cls.publish = publish  # type: ignore[method-assign]
    elif point == "after_response":
        original = PostRepository.move

        def move(self: PostRepository, target_id: int, state: str, *args: Any,
                 **kwargs: Any) -> Any:
            if state == "published":
                _die()
            return original(self, target_id, state, *args, **kwargs)
        PostRepository.move = move  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


async def _connect(services: Any, providers: list[str]) -> dict[str, str]:
    from mbv_desktop.services.sandbox_consent import answer_consent

    ids = {}
    for provider in providers:
        account = await services.accounts.authorize(provider, open_url=answer_consent,
                                                    timeout=10)
        ids[provider] = account.account_id
    return ids


async def _schedule(services: Any, spec_path: str) -> list[int]:
    from mbv_desktop.core.scheduling import parse_when

    ids: list[int] = []
    when = parse_when("now", "UTC")
    for item in json.loads(Path(spec_path).read_text()):
        draft = await services.drafting.create(item["text"])
        if item.get("media"):
            added = await services.library.add_files([Path(p) for p in item["media"]])
            await services.library.attach(draft.id, [a.asset.id for a in added if a.asset])
        scheduled = await services.scheduling.schedule(draft.id, [item["account"]], when)
        ids.extend(t.id for t in scheduled.targets)
    return ids


async def _publish(services: Any) -> dict[str, object]:
    report: Any = None
    while True:
        later = datetime.now(UTC) + timedelta(days=7)  # every backoff taken as passed
        report = await services.publishing.publish_due(now=later)
        rows = await services.scheduling.targets()
        if all(r.state not in ("pending", "in_flight") for r in rows):
            return dict(report.to_json())
        if not report.published:
            await asyncio.sleep(0.05)  # e.g. a paused provider: let its pause run out


async def _main(services: Any, mode: str, args: list[str]) -> object:
    try:
        if mode == "connect":
            return await _connect(services, args)
        if mode == "schedule":
            return await _schedule(services, args[0])
        if mode == "publish":
            return await _publish(services)
        raise SystemExit(f"unknown mode {mode!r}")
    finally:
        await services.aclose()


def main() -> None:
    from mbv_desktop.services.container import open_services

    data_dir, mode, args = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    if os.environ.get("MBV_TEST_CRASH_AT"):
        _install_crash(os.environ["MBV_TEST_CRASH_AT"])
    overrides = json.loads(os.environ["MBV_TEST_OVERRIDES"])
    services = open_services(data_dir, env={}, overrides=overrides, sandbox=True)
    try:
        print(json.dumps(asyncio.run(_main(services, mode, args))), flush=True)
    finally:
        services.close()


if __name__ == "__main__":
    main()
