"""The drafts table as the list and editor use it: paging, search, filters, undo, import."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbv_desktop.core.drafts import DraftQuery, DraftRecord, DraftState, SortOrder
from mbv_desktop.core.errors import InvalidInput, NotFound
from mbv_desktop.core.platforms import Platform
from mbv_desktop.core.search import HIGHLIGHT_MARKS
from mbv_desktop.store.database import open_database
from mbv_desktop.store.drafts import DraftRepository


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[DraftRepository]:
    conn = open_database(tmp_path / "db.sqlite3")
    yield DraftRepository(conn)
    conn.close()


def test_create_edit_and_read_back(repo: DraftRepository) -> None:
    d = repo.create("Launch day!\nMore later", tags=["#Launch", "promo", "launch"],
                    platforms=[Platform.X, Platform.TIKTOK])
    assert d.title == "Launch day!"
    assert d.tags == ("launch", "promo")
    assert d.platforms == (Platform.X, Platform.TIKTOK)
    updated = repo.update(d.id, body="Launch day is Friday", platforms=[Platform.INSTAGRAM])
    assert updated.body == "Launch day is Friday"
    assert updated.platforms == (Platform.INSTAGRAM,)
    assert updated.updated_at >= d.updated_at
    assert repo.get(d.id) == updated


def test_too_long_or_nul_text_is_refused_and_the_old_text_kept(repo: DraftRepository) -> None:
    d = repo.create("short")
    with pytest.raises(InvalidInput, match="at most 200,000"):
        repo.update(d.id, body="x" * 10_000_000)
    with pytest.raises(InvalidInput, match="NUL"):
        repo.update(d.id, body="a\x00b")
    assert repo.get(d.id).body == "short"


def test_soft_delete_hides_and_restore_brings_back(repo: DraftRepository) -> None:
    a = repo.create("alpha")
    b = repo.create("beta")
    assert repo.soft_delete([a.id]) == 1
    assert [s.id for s in repo.page()] == [b.id]
    with pytest.raises(NotFound):
        repo.get(a.id)
    with pytest.raises(NotFound):
        repo.update(a.id, body="edit after delete")
    assert repo.restore([a.id]) == 1
    assert {s.id for s in repo.page()} == {a.id, b.id}
    assert repo.get(a.id).body == "alpha"


def test_pages_walk_every_draft_once_in_order(repo: DraftRepository) -> None:
    conn: sqlite3.Connection = repo._conn
    conn.execute("BEGIN")
    ids = [repo.create(f"draft number {i}").id for i in range(530)]
    conn.execute("COMMIT")
    for sort in (SortOrder.UPDATED, SortOrder.CREATED, SortOrder.OLDEST):
        seen: list[int] = []
        after = None
        while True:
            page = repo.page(DraftQuery(sort=sort), after=after, limit=200)
            if not page:
                break
            seen.extend(s.id for s in page)
            after = page[-1]
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))
        expected = sorted(ids) if sort is SortOrder.OLDEST else sorted(ids, reverse=True)
        assert seen == expected
    assert repo.count() == 530


def test_search_finds_words_prefixes_and_highlights(repo: DraftRepository) -> None:
    repo.create("Summer sale starts today")
    repo.create("Winter collection preview")
    repo.create("Nothing to see", tags=["summerlaunch"])
    found = repo.page(DraftQuery(text="summ"))
    assert len(found) == 2
    hit = next(s for s in found if s.title.startswith("Summer"))
    start, end = HIGHLIGHT_MARKS
    assert f"{start}Summer{end}" in hit.snippet
    assert repo.count(DraftQuery(text="summ")) == 2
    assert repo.page(DraftQuery(text="café")) == []


@pytest.mark.parametrize("text", ['"', "AND", "OR (", "NEAR(", "*", "a:b", "-x", "^", "''"])
def test_search_never_fails_on_operators_or_punctuation(repo: DraftRepository, text: str) -> None:
    repo.create("AND a note about OR and NEAR")
    repo.page(DraftQuery(text=text))  # no sqlite3.OperationalError
    repo.count(DraftQuery(text=text))


def test_search_ignores_accents_and_relevance_paging_is_complete(repo: DraftRepository) -> None:
    for i in range(45):
        repo.create(("café " * (i % 5 + 1)) + f"post {i}")
    seen: list[int] = []
    after = None
    while page := repo.page(DraftQuery(text="cafe", sort=SortOrder.RELEVANCE), after=after,
                            limit=10):
        seen.extend(s.id for s in page)
        after = page[-1]
    assert len(seen) == len(set(seen)) == 45


def test_filters_by_tag_platform_and_state(repo: DraftRepository) -> None:
    a = repo.create("a", tags=["promo"], platforms=[Platform.X])
    b = repo.create("b", tags=["promo", "video"], platforms=[Platform.TIKTOK])
    c = repo.create("c", platforms=[Platform.X, Platform.INSTAGRAM])
    repo.update(c.id, state=DraftState.ARCHIVED)
    assert {s.id for s in repo.page(DraftQuery(tag="promo"))} == {a.id, b.id}
    assert {s.id for s in repo.page(DraftQuery(platform=Platform.X))} == {a.id, c.id}
    assert {s.id for s in repo.page(DraftQuery(state=DraftState.ARCHIVED))} == {c.id}
    assert repo.count(DraftQuery(tag="promo", platform=Platform.TIKTOK)) == 1
    repo.update(b.id, tags=["video"])
    assert {s.id for s in repo.page(DraftQuery(tag="promo"))} == {a.id}
    assert dict(repo.tags()) == {"promo": 1, "video": 1}


def test_edits_are_searchable_and_old_words_are_not(repo: DraftRepository) -> None:
    d = repo.create("first words")
    repo.update(d.id, body="second thoughts")
    assert repo.count(DraftQuery(text="first")) == 0
    assert repo.count(DraftQuery(text="second")) == 1


def test_records_round_trip_and_newer_versions_win(repo: DraftRepository) -> None:
    d = repo.create("original", tags=["x"], platforms=[Platform.X])
    records = list(repo.iter_records())
    assert records == [DraftRecord.from_draft(d)]
    counts = repo.upsert_records(records)
    assert (counts.added, counts.updated, counts.unchanged) == (0, 0, 1)
    newer = DraftRecord(d.uid, "edited elsewhere", ("x",), (Platform.X,), DraftState.DRAFT,
                        records[0].created_at, "2999-01-01T00:00:00.000000Z")
    older = DraftRecord(d.uid, "stale copy", ("x",), (Platform.X,), DraftState.DRAFT,
                        records[0].created_at, "2000-01-01T00:00:00.000000Z")
    assert repo.upsert_records([newer]).updated == 1
    assert repo.upsert_records([older]).unchanged == 1
    assert repo.get(d.id).body == "edited elsewhere"
