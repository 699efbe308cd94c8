"""The README's configuration table is generated from the settings schema; keep them equal."""

from __future__ import annotations

from pathlib import Path

from mbv_desktop.config.settings import SETTINGS, settings_table_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_exactly_as_the_schema_says() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("-->", text.index("<!-- settings-table:start")) + len("-->\n")
    end = text.index("<!-- settings-table:end -->")
    assert text[start:end].strip() == settings_table_markdown().strip(), (
        "regenerate the table: python -c 'from mbv_desktop.config.settings import "
        "settings_table_markdown as t; print(t())'")
    for spec in SETTINGS:
        assert spec.env in text


def test_quick_start_has_exactly_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start"):text.index("##", text.index("## Quick start") + 3)]
    block = quick[quick.index("```sh") + 5:quick.index("```", quick.index("```sh") + 5)]
    commands = [line for line in block.splitlines() if line.strip()]
    assert [c.split()[0:2] for c in commands] == [["./dev.sh", "run"], ["./dev.sh", "test"]]
