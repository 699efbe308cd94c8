"""``mbv-desktop billing …`` as a script uses it: each command its own process against the Stripe
emulator, whose state (like the profile's) lives in the data dir, tokens in a keyring file that
outlives each process."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from integration.test_cli import REPO, mbv

DECLINED = "4000000000000002"
THREE_D_SECURE = "4000002500003155"


class Profile:
    """One creator's data dir and keyring file; ``run`` is one CLI process."""

    def __init__(self, tmp_path: Path, name: str = "creator") -> None:
        self.data = tmp_path / name
        self.env = {"PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
                    "MBV_TEST_KEYRING_FILE": str(tmp_path / f"{name}-keyring.json")}

    def run(self, *args: str,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # stdin is never a terminal here, as in a script (so nothing can wait for an answer)
        return mbv(*args, data_dir=self.data, env=self.env | (env or {}), stdin="")

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        r = self.run(*args, env=env)
        assert r.returncode == 0, f"{args}: {r.stdout}{r.stderr}"
        return r.stdout

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env))

    def fails(self, *args: str, code: int = 1) -> str:
        """Runs a command that must fail; returns its one-sentence error."""
        r = self.run(*args)
        assert r.returncode == code, f"{args}: {r.returncode} {r.stdout}{r.stderr}"
        lines = r.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("mbv-desktop"), r.stderr
        return lines[-1]

    def sign_in(self) -> None:
        self.ok("--sandbox", "login", "google", "--yes")


def usage_line(report: dict[str, Any], key: str) -> dict[str, Any]:
    return next(line for line in report["usage"] if line["key"] == key)


def test_the_whole_flow_as_a_script(tmp_path: Path) -> None:
    me = Profile(tmp_path)
    me.sign_in()
    plans = me.json("--sandbox", "billing", "plans")
    assert [(p["key"], p["amount"], p["current"]) for p in plans] == [
        ("free", 0, True), ("creator", 1200, False), ("pro", 2900, False)]
    assert plans[1]["limits"]["ai_generations"] == 1000

    bought = me.json("--sandbox", "billing", "subscribe", "creator", "--yes")
    assert bought["status"] == "paid" and bought["plan"]["key"] == "creator"
    assert bought["subscription"]["status"] == "active"
    assert bought["checkout_url"].startswith("http://127.0.0.1:")
    assert bought["session_id"] in bought["checkout_url"]

    # A change is previewed; a script must say --yes (nothing changes without it).
    asked = me.run("--sandbox", "billing", "subscribe", "pro")
    assert asked.returncode == 1
    assert "Unused time on Creator" in asked.stdout and "Remaining time on Pro" in asked.stdout
    assert "Tax" in asked.stdout and "Total due now" in asked.stdout
    assert asked.stderr.strip() == ("mbv-desktop: Nothing was changed: add --yes to change to "
                                    "Pro without being asked.")
    changed = me.json("--sandbox", "billing", "subscribe", "pro", "--yes")
    preview = changed["preview"]
    assert changed["changed"] is True and changed["plan"]["key"] == "pro"
    assert changed["subscription"]["id"] == bought["subscription"]["id"]  # still one plan
    assert [line["amount"] < 0 for line in preview["lines"]] == [True, False]  # credit, then Pro
    assert preview["tax"] > 0 and preview["amount_due"] == preview["total"] > 0

    generated = me.json("--sandbox", "generate", "text", "x_post", "--topic", "cats")
    assert generated["status"] == "complete"
    usage = me.json("--sandbox", "billing", "usage")
    ai = usage_line(usage, "ai_generations")
    assert ai["used"] >= 1 and ai["limit"] == 10000 and ai["reported_to_stripe"] >= 1
    assert usage["sent_now"]["sent"] >= 1 and usage["usage_waiting_to_send"] == 0
    assert usage["plan"]["key"] == "pro" and usage["stale"] is False

    invoices = me.json("--sandbox", "billing", "invoices")
    paid = [i for i in invoices if i["status"] == "paid"]
    assert len(paid) >= 2 and all(i["tax"] > 0 for i in paid)
    assert {1296, preview["amount_due"]} <= {i["total"] for i in paid}  # $12 + 8 % tax; the change
    assert all(i["hosted_invoice_url"] for i in paid)

    ending = me.json("--sandbox", "billing", "cancel")
    assert ending["subscription"]["cancel_at_period_end"] is True
    assert ending["subscription"]["status"] == "active" and ending["plan"]["key"] == "pro"
    shown = me.ok("--sandbox", "billing", "status")
    assert "Plan: Pro ($29.00 a month)" in shown and "active, ends on" in shown
    assert "Card: Visa •••• 4242" in shown and "stale" not in shown
    kept = me.json("--sandbox", "billing", "cancel", "--undo")
    assert kept["subscription"]["cancel_at_period_end"] is False

    gone = me.json("--sandbox", "billing", "cancel", "--now", "--yes")
    assert gone["subscription"]["status"] == "canceled" and gone["plan"]["key"] == "free"
    status = me.json("--sandbox", "billing", "status")
    assert status["plan"]["key"] == "free" and status["subscription"] is None
    assert status["stale"] is False and status["signed_in_as"] == "maya.creator@sandbox.example"


