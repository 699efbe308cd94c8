"""Scheduling a draft to one or more connected accounts at a time in a time zone.

Everything is checked before anything is stored: the text against each platform's limits (an X
draft over 280 becomes a thread, split at sentence boundaries), the media against each
platform's rules for the post type it becomes, and each account (connected, not waiting for a
reconnect). The post (a frozen copy of the text and media) and one outbox row per account are
written in one transaction, so a schedule is never half-made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import Platform, platform_label
from mbv_desktop.core.scheduling import PlannedTime, plan_instant
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.posts import PostEvent, PostRepository, TargetRow
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.services.accounts import AccountsService
    from mbv_desktop.services.drafting import DraftingService
    from mbv_desktop.services.library import LibraryItem, LibraryService
    from mbv_desktop.store.accounts import AccountRecord

STORY = "story"


@dataclass(frozen=True)
class PostsChanged:
    """Targets were scheduled, moved, sent or failed (empty: reload everything)."""

    target_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Scheduled:
    post_id: int
    targets: list[TargetRow]
    notes: list[str]


def x_parts(text: str, *, numbered: bool = False) -> list[str]:
    """The X posts a text becomes: itself when it fits, else a thread."""
    from mbv_desktop.core.platforms import check_text, split_thread

    if check_text(Platform.X, text).fits:
        return [text]
    return split_thread(text, numbered=numbered)


def post_type_for(provider: str, items: list[LibraryItem], text: str, *,
                  story: bool = False) -> str:
    """The outbox's post type: X ``post``/``thread``, Instagram ``feed``/``carousel``/``reel``/
    ``story``, TikTok ``video``."""
    from mbv_desktop.core.media_rules import PostType
    from mbv_desktop.core.media_rules import post_type_for as media_post_type

    if provider == "x":
        return "post" if len(x_parts(text)) == 1 else "thread"
    if provider == "instagram" and story:
        return STORY
    kind = media_post_type(Platform(provider), [i.media_info() for i in items])
    return {PostType.INSTAGRAM_FEED: "feed", PostType.INSTAGRAM_CAROUSEL: "carousel",
            PostType.INSTAGRAM_REEL: "reel", PostType.TIKTOK_VIDEO: "video",
            PostType.TIKTOK_PHOTO: "photo"}.get(kind, "post")


def problems_for(account: AccountRecord, post_type: str, text: str,
                 items: list[LibraryItem]) -> list[str]:
    """Every reason this can't go to ``account`` as ``post_type``, as sentences."""
    from mbv_desktop.core.media_rules import PostType, check_media
    from mbv_desktop.core.platforms import check_text

    name = platform_label(account.provider)
    problems: list[str] = []
    if account.status != "ok":
        problems.append(f"{name} {account.label} needs to be reconnected (Accounts panel).")
    if account.provider == "x":
        try:
            x_parts(text)
        except InvalidInput as exc:
            problems.append(f"X: {exc}")
    else:
        check = check_text(Platform(account.provider), text)
        problems.extend(f"{name}: {p}" for p in check.problems)
    media_type = {("x", "post"): PostType.X_POST, ("x", "thread"): PostType.X_POST,
                  ("instagram", "feed"): PostType.INSTAGRAM_FEED,
                  ("instagram", "carousel"): PostType.INSTAGRAM_CAROUSEL,
                  ("instagram", "reel"): PostType.INSTAGRAM_REEL,
                  ("instagram", STORY): PostType.INSTAGRAM_STORY,
                  ("tiktok", "video"): PostType.TIKTOK_VIDEO,
                  ("tiktok", "photo"): PostType.TIKTOK_PHOTO}.get((account.provider, post_type))
    if media_type is not None and (items or account.provider != "x"):
        problems.extend(f"{name}: {p}" for p in check_media(media_type,
                                                            [i.media_info() for i in items]))
    if account.provider == "tiktok" and post_type == "photo":
        problems.append("TikTok: photo posts are not supported yet; attach a video.")
    return problems


