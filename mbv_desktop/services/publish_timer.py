"""A per-user OS timer that runs ``mbv-desktop publish-due`` every 5 minutes, so scheduled posts
go out while the app is closed.

Linux
    a systemd user service and timer, ``mbv-desktop-publish.service`` / ``.timer``, in
    ``$XDG_CONFIG_HOME/systemd/user`` (``~/.config/systemd/user``), then
    ``systemctl --user daemon-reload`` and ``systemctl --user enable --now`` when systemctl is
    there and answers. When it is missing or fails (inside a container, without a user session
    bus) the files are still written and the report names the commands to run.
macOS
    a launchd agent (``~/Library/LaunchAgents``, ``StartInterval`` 300), written only when
    running on macOS, and loaded with ``launchctl bootstrap``.
Windows
    a Task Scheduler task (``schtasks /Create /SC MINUTE /MO 5``).

Every recipe is also available as text (:func:`recipes`) for the window and the docs.

Nothing here blocks the caller's loop: file writes and commands run in a worker thread. The
home and config folders, the platform and the command runner are parameters, so tests use
temp folders and a fake runner and never touch a real systemd. The unit files name the
interpreter and the data dir only: no secret ever goes into them (tokens stay in the keyring).
"""

from __future__ import annotations

import asyncio
import os
import plistlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mbv_desktop.config.paths import atomic_write_text
from mbv_desktop.core.errors import InvalidInput, MbvError

__all__ = [
    "COMPUTER_ON",
    "INTERVAL_MINUTES",
    "LAUNCHD_LABEL",
    "SERVICE_NAME",
    "TIMER_NAME",
    "WINDOWS_TASK",
    "CommandResult",
    "PublishTimer",
    "Recipe",
    "TimerReport",
    "launchd_plist_text",
    "publish_command",
    "recipes",
    "run_command",
    "schtasks_create_args",
    "systemd_service_text",
    "systemd_timer_text",
    "systemd_user_dir",
]

#: Said wherever the timer is offered or reported on.
COMPUTER_ON = ("Posts go out only while this computer is on (and, without the timer, while the "
               "app is open).")
INTERVAL_MINUTES = 5
SERVICE_NAME = "mbv-desktop-publish.service"
TIMER_NAME = "mbv-desktop-publish.timer"
LAUNCHD_LABEL = "com.mustbeviral.desktop.publish"
WINDOWS_TASK = r"MustBeViral\Publish due posts"
_DATA_DIR_MARK = "# Profile: "
_COMMAND_TIMEOUT_S = 30.0

#: Exit codes :func:`run_command` reports when a command could not run at all.
NOT_FOUND = 127
TIMED_OUT = 124


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


Runner = Callable[[Sequence[str]], CommandResult]


def run_command(args: Sequence[str]) -> CommandResult:
    """Runs a command (blocking; callers are in a worker thread). A missing program is exit
    127, a hang past 30 s is 124; neither raises."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True,
                              timeout=_COMMAND_TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return CommandResult(NOT_FOUND, "", f"{args[0]}: command not found")
    except subprocess.TimeoutExpired:
        return CommandResult(TIMED_OUT, "", f"{args[0]} did not answer within "
                                            f"{_COMMAND_TIMEOUT_S:.0f} s")
    except OSError as exc:
        return CommandResult(126, "", f"{args[0]}: {exc.strerror or exc}")
    return CommandResult(done.returncode, done.stdout, done.stderr)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _shell(args: Sequence[str]) -> str:
    return shlex.join(args)


# --- what runs ---------------------------------------------------------------------------------


def publish_command(executable: str, data_dir: Path | str, *, frozen: bool = False
                    ) -> list[str]:
    """The command the timer runs: this interpreter (or the frozen app itself) with the
    profile's data dir. Nothing else: no secret, no environment."""
    head = [executable] if frozen else [executable, "-m", "mbv_desktop"]
    return [*head, "--data-dir", str(data_dir), "publish-due"]


def _check_path(value: str, what: str) -> None:
    if "\n" in value or "\r" in value or "\x00" in value:
        raise InvalidInput(f"The {what} contains a line break, which a timer can't run; "
                           "use a folder without one.")


