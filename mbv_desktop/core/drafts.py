"""Drafts as the rest of the app sees them: the record, its states, tags and list queries.

Pure data and rules, no I/O: the store persists these, services and the UI pass them around.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mbv_desktop.core.choices import parse_choice
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import Platform

# Far above any platform's limit (a 25-post X thread is ~7,000 characters) but small enough that
# a pasted log file or a binary blob cannot make autosave and search crawl.
MAX_DRAFT_CHARS = 200_000
MAX_TAG_CHARS = 50
MAX_TAGS = 50

_TAG_STRIP = re.compile(r"^[#\s]+|\s+$")
_TAG_BAD = re.compile(r"[\s,;\x00-\x1f]")


class DraftState(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    ARCHIVED = "archived"

    @classmethod
    def parse(cls, value: str) -> DraftState:
        return parse_choice(cls, value, "a draft state")


class SortOrder(enum.StrEnum):
    UPDATED = "updated"  # most recently edited first
    CREATED = "created"  # newest first
    OLDEST = "oldest"  # oldest first
    RELEVANCE = "relevance"  # best search match first (falls back to UPDATED without a search)

    @classmethod
    def parse(cls, value: str) -> SortOrder:
        return parse_choice(cls, value, "a sort order")


@dataclass(frozen=True)
class Draft:
    id: int
    uid: str
    body: str
    tags: tuple[str, ...]
    platforms: tuple[Platform, ...]
    state: DraftState
    created_at: datetime
    updated_at: datetime

    @property
    def title(self) -> str:
        return title_of(self.body)


@dataclass(frozen=True)
class DraftQuery:
    """What the draft list shows: an optional full-text search plus filters and an order."""

    text: str = ""
    tag: str | None = None
    platform: Platform | None = None
    state: DraftState | None = None
    sort: SortOrder = SortOrder.UPDATED
    ids: tuple[int, ...] | None = None  # only these drafts (to refresh single rows)
    include_deleted: bool = field(default=False, repr=False)


@dataclass(frozen=True)
class DraftSummary:
    """One row of the draft list: enough to paint it, nothing more."""

    id: int
    title: str
    snippet: str  # search matches wrapped in search.HIGHLIGHT_MARKS; "" without a search
    tags: tuple[str, ...]
    platforms: tuple[Platform, ...]
    state: DraftState
    updated_at: str
    sort_key: str  # keyset cursor part that goes with id


@dataclass(frozen=True)
class SearchResult:
    """What the draft list shows for a query: the total, the first page and, for a search,
    every matching id in order (so later pages are a slice, not a new search)."""

    query: DraftQuery
    total: int
    first_page: list[DraftSummary]
    ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class DraftRecord:
    """A draft as exported and imported (JSON Lines); times are ISO 8601 in UTC."""

    uid: str
    body: str
    tags: tuple[str, ...]
    platforms: tuple[Platform, ...]
    state: DraftState
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, object]:
        return {
            "uid": self.uid,
            "body": self.body,
            "tags": list(self.tags),
            "platforms": [p.value for p in self.platforms],
            "state": self.state.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_draft(cls, d: Draft) -> DraftRecord:
        return cls(d.uid, d.body, d.tags, d.platforms, d.state,
                   format_time(d.created_at), format_time(d.updated_at))


@dataclass
class ImportCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def format_time(value: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a Z, so stored times sort as text."""
    if value.tzinfo is None:
        raise InvalidInput("A time without a time zone cannot be stored.")
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def title_of(body: str) -> str:
    """The first non-empty line, as the draft list shows it."""
    for line in body[:2000].splitlines():
        if line.strip():
            return line.strip()[:120]
    return "(empty draft)"


def normalize_tag(raw: str) -> str:
    tag = unicodedata.normalize("NFC", _TAG_STRIP.sub("", raw)).lower()
    if not tag:
        raise InvalidInput("A tag cannot be empty.")
    if _TAG_BAD.search(tag):
        raise InvalidInput(f"The tag '{tag}' contains a space, comma or control character.")
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidInput(f"The tag '{tag[:20]}…' is longer than {MAX_TAG_CHARS} characters.")
    return tag


def normalize_tags(raw: Iterable[str]) -> tuple[str, ...]:
    """Lower-cased, '#'-less, de-duplicated tags in first-seen order."""
    seen: dict[str, None] = {}
    for item in raw:
        if item.strip(" #"):
            seen.setdefault(normalize_tag(item), None)
    if len(seen) > MAX_TAGS:
        raise InvalidInput(f"A draft can have at most {MAX_TAGS} tags; this one has {len(seen)}.")
    return tuple(seen)


def parse_tag_list(text: str) -> tuple[str, ...]:
    """Tags as a person types them: separated by commas or spaces, '#' optional."""
    return normalize_tags(p for p in re.split(r"[,\s]+", text) if p)


def check_body(body: str) -> str:
    if "\x00" in body:
        raise InvalidInput("The draft text contains a NUL character, which cannot be saved.")
    if len(body) > MAX_DRAFT_CHARS:
        raise InvalidInput(
            f"The draft text is {len(body):,} characters long; a draft can hold at most "
            f"{MAX_DRAFT_CHARS:,}. Split it into several drafts."
        )
    return body
