"""Recurring weekly posting slots per account, and "post in the next free slot".

A slot is a weekday and a wall-clock time in a zone ("every Tuesday at 09:00 Europe/Berlin")
for one publishing account (table ``time_slots``, schema v6). The next free slot of an account
is the first slot instant after a given time at which that account has no pending or
in-flight post yet (:func:`core.scheduling.next_free_slot`, DST-correct). Bulk scheduling puts
several drafts into an account's next free slots in turn, checking each first and skipping (and
naming) the ones that can't go.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import TYPE_CHECKING

from mbv_desktop.core.drafts import parse_time, title_of
from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.core.scheduling import PlannedTime, Slot, next_free_slot, zone
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.posts import PostRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.services.drafting import DraftingService
    from mbv_desktop.services.scheduling import SchedulingService

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: How far ahead a free slot is looked for.
HORIZON_DAYS = 60


@dataclass(frozen=True)
class TimeSlot:
    id: int
    provider: str
    account_id: str
    weekday: int  # 0 Monday … 6 Sunday
    local_time: str  # "HH:MM" in ``time_zone``
    time_zone: str

    @property
    def at(self) -> time:
        return time.fromisoformat(self.local_time)

    def slot(self) -> Slot:
        return Slot(self.weekday, self.at, self.time_zone)

    def describe(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.local_time} ({self.time_zone})"


@dataclass(frozen=True)
class TimeSlotsChanged:
    provider: str
    account_id: str


@dataclass
class BulkResult:
    """What bulk scheduling did: each scheduled draft with its time, each skipped one with why."""

    scheduled: list[tuple[int, str, PlannedTime]] = field(default_factory=list)  # id, title
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # id, title, reason


def _parse_local_time(value: str | time) -> str:
    if isinstance(value, time):
        return f"{value.hour:02d}:{value.minute:02d}"
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        raise InvalidInput(f"'{value}' is not a time of day; use HH:MM, like 09:30.")
    return f"{int(match[1]):02d}:{match[2]}"


_COLUMNS = "id, provider, account_id, weekday, local_time, time_zone"


class TimeSlotsService:
    def __init__(self, worker: StoreWorker, drafting: DraftingService,
                 scheduling: SchedulingService) -> None:
        self._worker = worker
        self._drafting = drafting
        self._scheduling = scheduling
        self.events: EventHub[TimeSlotsChanged] = EventHub()

    async def slots(self, provider: str | None = None, account_id: str | None = None
                    ) -> list[TimeSlot]:
        """Every slot (or one account's), by account, weekday and time."""

        def read(c: sqlite3.Connection) -> list[TimeSlot]:
            sql = f"SELECT {_COLUMNS} FROM time_slots"
            params: tuple[str, ...] = ()
            if provider is not None and account_id is not None:
                sql += " WHERE provider = ? AND account_id = ?"
                params = (provider, account_id)
            sql += " ORDER BY provider, account_id, weekday, local_time"
            return [TimeSlot(*r) for r in c.execute(sql, params)]

        return await self._worker.call(read, write=False)

    async def add(self, provider: str, account_id: str, weekday: int, local_time: str | time,
                  time_zone: str) -> TimeSlot:
        """A weekly slot; InvalidInput for a bad weekday, time or zone, or a duplicate."""
        if not 0 <= weekday <= 6:
            raise InvalidInput("The weekday must be 0 (Monday) to 6 (Sunday).")
        at = _parse_local_time(local_time)
        zone(time_zone)  # an unknown zone is refused with a sentence naming it

        def write(c: sqlite3.Connection) -> TimeSlot:
            try:
                slot_id = c.execute(
                    "INSERT INTO time_slots (provider, account_id, weekday, local_time, time_zone)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (provider, account_id, weekday, at, time_zone)).lastrowid
            except sqlite3.IntegrityError:
                raise InvalidInput(f"There already is a slot on {WEEKDAYS[weekday]} at {at} "
                                   "for this account.") from None
            assert slot_id is not None
            return TimeSlot(slot_id, provider, account_id, weekday, at, time_zone)

        slot = await self._worker.call(write)
        self.events.publish(TimeSlotsChanged(provider, account_id))
        return slot

    async def remove(self, slot_id: int) -> None:
        def write(c: sqlite3.Connection) -> tuple[str, str] | None:
            row = c.execute("SELECT provider, account_id FROM time_slots WHERE id = ?",
                            (slot_id,)).fetchone()
            c.execute("DELETE FROM time_slots WHERE id = ?", (slot_id,))
            return (row[0], row[1]) if row else None

        removed = await self._worker.call(write)
        if removed is not None:
            self.events.publish(TimeSlotsChanged(*removed))

    async def next_free(self, provider: str, account_id: str, after: datetime | None = None
                        ) -> PlannedTime | None:
        """The account's first slot after ``after`` (aware; default now) where it has no
        pending or in-flight post; None when it has no slots or none is free in
        :data:`HORIZON_DAYS` days."""
        return await self.next_free_for([(provider, account_id)], after)

    async def next_free_for(self, accounts: Iterable[tuple[str, str]],
                            after: datetime | None = None) -> PlannedTime | None:
        """The first slot of any of ``accounts`` at which none of them has a post yet (for one
        post going to all of them)."""
        wanted = list(dict.fromkeys(accounts))
        start = after or datetime.now(UTC)
        if start.tzinfo is None:
            raise ValueError("next_free takes an aware time")

        def read(c: sqlite3.Connection) -> tuple[list[Slot], set[datetime]]:
            slots: list[Slot] = []
            taken: set[datetime] = set()
            repo = PostRepository(c)
            for provider, account_id in wanted:
                slots.extend(TimeSlot(*r).slot() for r in c.execute(
                    f"SELECT {_COLUMNS} FROM time_slots WHERE provider = ? AND account_id = ?",
                    (provider, account_id)))
                taken.update(parse_time(t) for t in repo.taken_instants(provider, account_id))
            return slots, taken

        slots, taken = await self._worker.call(read, write=False)
        return next_free_slot(slots, start, taken, horizon_days=HORIZON_DAYS)

    async def schedule_into_slots(self, draft_ids: Iterable[int], provider: str,
                                  account_id: str, *, after: datetime | None = None
                                  ) -> BulkResult:
        """Each draft, in order, into the account's next free slot. A draft with a problem
        (text too long, media the platform refuses, account to reconnect…) is skipped with
        its reasons; when the slots run out the rest are skipped saying so."""
        result = BulkResult()
        for draft_id in draft_ids:
            try:
                draft = await self._drafting.get(draft_id)
            except MbvError:
                result.skipped.append((draft_id, f"draft {draft_id}", "it no longer exists"))
                continue
            title = title_of(draft.body)
            if not draft.body.strip():
                result.skipped.append((draft_id, title, "it is empty"))
                continue
            try:
                _targets, problems = await self._scheduling.check(draft_id, [account_id])
            except MbvError as exc:
                problems = [str(exc)]
            if problems:
                result.skipped.append((draft_id, title, " ".join(problems)))
                continue
            planned = await self.next_free(provider, account_id, after)
            if planned is None:
                result.skipped.append((draft_id, title, "no free time slot in the next "
                                       f"{HORIZON_DAYS} days (add slots with Time slots…)"))
                continue
            try:
                await self._scheduling.schedule(draft_id, [account_id], planned)
            except MbvError as exc:
                result.skipped.append((draft_id, title, str(exc)))
                continue
            result.scheduled.append((draft_id, title, planned))
        return result