def _systemd_quote(arg: str) -> str:
    """One ExecStart= word: quoted, with systemd's C-style escapes, ``%`` (specifiers) and
    ``$`` (variables) doubled."""
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def systemd_service_text(command: Sequence[str], data_dir: Path | str) -> str:
    exec_start = " ".join(_systemd_quote(a) for a in command)
    return (
        "# Written by Must Be Viral (Publish while the app is closed). Remove it from the app\n"
        "# or with: mbv-desktop timer remove\n"
        f"{_DATA_DIR_MARK}{data_dir}\n"
        "[Unit]\n"
        "Description=Must Be Viral: publish the posts that are due\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        "# A stuck run must not hold up the next ones (a big video can take minutes).\n"
        "TimeoutStartSec=30min\n"
        "Nice=5\n"
    )


def systemd_timer_text() -> str:
    return (
        "# Written by Must Be Viral (Publish while the app is closed).\n"
        "[Unit]\n"
        f"Description=Must Be Viral: publish due posts every {INTERVAL_MINUTES} minutes\n"
        "\n"
        "[Timer]\n"
        "OnBootSec=2min\n"
        f"OnUnitActiveSec={INTERVAL_MINUTES}min\n"
        "# Persistent= only acts on OnCalendar= timers: with both, a run missed while the\n"
        "# computer slept or was off happens as soon as it is back.\n"
        f"OnCalendar=*:0/{INTERVAL_MINUTES}\n"
        "Persistent=true\n"
        "AccuracySec=30s\n"
        f"Unit={SERVICE_NAME}\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def launchd_plist_text(command: Sequence[str]) -> str:
    plist = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(command),
        "StartInterval": INTERVAL_MINUTES * 60,  # runs missed while asleep happen at wake
        "RunAtLoad": True,
        "ProcessType": "Background",
        "LowPriorityIO": True,
    }
    return plistlib.dumps(plist, sort_keys=False).decode("utf-8")


def _windows_program(executable: str) -> str:
    """pythonw.exe beside python.exe, so no console window flashes every 5 minutes."""
    path = Path(executable)
    if path.name.lower() == "python.exe":
        windowed = path.with_name("pythonw.exe")
        if windowed.exists():
            return str(windowed)
    return executable


def _windows_command_line(args: Sequence[str]) -> str:
    return subprocess.list2cmdline(list(args))


def schtasks_create_args(command: Sequence[str]) -> list[str]:
    task_run = _windows_command_line(command)
    return ["schtasks", "/Create", "/SC", "MINUTE", "/MO", str(INTERVAL_MINUTES),
            "/TN", WINDOWS_TASK, "/TR", task_run, "/F"]


def systemd_user_dir(env: Mapping[str, str], home: Path) -> Path:
    """``$XDG_CONFIG_HOME/systemd/user``, ``~/.config/systemd/user`` by default."""
    base = env.get("XDG_CONFIG_HOME", "").strip()
    config = Path(base) if base and Path(base).is_absolute() else home / ".config"
    return config / "systemd" / "user"


# --- recipes (text) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """How to set the timer up by hand on one system."""

    system: str  # "systemd", "launchd" or "schtasks"
    title: str
    files: tuple[tuple[str, str], ...]  # (where, contents)
    turn_on: tuple[str, ...]
    turn_off: tuple[str, ...]

    def as_text(self) -> str:
        parts = [self.title, ""]
        for where, text in self.files:
            parts += [f"Save as {where}:", "", text.rstrip("\n"), ""]
        if self.turn_on:
            parts += ["Turn it on:", *(f"  {c}" for c in self.turn_on), ""]
        if self.turn_off:
            parts += ["Turn it off again:", *(f"  {c}" for c in self.turn_off), ""]
        parts.append(COMPUTER_ON)
        return "\n".join(parts)


