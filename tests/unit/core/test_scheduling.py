"""Scheduling maths: a 09:00 post stays 09:00 local across DST changes; gaps and repeated hours
are resolved and explained; ISO times with and without offsets; slots; best-time hints."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.scheduling import (
    Slot,
    best_times,
    next_free_slot,
    parse_when,
    plan_instant,
)


@pytest.mark.parametrize(("zone", "before", "after"), [
    ("Europe/Paris", datetime(2026, 3, 28, 9), datetime(2026, 3, 30, 9)),
    ("Europe/Paris", datetime(2026, 10, 24, 9), datetime(2026, 10, 26, 9)),
    ("America/New_York", datetime(2026, 3, 7, 9), datetime(2026, 3, 9, 9)),
    ("America/New_York", datetime(2026, 10, 31, 9), datetime(2026, 11, 2, 9)),
])
def test_nine_stays_nine_local_across_a_dst_switch(zone: str, before: datetime,
                                                   after: datetime) -> None:
    first, second = plan_instant(before, zone), plan_instant(after, zone)
    for planned, wall in ((first, before), (second, after)):
        assert planned.instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None) == wall
        assert planned.note == ""
    # two days apart on the wall clock, but not 48 hours apart in real time
    assert second.instant - first.instant != timedelta(hours=48)


def test_a_time_in_the_spring_gap_moves_forward_and_says_so() -> None:
    planned = plan_instant(datetime(2026, 3, 29, 2, 30), "Europe/Paris")
    assert planned.instant == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert "does not exist" in planned.note and "03:30" in planned.note


def test_a_repeated_hour_means_the_first_one_and_says_so() -> None:
    planned = plan_instant(datetime(2026, 10, 25, 2, 30), "Europe/Paris")
    assert planned.instant == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert "happens twice" in planned.note


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31)),
       st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney",
                        "UTC"]))
def test_a_planned_time_is_that_wall_clock_unless_it_does_not_exist(
        local: datetime, zone: str) -> None:
    planned = plan_instant(local.replace(microsecond=0), zone)
    shown = planned.instant.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    if "does not exist" in planned.note:
        assert shown > local.replace(microsecond=0)
    else:
        assert shown == local.replace(microsecond=0)


def test_parse_when_with_offset_without_offset_and_now() -> None:
    with_offset = parse_when("2026-12-01T09:00+01:00", "America/New_York")
    assert with_offset.instant == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert with_offset.local == datetime(2026, 12, 1, 3)  # shown in the planning zone
    wall = parse_when("2026-12-01T09:00", "Europe/Paris")
    assert wall.instant == datetime(2026, 12, 1, 8, tzinfo=UTC)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert parse_when("now", "UTC", now=now).instant == now
    with pytest.raises(InvalidInput, match="not a time"):
        parse_when("next tuesday", "UTC")
    with pytest.raises(InvalidInput, match="time zone"):
        parse_when("now", "Mars/Olympus_Mons")


def test_next_free_slot_skips_taken_ones() -> None:
    slots = [Slot(0, time(9), "Europe/Paris"), Slot(2, time(18), "Europe/Paris")]
    monday = datetime(2026, 11, 30, 7, tzinfo=UTC)  # Monday 08:00 in Paris
    first = next_free_slot(slots, monday, set())
    assert first is not None and first.local == datetime(2026, 11, 30, 9)
    second = next_free_slot(slots, monday, {first.instant})
    assert second is not None and second.local == datetime(2026, 12, 2, 18)
    assert next_free_slot([], monday, set()) is None


def test_best_times_say_where_they_come_from() -> None:
    defaults = best_times("instagram")
    assert defaults and {b.source for b in defaults} == {"general defaults"}
    own = {(d, h): float(d * 24 + h) for d in range(2) for h in range(6)}
    mine = best_times("instagram", own)
    assert {b.source for b in mine} == {"your posts"} and (mine[0].weekday, mine[0].hour) == (1, 5)