def test_a_declined_card_and_a_3ds_card_leave_no_plan(tmp_path: Path) -> None:
    me = Profile(tmp_path)
    me.sign_in()
    assert me.fails("--sandbox", "billing", "subscribe", "creator", "--yes", "--card",
                    DECLINED) == "mbv-desktop: Your card was declined."
    needs_bank = me.fails("--sandbox", "billing", "subscribe", "creator", "--yes", "--card",
                          THREE_D_SECURE)
    assert "finish in the browser" in needs_bank
    status = me.json("--sandbox", "billing", "status")
    assert status["subscription"] is None and status["plan"]["key"] == "free"
    assert status["payment_methods"] == []
    # The pages left open were closed first: paying again gives exactly one plan.
    bought = me.json("--sandbox", "billing", "subscribe", "creator", "--yes")
    assert bought["status"] == "paid" and bought["subscription"]["status"] == "active"


def test_no_browser_prints_the_address_and_waits_for_the_payment(tmp_path: Path) -> None:
    from mbv_desktop.services.sandbox_consent import pay_sandbox_checkout

    me = Profile(tmp_path)
    me.sign_in()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mbv_desktop", "--data-dir", str(me.data), "--sandbox", "billing",
         "subscribe", "creator", "--no-browser", "--timeout", "60"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **me.env}, cwd=REPO)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "/checkout/pay/" in url
        # The person pays on the page (here: the sandbox's page, filled in like a browser).
        assert asyncio.run(pay_sandbox_checkout(url)) == "complete"
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Waiting for payment" in err
    assert out.startswith("Subscribed to Creator (active); it renews on ")
    assert "including $0.96 tax, paid." in out


def test_mistakes_are_one_clear_sentence(tmp_path: Path) -> None:
    me = Profile(tmp_path)
    assert "Sign in with Google or GitHub first" in me.fails(
        "--sandbox", "billing", "subscribe", "creator", "--yes")
    me.sign_in()
    assert me.fails("--sandbox", "billing", "subscribe", "gold", "--yes") == (
        "mbv-desktop: There is no plan 'gold'; choose one of free, creator, pro.")
    assert "Free needs no payment" in me.fails("--sandbox", "billing", "subscribe", "free",
                                               "--yes")
    assert me.fails("--sandbox", "billing", "cancel") == (
        "mbv-desktop: You have no paid plan to cancel; you are on Free.")
    assert "--card works only with --sandbox --yes" in me.fails(
        "--sandbox", "billing", "subscribe", "creator", "--card", DECLINED, code=2)
    assert "Billing is not set up" in me.fails("billing", "status")


def test_yes_pays_only_on_the_sandbox_and_status_is_stale_without_stripe(
        tmp_path: Path) -> None:
    """Without --sandbox, against a Stripe (the emulator, run here) set up like a real one."""
    from mbv_desktop.sandbox.host import SandboxHost

    me = Profile(tmp_path)
    me.sign_in()
    with SandboxHost(tmp_path / "stripe") as host:
        stripe = {"MBV_STRIPE_API_BASE": host.urls()["stripe"],
                  "MBV_STRIPE_SECRET_KEY": "sk_test_sandbox_demo"}
        r = me.run("billing", "subscribe", "creator", "--yes", env=stripe)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.strip() == (
            "mbv-desktop: --yes can pay only with --sandbox: a real plan is paid by you on "
            "Stripe's page in the browser (leave out --yes).")
        fresh = me.json("billing", "status", env=stripe)
        assert fresh["stale"] is False and fresh["subscription"] is None
    # Stripe is gone: the status known before, marked stale, and still exit 0.
    stale = me.json("billing", "status", env=stripe)
    assert stale["stale"] is True and "could not be reached" in stale["problem"]
    assert stale["customer_id"] == fresh["customer_id"] and stale["plan"]["key"] == "free"
    text = me.ok("billing", "status", env=stripe)
    assert text.splitlines()[-1].startswith("stale: Stripe could not be reached")