def _sh_path(path: str) -> str:
    """A path for a shell command; a leading ``~/`` stays unquoted so the shell expands it."""
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def recipes(executable: str, data_dir: Path | str, *, frozen: bool = False,
            systemd_dir: str = "~/.config/systemd/user",
            launch_agents: str = "~/Library/LaunchAgents") -> dict[str, Recipe]:
    """The three recipes for this interpreter and data dir (pass placeholders for the recipes
    of other systems)."""
    command = publish_command(executable, data_dir, frozen=frozen)
    unit_dir, sh_unit_dir = systemd_dir, _sh_path(systemd_dir)
    plist_path = f"{launch_agents}/{LAUNCHD_LABEL}.plist"
    sh_plist = _sh_path(plist_path)
    windows_command = publish_command(_windows_program(executable), data_dir, frozen=frozen)
    return {
        "systemd": Recipe(
            "systemd", "Linux: a systemd user timer",
            ((f"{unit_dir}/{SERVICE_NAME}", systemd_service_text(command, data_dir)),
             (f"{unit_dir}/{TIMER_NAME}", systemd_timer_text())),
            ("systemctl --user daemon-reload", f"systemctl --user enable --now {TIMER_NAME}"),
            (f"systemctl --user disable --now {TIMER_NAME}",
             f"rm {sh_unit_dir}/{SERVICE_NAME} {sh_unit_dir}/{TIMER_NAME}",
             "systemctl --user daemon-reload")),
        "launchd": Recipe(
            "launchd", "macOS: a launchd agent",
            ((plist_path, launchd_plist_text(command)),),
            (f'launchctl bootstrap gui/"$(id -u)" {sh_plist}',),
            (f'launchctl bootout gui/"$(id -u)"/{LAUNCHD_LABEL}', f"rm {sh_plist}")),
        "schtasks": Recipe(
            "schtasks", "Windows: a Task Scheduler task (in a Command Prompt)", (),
            (_windows_command_line(schtasks_create_args(windows_command)),),
            (_windows_command_line(["schtasks", "/Delete", "/TN", WINDOWS_TASK, "/F"]),)),
    }


# --- reports -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimerReport:
    """What ``install``, ``remove`` or ``status`` found and did. ``to_json`` is the stable
    ``mbv-desktop timer … --json`` output."""

    action: str  # "install", "remove" or "status"
    system: str  # "systemd", "launchd" or "schtasks"
    installed: bool  # the timer's files (or task) exist
    up_to_date: bool  # …and are what installing from here would write now
    enabled: bool | None  # None: the OS tool could not be asked
    active: bool | None
    message: str
    data_dir: str | None = None  # the profile the installed timer publishes
    files: tuple[str, ...] = ()
    commands_run: tuple[str, ...] = ()
    run_yourself: tuple[str, ...] = ()  # commands that still need running by hand
    next_run: str | None = None
    last_run: str | None = None
    last_result: str | None = None
    note: str = COMPUTER_ON

    @property
    def complete(self) -> bool:
        """Nothing is left for the person to do."""
        return not self.run_yourself

    def to_json(self) -> dict[str, object]:
        return {"action": self.action, "system": self.system, "installed": self.installed,
                "up_to_date": self.up_to_date, "enabled": self.enabled, "active": self.active,
                "data_dir": self.data_dir, "files": list(self.files),
                "commands_run": list(self.commands_run),
                "run_yourself": list(self.run_yourself), "next_run": self.next_run,
                "last_run": self.last_run, "last_result": self.last_result,
                "message": self.message, "note": self.note}


@dataclass
class _Steps:
    run: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)
    problem: str = ""


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise MbvError(f"{path} could not be removed: {exc.strerror or exc}.") from None


def _system_for(platform: str) -> str:
    if platform == "darwin":
        return "launchd"
    if platform == "win32":
        return "schtasks"
    return "systemd"


