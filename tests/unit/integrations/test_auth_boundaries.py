"""What the sign-in package may and may not pull in (reliability.md 1; DESIGN "Layout"):
no Qt, no web view (sign-in happens only in the system browser), no authlib on import, and
joserfc only once an id_token is checked; plus error sentences that never carry secrets."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

from mbv_desktop.core.errors import AuthExpired, ProviderError
from mbv_desktop.integrations.auth import (
    AuthDenied,
    AuthError,
    AuthTimeout,
    DeviceCodeExpired,
    InvalidIdToken,
    LoopbackUnavailable,
    NeedsReconnect,
)

PACKAGE = Path(__file__).resolve().parents[3] / "mbv_desktop" / "integrations" / "auth"


def test_no_qt_and_no_embedded_browser() -> None:
    forbidden = ("PySide6", "qasync", "PyQt5", "PyQt6", "webview", "QtWebEngine")
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not any(part in name for part in forbidden), f"{path.name}: {name}"


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, mbv_desktop.integrations.auth as a; "
            "print(','.join(m for m in ('authlib', 'joserfc', 'PySide6', 'keyring') "
            "if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=PACKAGE.parents[2], timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_error_classes_and_sentences() -> None:
    assert issubclass(NeedsReconnect, AuthExpired)
    for cls in (AuthError, AuthDenied, AuthTimeout, InvalidIdToken, DeviceCodeExpired,
                LoopbackUnavailable):
        assert issubclass(cls, ProviderError)
        text = str(cls(provider="github"))
        assert "GitHub" in text and text.endswith(".") and text[0].isupper()
    assert str(AuthTimeout(provider="x", timeout=300)) == (
        "The sign-in to X was not finished in the browser within 5 minutes; start it again "
        "when you are ready.")
    assert str(LoopbackUnavailable(provider="google", reason="permission denied")).startswith(
        "The app could not open a local port on 127.0.0.1 to finish signing in to Google "
        "(permission denied)")
    error = NeedsReconnect(provider="tiktok", account_id="open-1", status=400)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.provider, copy.account_id, copy.status, str(copy)) == (
        "tiktok", "open-1", 400, str(error))
