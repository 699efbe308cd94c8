"""The drafts table as the list and editor use it: paging, search, filters, undo, import."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbv_desktop.core.drafts import DraftQuery, DraftRecord, DraftState, SearchResult, SortOrder
from mbv_desktop.core.errors import InvalidInput, NotFound
from mbv_desktop.core.platforms import Platform
from mbv_desktop.core.search import HIGHLIGHT_MARKS
from mbv_desktop.store.database import open_database
from mbv_desktop.store.drafts import DraftRepository, DraftSearch


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


def search(repo: DraftRepository, query: DraftQuery, limit: int = 200) -> SearchResult:
    return DraftSearch(repo._conn).run(query, limit)


def test_search_finds_words_prefixes_tags_and_highlights(repo: DraftRepository) -> None:
    repo.create("Summer sale starts today")
    repo.create("Winter collection preview")
    repo.create("Nothing to see", tags=["summerlaunch"])
    result = search(repo, DraftQuery(text="summ"))
    assert result.total == 2  # the text of one, the tag of the other
    hit = next(s for s in result.first_page if s.title.startswith("Summer"))
    start, end = HIGHLIGHT_MARKS
    assert f"{start}Summer{end}" in hit.snippet
    assert search(repo, DraftQuery(text="collection")).total == 1
    assert search(repo, DraftQuery(text="café")).total == 0


@pytest.mark.parametrize("text", ['"', "AND", "OR (", "NEAR(", "*", "a:b", "-x", "^", "''"])
def test_search_never_fails_on_operators_or_punctuation(repo: DraftRepository, text: str) -> None:
    repo.create("AND a note about OR and NEAR")
    search(repo, DraftQuery(text=text))  # no sqlite3.OperationalError


@pytest.mark.parametrize("sort", list(SortOrder))
def test_search_orders_like_the_list_and_skips_deleted(
    repo: DraftRepository, sort: SortOrder, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = repo._conn
    conn.execute("BEGIN")
    ids = [repo.create(("café " * (i % 5 + 1)) + f"post {i}").id for i in range(60)]
    repo.create("unrelated words")
    conn.execute("COMMIT")
    repo.update(ids[10], body="café edited last")
    repo.soft_delete([ids[20]])
    expected = [i for i in repo.ordered_ids(DraftQuery(sort=sort)) if i in set(ids) - {ids[20]}]
    for small in (10, 5000):  # the cached-order path and the SQL path agree
        monkeypatch.setattr(DraftSearch, "SMALL", small)
        result = search(repo, DraftQuery(text="cafe", sort=sort), limit=7)
        assert result.total == 59 and result.ids is not None
        if sort is SortOrder.RELEVANCE:
            assert result.ids[0] in {i for n, i in enumerate(ids) if n % 5 == 4}
            assert sorted(result.ids) == sorted(expected)
        else:
            assert list(result.ids) == expected
        assert [s.id for s in result.first_page] == list(result.ids[:7])


def test_cached_order_follows_writes_from_other_connections(repo: DraftRepository,
                                                            tmp_path: Path) -> None:
    from mbv_desktop.store.database import connect

    searcher = DraftSearch(repo._conn)
    searcher.SMALL = 0  # always through the cache
    first = repo.create("giveaway one").id
    assert searcher.run(DraftQuery(text="giveaway"), 10).ids == (first,)
    other = DraftRepository(connect(tmp_path / "db.sqlite3"))
    second = other.create("giveaway two").id
    assert searcher.run(DraftQuery(text="giveaway"), 10).ids == (second, first)


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
    assert search(repo, DraftQuery(text="first")).total == 0
    assert search(repo, DraftQuery(text="second")).total == 1


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