class PublishTimer:
    """Install, remove and check the timer for one profile (``data_dir``).

    Args:
        data_dir: the profile the timer publishes.
        platform: ``sys.platform`` by default; decides systemd, launchd or schtasks.
        home: the user's home (``Path.home()``).
        env: for ``XDG_CONFIG_HOME`` (``os.environ``).
        executable: the interpreter (``sys.executable``); with ``frozen`` the app itself.
        runner: runs a command and returns a :class:`CommandResult` (:func:`run_command`).
        which: finds a program on PATH (``shutil.which``).
    """

    def __init__(self, data_dir: Path, *, platform: str | None = None,
                 home: Path | None = None, env: Mapping[str, str] | None = None,
                 executable: str | None = None, frozen: bool | None = None,
                 runner: Runner | None = None,
                 which: Callable[[str], str | None] | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.platform = platform or sys.platform
        self.system = _system_for(self.platform)
        self.home = home or Path.home()
        self._env = dict(os.environ if env is None else env)
        self.executable = executable or sys.executable
        self.frozen = bool(getattr(sys, "frozen", False)) if frozen is None else frozen
        self._runner = runner or run_command
        self._which = which or (lambda name: shutil.which(name, path=self._env.get("PATH")))

    # -- where things go --

    @property
    def unit_dir(self) -> Path:
        return systemd_user_dir(self._env, self.home)

    @property
    def plist_path(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"

    def command(self) -> list[str]:
        executable = (_windows_program(self.executable) if self.system == "schtasks"
                      else self.executable)
        return publish_command(executable, self.data_dir, frozen=self.frozen)

    def expected_files(self) -> dict[Path, str]:
        """The files installing writes here, with their contents."""
        if self.system == "systemd":
            return {self.unit_dir / SERVICE_NAME: systemd_service_text(self.command(),
                                                                        self.data_dir),
                    self.unit_dir / TIMER_NAME: systemd_timer_text()}
        if self.system == "launchd":
            return {self.plist_path: launchd_plist_text(self.command())}
        return {}

    def recipes(self) -> dict[str, Recipe]:
        """This system's recipe with the real paths; the others with placeholders."""
        mine = recipes(self.executable, self.data_dir, frozen=self.frozen,
                       systemd_dir=str(self.unit_dir),
                       launch_agents=str(self.plist_path.parent))
        others = recipes("PYTHON", "DATA_DIR")
        return {name: mine[name] if name == self.system else others[name] for name in mine}

    # -- the three actions (async; the work runs in a worker thread) --

    async def status(self) -> TimerReport:
        return await asyncio.to_thread(self._status, "status", _Steps())

    async def install(self) -> TimerReport:
        return await asyncio.to_thread(self._install)

    async def remove(self) -> TimerReport:
        return await asyncio.to_thread(self._remove)

    # -- running commands --

    def _tool(self, name: str) -> bool:
        return self._which(name) is not None

    def _run(self, args: Sequence[str], steps: _Steps) -> CommandResult:
        result = self._runner(args)
        steps.run.append(_shell(args))
        return result

    def _systemctl(self, *args: str) -> list[str]:
        return ["systemctl", "--user", *args]

    def _launchctl_domain(self) -> str:
        getuid = getattr(os, "getuid", None)
        return f"gui/{getuid() if getuid else 501}"

    # -- install --

    def _install(self) -> TimerReport:
        steps = _Steps()
        command = self.command()
        for arg in command:
            _check_path(arg, "interpreter or data folder path")
        for path, text in self.expected_files().items():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, text, mode=0o644)
            except OSError as exc:
                raise MbvError(f"The timer could not be written to {path}: "
                               f"{exc.strerror or exc}.") from None
        if self.system == "systemd":
            self._systemd_steps(steps, [self._systemctl("daemon-reload"),
                                        self._systemctl("enable", "--now", TIMER_NAME)])
        elif self.system == "launchd":
            self._launchd_install(steps)
        else:
            create = schtasks_create_args(command)
            if not self._tool("schtasks"):
                steps.problem = "schtasks was not found"
                steps.manual.append(_windows_command_line(create))
            else:
                result = self._run(create, steps)
                if not result.ok:
                    steps.problem = (f"schtasks /Create failed: "
                                     f"{_first_line(result.stderr or result.stdout)}")
                    steps.manual.append(_windows_command_line(create))
        return self._status("install", steps)

    def _systemd_steps(self, steps: _Steps, commands: list[list[str]]) -> None:
        """Runs each systemctl command in turn; after the first that can't run, it and the
        rest are left for the person."""
        if not self._tool("systemctl"):
            steps.problem = "systemctl was not found"
            steps.manual.extend(_shell(c) for c in commands)
            return
        for index, args in enumerate(commands):
            result = self._run(args, steps)
            if not result.ok:
                reason = _first_line(result.stderr or result.stdout) or \
                    f"exit status {result.returncode}"
                steps.problem = f"'{_shell(args)}' failed: {reason}"
                steps.manual.extend(_shell(c) for c in commands[index:])
                return

    def _launchd_install(self, steps: _Steps) -> None:
        plist = str(self.plist_path)
        bootstrap = ["launchctl", "bootstrap", self._launchctl_domain(), plist]
        if not self._tool("launchctl"):
            steps.problem = "launchctl was not found"
            steps.manual.append(_shell(bootstrap))
            return
        # Loaded already (an update): unload first, or bootstrap refuses.
        self._run(["launchctl", "bootout", f"{self._launchctl_domain()}/{LAUNCHD_LABEL}"], steps)
        result = self._run(bootstrap, steps)
        if not result.ok:
            steps.problem = f"launchctl bootstrap failed: " \
                f"{_first_line(result.stderr or result.stdout)}"
            steps.manual.append(_shell(bootstrap))

    # -- remove --

    def _remove(self) -> TimerReport:
        steps = _Steps()
        if self.system == "systemd":
            files = list(self.expected_files())
            link = self.unit_dir / "timers.target.wants" / TIMER_NAME
            had_any = any(p.exists() or p.is_symlink() for p in [*files, link])
            if had_any and self._tool("systemctl"):
                # Turned off first while systemd still knows the unit; a failure here is fine,
                # the files and the enable link are removed below anyway.
                self._run(self._systemctl("disable", "--now", TIMER_NAME), steps)
            for path in [*files, link]:
                _unlink(path)
            if had_any:
                self._systemd_steps(steps, [self._systemctl("daemon-reload")])
                if steps.manual:  # systemd may still run the timer it loaded before
                    steps.manual.insert(0, _shell(self._systemctl("stop", TIMER_NAME)))
        elif self.system == "launchd":
            bootout = ["launchctl", "bootout", f"{self._launchctl_domain()}/{LAUNCHD_LABEL}"]
            if self._tool("launchctl"):
                self._run(bootout, steps)  # "not loaded" is fine
            elif self.plist_path.exists():
                steps.problem = "launchctl was not found"
                steps.manual.append(_shell(bootout))
            _unlink(self.plist_path)
        else:
            delete = ["schtasks", "/Delete", "/TN", WINDOWS_TASK, "/F"]
            if self._tool("schtasks"):
                result = self._run(delete, steps)
                if not result.ok and self._schtasks_query(_Steps()) is not False:
                    steps.problem = f"schtasks /Delete failed: " \
                        f"{_first_line(result.stderr or result.stdout)}"
                    steps.manual.append(_windows_command_line(delete))
            else:
                steps.problem = "schtasks was not found"
                steps.manual.append(_windows_command_line(delete))
        return self._status("remove", steps)

    # -- status --

    def _schtasks_query(self, steps: _Steps) -> bool | None:
        if not self._tool("schtasks"):
            return None
        result = self._run(["schtasks", "/Query", "/TN", WINDOWS_TASK], steps)
        return result.ok

    def _installed_data_dir(self, path: Path) -> str | None:
        """The profile an installed timer publishes (from its file)."""
        try:
            if path.suffix == ".plist":
                args = plistlib.loads(path.read_bytes()).get("ProgramArguments", [])
                index = args.index("--data-dir") + 1
                return str(args[index]) if index < len(args) else None
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.startswith(_DATA_DIR_MARK):
                    return line[len(_DATA_DIR_MARK):].strip() or None
        except (OSError, ValueError, AttributeError, plistlib.InvalidFileException):
            return None
        return None

    def _files_state(self) -> tuple[bool, bool, tuple[str, ...], str | None]:
        expected = self.expected_files()
        present = [p for p in expected if p.exists()]
        installed = bool(expected) and len(present) == len(expected)
        up_to_date = installed
        for path, text in expected.items():
            try:
                up_to_date = up_to_date and path.read_text(encoding="utf-8") == text
            except (OSError, UnicodeDecodeError):
                up_to_date = False
        data_dir = self._installed_data_dir(next(iter(expected))) if present else None
        return installed, up_to_date, tuple(str(p) for p in present), data_dir

    def _systemd_state(self) -> _Live:
        """is-enabled / is-active / next and last run; Nones where systemctl can't say."""
        live = _Live()
        if not self._tool("systemctl"):
            return live
        enabled = self._runner(self._systemctl("is-enabled", TIMER_NAME))
        answer = enabled.stdout.strip()
        if answer and " " not in answer:  # one word; nothing when there is no user manager
            live.enabled = answer in ("enabled", "enabled-runtime", "linked", "alias")
        active = self._runner(self._systemctl("is-active", TIMER_NAME))
        answer = active.stdout.strip()
        if answer and " " not in answer:
            live.active = answer in ("active", "activating", "reloading")
        if not live.active:
            return live
        shown = self._runner(self._systemctl(
            "show", TIMER_NAME, "--property=NextElapseUSecRealtime,LastTriggerUSec"))
        result = self._runner(self._systemctl(
            "show", SERVICE_NAME, "--property=Result,ExecMainStatus"))
        props: dict[str, str] = {}
        for line in (shown.stdout + "\n" + result.stdout).splitlines():
            key, sep, value = line.partition("=")
            if sep and value.strip() and value.strip() != "n/a":
                props[key.strip()] = value.strip()
        live.next_run = props.get("NextElapseUSecRealtime")
        live.last_run = props.get("LastTriggerUSec")
        if live.last_run and props.get("Result"):
            status = props.get("ExecMainStatus", "0")
            live.last_result = props["Result"] + (
                f" (exit status {status})" if status != "0" else "")
        return live

    def _status(self, action: str, steps: _Steps) -> TimerReport:
        installed, up_to_date, files, installed_for = self._files_state()
        live = _Live()
        if self.system == "systemd":
            live = self._systemd_state()
        elif self.system == "launchd":
            if installed and self._tool("launchctl"):
                listed = self._runner(["launchctl", "print",
                                       f"{self._launchctl_domain()}/{LAUNCHD_LABEL}"])
                live.enabled = live.active = listed.ok
        else:
            found = self._schtasks_query(_Steps())
            installed = up_to_date = bool(found)
            live.enabled = live.active = found
        return TimerReport(
            action=action, system=self.system, installed=installed, up_to_date=up_to_date,
            enabled=live.enabled, active=live.active,
            message=self._message(action, installed, up_to_date, live, installed_for, steps),
            data_dir=installed_for, files=files, commands_run=tuple(steps.run),
            run_yourself=tuple(steps.manual), next_run=live.next_run, last_run=live.last_run,
            last_result=live.last_result)

    def _message(self, action: str, installed: bool, up_to_date: bool, live: _Live,
                 installed_for: str | None, steps: _Steps) -> str:
        what = {"systemd": "systemd user timer", "launchd": "launchd agent",
                "schtasks": "Task Scheduler task"}[self.system]
        todo = ""
        if steps.manual:
            why = f" because {steps.problem}" if steps.problem else ""
            finish = "To turn it on" if action == "install" else "To finish"
            todo = f"{why}. {finish}, run: " + "; ".join(steps.manual)
        if action == "remove":
            if installed:
                return f"The {what} could not be removed completely{todo or '.'}"
            if todo:
                return f"The {what}'s files are removed, but it may still run{todo}"
            return f"The {what} is removed; posts go out only while the app is open."
        if action == "install" and todo:
            if self.system == "schtasks":
                return f"The {what} is not created yet{todo}"
            return f"The {what}'s files are written, but it is not on yet{todo}"
        if not installed:
            if self.system == "schtasks" and live.enabled is None:
                return ("Task Scheduler could not be asked whether the task exists (schtasks "
                        "was not found).")
            return f"No {what} is installed; posts go out only while the app is open."
        every = f"runs mbv-desktop publish-due every {INTERVAL_MINUTES} minutes"
        if live.enabled and live.active:
            text = f"The {what} is on: it {every}."
        elif live.enabled is False:
            text = f"The {what} is installed but not turned on."
        elif live.enabled and live.active is False:
            text = f"The {what} is installed and enabled but not running now."
        else:
            text = (f"The {what} is installed (it {every}); whether it is on could not be "
                    "checked here.")
        if installed_for and Path(installed_for) != self.data_dir:
            text += (f" It publishes the profile in {installed_for}, not this one; installing "
                     "here replaces it.")
        elif not up_to_date:
            text += (" Its files differ from what this version writes; install it again to "
                     "update them.")
        return text


@dataclass
class _Live:
    """What the OS tool says about the installed timer (None: it could not be asked)."""

    enabled: bool | None = None
    active: bool | None = None
    next_run: str | None = None
    last_run: str | None = None
    last_result: str | None = None
