"""Three-way merge of two versions of one draft, and reading a draft document from the bucket.

Pure functions, no I/O. A *document* is the JSON-able dict a draft is synced as (its shape is in
:mod:`mbv_desktop.store.sync_state`). :func:`merge_drafts` takes the version both sides last
agreed on (the base, or None when there is none), this profile's version (local) and the
bucket's (remote), and returns the merged document plus the names of the fields that could not
be merged because both sides changed them in overlapping ways.

Rules, field by field:

* ``body``: a three-way merge of word, whitespace and punctuation tokens, so edits to different
  words of one paragraph both survive; edits of the same words (or insertions at the same spot)
  conflict.
* ``tags`` and ``media``: three-way set merge. What either side added is kept, what either side
  removed is gone; local's order first, then remote's additions in remote's order. More tags
  than a draft may hold is a conflict.
* ``platforms``: per platform, the side that changed it wins (both changing one platform can
  only change it the same way).
* ``state``: the side that changed it wins; both changing it differently conflicts.
* ``deleted_at``: a deletion wins only when the other side did not edit the draft since the base;
  a draft deleted here but edited elsewhere comes back (and the other way round).
* ``created_at`` the earlier, ``updated_at`` the later of the two.

Without a base (both profiles created the same uid, or a profile lost its sync state), equal
versions merge trivially and every field that differs is a conflict.

In a result with conflicts, the conflicting fields hold the remote value, so that every profile
settles on the bucket's version; the caller keeps the local version as a separate draft.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mbv_desktop.core.drafts import (
    MAX_TAGS,
    DraftState,
    check_body,
    format_time,
    normalize_tags,
    parse_time,
)
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.store.sync_state import DOC_SCHEMA, PLATFORM_ORDER, Doc

__all__ = [
    "CONTENT_FIELDS",
    "DOC_SCHEMA",
    "Doc",
    "MergeResult",
    "document_from_bytes",
    "merge_drafts",
    "merge_sets",
    "merge_text",
    "tokenize",
]

CONTENT_FIELDS = ("body", "tags", "media", "platforms", "state")
"""The fields a person edits; an edit to any of them since the base undoes a deletion."""

# The text is merged in three passes, each refining only the regions the previous one found in
# conflict: lines, then words with the whitespace after them, then words, whitespace and
# punctuation apart. The coarse passes keep difflib fast on long drafts (a " " between every two
# words would make its matching quadratic); the last lets edits of neighbouring words merge.
_LINES = re.compile(r"[^\n]*\n|[^\n]+")
_WORDS = re.compile(r"\s+|\w+\s*|[^\w\s]\s*")
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_MEDIA = re.compile(r"^([0-9a-f]{64})\.([a-z0-9]{1,5})$")
# With autojunk difflib treats tokens in more than 1% of the places as junk and can't anchor on
# them (neighbouring edits would conflict); past this many tokens its quadratic worst case
# matters more than that.
_AUTOJUNK_FROM = 20_000


@dataclass(frozen=True)
class MergeResult:
    """The merged document and the fields both sides changed in ways that overlap."""

    merged: Doc
    conflicts: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return not self.conflicts


# --- text ----------------------------------------------------------------------------------------

def tokenize(text: str) -> list[str]:
    """Words, runs of whitespace and single punctuation marks (the finest merge pass);
    ``"".join`` gives ``text`` back."""
    return _TOKEN.findall(text)


class _Matcher:
    """difflib's matcher after trimming what both sequences start and end with: each side's
    edits are usually in one place, so the part left for difflib (quadratic at worst) is small.
    (merge3's ``sequence_matcher`` protocol: constructed like difflib's, gives matching blocks.)
    """

    def __init__(self, isjunk: Callable[[str], bool] | None = None, a: Sequence[str] = "",
                 b: Sequence[str] = "", autojunk: bool = True) -> None:
        self.a, self.b = a, b

    def get_matching_blocks(self) -> list[tuple[int, int, int]]:
        a, b = self.a, self.b
        n, m = len(a), len(b)
        head = 0
        while head < n and head < m and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < n - head and tail < m - head and a[n - 1 - tail] == b[m - 1 - tail]:
            tail += 1
        blocks: list[tuple[int, int, int]] = [(0, 0, head)] if head else []
        mid_a, mid_b = a[head:n - tail], b[head:m - tail]
        if mid_a and mid_b:
            big = max(len(mid_a), len(mid_b)) >= _AUTOJUNK_FROM
            matcher = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=big)
            blocks.extend((i + head, j + head, k)
                          for i, j, k in matcher.get_matching_blocks() if k)
        if tail:
            blocks.append((n - tail, m - tail, tail))
        merged: list[tuple[int, int, int]] = []
        for i, j, k in blocks:  # join touching blocks, as difflib does
            if merged and merged[-1][0] + merged[-1][2] == i and merged[-1][1] + merged[-1][2] == j:
                merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + k)
            else:
                merged.append((i, j, k))
        merged.append((n, m, 0))
        return merged


def merge_text(base: str, local: str, remote: str) -> tuple[str, bool]:
    """``(merged, clean)``: a three-way merge of ``local`` and ``remote`` edits of ``base``.
    When it is not clean, ``merged`` is ``remote``."""
    if local == remote or remote == base:
        return local, True
    if local == base:
        return remote, True
    merged = _merge_passes(base, local, remote, (_LINES, _WORDS, _TOKEN))
    return (remote, False) if merged is None else (merged, True)


def _merge_passes(base: str, local: str, remote: str,
                  passes: tuple[re.Pattern[str], ...]) -> str | None:
    import merge3

    split, rest = passes[0], passes[1:]
    m = merge3.Merge3(split.findall(base), split.findall(local), split.findall(remote),
                      sequence_matcher=_Matcher)
    out: list[str] = []
    for group in m.merge_groups():
        if group[0] != "conflict":
            out.extend(group[1])
            continue
        if not rest:
            return None
        part = _merge_passes("".join(group[1]), "".join(group[2]), "".join(group[3]), rest)
        if part is None:
            return None
        out.append(part)
    return "".join(out)


# --- sets, platforms, single values --------------------------------------------------------------

def merge_sets(base: Sequence[str], local: Sequence[str], remote: Sequence[str]) -> list[str]:
    """Additions of either side kept, removals of either side honoured; local's order, then
    remote's additions in remote's order (a side that changed nothing takes the other's order)."""
    if list(local) == list(base):
        return list(dict.fromkeys(remote))
    if list(remote) == list(base):
        return list(dict.fromkeys(local))
    b, loc, rem = set(base), set(local), set(remote)
    keep = (loc & rem) | (loc - b) | (rem - b)
    out = [x for x in dict.fromkeys(local) if x in keep]
    seen = set(out)
    out.extend(x for x in dict.fromkeys(remote) if x in keep and x not in seen)
    return out


def _merge_platforms(base: Sequence[str], local: Sequence[str],
                     remote: Sequence[str]) -> list[str]:
    out = []
    for p in PLATFORM_ORDER:
        in_b, in_l, in_r = p.value in base, p.value in local, p.value in remote
        if in_r if in_l == in_b else in_l:
            out.append(p.value)
    return out


def _merge_value(base: Any, local: Any, remote: Any) -> tuple[Any, bool]:
    if local == remote or remote == base:
        return local, True
    if local == base:
        return remote, True
    return remote, False


def _edited(base: Doc, doc: Doc) -> bool:
    return any(base[f] != doc[f] for f in CONTENT_FIELDS)


# --- documents -----------------------------------------------------------------------------------

def merge_drafts(base: Doc | None, local: Doc, remote: Doc) -> MergeResult:
    """Merges two versions of one draft (see the module notes for the rules)."""
    if base is None:
        return _merge_without_base(local, remote)
    merged: Doc = dict(remote)
    conflicts: list[str] = []

    body, clean = merge_text(base["body"], local["body"], remote["body"])
    merged["body"] = body
    if not clean:
        conflicts.append("body")

    tags = merge_sets(base["tags"], local["tags"], remote["tags"])
    if len(tags) > MAX_TAGS:
        merged["tags"] = list(remote["tags"])
        conflicts.append("tags")
    else:
        merged["tags"] = tags

    merged["media"] = merge_sets(base["media"], local["media"], remote["media"])
    merged["platforms"] = _merge_platforms(base["platforms"], local["platforms"],
                                           remote["platforms"])
    state, clean = _merge_value(base["state"], local["state"], remote["state"])
    merged["state"] = state
    if not clean:
        conflicts.append("state")

    merged["deleted_at"] = _merge_deleted(base, local, remote)
    merged["created_at"] = min(local["created_at"], remote["created_at"])
    merged["updated_at"] = max(local["updated_at"], remote["updated_at"])
    return MergeResult(merged, tuple(conflicts))


def _merge_deleted(base: Doc, local: Doc, remote: Doc) -> str | None:
    l_del, r_del = local["deleted_at"], remote["deleted_at"]
    if l_del is not None and r_del is not None:
        return str(min(l_del, r_del)) if base["deleted_at"] is None else str(
            _merge_value(base["deleted_at"], l_del, r_del)[0])
    if l_del is None and r_del is None:
        return None
    # One side has it deleted. Did that side just delete it, or did the other side restore it?
    deleted_side, live_side = (local, remote) if l_del is not None else (remote, local)
    if base["deleted_at"] is None:
        # Deleted since the base: it stays deleted only if the other side did not edit it.
        return None if _edited(base, live_side) else deleted_side["deleted_at"]
    # Deleted in the base too: the other side restored it, which wins (nothing is lost).
    return None


def _merge_without_base(local: Doc, remote: Doc) -> MergeResult:
    merged: Doc = dict(remote)
    conflicts = tuple(f for f in CONTENT_FIELDS if local[f] != remote[f])
    if local["deleted_at"] is None or remote["deleted_at"] is None:
        merged["deleted_at"] = None
    else:
        merged["deleted_at"] = min(local["deleted_at"], remote["deleted_at"])
    merged["created_at"] = min(local["created_at"], remote["created_at"])
    merged["updated_at"] = max(local["updated_at"], remote["updated_at"])
    return MergeResult(merged, conflicts)


# --- reading a document --------------------------------------------------------------------------

def document_from_bytes(raw: bytes, *, uid: str) -> Doc:
    """The document in ``raw`` (an object from the bucket), checked and in the store's canonical
    form, or InvalidInput with a sentence that says what is wrong with it."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("it is not a JSON document") from None
    if not isinstance(data, dict):
        raise InvalidInput("it is not a JSON object")
    schema = data.get("schema")
    if schema != DOC_SCHEMA:
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > DOC_SCHEMA:
            raise InvalidInput(f"it was written by a newer version of Must Be Viral (format "
                               f"{schema}); update the app to sync it")
        raise InvalidInput("it is not a Must Be Viral draft (its format is missing or unknown)")
    if data.get("uid") != uid:
        raise InvalidInput("its uid does not match its file name")
    body = data.get("body")
    if not isinstance(body, str):
        raise InvalidInput("its 'body' is not text")
    check_body(body)
    tags = _string_list(data, "tags")
    try:
        norm_tags = list(normalize_tags(tags))
    except InvalidInput as e:
        raise InvalidInput(f"its tags are not valid ({str(e).rstrip('.')})") from None
    platforms = _string_list(data, "platforms")
    known = {p.value for p in PLATFORM_ORDER}
    unknown = [p for p in platforms if p not in known]
    if unknown:
        raise InvalidInput(f"it names an unknown platform '{unknown[0][:20]}'")
    state = data.get("state")
    if not isinstance(state, str) or state not in {s.value for s in DraftState}:
        raise InvalidInput("its 'state' is not a draft state")
    media: list[str] = []
    seen: set[str] = set()
    for item in _string_list(data, "media"):
        match = _MEDIA.match(item)
        if match is None:
            raise InvalidInput("it lists a media file that is not named <sha256>.<ext>")
        if match.group(1) not in seen:
            seen.add(match.group(1))
            media.append(item)
    return {
        "schema": DOC_SCHEMA,
        "uid": uid,
        "body": body,
        "tags": norm_tags,
        "platforms": [p.value for p in PLATFORM_ORDER if p.value in platforms],
        "state": state,
        "created_at": _time(data, "created_at"),
        "updated_at": _time(data, "updated_at"),
        "deleted_at": None if data.get("deleted_at") is None else _time(data, "deleted_at"),
        "media": media,
    }


def _string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"its '{key}' is not a list of names")
    return value


def _time(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"its '{key}' is not a time")
    try:
        parsed = parse_time(value)
        return format_time(parsed)
    except (ValueError, InvalidInput):
        raise InvalidInput(f"its '{key}' is not an ISO 8601 time with a time zone") from None