class SchedulingService:
    def __init__(self, worker: StoreWorker, drafting: DraftingService,
                 library: LibraryService, accounts: AccountsService) -> None:
        self._worker = worker
        self._drafting = drafting
        self._library = library
        self._accounts = accounts
        self.events: EventHub[PostsChanged] = EventHub()

    async def resolve_account(self, ref: str) -> AccountRecord:
        """A publishing account by its id, handle, or platform name when only one account of
        that platform is connected."""
        wanted = ref.strip().lstrip("@").lower()
        publishing = [a for a in await self._accounts.accounts() if a.role == "publish"]
        exact = [a for a in publishing if wanted in (a.account_id.lower(), a.handle.lower(),
                                                    a.handle.lstrip("@").lower())]
        if exact:
            return exact[0]
        by_platform = [a for a in publishing if a.provider == wanted]
        if len(by_platform) == 1:
            return by_platform[0]
        if len(by_platform) > 1:
            handles = ", ".join(a.label for a in by_platform)
            raise InvalidInput(f"Several {platform_label(wanted)} accounts are "
                               f"connected ({handles}); name one.")
        raise InvalidInput(f"No connected account matches '{ref}'; connect it in the Accounts "
                           "panel or with mbv-desktop login.")

    async def check(self, draft_id: int, account_refs: list[str], *, story: bool = False
                    ) -> tuple[list[tuple[AccountRecord, str]], list[str]]:
        """The (account, post type) pairs and every problem, without storing anything."""
        draft = await self._drafting.get(draft_id)
        items = await self._library.attached(draft_id)
        targets: list[tuple[AccountRecord, str]] = []
        problems: list[str] = []
        seen: set[tuple[str, str]] = set()
        for ref in account_refs:
            account = await self.resolve_account(ref)
            if (account.provider, account.account_id) in seen:
                continue
            seen.add((account.provider, account.account_id))
            post_type = post_type_for(account.provider, items, draft.body, story=story)
            problems.extend(problems_for(account, post_type, draft.body, items))
            targets.append((account, post_type))
        if not targets:
            problems.append("Choose at least one account to post to.")
        return targets, problems

    async def schedule(self, draft_id: int, account_refs: list[str], when: PlannedTime, *,
                       story: bool = False) -> Scheduled:
        """Schedules the draft; InvalidInput lists every problem and nothing is stored."""
        targets, problems = await self.check(draft_id, account_refs, story=story)
        if problems:
            raise InvalidInput("This can't be scheduled yet: " + " ".join(problems))
        draft = await self._drafting.get(draft_id)
        items = await self._library.attached(draft_id)
        now = datetime.now(UTC)

        def write(c: object) -> tuple[int, list[TargetRow]]:
            repo = PostRepository(c)  # type: ignore[arg-type]
            post_id, ids = repo.create(
                draft_id=draft_id, body=draft.body, media=[i.asset.id for i in items],
                scheduled_at=when.instant, time_zone=when.zone,
                local_time=when.local.isoformat(timespec="minutes"),
                targets=[(a.provider, a.account_id, t) for a, t in targets], at=now,
                reason=f"scheduled for {when.local:%Y-%m-%d %H:%M} {when.zone}")
            return post_id, [repo.get(i) for i in ids]

        post_id, rows = await self._worker.call(write)
        self.events.publish(PostsChanged(tuple(r.id for r in rows)))
        return Scheduled(post_id, rows, [when.note] if when.note else [])

    async def reschedule(self, post_id: int, local: datetime, zone_name: str) -> PlannedTime:
        """Moves a post's pending targets to another wall-clock time."""
        planned = plan_instant(local, zone_name)
        now = datetime.now(UTC)

        def write(c: object) -> list[int]:
            from mbv_desktop.core.drafts import format_time

            conn = c
            repo = PostRepository(c)  # type: ignore[arg-type]
            mine = [r for r in repo.targets_of_post(post_id) if r.state != "cancelled"]
            if any(r.state != "pending" for r in mine):
                raise InvalidInput("This post can't be moved: it is being sent or has gone "
                                   "out to at least one account.")
            conn.execute(  # type: ignore[attr-defined]
                "UPDATE posts SET scheduled_at = ?, time_zone = ?, local_time = ?,"
                " updated_at = ? WHERE id = ?",
                (format_time(planned.instant), zone_name, local.isoformat(timespec="minutes"),
                 format_time(now), post_id))
            moved = []
            for row in mine:
                repo.move(row.id, "pending", f"moved to {local:%Y-%m-%d %H:%M} {zone_name}",
                          at=now, due_at=planned.instant)
                moved.append(row.id)
            return moved

        moved = await self._worker.call(write)
        self.events.publish(PostsChanged(tuple(moved)))
        return planned

    async def cancel(self, target_id: int) -> None:
        """Takes a target out of the queue (only while nothing was sent)."""
        now = datetime.now(UTC)

        def write(c: object) -> None:
            repo = PostRepository(c)  # type: ignore[arg-type]
            row = repo.get(target_id)
            if row.state != "pending" or row.progress:
                raise InvalidInput("Only a post that hasn't started going out can be "
                                   "cancelled.")
            repo.move(target_id, "cancelled", "cancelled by you", at=now)

        await self._worker.call(write)
        self.events.publish(PostsChanged((target_id,)))

    async def retry(self, target_id: int) -> None:
        """Sends a failed target (or one that needed a reconnect) again, now; the post is looked
        up first if an earlier attempt may have reached the provider."""
        now = datetime.now(UTC)

        def write(c: object) -> None:
            repo = PostRepository(c)  # type: ignore[arg-type]
            row = repo.get(target_id)
            if row.state not in ("failed", "needs_attention"):
                raise InvalidInput("Only a failed post can be retried.")
            repo.move(target_id, "pending", "retry asked for by you", at=now, due_at=now)

        await self._worker.call(write)
        self.events.publish(PostsChanged((target_id,)))

    async def targets(self, state: str | None = None, limit: int = 1000) -> list[TargetRow]:
        """The latest ``limit`` targets (by scheduled time), optionally in one state."""
        return await self._worker.call(lambda c: PostRepository(c).targets(state, limit),
                                       write=False)

    async def history(self, target_id: int) -> list[PostEvent]:
        return await self._worker.call(lambda c: PostRepository(c).events(target_id),
                                       write=False)
