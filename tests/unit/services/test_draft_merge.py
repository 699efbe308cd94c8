"""Three-way merge of drafts: text, tags, media, platforms, state, deletions; reading documents
from the bucket. Examples first, then hypothesis properties (nothing either side wrote is lost
when the merge is clean; a side that changed nothing takes the other side's version)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mbv_desktop.core.drafts import MAX_TAGS
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.services.draft_merge import (
    document_from_bytes,
    merge_drafts,
    merge_sets,
    merge_text,
    tokenize,
)

T0 = "2024-05-01T10:00:00.000000Z"
T1 = "2024-05-02T10:00:00.000000Z"
T2 = "2024-05-03T10:00:00.000000Z"
SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64


def doc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema": 1, "uid": "u1", "body": "Launch day is Friday. Bring snacks.",
        "tags": ["launch", "team"], "platforms": ["x"], "state": "draft",
        "created_at": T0, "updated_at": T0, "deleted_at": None,
        "media": [f"{SHA_A}.png"],
    }
    return base | changes


# --- text ----------------------------------------------------------------------------------------

def test_edits_to_different_words_of_one_paragraph_merge() -> None:
    base = "Launch day is Friday. Bring snacks and a smile."
    local = "Launch day is Saturday. Bring snacks and a smile."
    remote = "Launch day is Friday. Bring drinks and a smile!"
    assert merge_text(base, local, remote) == (
        "Launch day is Saturday. Bring drinks and a smile!", True)


def test_edits_to_the_same_word_conflict_and_keep_the_remote_text() -> None:
    assert merge_text("see you Friday", "see you Saturday", "see you Sunday") == (
        "see you Sunday", False)


def test_both_appending_different_text_at_the_end_conflicts() -> None:
    assert merge_text("Thread:", "Thread: one", "Thread: two") == ("Thread: two", False)


def test_overlapping_body_edits_are_a_conflict_of_the_draft() -> None:
    result = merge_drafts(doc(), doc(body="Launch day is Saturday. Bring snacks.", tags=["a"]),
                          doc(body="Launch day is Sunday. Bring snacks."))
    assert result.conflicts == ("body",)
    assert result.merged["body"] == "Launch day is Sunday. Bring snacks."
    assert result.merged["tags"] == ["a"]  # the other fields are still merged


def test_the_same_edit_on_both_sides_is_not_a_conflict() -> None:
    assert merge_text("a b c", "a X c", "a X c") == ("a X c", True)


def test_edits_on_different_lines_merge_with_unicode() -> None:
    base = "Café ☕ opens at 8.\nBring 👩‍👩‍👧 along.\nSee you!"
    local = "Café ☕ opens at 9.\nBring 👩‍👩‍👧 along.\nSee you!"
    remote = "Café ☕ opens at 8.\nBring 👩‍👩‍👧 along.\nSee you there!"
    assert merge_text(base, local, remote) == (
        "Café ☕ opens at 9.\nBring 👩‍👩‍👧 along.\nSee you there!", True)


def test_a_long_draft_merges_edits_far_apart() -> None:
    words = [f"word{i}" for i in range(3000)]
    base = " ".join(words)
    local = base.replace("word10 ", "LOCAL ")
    remote = base.replace("word2990 ", "REMOTE ")
    merged, clean = merge_text(base, local, remote)
    assert clean and "LOCAL" in merged and "REMOTE" in merged
    assert merged == base.replace("word10 ", "LOCAL ").replace("word2990 ", "REMOTE ")


# --- sets, platforms, state ----------------------------------------------------------------------

def test_tags_and_media_keep_additions_and_honour_removals() -> None:
    merged = merge_sets(["a", "b", "c"], ["c", "a", "b", "l"], ["a", "c", "r"])
    assert merged == ["c", "a", "l", "r"]
    base = doc()
    local = doc(tags=["launch", "team", "mine"], media=[f"{SHA_A}.png", f"{SHA_B}.jpg"])
    remote = doc(tags=["launch", "theirs"], media=[f"{SHA_C}.mp4"])
    result = merge_drafts(base, local, remote)
    assert result.clean
    assert result.merged["tags"] == ["launch", "mine", "theirs"]
    assert result.merged["media"] == [f"{SHA_B}.jpg", f"{SHA_C}.mp4"]


def test_too_many_tags_after_a_merge_is_a_conflict() -> None:
    base = doc(tags=[])
    local = doc(tags=[f"l{i}" for i in range(30)])
    remote = doc(tags=[f"r{i}" for i in range(30)])
    result = merge_drafts(base, local, remote)
    assert result.conflicts == ("tags",)
    assert result.merged["tags"] == remote["tags"] and len(remote["tags"]) <= MAX_TAGS


def test_platforms_merge_one_platform_at_a_time() -> None:
    base = doc(platforms=["x", "instagram"])
    local = doc(platforms=["instagram", "tiktok"])  # dropped X, added TikTok
    remote = doc(platforms=["x"])  # dropped Instagram
    assert merge_drafts(base, local, remote).merged["platforms"] == ["tiktok"]


@pytest.mark.parametrize(("local", "remote", "merged", "conflicts"), [
    ("scheduled", "draft", "scheduled", ()),
    ("draft", "archived", "archived", ()),
    ("published", "published", "published", ()),
    ("scheduled", "archived", "archived", ("state",)),
])
def test_state_takes_the_side_that_changed_it(local: str, remote: str, merged: str,
                                              conflicts: tuple[str, ...]) -> None:
    result = merge_drafts(doc(), doc(state=local), doc(state=remote))
    assert (result.merged["state"], result.conflicts) == (merged, conflicts)


def test_times_take_the_latest_edit_and_the_earliest_creation() -> None:
    result = merge_drafts(doc(), doc(updated_at=T2, body="x"), doc(updated_at=T1, created_at=T1))
    assert result.merged["updated_at"] == T2 and result.merged["created_at"] == T0


# --- deletions -----------------------------------------------------------------------------------

def test_a_deletion_wins_over_an_untouched_draft() -> None:
    assert merge_drafts(doc(), doc(deleted_at=T1), doc()).merged["deleted_at"] == T1
    assert merge_drafts(doc(), doc(), doc(deleted_at=T1)).merged["deleted_at"] == T1


@pytest.mark.parametrize("edit", [
    {"body": "Launch day is Friday. Bring snacks and drinks."},
    {"tags": ["launch"]},
    {"media": []},
    {"platforms": ["x", "tiktok"]},
    {"state": "scheduled"},
])
def test_a_draft_deleted_on_one_side_and_edited_on_the_other_comes_back(
        edit: dict[str, Any]) -> None:
    for local, remote in ((doc(deleted_at=T1), doc(updated_at=T1, **edit)),
                          (doc(updated_at=T1, **edit), doc(deleted_at=T1))):
        result = merge_drafts(doc(), local, remote)
        assert result.clean
        assert result.merged["deleted_at"] is None
        for name, value in edit.items():
            assert result.merged[name] == value


def test_a_restore_on_one_side_wins_over_the_old_deletion() -> None:
    base = doc(deleted_at=T1)
    assert merge_drafts(base, doc(), base).merged["deleted_at"] is None
    assert merge_drafts(base, base, doc()).merged["deleted_at"] is None
    both = merge_drafts(doc(), doc(deleted_at=T2), doc(deleted_at=T1))
    assert both.merged["deleted_at"] == T1


# --- no base -------------------------------------------------------------------------------------

def test_without_a_base_equal_drafts_merge_and_different_ones_conflict() -> None:
    same = merge_drafts(None, doc(updated_at=T1), doc())
    assert same.clean and same.merged == doc(updated_at=T1)

    different = merge_drafts(None, doc(body="mine", tags=["a"]), doc(body="theirs", tags=["a"]))
    assert different.conflicts == ("body",)
    assert different.merged["body"] == "theirs"

    one_deleted = merge_drafts(None, doc(deleted_at=T1), doc())
    assert one_deleted.clean and one_deleted.merged["deleted_at"] is None


# --- documents from the bucket -------------------------------------------------------------------

def test_a_document_is_read_into_the_canonical_form() -> None:
    raw = json.dumps(doc(platforms=["tiktok", "x"], tags=["#Launch", "team"],
                         created_at="2024-05-01T12:00:00+02:00",
                         media=[f"{SHA_A}.png", f"{SHA_A}.png"])).encode()
    got = document_from_bytes(raw, uid="u1")
    assert got["platforms"] == ["x", "tiktok"]
    assert got["tags"] == ["launch", "team"]
    assert got["created_at"] == T0
    assert got["media"] == [f"{SHA_A}.png"]
    assert document_from_bytes(json.dumps(doc()).encode(), uid="u1") == doc()


@pytest.mark.parametrize(("raw", "needle"), [
    (b"\x89PNG\r\n\x1a\n\x00garbage", "not a JSON document"),
    (b"{\"schema\": 1, ", "not a JSON document"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps(doc(schema=7)).encode(), "newer version"),
    (json.dumps(doc(schema="1")).encode(), "not a Must Be Viral draft"),
    (json.dumps({k: v for k, v in doc().items() if k != "schema"}).encode(), "format"),
    (json.dumps(doc(uid="other")).encode(), "uid does not match"),
    (json.dumps(doc(body=5)).encode(), "'body' is not text"),
    (json.dumps(doc(body="a\x00b")).encode(), "NUL"),
    (json.dumps(doc(tags="a,b")).encode(), "'tags' is not a list"),
    (json.dumps(doc(tags=["a b"])).encode(), "tags are not valid"),
    (json.dumps(doc(platforms=["myspace"])).encode(), "unknown platform"),
    (json.dumps(doc(state="lost")).encode(), "not a draft state"),
    (json.dumps(doc(updated_at="yesterday")).encode(), "'updated_at' is not an ISO 8601"),
    (json.dumps(doc(updated_at="2024-05-01T10:00:00")).encode(), "time zone"),
    (json.dumps(doc(media=["../../etc/passwd"])).encode(), "<sha256>.<ext>"),
])
def test_a_damaged_document_is_refused_with_a_reason(raw: bytes, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        document_from_bytes(raw, uid="u1")


# --- properties ----------------------------------------------------------------------------------

WORDS = st.sampled_from(["the", "a", "launch", "Friday", "café", "🎉", "#ad", "snacks", "x"])
SEPS = st.sampled_from([" ", "  ", "\n", ", ", ". ", "! ", "-"])
TEXT = st.lists(st.tuples(WORDS, SEPS), max_size=25).map(
    lambda pairs: "".join(w + s for w, s in pairs))


@given(TEXT)
def test_tokens_join_back_to_the_text(text: str) -> None:
    assert "".join(tokenize(text)) == text


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT, TEXT, TEXT)
def test_a_clean_text_merge_keeps_every_word_either_side_wrote(base: str, local: str,
                                                               remote: str) -> None:
    merged, clean = merge_text(base, local, remote)
    assume(clean)
    base_tokens = set(tokenize(base))
    for side in (local, remote):
        for token in tokenize(side):
            if token not in base_tokens:
                assert token in merged, (token, merged)


@given(TEXT, TEXT)
def test_a_side_that_changed_nothing_takes_the_other_side(base: str, other: str) -> None:
    assert merge_text(base, other, base) == (other, True)
    assert merge_text(base, base, other) == (other, True)
    assert merge_text(base, other, other) == (other, True)


@given(st.integers(3, 40), st.data())
def test_edits_to_different_words_always_merge(n: int, data: st.DataObject) -> None:
    words = [f"w{i}" for i in range(n)]
    i = data.draw(st.integers(0, n - 1))
    j = data.draw(st.integers(0, n - 1).filter(lambda v: v != i))
    local_words, remote_words = list(words), list(words)
    local_words[i] = "LOCAL edit"
    remote_words[j] = "REMOTE"
    expected = list(words)
    expected[i], expected[j] = "LOCAL edit", "REMOTE"
    merged, clean = merge_text(" ".join(words), " ".join(local_words), " ".join(remote_words))
    assert clean and merged == " ".join(expected)


TAGS = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), unique=True, max_size=5)
MEDIA = st.lists(st.sampled_from([f"{SHA_A}.png", f"{SHA_B}.jpg", f"{SHA_C}.mp4"]), unique=True)
PLATFORMS = st.sets(st.sampled_from(["x", "instagram", "tiktok"])).map(
    lambda s: [p for p in ("x", "instagram", "tiktok") if p in s])
STATES = st.sampled_from(["draft", "scheduled", "published", "archived"])


@st.composite
def versions(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with some fields edited later on (created_at never changes)."""
    out = dict(base)
    if draw(st.booleans()):
        out["body"] = draw(TEXT)
    if draw(st.booleans()):
        out["tags"] = draw(TAGS)
    if draw(st.booleans()):
        out["media"] = draw(MEDIA)
    if draw(st.booleans()):
        out["platforms"] = draw(PLATFORMS)
    if draw(st.booleans()):
        out["state"] = draw(STATES)
    if draw(st.booleans()):
        out["deleted_at"] = draw(st.sampled_from([None, T1, T2]))
    if out != base:
        out["updated_at"] = draw(st.sampled_from([T1, T2]))
    return out


