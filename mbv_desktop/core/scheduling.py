"""Scheduling maths: wall-clock times in IANA zones, DST gaps and overlaps, slots, best times.

A post is planned as a wall-clock time in a zone ("09:00 in Europe/Paris") and stored as that
plus the UTC instant it means. :func:`plan_instant` turns one into the other with the zone's own
rules (``zoneinfo``), so a post planned for 09:00 on the day after a DST change is 09:00 local
on that day, not 08:00 or 10:00. A wall-clock time that does not exist (the spring-forward gap)
moves forward by the gap's length and says so; one that happens twice (the fall-back hour) means
the first of the two, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mbv_desktop.core.errors import InvalidInput

#: A post that goes out this much after its time is marked late (the machine was asleep, off…).
LATE_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class PlannedTime:
    """A wall-clock time in a zone and the UTC instant it means; ``note`` explains a DST
    adjustment ("" when none was needed)."""

    local: datetime  # naive wall-clock time in ``zone``
    zone: str
    instant: datetime  # aware, UTC
    note: str = ""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or InvalidInput naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"'{name}' is not a time zone this computer knows (use a name like "
                           "Europe/Paris or America/New_York).") from None


def local_zone_name() -> str:
    """This computer's IANA zone name, or "UTC" when it can't be told."""
    import os

    env = os.environ.get("TZ", "").lstrip(":")
    if env and _known(env):
        return env
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            name = target.split(marker, 1)[1]
            if _known(name):
                return name
    except OSError:
        pass
    return "UTC"


def _known(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def plan_instant(local: datetime, zone_name: str) -> PlannedTime:
    """The UTC instant of the wall-clock time ``local`` (naive) in ``zone_name``."""
    if local.tzinfo is not None:
        raise ValueError("plan_instant takes a wall-clock (naive) time")
    tz = zone(zone_name)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != local:  # the spring-forward gap: this wall-clock time never happens
        # fold=0 reads a gap time with the offset from before the change: that instant is the
        # wall time moved forward by the gap's length (02:30 -> 03:30 for a one-hour gap).
        instant = first.astimezone(UTC)
        moved = instant.astimezone(tz).replace(tzinfo=None)
        return PlannedTime(local, zone_name, instant,
                           f"{local:%H:%M} does not exist on {local:%Y-%m-%d} in {zone_name} "
                           f"(clocks go forward); it goes out at {moved:%H:%M} instead.")
    if first.utcoffset() != second.utcoffset():  # the fall-back hour happens twice
        return PlannedTime(local, zone_name, first.astimezone(UTC),
                           f"{local:%H:%M} happens twice on {local:%Y-%m-%d} in {zone_name} "
                           "(clocks go back); it goes out the first time.")
    return PlannedTime(local, zone_name, first.astimezone(UTC))


def parse_when(text: str, zone_name: str, *, now: datetime | None = None) -> PlannedTime:
    """``now``, or an ISO 8601 time. With an offset (``2026-12-01T09:00+01:00``) it is that
    instant, planned in ``zone_name``; without one it is a wall-clock time in ``zone_name``."""
    current = (now or datetime.now(UTC)).astimezone(UTC)
    value = text.strip()
    if value.lower() == "now":
        local = current.astimezone(zone(zone_name)).replace(tzinfo=None)
        return PlannedTime(local, zone_name, current)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"'{text}' is not a time; use ISO 8601 like 2026-12-01T09:00+01:00, "
                           "or now.") from None
    if parsed.tzinfo is None:
        return plan_instant(parsed, zone_name)
    instant = parsed.astimezone(UTC)
    local = instant.astimezone(zone(zone_name)).replace(tzinfo=None)
    return PlannedTime(local, zone_name, instant)


@dataclass(frozen=True)
class Slot:
    """A recurring posting slot: every ``weekday`` (0 Monday) at ``at`` in ``zone_name``."""

    weekday: int
    at: time
    zone_name: str


def next_free_slot(slots: list[Slot], after: datetime, taken: set[datetime],
                   *, horizon_days: int = 60) -> PlannedTime | None:
    """The first slot instant after ``after`` (aware) that isn't in ``taken`` (UTC instants)."""
    if not slots:
        return None
    start = after.astimezone(UTC)
    candidates: list[PlannedTime] = []
    for slot in slots:
        tz = zone(slot.zone_name)
        day: date = start.astimezone(tz).date()
        for offset in range(horizon_days + 1):
            current = day + timedelta(days=offset)
            if current.weekday() != slot.weekday:
                continue
            planned = plan_instant(datetime.combine(current, slot.at), slot.zone_name)
            if planned.instant > start and planned.instant not in taken:
                candidates.append(planned)
                break
    return min(candidates, key=lambda p: p.instant) if candidates else None


#: General best times when the creator has no history yet (local wall-clock hours, weekdays
#: 0-6 Monday first). Broad industry rules of thumb; the hint says so.
def _week(weekdays: tuple[int, ...], weekend: tuple[int, ...]) -> dict[int, tuple[int, ...]]:
    return {d: weekdays if d < 5 else weekend for d in range(7)}


DEFAULT_BEST_HOURS: dict[str, dict[int, tuple[int, ...]]] = {
    "x": _week((9, 12, 17), (10,)),
    "instagram": _week((11, 19), (10, 20)),
    "tiktok": _week((12, 19, 21), (11, 20)),
}


@dataclass(frozen=True)
class BestTime:
    weekday: int
    hour: int
    source: str  # "your posts" or "general defaults"


def best_times(platform: str, engagement_by_hour: dict[tuple[int, int], float] | None = None,
               *, limit: int = 3, min_posts: int = 10) -> list[BestTime]:
    """The best (weekday, hour) slots: from the creator's own engagement when there is enough of
    it (``engagement_by_hour``: (weekday, hour) → mean engagement; needs ``min_posts`` entries),
    else from :data:`DEFAULT_BEST_HOURS`, saying which."""
    if engagement_by_hour and len(engagement_by_hour) >= min_posts:
        ranked = sorted(engagement_by_hour.items(), key=lambda kv: kv[1], reverse=True)
        return [BestTime(w, h, "your posts") for (w, h), _ in ranked[:limit]]
    hours = DEFAULT_BEST_HOURS.get(platform, {})
    flat = [BestTime(w, h, "general defaults") for w, hs in sorted(hours.items()) for h in hs]
    return flat[:limit]
