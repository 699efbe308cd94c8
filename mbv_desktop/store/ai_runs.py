"""The AI usage and cost ledger: one row per run, totals per month, recent runs."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from mbv_desktop.core.drafts import format_time


@dataclass(frozen=True)
class AiRunRecord:
    provider: str
    model: str
    kind: str
    status: str  # complete | partial | cancelled | failed
    tokens_in: int = 0
    tokens_out: int = 0
    images: int = 0
    units: float = 0.0
    cost_usd: float = 0.0
    priced: bool = True
    estimated: bool = False
    draft_id: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class SpendTotal:
    runs: int
    cost_usd: float
    tokens_in: int
    tokens_out: int
    images: int
    unpriced_runs: int


class AiRunRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def record(self, run: AiRunRecord, at: datetime) -> int:
        cur = self._conn.execute(
            "INSERT INTO ai_runs (created_at, provider, model, kind, status, tokens_in,"
            " tokens_out, images, units, cost_usd, priced, estimated, draft_id, error)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (format_time(at), run.provider, run.model, run.kind, run.status, run.tokens_in,
             run.tokens_out, run.images, run.units, run.cost_usd, int(run.priced),
             int(run.estimated), run.draft_id, run.error),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def total_between(self, start: datetime, end: datetime) -> SpendTotal:
        row = self._conn.execute(
            "SELECT count(*), coalesce(sum(cost_usd), 0), coalesce(sum(tokens_in), 0),"
            " coalesce(sum(tokens_out), 0), coalesce(sum(images), 0),"
            " coalesce(sum(priced = 0), 0)"
            " FROM ai_runs WHERE created_at >= ? AND created_at < ?",
            (format_time(start), format_time(end)),
        ).fetchone()
        return SpendTotal(row[0], float(row[1]), row[2], row[3], row[4], row[5])
