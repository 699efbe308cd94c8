"""Read-only views of the AI usage ledger (``ai_runs``, schema v2) for the spend charts: totals
per UTC day, provider and model.

``created_at`` is written by ``format_time`` (UTC, ISO 8601 with a Z), so its first ten
characters are the UTC day and text comparison is time order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

from mbv_desktop.core.drafts import format_time


@dataclass(frozen=True)
class SpendRow:
    """What one model of one provider cost on one UTC day."""

    day: date
    provider: str
    model: str
    runs: int
    cost_usd: float
    tokens_in: int
    tokens_out: int
    images: int
    unpriced_runs: int  # runs whose price was unknown (their cost counts as 0)


def spend_by_day(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[SpendRow]:
    """Runs from ``start`` (inclusive) to ``end`` (exclusive), grouped by UTC day, provider
    and model, in that order."""
    rows = conn.execute(
        "SELECT substr(created_at, 1, 10) AS day, provider, model, count(*),"
        " coalesce(sum(cost_usd), 0), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),"
        " coalesce(sum(images), 0), coalesce(sum(priced = 0), 0)"
        " FROM ai_runs WHERE created_at >= ? AND created_at < ?"
        " GROUP BY day, provider, model ORDER BY day, provider, model",
        (format_time(start), format_time(end)))
    return [SpendRow(date.fromisoformat(r[0]), r[1], r[2], r[3], float(r[4]), r[5], r[6], r[7],
                     r[8]) for r in rows]
