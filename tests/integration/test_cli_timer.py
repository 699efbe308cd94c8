"""``mbv-desktop timer install|remove|status`` as a real process. XDG_CONFIG_HOME points into
the test's temp folder and PATH holds no systemctl, so no real systemd is ever asked or
changed: the commands to run by hand are reported instead."""

from __future__ import annotations

import json
from pathlib import Path

from mbv_desktop.services.publish_timer import COMPUTER_ON, SERVICE_NAME, TIMER_NAME
from tests.integration.test_cli import mbv


def no_systemd(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "no-tools"
    empty.mkdir(exist_ok=True)
    return {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "PATH": str(empty)}


def test_timer_status_install_status_remove_with_json(data_dir: Path, tmp_path: Path) -> None:
    env = no_systemd(tmp_path)
    unit_dir = tmp_path / "cfg" / "systemd" / "user"

    r = mbv("timer", "status", "--json", data_dir=data_dir, env=env)
    assert r.returncode == 0, r.stderr
    status = json.loads(r.stdout)
    assert status["action"] == "status" and status["system"] == "systemd"
    assert status["installed"] is False and status["enabled"] is None
    assert status["note"] == COMPUTER_ON
    assert status["run_yourself"] == [] and status["commands_run"] == []
    assert not data_dir.exists()  # status opens no profile

    r = mbv("timer", "install", "--json", data_dir=data_dir, env=env)
    assert r.returncode == 1  # written, but not on: the person has commands to run
    installed = json.loads(r.stdout)
    assert installed["installed"] is True and installed["up_to_date"] is True
    assert installed["data_dir"] == str(data_dir)
    assert installed["run_yourself"] == ["systemctl --user daemon-reload",
                                         f"systemctl --user enable --now {TIMER_NAME}"]
    service = (unit_dir / SERVICE_NAME).read_text()
    assert f'"--data-dir" "{data_dir}" "publish-due"' in service
    assert (unit_dir / TIMER_NAME).exists()

    r = mbv("timer", "status", data_dir=data_dir, env=env)
    assert r.returncode == 0
    assert "is installed" in r.stdout and r.stdout.rstrip().endswith(COMPUTER_ON)

    r = mbv("timer", "remove", data_dir=data_dir, env=env)
    assert r.returncode == 1  # systemd may still run the loaded timer until reloaded
    assert f"systemctl --user stop {TIMER_NAME}" in r.stdout
    assert not (unit_dir / SERVICE_NAME).exists() and not (unit_dir / TIMER_NAME).exists()


def test_timer_install_refuses_the_sandbox(data_dir: Path, tmp_path: Path) -> None:
    r = mbv("--sandbox", "timer", "install", data_dir=data_dir, env=no_systemd(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip() == ("mbv-desktop: The timer publishes with your live accounts; "
                                "install it without --sandbox.")
    assert not (tmp_path / "cfg").exists()


def test_timer_needs_an_action(data_dir: Path, tmp_path: Path) -> None:
    r = mbv("timer", data_dir=data_dir, env=no_systemd(tmp_path))
    assert r.returncode == 2 and "install" in r.stderr
