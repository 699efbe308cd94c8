"""Drafting use cases through the service: events, undo, export/import with bad lines."""

from __future__ import annotations

import io
import json
from typing import Any

from helpers import run

from mbv_desktop.core.drafts import DraftQuery
from mbv_desktop.core.platforms import Platform
from mbv_desktop.services.events import DraftChange, DraftsChanged


def test_changes_are_published_with_their_origin(services: Any) -> None:
    events: list[DraftsChanged] = []
    services.drafting.events.subscribe(events.append)
    editor = object()

    async def scenario() -> None:
        d = await services.drafting.create("hello", origin=editor)
        await services.drafting.update(d.id, body="hello there", origin=editor)
        await services.drafting.delete([d.id])
        await services.drafting.restore([d.id])

    run(scenario())
    assert [e.kind for e in events] == [DraftChange.CREATED, DraftChange.UPDATED,
                                        DraftChange.DELETED, DraftChange.RESTORED]
    assert events[0].origin is editor and events[2].origin is None


def test_export_then_import_into_another_profile_is_lossless(services: Any, tmp_path: Any
                                                             ) -> None:
    from mbv_desktop.services.container import open_services

    texts = ["plain", "emoji 👩‍👩‍👧 and CJK 日本語", "multi\nline\r\nwith \"quotes\" and \\",
             "e\u0301 not normalised", ""]

    async def fill() -> str:
        for i, t in enumerate(texts):
            await services.drafting.create(t, tags=[f"t{i}"], platforms=[Platform.X])
        out = io.StringIO()
        assert await services.drafting.export_jsonl(out) == len(texts)
        return out.getvalue()

    exported = run(fill())
    other = open_services(tmp_path / "other", env={})
    try:
        report = run(other.drafting.import_jsonl(io.BytesIO(exported.encode())))
        assert report.counts.added == len(texts) and not report.problems
        again = io.StringIO()
        run(other.drafting.export_jsonl(again))
        assert sorted(again.getvalue().splitlines()) == sorted(exported.splitlines())
    finally:
        other.close()


def test_import_keeps_good_lines_and_names_each_bad_one(services: Any) -> None:
    good = json.dumps({"body": "good one", "tags": ["a"], "platforms": ["x"]})
    lines = [
        good.encode(),
        b'{"body": "broken json"',
        b'\xff\xfe not utf-8',
        json.dumps({"body": "x" * 10_000_000}).encode(),
        json.dumps({"body": 42}).encode(),
        json.dumps({"body": "bad platform", "platforms": ["myspace"]}).encode(),
        json.dumps({"body": "bad time", "created_at": "yesterday"}).encode(),
        b"",
        json.dumps(["not", "an", "object"]).encode(),
        json.dumps({"body": "second good"}).encode(),
    ]
    report = run(services.drafting.import_jsonl(io.BytesIO(b"\n".join(lines) + b"\n")))
    assert report.counts.added == 2
    by_line = {p.line: p.message for p in report.problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 9]
    assert "not valid JSON" in by_line[2]
    assert "UTF-8" in by_line[3]
    assert "200,000" in by_line[4]
    assert "'body' must be a string" in by_line[5]
    assert "myspace" in by_line[6]
    assert "ISO 8601" in by_line[7]
    result = run(services.drafting.search(DraftQuery()))
    assert {r.title for r in result.first_page} == {"good one", "second good"}


def test_search_result_counts_all_matches_but_returns_one_page(services: Any) -> None:
    async def fill() -> None:
        for i in range(250):
            await services.drafting.create(f"giveaway number {i}")

    run(fill())
    result = run(services.drafting.search(DraftQuery(text="giveaway"), limit=50))
    assert result.total == 250
    assert len(result.first_page) == 50
