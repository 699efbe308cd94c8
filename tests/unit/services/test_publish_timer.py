"""The OS timer that runs ``mbv-desktop publish-due``: the unit texts, and install / remove /
status against a temp config folder and a fake command runner (systemctl there, missing, or
failing as inside a container). No test runs a real systemctl, launchctl or schtasks."""

from __future__ import annotations

import os
import plistlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import run

from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.services.publish_timer import (
    COMPUTER_ON,
    LAUNCHD_LABEL,
    SERVICE_NAME,
    TIMER_NAME,
    WINDOWS_TASK,
    CommandResult,
    PublishTimer,
    launchd_plist_text,
    publish_command,
    recipes,
    run_command,
    systemd_service_text,
    systemd_timer_text,
    systemd_user_dir,
)

PYTHON = "/opt/mbv/venv/bin/python3"
BUS_DOWN = "Failed to connect to bus: No medium found"


class FakeSystemctl:
    """Answers like ``systemctl --user`` on a desktop (or like one with no session bus)."""

    def __init__(self, *, bus: bool = True, fail: str | None = None) -> None:
        self.bus = bus
        self.fail = fail  # a verb that fails even with a bus
        self.calls: list[list[str]] = []
        self.enabled = False
        self.active = False

    def __call__(self, args: Sequence[str]) -> CommandResult:
        args = list(args)
        self.calls.append(args)
        assert args[:2] == ["systemctl", "--user"], args  # never the system manager
        verb = args[2]
        if verb == "is-enabled":  # works offline: it reads the unit files
            return CommandResult(0 if self.enabled else 1,
                                 "enabled\n" if self.enabled else "disabled\n")
        if not self.bus:
            return CommandResult(1, "", BUS_DOWN + "\n")
        if verb == self.fail:
            return CommandResult(1, "", f"Failed to {verb}: Access denied\n")
        if verb == "enable":
            self.enabled = self.active = True
        elif verb == "disable":
            self.enabled = self.active = False
        elif verb == "is-active":
            return CommandResult(0 if self.active else 3,
                                 "active\n" if self.active else "inactive\n")
        elif verb == "show" and args[3] == TIMER_NAME:
            return CommandResult(0, "NextElapseUSecRealtime=Thu 2026-11-26 10:05:00 UTC\n"
                                    "LastTriggerUSec=Thu 2026-11-26 10:00:00 UTC\n")
        elif verb == "show":
            return CommandResult(0, "Result=success\nExecMainStatus=0\n")
        return CommandResult(0)

    def verbs(self) -> list[str]:
        return [" ".join(c[2:]) for c in self.calls]


def timer_for(tmp_path: Path, runner: object, *, tools: Sequence[str] = ("systemctl",),
              platform: str = "linux", data_dir: Path | None = None,
              executable: str = PYTHON) -> PublishTimer:
    return PublishTimer(data_dir or tmp_path / "profile", platform=platform,
                        home=tmp_path / "user", env={"XDG_CONFIG_HOME": str(tmp_path / "cfg")},
                        executable=executable, frozen=False, runner=runner,  # type: ignore[arg-type]
                        which=lambda name: f"/usr/bin/{name}" if name in tools else None)


def never_called(args: Sequence[str]) -> CommandResult:
    raise AssertionError(f"no command should run: {args}")


# --- the unit texts ------------------------------------------------------------------------------


def test_the_service_runs_this_interpreter_on_this_profile_and_nothing_else(tmp_path: Path
                                                                            ) -> None:
    command = publish_command(PYTHON, "/home/ana/.local/share/mbv-desktop")
    assert command == [PYTHON, "-m", "mbv_desktop", "--data-dir",
                       "/home/ana/.local/share/mbv-desktop", "publish-due"]
    text = systemd_service_text(command, "/home/ana/.local/share/mbv-desktop")
    assert "[Service]\nType=oneshot\n" in text
    assert (f'ExecStart="{PYTHON}" "-m" "mbv_desktop" "--data-dir" '
            f'"/home/ana/.local/share/mbv-desktop" "publish-due"\n') in text
    # no secret, no environment: the interpreter and the data dir only
    for word in ("environment", "token", "secret", "password", "api_key"):
        assert word not in text.lower(), word
    assert "TimeoutStartSec=" in text


