"""The Campaigns tab: posts grouped into a campaign (name, dates, budget, goal) and judged
together: totals, engagement over time, and the platforms side by side.

"New campaign…" asks for the campaign and which scheduled or published posts belong to it;
"Edit…" changes any of that later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.analytics import METRIC_LABELS
from mbv_desktop.core.drafts import title_of
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.charts.bars import BarChart
from mbv_desktop.ui.widgets.charts.data import Series, format_value
from mbv_desktop.ui.widgets.charts.timeseries import TimeSeriesChart

GOAL_LABELS = {"": "No particular goal", "reach": "Reach", "engagement": "Engagement",
               "followers": "Followers", "traffic": "Traffic"}


class CampaignDialog(QDialog):
    """Name, dates, budget, goal, and the posts of a new campaign."""

    def __init__(self, posts: list[tuple[int, str]], parent: QWidget | None = None, *,
                 campaign: Any = None, chosen: Sequence[int] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit campaign" if campaign is not None else "New campaign")
        self.name = QLineEdit(self)
        self.name.setMaxLength(80)
        today = QDate.currentDate()
        self.starts = QDateEdit(today, self)
        self.ends = QDateEdit(today.addDays(30), self)
        for edit in (self.starts, self.ends):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.budget = QDoubleSpinBox(self)
        self.budget.setRange(0, 1_000_000)
        self.budget.setPrefix("$ ")
        self.budget.setSpecialValueText("No budget")
        self.goal = QComboBox(self)
        for key, label in GOAL_LABELS.items():
            self.goal.addItem(label, key)
        self.posts = QListWidget(self)
        self.posts.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        self.posts.setAccessibleName("Posts in the campaign")
        for post_id, text in posts:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, post_id)
            self.posts.addItem(item)
            item.setSelected(post_id in chosen)
        if campaign is not None:
            self.name.setText(campaign.name)
            self.starts.setDate(QDate(campaign.starts_on))
            self.ends.setDate(QDate(campaign.ends_on))
            self.budget.setValue(campaign.budget_usd or 0)
            self.goal.setCurrentIndex(max(0, self.goal.findData(campaign.goal)))
        form = QFormLayout(self)
        form.addRow("&Name:", self.name)
        form.addRow("&Starts:", self.starts)
        form.addRow("&Ends:", self.ends)
        form.addRow("&Budget:", self.budget)
        form.addRow("&Goal:", self.goal)
        form.addRow("&Posts:", self.posts)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict[str, Any]:
        return {"name": self.name.text(),
                "starts_on": self.starts.date().toPython(),
                "ends_on": self.ends.date().toPython(),
                "budget_usd": self.budget.value() or None,
                "goal": self.goal.currentData(),
                "post_ids": [i.data(Qt.ItemDataRole.UserRole)
                             for i in self.posts.selectedItems()]}


class CampaignsTab(QWidget):
    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = tasks
        self.list = QListWidget(self)
        self.list.setAccessibleName("Campaigns")
        self.list.currentItemChanged.connect(lambda *_: self._show_selected())
        self.new_button = QPushButton("&New campaign…", self)
        self.new_button.clicked.connect(self.new_campaign)
        self.edit_button = QPushButton("&Edit…", self)
        self.edit_button.setToolTip("Change the campaign, or which posts belong to it")
        self.edit_button.clicked.connect(self.edit_campaign)
        self.delete_button = QPushButton("Delete", self)
        self.delete_button.clicked.connect(self._delete)
        self.summary = QLabel("Group posts into a campaign to see how they did together.",
                              self)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.over_time = TimeSeriesChart(self, title="Campaign engagement over time",
                                         y_label="Engagement")
        self.by_platform = BarChart(self, title="Campaign by platform", y_label="Total")

        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.addWidget(self.list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.edit_button)
        buttons.addWidget(self.delete_button)
        left_layout.addLayout(buttons)
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.addWidget(self.summary)
        right_layout.addWidget(self.over_time, 3)
        right_layout.addWidget(self.by_platform, 2)
        splitter = QSplitter(self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    def load(self) -> None:
        self._tasks.run(self._services.campaigns.list(), label="Reading campaigns",
                        latest_wins="analytics-campaigns", progress=False,
                        on_success=self._fill)

    def _fill(self, campaigns: list[Any], select: int | None = None) -> None:
        current = select if select is not None else self._selected()
        self.list.clear()
        for campaign in campaigns:
            item = QListWidgetItem(f"{campaign.name}\n{campaign.starts_on} – {campaign.ends_on}"
                                   f" · {campaign.post_count} posts")
            item.setData(Qt.ItemDataRole.UserRole, campaign.id)
            self.list.addItem(item)
            if campaign.id == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)

    def _selected(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _show_selected(self) -> None:
        campaign_id = self._selected()
        if campaign_id is None:
            return
        self._tasks.run(self._services.campaigns.results(campaign_id),
                        label="Reading the campaign's figures",
                        latest_wins="analytics-campaign", progress=False,
                        on_success=self.show_results)

    def show_results(self, results: Any) -> None:
        c = results.campaign
        totals = results.totals
        parts = [f"<b>{c.name}</b> — {c.starts_on} to {c.ends_on}, "
                 f"goal: {GOAL_LABELS.get(c.goal, c.goal)}",
                 f"{len(results.post_ids)} posts on {len(results.targets)} accounts"]
        figures = ", ".join(f"{METRIC_LABELS.get(k, k)} {format_value(v)}"
                            for k, v in totals.items())
        parts.append(figures or "no figures collected yet")
        if results.budget_usd:
            per = results.budget_per_engagement
            parts.append(f"budget ${results.budget_usd:,.2f}"
                         + (f" (${per:,.3f} per engagement if all spent)" if per else ""))
        self.summary.setText("<br>".join(parts))
        points = results.engagement_over_time
        self.over_time.set_series([Series(
            c.name, np.array([t for t, _ in points], dtype=np.float64),
            np.array([v for _, v in points], dtype=np.float64))] if points else [])
        platforms = sorted(results.by_platform)
        self.by_platform.set_data(
            [platform_label(p) for p in platforms],
            {METRIC_LABELS[m]: [results.by_platform[p].get(m, math.nan) for p in platforms]
             for m in ("views", "engagement")})

    def new_campaign(self) -> None:
        self._tasks.run(self._services.scheduling.targets(), label="Reading posts",
                        progress=False, on_success=self._ask)

    def edit_campaign(self) -> None:
        campaign_id = self._selected()
        if campaign_id is None:
            return
        campaigns = self._services.campaigns

        async def read() -> tuple[list[Any], Any, list[int]]:
            return (await self._services.scheduling.targets(), await campaigns.get(campaign_id),
                    await campaigns.posts_of(campaign_id))

        self._tasks.run(read(), label="Reading the campaign", progress=False,
                        on_success=lambda loaded: self._ask(*loaded))

    def _ask(self, targets: list[Any], campaign: Any = None, chosen: Sequence[int] = ()
             ) -> None:
        seen: dict[int, str] = {}
        for t in targets:
            if t.state == "cancelled" or t.post_id in seen:
                continue
            when = t.scheduled_at.astimezone().strftime("%Y-%m-%d %H:%M")
            seen[t.post_id] = f"{when}  {title_of(t.body)[:60]}"
        dialog = CampaignDialog(sorted(seen.items(), key=lambda kv: kv[1], reverse=True), self,
                                campaign=campaign, chosen=chosen)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        values = dialog.values()
        if campaign is None:
            self._tasks.run(self._services.campaigns.create(**values),
                            label="Creating the campaign",
                            on_success=lambda c: self._created(c.id))
            return
        self._tasks.run(self._save(campaign.id, values, set(chosen)),
                        label="Saving the campaign",
                        on_success=lambda _r: self._created(campaign.id))

    async def _save(self, campaign_id: int, values: dict[str, Any], before: set[int]) -> None:
        campaigns = self._services.campaigns
        after = set(values.pop("post_ids"))
        await campaigns.update(campaign_id, **values)
        if after - before:
            await campaigns.add_posts(campaign_id, sorted(after - before))
        if before - after:
            await campaigns.remove_posts(campaign_id, sorted(before - after))

    def _created(self, campaign_id: int) -> None:
        self._tasks.run(self._services.campaigns.list(), label="Reading campaigns",
                        progress=False, on_success=lambda cs: self._fill(cs, campaign_id))

    def _delete(self) -> None:
        campaign_id = self._selected()
        if campaign_id is None:
            return
        answer = QMessageBox.question(self, "Delete campaign",
                                      "Delete this campaign? Its posts stay as they are.")
        if answer == QMessageBox.StandardButton.Yes:
            self._tasks.run(self._services.campaigns.delete(campaign_id),
                            label="Deleting the campaign", on_success=lambda _r: self.load())
