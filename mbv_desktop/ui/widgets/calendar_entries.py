"""What the Schedule panel's calendars show: one entry per post (all its accounts together, as
a drag moves them together), placed at the machine's local time, coloured by state, with every
problem in its tooltip; and the drag payloads the calendars and the draft list exchange.

No widgets here: the week and month grids paint these.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QByteArray, QMimeData

from mbv_desktop.core.platforms import platform_label

#: A post dragged inside a calendar (``{"post_id": 1}``).
MIME_POST = "application/x-mbv-post"
#: Drafts dragged from the unscheduled list (``{"draft_ids": [1, 2]}``).
MIME_DRAFTS = "application/x-mbv-drafts"

SHORT = {"x": "X", "instagram": "IG", "tiktok": "TikTok"}
STATE_TEXT = {"pending": "Scheduled", "in_flight": "Sending", "published": "Published",
              "failed": "Failed", "needs_attention": "Needs attention",
              "cancelled": "Cancelled"}
PROBLEM_STATES = ("failed", "needs_attention")

#: Chip colours per tone: (background, border, text). Explicit text colours, so a chip reads
#: the same on the light and the dark palette.
TONES: dict[str, tuple[str, str, str]] = {
    "pending": ("#dce8fb", "#3b73c4", "#0f2a4d"),
    "in_flight": ("#fcebc7", "#a86d00", "#402a00"),
    "published": ("#d7efdc", "#1e7b34", "#0c3316"),
    "warning": ("#fbd9d5", "#b3261e", "#5a0f0a"),
}


def account_key(provider: str, account_id: str) -> str:
    """An account as item data in a combo box (a string: Qt compares Python objects given
    as item data by identity, so ``findData`` would never find a tuple made again)."""
    return f"{provider}:{account_id}"


def parse_account_key(key: object) -> tuple[str, str] | None:
    if not isinstance(key, str) or ":" not in key:
        return None
    provider, account_id = key.split(":", 1)
    return provider, account_id


def to_local(value: datetime) -> datetime:
    """An aware instant as this machine's wall-clock time (naive)."""
    return value.astimezone().replace(tzinfo=None)


@dataclass(frozen=True)
class Entry:
    """One post on the calendar."""

    post_id: int
    when: datetime  # naive, this machine's local time
    providers: tuple[str, ...]
    text: str  # the start of the post's text, one line
    tone: str  # a key of TONES
    tooltip: str
    problems: tuple[str, ...]
    movable: bool
    refusal: str  # why it can't move ("" when it can)
    zone: str  # the zone the post was planned in
    planned: datetime  # its wall-clock time in ``zone`` (what an undo puts back)
    target_ids: tuple[int, ...]

    @functools.cached_property
    def label(self) -> str:
        platforms = "·".join(SHORT.get(p, p) for p in self.providers)
        mark = "⚠ " if self.problems else ""
        return f"{mark}{self.when:%H:%M} {platforms} {self.text}"


def short_text(body: str, limit: int = 60) -> str:
    line = " ".join(body.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _account_label(accounts: dict[tuple[str, str], Any], provider: str, account_id: str) -> str:
    account = accounts.get((provider, account_id))
    return f"{platform_label(provider)} {account.label if account else account_id}"


def build_entries(rows: Iterable[Any], accounts: Iterable[Any]) -> list[Entry]:
    """The calendar entries of the outbox rows (``TargetRow``), one per post; cancelled
    targets are left out, and a post with nothing else is not shown. ``accounts`` are the
    connected accounts: a scheduled target whose account is gone or must be reconnected is a
    problem."""
    known = {(a.provider, a.account_id): a for a in accounts}
    posts: dict[int, list[Any]] = {}
    for row in rows:
        if row.state != "cancelled":
            posts.setdefault(row.post_id, []).append(row)
    entries = []
    for post_id, targets in posts.items():
        first = targets[0]
        problems: list[str] = []
        lines: list[str] = []
        for t in targets:
            name = _account_label(known, t.provider, t.account_id)
            state = STATE_TEXT.get(t.state, t.state)
            lines.append(f"{name}: {state}" + (f" — {t.url}" if t.url else "")
                         + (" (late)" if t.late and t.state == "published" else ""))
            if t.state in PROBLEM_STATES:
                problems.append(f"{name}: {state.lower()} — {t.last_error or 'no reason given'}")
            elif t.state == "pending":
                account = known.get((t.provider, t.account_id))
                if account is None:
                    problems.append(f"{name} is not connected any more: connect it again in "
                                    "Accounts, or this can't go out.")
                elif account.status != "ok":
                    problems.append(f"{name} needs to be reconnected (Accounts panel) before "
                                    "this can go out.")
        states = {t.state for t in targets}
        if problems:
            tone = "warning"
        elif "in_flight" in states:
            tone = "in_flight"
        elif states == {"published"}:
            tone = "published"
        else:
            tone = "pending"
        movable = states == {"pending"} and not any(t.progress for t in targets)
        if movable:
            refusal = ""
        elif "in_flight" in states or any(t.progress for t in targets):
            refusal = "it is being sent right now."
        elif "published" in states:
            refusal = ("it was already published." if states == {"published"}
                       else "part of it was already published.")
        else:
            refusal = "it failed; retry it (or cancel the failed part) first."
        when = to_local(first.scheduled_at)
        planned = datetime.fromisoformat(first.local_time)
        heading = f"{when:%a %d %b %Y, %H:%M}"
        if planned != when:
            heading += f" (planned {planned:%H:%M} {first.time_zone})"
        tooltip = "\n".join([heading, *lines, *(f"⚠ {p}" for p in problems), "",
                             short_text(first.body, 200)])
        entries.append(Entry(
            post_id=post_id, when=when,
            providers=tuple(dict.fromkeys(t.provider for t in targets)),
            text=short_text(first.body), tone=tone, tooltip=tooltip, problems=tuple(problems),
            movable=movable, refusal=refusal, zone=first.time_zone, planned=planned,
            target_ids=tuple(t.id for t in targets)))
    entries.sort(key=lambda e: (e.when, e.post_id))
    return entries


def post_mime(entry: Entry) -> QMimeData:
    mime = QMimeData()
    mime.setData(MIME_POST, QByteArray(json.dumps({"post_id": entry.post_id}).encode()))
    mime.setText(entry.label)
    return mime


def drafts_mime(draft_ids: list[int], text: str = "") -> QMimeData:
    mime = QMimeData()
    mime.setData(MIME_DRAFTS, QByteArray(json.dumps({"draft_ids": draft_ids}).encode()))
    if text:
        mime.setText(text)
    return mime


def _payload(mime: QMimeData, kind: str) -> dict[str, Any] | None:
    if not mime.hasFormat(kind):
        return None
    try:
        value = json.loads(bytes(mime.data(kind).data()).decode())
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def dragged_post(mime: QMimeData) -> int | None:
    value = _payload(mime, MIME_POST)
    post_id = value.get("post_id") if value else None
    return post_id if isinstance(post_id, int) else None


def dragged_drafts(mime: QMimeData) -> list[int]:
    value = _payload(mime, MIME_DRAFTS)
    ids = value.get("draft_ids") if value else None
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []
