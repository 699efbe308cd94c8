"""Weekly time slots per account: add, list, remove, refuse bad ones; the next free slot skips
the times the account already posts at (and keeps 09:00 local across a DST change); bulk
scheduling fills the free slots in turn and names every draft it skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import run
from PIL import Image

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.scheduling import plan_instant
from mbv_desktop.services.time_slots import TimeSlotsChanged

BERLIN = "Europe/Berlin"


def connect(services: Any, provider: str, account_id: str, handle: str,
            status: str = "ok") -> None:
    """A connected publishing account, as the Accounts panel records it (no tokens needed:
    nothing here is sent)."""
    from mbv_desktop.store.accounts import AccountRepository

    def write(c: Any) -> None:
        repo = AccountRepository(c)
        repo.upsert(provider=provider, role="publish", account_id=account_id, handle=handle,
                    at=datetime.now(UTC))
        if status != "ok":
            repo.set_status(provider, account_id, status, datetime.now(UTC))

    run(services.worker.call(write))


def next_weekday(weekday: int, after: date) -> date:
    return after + timedelta(days=(weekday - after.weekday()) % 7 or 7)


def test_slots_are_added_listed_and_removed(services: Any) -> None:
    slots = services.time_slots
    events: list[TimeSlotsChanged] = []
    slots.events.subscribe(events.append)

    async def scenario() -> tuple[list[Any], list[Any]]:
        await slots.add("x", "1001", 1, "09:00", BERLIN)
        thursday = await slots.add("x", "1001", 3, time(17, 30), BERLIN)
        await slots.add("instagram", "ig-1", 1, "9:05", "UTC")
        mine = await slots.slots("x", "1001")
        await slots.remove(thursday.id)
        return mine, await slots.slots()

    mine, left = run(scenario())
    assert [(s.weekday, s.local_time, s.time_zone) for s in mine] == [
        (1, "09:00", BERLIN), (3, "17:30", BERLIN)]
    assert mine[0].describe() == "Tuesday 09:00 (Europe/Berlin)"
    assert [(s.provider, s.local_time) for s in left] == [("instagram", "09:05"), ("x", "09:00")]
    assert [e.account_id for e in events] == ["1001", "1001", "ig-1", "1001"]


@pytest.mark.parametrize(("weekday", "at", "zone", "message"), [
    (7, "09:00", BERLIN, "weekday"),
    (1, "25:00", BERLIN, "not a time of day"),
    (1, "nine", BERLIN, "not a time of day"),
    (1, "09:00", "Mars/Olympus", "not a time zone"),
])
def test_bad_slots_are_refused_with_a_sentence(services: Any, weekday: int, at: str, zone: str,
                                                message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        run(services.time_slots.add("x", "1001", weekday, at, zone))
    assert run(services.time_slots.slots()) == []


def test_the_same_slot_twice_is_refused(services: Any) -> None:
    run(services.time_slots.add("x", "1001", 2, "12:00", BERLIN))
    with pytest.raises(InvalidInput, match="already is a slot on Wednesday at 12:00"):
        run(services.time_slots.add("x", "1001", 2, "12:00", BERLIN))


def test_next_free_slot_skips_the_ones_the_account_already_posts_at(services: Any) -> None:
    connect(services, "x", "1001", "maya_creates")
    connect(services, "x", "2002", "other_brand")
    tuesday = next_weekday(1, date.today())
    after = datetime.combine(tuesday - timedelta(days=1), time(12), ZoneInfo(BERLIN))

    async def scenario() -> tuple[Any, Any, Any, Any, Any]:
        slots = services.time_slots
        assert await slots.next_free("x", "1001", after) is None  # no slots yet
        await slots.add("x", "1001", 1, "09:00", BERLIN)
        await slots.add("x", "1001", 3, "09:00", BERLIN)
        first = await slots.next_free("x", "1001", after)
        draft = await services.drafting.create("Tuesday thoughts")
        done = await services.scheduling.schedule(draft.id, ["1001"], first)
        second = await slots.next_free("x", "1001", after)
        # another account posting then takes nothing from this one
        other = await services.drafting.create("Other brand")
        await services.scheduling.schedule(other.id, ["2002"], second)
        still = await slots.next_free("x", "1001", after)
        # a cancelled post frees its slot again
        await services.scheduling.cancel(done.targets[0].id)
        freed = await slots.next_free("x", "1001", after)
        return first, second, still, freed, done

    first, second, still, freed, _done = run(scenario())
    assert first.local == datetime.combine(tuesday, time(9)) and first.zone == BERLIN
    assert second.local == datetime.combine(tuesday + timedelta(days=2), time(9))
    assert still == second
    assert freed == first


def test_next_free_slot_stays_at_nine_local_across_a_dst_change(services: Any) -> None:
    # the Sunday the clocks change in Berlin (last Sunday of March or October), ahead of today
    today = date.today()
    switches = []
    for year in (today.year, today.year + 1):
        for month in (3, 10):
            last = date(year, month, 31)
            switches.append(last - timedelta(days=(last.weekday() - 6) % 7))
    switch = min(s for s in switches if s > today + timedelta(days=2))
    monday_before = switch - timedelta(days=6)
    monday_after = switch + timedelta(days=1)

    async def scenario() -> tuple[Any, Any]:
        await services.time_slots.add("x", "1001", 0, "09:00", BERLIN)
        before = await services.time_slots.next_free(
            "x", "1001", datetime.combine(monday_before, time(0), ZoneInfo(BERLIN)))
        after = await services.time_slots.next_free(
            "x", "1001", datetime.combine(monday_after, time(0), ZoneInfo(BERLIN)))
        return before, after

    before, after = run(scenario())
    for planned, day in ((before, monday_before), (after, monday_after)):
        assert planned.instant.astimezone(ZoneInfo(BERLIN)).replace(tzinfo=None) == \
            datetime.combine(day, time(9))
    assert after.instant - before.instant != timedelta(days=7)  # an hour more or less


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"p{i}.png"
        Image.new("RGB", (64 + i, 64), (40 * i, 90, 200)).save(path)
        paths.append(path)
    return paths


def test_bulk_schedule_fills_free_slots_in_turn_and_lists_what_it_skipped(
        services: Any, tmp_path: Path) -> None:
    connect(services, "x", "1001", "maya_creates")
    monday = next_weekday(0, date.today())
    after = datetime.combine(monday, time(0), ZoneInfo(BERLIN))

    async def scenario() -> tuple[Any, list[int], list[Any], int]:
        slots = services.time_slots
        for weekday in (0, 2, 4):
            await slots.add("x", "1001", weekday, "10:00", BERLIN)
        taken = await services.drafting.create("Already planned for Monday")
        await services.scheduling.schedule(
            taken.id, ["1001"], plan_instant(datetime.combine(monday, time(10)), BERLIN))
        ids = []
        for body in ("First of the week", "", "Five photos is one too many for X",
                     "Second of the week", "Third, into next week"):
            ids.append((await services.drafting.create(body)).id)
        items = await services.library.add_files(_photos(tmp_path / "five", 5))
        await services.library.attach(ids[2], [i.asset.id for i in items])
        result = await slots.schedule_into_slots(ids, "x", "1001", after=after)
        return result, ids, await services.scheduling.targets("pending"), taken.id

    result, ids, pending, taken_id = run(scenario())
    assert [(d, p.local) for d, _t, p in result.scheduled] == [
        (ids[0], datetime.combine(monday + timedelta(days=2), time(10))),
        (ids[3], datetime.combine(monday + timedelta(days=4), time(10))),
        (ids[4], datetime.combine(monday + timedelta(days=7), time(10))),  # next week's Monday
    ]
    skipped = {d: reason for d, _t, reason in result.skipped}
    assert set(skipped) == {ids[1], ids[2]}
    assert skipped[ids[1]] == "it is empty"
    assert "at most 4" in skipped[ids[2]]
    assert sorted(r.draft_id for r in pending) == sorted([taken_id, ids[0], ids[3], ids[4]])


def test_bulk_schedule_without_slots_skips_everything_saying_why(services: Any) -> None:
    connect(services, "x", "1001", "maya_creates")

    async def scenario() -> Any:
        draft = await services.drafting.create("Nowhere to go")
        return await services.time_slots.schedule_into_slots([draft.id], "x", "1001")

    result = run(scenario())
    assert result.scheduled == []
    assert "no free time slot" in result.skipped[0][2]
