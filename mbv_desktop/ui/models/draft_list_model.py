"""The draft list as a Qt model that fetches pages lazily, so 100,000 drafts cost one page.

The model holds ``DraftSummary`` rows only; the view paints them with ``DraftDelegate``.
Search results arrive from the task runner (off the GUI thread) through ``apply_search``;
further pages are read on demand through a ``DraftReader``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from mbv_desktop.core.drafts import DraftQuery, DraftSummary, SearchResult
from mbv_desktop.services.drafting import DraftReader

PAGE_SIZE = 100
SummaryRole = Qt.ItemDataRole.UserRole + 1
DraftIdRole = Qt.ItemDataRole.UserRole + 2

_Index = QModelIndex | QPersistentModelIndex


class DraftListModel(QAbstractListModel):
    def __init__(self, reader: DraftReader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._reader = reader
        self._query = DraftQuery()
        self._rows: list[DraftSummary] = []
        self._total = 0
        self._ids: tuple[int, ...] | None = None  # a search's matches, in order

    @property
    def query(self) -> DraftQuery:
        return self._query

    @property
    def total(self) -> int:
        return self._total

    # --- Qt model API ----------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title
        if role == SummaryRole:
            return row
        if role == DraftIdRole:
            return row.id
        if role == Qt.ItemDataRole.ToolTipRole:
            return ", ".join(f"#{t}" for t in row.tags) or None
        return None

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:
        return not parent.isValid() and len(self._rows) < self._total

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:
        if parent.isValid() or not self._rows:
            return
        if self._ids is not None:
            start = len(self._rows)
            page = self._reader.summaries(self._ids[start:start + PAGE_SIZE], self._query)
        else:
            page = self._reader.page(self._query, self._rows[-1], PAGE_SIZE)
        if not page:
            self._total = len(self._rows)  # the list shrank underneath us
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
        self._rows.extend(page)
        self.endInsertRows()

    # --- loading ---------------------------------------------------------------------------

    def set_query(self, query: DraftQuery) -> None:
        """Loads the first page synchronously (a few milliseconds)."""
        self.apply_search(self._reader.search(query, PAGE_SIZE))

    def apply_search(self, result: SearchResult) -> None:
        self.beginResetModel()
        self._query = result.query
        self._total = result.total
        self._ids = result.ids
        self._rows = list(result.first_page)
        self.endResetModel()

    def reload(self) -> None:
        """Runs the query again, keeping as many rows loaded as now (after creates, deletes
        and imports), so the view does not jump back to the top."""
        loaded = len(self._rows)
        result = self._reader.search(self._query, max(loaded, PAGE_SIZE))
        self.apply_search(result)

    def refresh_rows(self, ids: tuple[int, ...]) -> None:
        """Repaints edited drafts in place (no re-sorting while the person types)."""
        positions = {r.id: i for i, r in enumerate(self._rows) if r.id in ids}
        if not positions:
            return
        fresh = self._reader.page(
            DraftQuery(ids=tuple(positions), sort=self._query.sort), None, len(positions)
        )
        for summary in fresh:
            i = positions[summary.id]
            old = self._rows[i]
            # keep the search snippet: it belongs to the query, not to the row
            self._rows[i] = summary if not old.snippet else _with_snippet(summary, old.snippet)
            idx = self.index(i)
            self.dataChanged.emit(idx, idx)

    def row_of(self, draft_id: int) -> int | None:
        for i, r in enumerate(self._rows):
            if r.id == draft_id:
                return i
        return None

    def summary_at(self, row: int) -> DraftSummary | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None


def _with_snippet(summary: DraftSummary, snippet: str) -> DraftSummary:
    return replace(summary, snippet=snippet)