BASES = st.builds(doc, body=TEXT, tags=TAGS, media=MEDIA, platforms=PLATFORMS, state=STATES,
                  deleted_at=st.sampled_from([None, T0]))


@given(st.data())
def test_merging_with_an_unchanged_side_gives_the_changed_side(data: st.DataObject) -> None:
    base = data.draw(BASES)
    other = data.draw(versions(base))
    assert merge_drafts(base, other, base).merged == other
    assert merge_drafts(base, base, other).merged == other
    assert merge_drafts(base, other, other).merged == other
    assert merge_drafts(base, other, base).clean and merge_drafts(base, base, other).clean


@settings(max_examples=200)
@given(st.data())
def test_a_clean_merge_keeps_both_sides_additions(data: st.DataObject) -> None:
    base = data.draw(BASES)
    local, remote = data.draw(versions(base)), data.draw(versions(base))
    result = merge_drafts(base, local, remote)
    merged = result.merged
    for side in (local, remote):
        for tag in set(side["tags"]) - set(base["tags"]):
            assert tag in merged["tags"] or "tags" in result.conflicts
        for item in set(side["media"]) - set(base["media"]):
            assert item in merged["media"]
    if result.clean:
        # A draft one side edited is never deleted by the other side's deletion.
        for edited, other in ((local, remote), (remote, local)):
            if edited["deleted_at"] is None and other["deleted_at"] is not None and any(
                    edited[f] != base[f] for f in ("body", "tags", "media", "platforms",
                                                   "state")):
                assert merged["deleted_at"] is None
    assert merged["updated_at"] == max(local["updated_at"], remote["updated_at"])
