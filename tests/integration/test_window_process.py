"""The window as a process: --screenshot renders the real window, a second window on the same
data dir is refused with a clear sentence, drafts survive a restart."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parents[1] / "support"


def run_app(*args: str, env: dict[str, str] | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mbv_desktop", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})})


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_of_the_create_panel_shows_existing_drafts(data_dir: Path, tmp_path: Path
                                                              ) -> None:
    add = subprocess.run([sys.executable, "-m", "mbv_desktop", "--data-dir", str(data_dir),
                          "drafts", "add", "Survives a restart"], capture_output=True, text=True,
                         cwd=REPO)
    assert add.returncode == 0, add.stderr
    shot = tmp_path / "s.png"
    r = run_app("--data-dir", str(data_dir), "--panel", "create", "--screenshot", str(shot))
    assert r.returncode == 0, r.stderr
    width, height = png_size(shot)
    assert width >= 760 and height >= 520
    assert r.stderr == "" or "Warning" not in r.stderr


def test_unknown_panel_is_refused(data_dir: Path, tmp_path: Path) -> None:
    r = run_app("--data-dir", str(data_dir), "--panel", "nope", "--screenshot",
                str(tmp_path / "s.png"))
    assert r.returncode == 2
    assert "no panel 'nope'" in r.stderr and not (tmp_path / "s.png").exists()


def test_second_window_on_the_same_data_dir_is_refused(data_dir: Path, tmp_path: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from mbv_desktop.config.instance_lock import InstanceLock;"
         "from pathlib import Path; l = InstanceLock(Path(sys.argv[1])); l.acquire();"
         "print('held', flush=True); time.sleep(60)", str(data_dir)],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        r = run_app("--data-dir", str(data_dir), "--screenshot", str(tmp_path / "s.png"))
        assert r.returncode == 2
        assert "already open" in r.stderr
        # the command line keeps working beside an open window (WAL, one writer at a time)
        add = subprocess.run([sys.executable, "-m", "mbv_desktop", "--data-dir", str(data_dir),
                              "drafts", "add", "from a script"], capture_output=True, text=True,
                             cwd=REPO)
        assert add.returncode == 0, add.stderr
    finally:
        holder.kill()
        holder.wait()