def test_the_frozen_app_runs_itself() -> None:
    assert publish_command("/opt/MustBeViral/mbv", "/d", frozen=True) == [
        "/opt/MustBeViral/mbv", "--data-dir", "/d", "publish-due"]


def test_paths_with_spaces_percent_dollar_and_quotes_are_escaped_for_systemd() -> None:
    text = systemd_service_text([PYTHON, "--data-dir", 'My "Posts" 100% $HOME\\x'], "d")
    assert r'"My \"Posts\" 100%% $$HOME\\x"' in text


def test_the_timer_runs_every_five_minutes_and_catches_up_after_sleep() -> None:
    text = systemd_timer_text()
    for line in ("OnBootSec=2min", "OnUnitActiveSec=5min", "Persistent=true",
                 "OnCalendar=*:0/5", f"Unit={SERVICE_NAME}", "WantedBy=timers.target"):
        assert f"\n{line}\n" in text, line


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_itself_accepts_the_units(tmp_path: Path) -> None:
    """systemd-analyze verify reads the files offline; no user manager is asked."""
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    data_dir = tmp_path / "a profile with spaces, 100% and $dollars"
    (unit_dir / SERVICE_NAME).write_text(
        systemd_service_text(publish_command(sys.executable, data_dir), data_dir))
    (unit_dir / TIMER_NAME).write_text(systemd_timer_text())
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run(["systemd-analyze", "--user", "verify", str(unit_dir / TIMER_NAME),
                           str(unit_dir / SERVICE_NAME)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    if "Failed to initialize manager" in done.stderr:
        pytest.skip(f"systemd-analyze can't run here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""


def test_the_launchd_agent_runs_every_300_seconds() -> None:
    plist = plistlib.loads(launchd_plist_text([PYTHON, "-m", "mbv_desktop", "--data-dir",
                                               "/Users/ana/p & <q>", "publish-due"]).encode())
    assert plist["Label"] == LAUNCHD_LABEL
    assert plist["StartInterval"] == 300
    assert plist["ProgramArguments"][-2:] == ["/Users/ana/p & <q>", "publish-due"]
    assert "EnvironmentVariables" not in plist


def test_the_windows_recipe_is_one_schtasks_command() -> None:
    recipe = recipes(r"C:\Program Files\Python\python.exe", r"C:\Users\Ana\mbv")["schtasks"]
    (create,) = recipe.turn_on
    assert create.startswith("schtasks /Create /SC MINUTE /MO 5 ")
    assert f'/TN "{WINDOWS_TASK}"' in create
    assert (r'/TR "\"C:\Program Files\Python\python.exe\" -m mbv_desktop --data-dir '
            r'C:\Users\Ana\mbv publish-due" /F') in create
    assert recipe.turn_off == (f'schtasks /Delete /TN "{WINDOWS_TASK}" /F',)


def test_every_recipe_says_when_posts_go_out() -> None:
    for recipe in recipes("PYTHON", "DATA_DIR").values():
        text = recipe.as_text()
        assert text.rstrip().endswith(COMPUTER_ON)
        assert "DATA_DIR" in text


def test_the_unit_folder_follows_xdg_config_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert systemd_user_dir({}, home) == home / ".config" / "systemd" / "user"
    assert systemd_user_dir({"XDG_CONFIG_HOME": "/x/cfg"}, home) == Path("/x/cfg/systemd/user")
    # a relative XDG_CONFIG_HOME is invalid by the spec and ignored
    assert systemd_user_dir({"XDG_CONFIG_HOME": "rel"}, home) == home / ".config/systemd/user"


# --- install / status / remove with systemd ---------------------------------------------------


def test_install_writes_both_units_then_reloads_and_enables(tmp_path: Path) -> None:
    systemctl = FakeSystemctl()
    timer = timer_for(tmp_path, systemctl)
    report = run(timer.install())

    unit_dir = tmp_path / "cfg" / "systemd" / "user"
    assert (unit_dir / SERVICE_NAME).read_text() == systemd_service_text(
        timer.command(), tmp_path / "profile")
    assert (unit_dir / TIMER_NAME).read_text() == systemd_timer_text()
    assert systemctl.verbs()[:2] == ["daemon-reload", f"enable --now {TIMER_NAME}"]
    assert report.commands_run == ("systemctl --user daemon-reload",
                                   f"systemctl --user enable --now {TIMER_NAME}")
    assert report.installed and report.up_to_date and report.enabled and report.active
    assert report.complete and report.run_yourself == ()
    assert report.data_dir == str(tmp_path / "profile")
    assert report.next_run == "Thu 2026-11-26 10:05:00 UTC"
    assert report.last_result == "success"
    assert report.message.startswith("The systemd user timer is on")
    assert report.to_json()["note"] == COMPUTER_ON
    assert not (tmp_path / "user" / ".config").exists()  # XDG_CONFIG_HOME was used


def test_without_systemctl_the_files_are_written_and_the_commands_named(tmp_path: Path
                                                                        ) -> None:
    timer = timer_for(tmp_path, never_called, tools=())
    report = run(timer.install())
    assert report.installed and report.up_to_date
    assert report.enabled is None and report.active is None
    assert report.commands_run == ()
    assert report.run_yourself == ("systemctl --user daemon-reload",
                                   f"systemctl --user enable --now {TIMER_NAME}")
    assert not report.complete
    assert "systemctl was not found" in report.message
    assert f"systemctl --user enable --now {TIMER_NAME}" in report.message

    status = run(timer.status())
    assert status.installed and status.enabled is None and status.complete
    assert "could not be checked" in status.message


def test_when_systemctl_fails_the_rest_is_left_to_run_by_hand(tmp_path: Path) -> None:
    """Inside a container: systemctl is there, but there is no user session bus."""
    systemctl = FakeSystemctl(bus=False)
    report = run(timer_for(tmp_path, systemctl).install())
    assert systemctl.verbs()[0] == "daemon-reload"
    assert "enable --now " + TIMER_NAME not in systemctl.verbs()  # stopped at the failure
    assert report.installed and not report.complete
    assert report.run_yourself == ("systemctl --user daemon-reload",
                                   f"systemctl --user enable --now {TIMER_NAME}")
    assert BUS_DOWN in report.message
    assert report.enabled is False  # is-enabled reads the files: written, not enabled
    assert report.active is None  # is-active needs the bus


def test_a_failing_enable_names_only_what_is_left(tmp_path: Path) -> None:
    report = run(timer_for(tmp_path, FakeSystemctl(fail="enable")).install())
    assert report.run_yourself == (f"systemctl --user enable --now {TIMER_NAME}",)
    assert "Access denied" in report.message
    assert report.installed and report.enabled is False


def test_status_before_anything_is_installed(tmp_path: Path) -> None:
    report = run(timer_for(tmp_path, FakeSystemctl()).status())
    assert not report.installed and not report.up_to_date and report.files == ()
    assert report.message.startswith("No systemd user timer is installed")
    assert report.complete and report.note == COMPUTER_ON
    assert not (tmp_path / "cfg").exists()  # status writes nothing


def test_status_says_when_the_files_are_stale_or_for_another_profile(tmp_path: Path) -> None:
    systemctl = FakeSystemctl()
    run(timer_for(tmp_path, systemctl, executable="/old/venv/bin/python").install())
    moved = run(timer_for(tmp_path, systemctl).status())
    assert moved.installed and not moved.up_to_date
    assert "install it again" in moved.message

    other = run(timer_for(tmp_path, systemctl, data_dir=tmp_path / "other").status())
    assert other.data_dir == str(tmp_path / "profile")
    assert f"publishes the profile in {tmp_path / 'profile'}, not this one" in other.message


def test_remove_disables_deletes_and_reloads(tmp_path: Path) -> None:
    systemctl = FakeSystemctl()
    timer = timer_for(tmp_path, systemctl)
    run(timer.install())
    unit_dir = timer.unit_dir
    wants = unit_dir / "timers.target.wants"
    wants.mkdir()
    (wants / TIMER_NAME).symlink_to(unit_dir / TIMER_NAME)
    (unit_dir / "someone-elses.service").write_text("[Service]\n")
    systemctl.calls.clear()

    report = run(timer.remove())
    assert systemctl.verbs()[:2] == [f"disable --now {TIMER_NAME}", "daemon-reload"]
    assert sorted(p.name for p in unit_dir.iterdir()) == ["someone-elses.service",
                                                          "timers.target.wants"]
    assert not (wants / TIMER_NAME).is_symlink()
    assert not report.installed and report.complete
    assert report.message.startswith("The systemd user timer is removed")


def test_remove_without_systemctl_deletes_and_says_what_to_run(tmp_path: Path) -> None:
    run(timer_for(tmp_path, never_called, tools=()).install())
    report = run(timer_for(tmp_path, never_called, tools=()).remove())
    assert not report.installed and report.files == ()
    assert report.run_yourself == (f"systemctl --user stop {TIMER_NAME}",
                                   "systemctl --user daemon-reload")
    assert "may still run" in report.message


def test_remove_when_nothing_is_installed_runs_nothing(tmp_path: Path) -> None:
    report = run(timer_for(tmp_path, never_called, tools=()).remove())
    assert report.complete and report.commands_run == ()
    assert "is removed" in report.message


def test_a_data_dir_with_a_line_break_is_refused(tmp_path: Path) -> None:
    timer = timer_for(tmp_path, never_called, data_dir=tmp_path / "two\nlines")
    with pytest.raises(InvalidInput, match="line break"):
        run(timer.install())
    assert not (tmp_path / "cfg").exists()


def test_an_unwritable_config_folder_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "cfg").write_text("a file where a folder should be")
    with pytest.raises(MbvError, match="could not be written to"):
        run(timer_for(tmp_path, never_called).install())


# --- macOS and Windows (with a fake runner) --------------------------------------------------


def test_macos_writes_the_agent_and_bootstraps_it(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def launchctl(args: Sequence[str]) -> CommandResult:
        calls.append(list(args))
        return CommandResult(0)

    timer = timer_for(tmp_path, launchctl, platform="darwin", tools=("launchctl",))
    report = run(timer.install())
    plist_path = tmp_path / "user" / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
    plist = plistlib.loads(plist_path.read_bytes())
    assert plist["ProgramArguments"] == timer.command()
    assert [c[:2] for c in calls[:2]] == [["launchctl", "bootout"], ["launchctl", "bootstrap"]]
    assert calls[1][-1] == str(plist_path)
    assert report.system == "launchd" and report.installed and report.enabled
    assert report.data_dir == str(tmp_path / "profile")

    removed = run(timer.remove())
    assert not plist_path.exists() and not removed.installed


def test_windows_creates_the_task_with_schtasks(tmp_path: Path) -> None:
    calls: list[list[str]] = []
    created = False

    def schtasks(args: Sequence[str]) -> CommandResult:
        nonlocal created
        calls.append(list(args))
        if args[1] == "/Create":
            created = True
        if args[1] == "/Delete":
            created = False
        if args[1] == "/Query":
            return CommandResult(0 if created else 1)
        return CommandResult(0)

    timer = timer_for(tmp_path, schtasks, platform="win32", tools=("schtasks",),
                      executable=r"C:\Python\python.exe")
    report = run(timer.install())
    assert calls[0][:7] == ["schtasks", "/Create", "/SC", "MINUTE", "/MO", "5", "/TN"]
    assert report.system == "schtasks" and report.installed and report.complete
    assert not (tmp_path / "cfg").exists() and not (tmp_path / "user").exists()
    removed = run(timer.remove())
    assert not removed.installed and removed.complete


def test_windows_without_schtasks_gives_the_command(tmp_path: Path) -> None:
    report = run(timer_for(tmp_path, never_called, platform="win32", tools=()).install())
    assert not report.complete
    assert report.run_yourself[0].startswith("schtasks /Create /SC MINUTE /MO 5")


# --- the docs ----------------------------------------------------------------------------------


def test_the_docs_show_exactly_what_the_app_writes() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "publish-timer.md").read_text()
    unix = recipes("/path/to/venv/bin/python", "/path/to/profile")
    for _where, text in (*unix["systemd"].files, *unix["launchd"].files):
        assert text.strip() in docs
    windows = recipes(r"C:\Users\you\mbv\venv\Scripts\pythonw.exe",
                      r"C:\Users\you\AppData\Local\mbv-desktop")["schtasks"]
    assert windows.turn_on[0] in docs and windows.turn_off[0] in docs
    assert docs.count(COMPUTER_ON) == 2


# --- the real runner ---------------------------------------------------------------------------


def test_run_command_reports_a_missing_program_without_raising() -> None:
    result = run_command(["mbv-no-such-program-anywhere", "--user"])
    assert result.returncode == 127 and "not found" in result.stderr
