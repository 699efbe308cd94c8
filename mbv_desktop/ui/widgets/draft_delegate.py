"""Paints one row of the draft list: title, search snippet with matches highlighted (or the
start of the text), platforms, tags and when it was last edited. Fixed height, so the view
can use uniform item sizes and stay smooth with 100,000 rows."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mbv_desktop.core.drafts import DraftSummary
from mbv_desktop.core.platforms import Platform
from mbv_desktop.core.search import split_highlights
from mbv_desktop.ui.models.draft_list_model import SummaryRole

ROW_HEIGHT = 58
PLATFORM_BADGES = {Platform.X: "X", Platform.INSTAGRAM: "IG", Platform.TIKTOK: "TT"}


def relative_time(iso: str, now: datetime | None = None) -> str:
    then = datetime.fromisoformat(iso)
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return then.astimezone().strftime("%d %b %Y")


class DraftDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
                 ) -> QSize:
        return QSize(200, ROW_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        summary: DraftSummary | None = index.data(SummaryRole)
        if summary is None:
            return
        painter.save()
        style = option.widget.style() if option.widget else None
        if style is not None:
            style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter,
                                option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_color = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        muted = QColor(text_color)
        muted.setAlphaF(0.65)
        r = option.rect.adjusted(10, 6, -10, -6)

        title_font = QFont(option.font)
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(text_color)
        meta = relative_time(summary.updated_at)
        badges = " ".join(PLATFORM_BADGES[p] for p in summary.platforms)
        right_text = f"{badges}   {meta}" if badges else meta
        fm_small = QFontMetrics(option.font)
        right_w = fm_small.horizontalAdvance(right_text) + 8
        title_rect = QRect(r.left(), r.top(), r.width() - right_w, r.height() // 2)
        title = QFontMetrics(title_font).elidedText(summary.title, Qt.TextElideMode.ElideRight,
                                                     title_rect.width())
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         title)
        painter.setFont(option.font)
        painter.setPen(muted)
        painter.drawText(QRect(r.right() - right_w, r.top(), right_w, r.height() // 2),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, right_text)

        line2 = QRect(r.left(), r.top() + r.height() // 2, r.width(), r.height() // 2)
        if summary.snippet:
            self._paint_snippet(painter, line2, summary.snippet, text_color, muted, palette)
        else:
            tags = "  ".join(f"#{t}" for t in summary.tags) or summary.state.value
            painter.drawText(line2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             fm_small.elidedText(tags, Qt.TextElideMode.ElideRight, line2.width()))
        painter.restore()

    @staticmethod
    def _paint_snippet(painter: QPainter, rect: QRect, snippet: str, text: QColor,
                       muted: QColor, palette: QPalette) -> None:
        fm = painter.fontMetrics()
        x = rect.left()
        mark = QColor(palette.color(QPalette.ColorRole.Highlight))
        mark.setAlphaF(0.35)
        for run, is_match in split_highlights(snippet.replace("\n", " ")):
            width = fm.horizontalAdvance(run)
            if x + width > rect.right():
                run = fm.elidedText(run, Qt.TextElideMode.ElideRight, rect.right() - x)
                width = fm.horizontalAdvance(run)
            box = QRect(x, rect.top(), width, rect.height())
            if is_match:
                painter.fillRect(box.adjusted(0, 3, 0, -3), mark)
                painter.setPen(text)
            else:
                painter.setPen(muted)
            painter.drawText(box, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, run)
            x += width
            if x >= rect.right():
                break
