"""The GUI heartbeat during whole sign-ins with a keyring that takes 2 s to answer.

In the real window (offscreen) on the sandbox: sign in with Google, then connect X and
Instagram from the Accounts panel; the browser step is the sandbox's consent page, answered
through its form over HTTP as a person's click would. The OS keyring is replaced by an
in-memory one that sleeps ``--keyring-delay`` seconds (default 2) in every call, as a locked
or slow Secret Service does. Prints how long each sign-in took and the heartbeat's longest gap
(target: at most 50 ms).

    python bench/signin_heartbeat.py [--keyring-delay 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def slow_keyring(delay: float) -> object:
    """A keyring back-end that keeps secrets in memory and answers after ``delay`` seconds."""
    from keyring.backend import KeyringBackend

    class SlowKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            time.sleep(delay)
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            time.sleep(delay)
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            time.sleep(delay)
            self.store.pop((service, username), None)

    return SlowKeyring()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keyring-delay", type=float, default=2.0)
    args = parser.parse_args()

    import keyring
    from qt_bench import Heartbeat, qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.services.sandbox_consent import answer_consent
    from mbv_desktop.ui.main_window import MainWindow

    keyring.set_keyring(slow_keyring(args.keyring_delay))  # type: ignore[arg-type]
    loop = qt_loop()
    with tempfile.TemporaryDirectory() as tmp:
        host = SandboxHost(Path(tmp) / "sandbox")
        host.start()
        services = open_services(Path(tmp) / "data", env={},
                                 overrides=sandbox_overrides(host.urls()), sandbox=True)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.show()
        panel = window.panels["accounts"]
        panel.open_url = answer_consent
        heartbeat = Heartbeat()
        took: dict[str, float] = {}

        async def scenario() -> None:
            while panel.parent() is None:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            window.show_panel("accounts")
            await window.tasks.wait_idle()
            heartbeat.start()
            for provider, view in (("google", panel.identities), ("x", panel.publishing),
                                   ("instagram", panel.publishing)):
                before = view.count()
                start = time.perf_counter()
                buttons = panel.sign_in_buttons if provider == "google" else panel.connect_buttons
                buttons[provider].click()
                while view.count() == before:
                    await asyncio.sleep(0.005)
                    if time.perf_counter() - start > 60:
                        raise SystemExit(f"{provider}: {panel.status.text()}")
                took[provider] = time.perf_counter() - start
                while not buttons[provider].isEnabled():
                    await asyncio.sleep(0.005)
            heartbeat.stop()

        loop.run_until_complete(scenario())
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()
        host.stop()
    print(f"keyring answering after {args.keyring_delay:.1f} s per call")
    for provider, seconds in took.items():
        print(f"  {provider}: signed in / connected in {seconds:.2f} s")
    print(heartbeat.summary())


if __name__ == "__main__":
    main()
