"""The import boundaries of DESIGN.md, checked by import-linter's contracts in pyproject.toml:
ui -> services -> (integrations, store, config) -> core; only ui and app import Qt; the
sandbox imports nothing of the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_first_window_path_does_not_import_heavy_sdks() -> None:
    code = (
        "import sys, mbv_desktop.app, mbv_desktop.ui.main_window, mbv_desktop.cli;"
        "heavy = [m for m in ('openai', 'boto3', 'stripe', 'twitter_text', 'authlib', "
        "'httpx', 'keyring', 'pyqtgraph', 'numpy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
