"""The ``mbv-desktop`` command line.

Without a subcommand it opens the window (Qt is imported only then). Subcommands work headless
on the same services. ``--json`` output is stable (documented in the README). Errors go to
stderr as one sentence with a non-zero exit code: 1 for a failure, 2 for a usage mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from mbv_desktop import __version__
from mbv_desktop.config.logging_setup import configure_logging
from mbv_desktop.config.paths import ensure_data_dir, resolve_data_dir
from mbv_desktop.core.drafts import Draft, DraftQuery, DraftState, SortOrder, parse_tag_list
from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.core.platforms import Platform, check_all
from mbv_desktop.services.container import Services, open_services

if TYPE_CHECKING:
    from mbv_desktop.core.generation import Provider, TaskKind
    from mbv_desktop.integrations.ai.openai_compat import ChatDelta
    from mbv_desktop.services.sync import SyncReport

T = TypeVar("T")
EXIT_FAILURE = 1
EXIT_USAGE = 2


def draft_to_json(draft: Draft) -> dict[str, object]:
    return {
        "id": draft.id,
        "uid": draft.uid,
        "body": draft.body,
        "tags": list(draft.tags),
        "platforms": [p.value for p in draft.platforms],
        "state": draft.state.value,
        "created_at": draft.created_at.isoformat(),
        "updated_at": draft.updated_at.isoformat(),
        "checks": [c.to_json() for c in check_all(draft.body, draft.platforms)],
    }


def _print_json(obj: object, out: TextIO = sys.stdout) -> None:
    out.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _arg(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from one of our parsers: its InvalidInput becomes a usage error."""

    def convert(value: str) -> T:
        try:
            return parse(value)
        except InvalidInput as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


_platform_arg = _arg(Platform.parse)
_state_arg = _arg(DraftState.parse)
_sort_arg = _arg(SortOrder.parse)
def _parse_task(value: str) -> TaskKind:
    from mbv_desktop.core.generation import TaskKind  # AI modules load only when used

    return TaskKind.parse(value)


def _parse_provider(value: str) -> Provider:
    from mbv_desktop.core.generation import Provider

    return Provider.parse(value)


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"'{value}' is not a date like 2026-11-26.") from None


_task_arg = _arg(_parse_task)
_provider_arg = _arg(_parse_provider)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mbv-desktop",
        description="Must Be Viral Desktop: draft, generate, schedule and publish posts.",
    )
    parser.add_argument("--version", action="version", version=f"mbv-desktop {__version__}")
    parser.add_argument("--data-dir", metavar="DIR", help="profile folder (default: MBV_DATA_DIR "
                        "or the platform's user data folder)")
    parser.add_argument("--sandbox", action="store_true",
                        help="use the built-in provider emulators instead of live services")
    parser.add_argument("--panel", metavar="NAME", help="panel to open (e.g. create)")
    parser.add_argument("--screenshot", metavar="FILE", type=Path,
                        help="render the window once it has painted, save a PNG and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = sub.add_parser("config", help="show or change settings")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", help="effective settings, secrets masked, with sources")
    show.add_argument("--json", action="store_true")
    cset = config_sub.add_parser("set", help="change a setting (secrets go to the OS keyring)")
    cset.add_argument("key")
    cset.add_argument("value", help="the value; for a secret, '-' reads it from standard input")

    doctor = sub.add_parser("doctor", help="check the data dir, database and keyring")
    doctor.add_argument("--json", action="store_true")

    gen = sub.add_parser("generate", help="write copy or make an image with AI")
    g_sub = gen.add_subparsers(dest="generate_command", metavar="WHAT", required=True)
    gtext = g_sub.add_parser("text", help="copy for a task (streams to standard output)")
    gtext.add_argument("task", type=_task_arg, help="x_post, x_thread, instagram_caption, "
                       "tiktok_script, hashtags, rewrite_shorter, rewrite_tone, rewrite_language")
    gtext.add_argument("--topic", default="", help="what the post is about")
    gtext.add_argument("--text", default="", help="text to work on (hashtags, rewrites)")
    gtext.add_argument("--draft", type=int, help="work on this draft's text; with --save, "
                       "put the first variant into it")
    gtext.add_argument("--tone", default="playful")
    gtext.add_argument("--language", default="Spanish")
    gtext.add_argument("--save", action="store_true",
                       help="save the first variant as a new draft (or into --draft)")
    gimage = g_sub.add_parser("image", help="make an image and store it in the media library")
    gimage.add_argument("prompt")
    gimage.add_argument("--size", default="1024x1024",
                        choices=["1024x1024", "1792x1024", "1024x1792"])
    gimage.add_argument("--quality", default="standard", choices=["standard", "hd"])
    gimage.add_argument("--style", default="vivid", choices=["vivid", "natural"])
    gimage.add_argument("--draft", type=int, help="attach the image to this draft")
    for p in (gtext, gimage):
        p.add_argument("--provider", type=_provider_arg, help="openai, workers_ai or local")
        p.add_argument("--model", help="model name (default: the provider's usual one)")
        p.add_argument("--json", action="store_true")
    gtext.add_argument("--variants", type=int, default=1, help="how many versions (1-5)")

    media = sub.add_parser("media", help="the media library")
    m_sub = media.add_subparsers(dest="media_command", metavar="ACTION", required=True)
    madd = m_sub.add_parser("add", help="check files and keep them in the library")
    madd.add_argument("files", nargs="+", type=Path)
    madd.add_argument("--strip-gps", action="store_true",
                      help="remove location data from photos (they are re-encoded)")
    madd.add_argument("--json", action="store_true")

    sub.add_parser("sandbox", help="run the provider emulators alone and print their URLs")

    login = sub.add_parser("login", help="sign in (google, github) or connect an account to "
                           "publish to (x, instagram, tiktok) in the browser")
    login.add_argument("provider", choices=["google", "github", "x", "instagram", "tiktok"])
    login.add_argument("--no-browser", action="store_true",
                       help="print the address to open instead of opening a browser (GitHub: "
                            "a code to type on another device)")
    login.add_argument("--yes", action="store_true",
                       help="with --sandbox: answer the sandbox's consent page without a browser")
    login.add_argument("--as", dest="demo_account", type=int, default=0, metavar="N",
                       help="with --sandbox --yes: which demo person signs in (0-2)")
    login.add_argument("--timeout", type=float, default=300.0,
                       help="seconds to wait for the browser (default: %(default)s)")
    login.add_argument("--json", action="store_true")
    logout = sub.add_parser("logout", help="sign out or disconnect (revokes where the "
                            "provider allows it and deletes the stored tokens)")
    logout.add_argument("provider", choices=["google", "github", "x", "instagram", "tiktok"])
    logout.add_argument("account", nargs="?", help="handle or id (default: every account of "
                        "that provider)")
    accounts = sub.add_parser("accounts", help="who is signed in and the connected accounts")
    accounts.add_argument("action", nargs="?", choices=["list"], default="list",
                          help="list (the default)")
    accounts.add_argument("--check", action="store_true",
                          help="make sure each account still works (refreshes tokens if needed)")
    accounts.add_argument("--json", action="store_true")

    sched = sub.add_parser("schedule", help="schedule a draft to connected accounts")
    sched.add_argument("draft", type=int, metavar="DRAFT_ID")
    sched.add_argument("--to", action="append", required=True, metavar="ACCOUNT",
                       help="account id, @handle, or a platform when only one of it is "
                            "connected (repeat for several)")
    sched.add_argument("--at", required=True, metavar="WHEN",
                       help="ISO 8601 with an offset (2026-12-01T09:00+01:00), a wall-clock time "
                            "in --zone, or now")
    sched.add_argument("--zone", help="IANA time zone it is planned in (default: this "
                       "computer's)")
    sched.add_argument("--story", action="store_true", help="Instagram: post as a story")
    sched.add_argument("--json", action="store_true")
    posts = sub.add_parser("posts", help="scheduled and published posts")
    posts.add_argument("action", choices=["list"])
    posts.add_argument("--state", choices=["pending", "in_flight", "published", "failed",
                                           "needs_attention", "cancelled"])
    posts.add_argument("--json", action="store_true")
    due = sub.add_parser("publish-due", help="publish every post that is due, then exit")
    due.add_argument("--json", action="store_true")
    analytics = sub.add_parser("analytics", help="posts' figures from the platforms")
    a_sub = analytics.add_subparsers(dest="analytics_command", metavar="refresh|export",
                                     required=True)
    a_sub.add_parser("refresh", help="collect the figures that are due now").add_argument(
        "--json", action="store_true")
    a_export = a_sub.add_parser("export", help="every collected figure, one row per metric "
                                "per collection")
    a_export.add_argument("--from", dest="first", type=_arg(_parse_day), metavar="DATE",
                          help="first UTC day of collection (YYYY-MM-DD)")
    a_export.add_argument("--to", dest="last", type=_arg(_parse_day), metavar="DATE",
                          help="last UTC day of collection (YYYY-MM-DD), included")
    a_export.add_argument("--format", choices=["csv", "json"], required=True)
    a_export.add_argument("--output", "-o", type=Path, metavar="FILE",
                          help="write here instead of standard output")
    from mbv_desktop.cli_billing import add_billing_parser

    add_billing_parser(sub)
    timer = sub.add_parser("timer", help="a per-user OS timer that runs publish-due every 5 "
                           "minutes, so posts go out while the app is closed")
    t_sub = timer.add_subparsers(dest="timer_command", metavar="install|remove|status",
                                 required=True)
    for name, text in (("install", "install (or update) the timer for this profile and turn "
                        "it on"),
                       ("remove", "turn the timer off and remove it"),
                       ("status", "whether the timer is installed and on")):
        t_sub.add_parser(name, help=text).add_argument("--json", action="store_true")

    sync = sub.add_parser("sync", help="back up media and drafts to R2 and bring in what other "
                          "machines added (until Ctrl+C, or once with --once)")
    sync.add_argument("--once", action="store_true", help="one pass, then exit")
    sync.add_argument("--json", action="store_true")

    drafts = sub.add_parser("drafts", help="work with drafts")
    d_sub = drafts.add_subparsers(dest="drafts_command", metavar="ACTION", required=True)

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tag", help="only drafts with this tag")
        p.add_argument("--platform", type=_platform_arg, help="only drafts for this platform")
        p.add_argument("--state", type=_state_arg, help="draft, scheduled, published, archived")
        p.add_argument("--sort", type=_sort_arg, default=None,
                       help="updated (default), created, oldest, relevance")
        p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
        p.add_argument("--json", action="store_true")

    add = d_sub.add_parser("add", help="create a draft")
    add.add_argument("text", nargs="*", help="the text; '-' or nothing reads standard input")
    add.add_argument("--tag", dest="tags", action="append", default=[], help="a tag (repeatable)")
    add.add_argument("--platform", dest="platforms", action="append", type=_platform_arg,
                     default=[], help="x, instagram or tiktok (repeatable)")
    add.add_argument("--json", action="store_true")
    filters(d_sub.add_parser("list", help="list drafts"))
    search = d_sub.add_parser("search", help="full-text search")
    search.add_argument("query")
    filters(search)
    dshow = d_sub.add_parser("show", help="one draft, with its per-platform checks")
    dshow.add_argument("id", type=int)
    dshow.add_argument("--json", action="store_true")
    similar = d_sub.add_parser("similar", help="drafts most like this one (AI embeddings)")
    similar.add_argument("id", type=int)
    similar.add_argument("--limit", type=int, default=5)
    similar.add_argument("--json", action="store_true")
    export = d_sub.add_parser("export", help="write all drafts as JSON Lines")
    export.add_argument("file", nargs="?", default="-", help="file, or '-' for standard output")
    imp = d_sub.add_parser("import", help="read drafts from JSON Lines (good lines are kept)")
    imp.add_argument("file", help="file, or '-' for standard input")
    imp.add_argument("--json", action="store_true")
    return parser


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


class Cli:
    """Holds what every command needs: parsed args, the data dir and lazily opened services."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.data_dir, self.data_dir_source = resolve_data_dir(args.data_dir, env)
        self._services: Services | None = None
        self._sandbox: Any = None
        self._sandbox_s3: Any = None

    def services(self) -> Services:
        if self._services is None:
            # Log to the file from the start, so warnings while reading settings land there
            # too instead of on stderr; then again at the configured level.
            ensure_data_dir(self.data_dir)
            configure_logging(self.data_dir)
            overrides: dict[str, object] = {}
            if self.args.sandbox:
                overrides = self._start_sandbox()
            self._services = open_services(
                self.data_dir, env=self.env, overrides=overrides, sandbox=self.args.sandbox,
                sandbox_control_url=self._sandbox.control_url if self._sandbox else None)
            configure_logging(self.data_dir, str(self._services.settings.get("log.level")))
            settings = self._services.settings
            if settings.get_bool("analytics.opt_in") and settings.get("sentry.dsn"):
                from mbv_desktop.integrations.monitoring.sentry import init_sentry

                init_sentry(str(settings.get("sentry.dsn")), release=__version__,
                            environment="sandbox" if self.args.sandbox else "production")
        return self._services

    def _start_sandbox(self) -> dict[str, object]:
        from mbv_desktop.sandbox.host import SandboxHost
        from mbv_desktop.sandbox.s3 import SandboxS3, free_loopback_port

        self._sandbox = SandboxHost(self.data_dir / "sandbox")
        self._sandbox.start()
        # moto takes about half a second to start: beside the first window it starts in the
        # background, and uploads wait for it like for any endpoint that is not answering yet.
        self._sandbox_s3 = SandboxS3(self.data_dir / "sandbox", port=free_loopback_port())
        if self.args.command is None:  # the window: don't make the first frame wait for it
            self._sandbox_s3.start_in_background()
        else:
            self._sandbox_s3.start()
        return sandbox_overrides(self._sandbox.urls() | {"r2": self._sandbox_s3.planned_url})

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
        if self._sandbox is not None:
            self._sandbox.stop()
        if self._sandbox_s3 is not None:
            self._sandbox_s3.stop()

    # --- config ----------------------------------------------------------------------------

    async def config_show(self) -> int:
        from mbv_desktop.services.settings_view import effective_settings

        s = self.services()
        rows = await effective_settings(s.settings, s.secrets)
        if self.args.json:
            _print_json([{"key": r.key, "env": r.env, "value": r.display_value, "source": r.source,
                          "secret": r.secret} for r in rows])
        else:
            width = max(len(r.key) for r in rows)
            for r in rows:
                print(f"{r.key:<{width}}  {r.display_value or '-':<40}  ({r.source})")
        for problem in s.settings.problems:
            print(f"warning: {problem}", file=sys.stderr)
        return 0

    async def config_set(self) -> int:
        from mbv_desktop.services.settings_view import store_secret_setting

        s = self.services()
        from mbv_desktop.config.settings import spec_for

        spec = spec_for(self.args.key)
        if spec.secret:
            value = sys.stdin.readline().rstrip("\n") if self.args.value == "-" else self.args.value
            await store_secret_setting(s.secrets, spec.key, value)
            print(f"{spec.key} is stored in the OS keyring.")
            return 0
        value = s.settings.set(spec.key, self.args.value)
        print(f"{spec.key} = {value}")
        return 0

    # --- doctor ----------------------------------------------------------------------------

    async def doctor(self) -> int:
        from mbv_desktop.services.doctor import run_doctor

        overrides = self._start_sandbox() if self.args.sandbox else {}
        report = await run_doctor(self.data_dir, self.data_dir_source, self.env, overrides)
        if self.args.json:
            _print_json(report.to_json())
        else:
            for check in report.checks:
                mark = {"ok": "ok  ", "warning": "warn", "error": "FAIL"}[check.status]
                print(f"[{mark}] {check.name}: {check.summary}")
                for line in check.details:
                    print(f"        {line}")
        return 0 if report.ok else EXIT_FAILURE

    # --- generate --------------------------------------------------------------------------

    async def generate_text(self) -> int:
        from mbv_desktop.core.generation import DEFAULT_TEMPLATES
        from mbv_desktop.core.pricing import format_usd

        a = self.args
        services = self.services()
        text = a.text
        if a.draft is not None and not text:
            text = (await services.drafting.get(a.draft)).body
        stream_out = not a.json and a.variants == 1

        def on_delta(delta: ChatDelta) -> None:
            if stream_out:
                sys.stdout.write(delta.text)
                sys.stdout.flush()

        outcome = await services.generation.generate_text(
            a.task, provider=a.provider, model=a.model, topic=a.topic, text=text, tone=a.tone,
            language=a.language, variants=a.variants, draft_id=a.draft, on_delta=on_delta)
        saved_id: int | None = None
        if a.save and outcome.variants:
            first = outcome.variants[0].text
            if a.draft is not None:
                saved_id = (await services.drafting.update(a.draft, body=first)).id
            else:
                platform = DEFAULT_TEMPLATES[a.task].platform
                saved_id = (await services.drafting.create(
                    first, platforms=[platform] if platform else [])).id
        cost = outcome.cost
        if a.json:
            _print_json({
                "run_id": outcome.run_id, "provider": outcome.provider.value,
                "model": outcome.model, "task": a.task.value, "status": outcome.status,
                "note": outcome.note,
                "variants": [{"index": v.index, "text": v.text, "finish_reason": v.finish_reason,
                              "partial": v.partial} for v in outcome.variants],
                "usage": {"tokens_in": outcome.usage.tokens_in,
                          "tokens_out": outcome.usage.tokens_out,
                          "estimated": outcome.usage.estimated},
                "cost_usd": round(cost.usd, 6), "priced": cost.priced,
                "approximate": cost.approximate, "saved_draft_id": saved_id,
            })
        else:
            if not stream_out:
                for v in outcome.variants:
                    print(f"--- variant {v.index + 1}{' (cut)' if v.partial else ''} ---")
                    print(v.text)
            else:
                print()
            if outcome.note:
                print(outcome.note, file=sys.stderr)
            price = format_usd(cost.usd) if cost.priced else "not priced"
            print(f"{outcome.usage.tokens_in} in / {outcome.usage.tokens_out} out tokens, "
                  f"{price}" + (f"; saved as draft {saved_id}" if saved_id else ""),
                  file=sys.stderr)
        return 0

    async def generate_image(self) -> int:
        from mbv_desktop.core.pricing import format_usd

        a = self.args
        outcome = await self.services().generation.generate_image(
            a.prompt, provider=a.provider, model=a.model, size=a.size, quality=a.quality,
            style=a.style, draft_id=a.draft)
        if a.json:
            _print_json({
                "run_id": outcome.run_id, "asset_id": outcome.asset.id,
                "sha256": outcome.asset.sha256, "path": str(outcome.path),
                "mime": outcome.asset.mime, "width": outcome.asset.width,
                "height": outcome.asset.height, "revised_prompt": outcome.revised_prompt,
                "cost_usd": round(outcome.cost.usd, 6), "priced": outcome.cost.priced,
            })
        else:
            price = format_usd(outcome.cost.usd) if outcome.cost.priced else "not priced"
            print(f"Saved {outcome.path} ({outcome.asset.width}x{outcome.asset.height}), {price}.")
        return 0

    # --- media -----------------------------------------------------------------------------

    async def media_add(self) -> int:
        results = await self.services().library.add_files(self.args.files,
                                                          strip_gps=self.args.strip_gps)
        if self.args.json:
            _print_json([{
                "file": str(r.source), "ok": r.error is None, "error": r.error,
                "asset_id": r.asset.id if r.asset else None,
                "sha256": r.asset.sha256 if r.asset else None,
                "mime": r.asset.mime if r.asset else None,
                "width": r.asset.width if r.asset else None,
                "height": r.asset.height if r.asset else None,
                "duration_s": r.duration_s, "path": str(r.path) if r.path else None,
                "already_there": r.already_there,
            } for r in results])
        else:
            for r in results:
                if r.asset is not None:
                    note = " (already in the library)" if r.already_there else ""
                    size = f"{r.asset.width}x{r.asset.height}" if r.asset.width else ""
                    print(f"added {r.source}: {r.asset.mime} {size}{note}")
        for r in results:
            if r.error:
                print(f"skipped {r.source}: {r.error}", file=sys.stderr)
        return EXIT_FAILURE if any(r.error for r in results) else 0

    # --- accounts --------------------------------------------------------------------------

    async def login(self) -> int:
        a = self.args
        services = self.services()
        if a.yes and not services.sandbox:
            raise InvalidInput("--yes only works with --sandbox: a real provider needs you to "
                               "agree in the browser.")
        if a.no_browser and a.provider == "github":
            account = await services.accounts.device_sign_in(a.provider,
                                                             show_code=self._show_device_code)
        else:
            account = await services.accounts.authorize(a.provider, open_url=self._open_url,
                                                        timeout=a.timeout)
        if a.json:
            _print_json(_account_json(account))
        else:
            what = "Signed in with" if account.role == "sign_in" else "Connected"
            print(f"{what} {_PROVIDER_NAMES[account.provider]}: {account.label}"
                  f" (account id {account.account_id}).")
        return 0

    async def _open_url(self, url: str) -> None:
        a = self.args
        if a.yes:
            from mbv_desktop.services.sandbox_consent import answer_consent

            await answer_consent(url, account=a.demo_account)
            return
        if a.no_browser:
            print("Open this address in a browser on this computer to continue:", file=sys.stderr)
            print(url, flush=True)
            return
        import webbrowser

        if not await asyncio.to_thread(webbrowser.open, url):
            print("No browser could be opened; open this address yourself:", file=sys.stderr)
            print(url, flush=True)
        else:
            print("Continue in your browser…", file=sys.stderr, flush=True)

    async def _show_device_code(self, code: Any) -> None:
        if self.args.yes:
            from mbv_desktop.services.sandbox_consent import answer_device_code

            await answer_device_code(code.verification_uri, code.user_code,
                                     account=self.args.demo_account)
            return
        print(f"On any device, open {code.verification_uri} and type the code {code.user_code}",
              file=sys.stderr, flush=True)

    async def logout(self) -> int:
        a = self.args
        services = self.services()
        chosen = [acc for acc in await services.accounts.accounts()
                  if acc.provider == a.provider and (
                      a.account is None or a.account in (acc.account_id, acc.handle, acc.label,
                                                         acc.email))]
        if not chosen:
            raise InvalidInput(f"No {_PROVIDER_NAMES[a.provider]} account"
                               f"{' ' + a.account if a.account else ''} is connected.")
        for account in chosen:
            revoked = await services.accounts.disconnect(account.provider, account.account_id)
            note = "" if revoked else " (the provider could not confirm; removed here)"
            print(f"Removed {_PROVIDER_NAMES[account.provider]} {account.label}{note}.")
        return 0

    async def accounts(self) -> int:
        from mbv_desktop.core.accounts import account_status

        service = self.services().accounts
        found = await service.accounts()
        if self.args.check:
            for acc in found:
                await service.check(acc)
            found = await service.accounts()
        if self.args.json:
            _print_json([_account_json(acc) for acc in found])
            return 0
        if not found:
            print("No account yet: mbv-desktop login google|github|x|instagram|tiktok")
        for acc in found:
            print(f"{_PROVIDER_NAMES[acc.provider]:<10} {acc.label:<28} {account_status(acc)}")
        needs = [acc for acc in found if acc.status == "needs_reconnect"]
        return EXIT_FAILURE if self.args.check and needs else 0

    # --- scheduling and publishing -----------------------------------------------------------

    async def schedule(self) -> int:
        from mbv_desktop.core.scheduling import local_zone_name, parse_when

        a = self.args
        services = self.services()
        zone_name = a.zone or local_zone_name()
        when = parse_when(a.at, zone_name)
        done = await services.scheduling.schedule(a.draft, a.to, when, story=a.story)
        if a.json:
            _print_json({"post_id": done.post_id, "scheduled_at": when.instant.isoformat(),
                         "time_zone": when.zone, "notes": done.notes,
                         "targets": [_target_json(t) for t in done.targets]})
        else:
            for note in done.notes:
                print(f"note: {note}", file=sys.stderr)
            for t in done.targets:
                print(f"Scheduled post {done.post_id} to {_PROVIDER_NAMES[t.provider]} "
                      f"({t.post_type}) for {when.local:%Y-%m-%d %H:%M} {when.zone}.")
        return 0

    async def posts_list(self) -> int:
        rows = await self.services().scheduling.targets(self.args.state)
        if self.args.json:
            _print_json([_target_json(t) for t in rows])
            return 0
        if not rows:
            print("Nothing scheduled yet: mbv-desktop schedule DRAFT_ID --to ACCOUNT --at WHEN")
        for t in rows:
            where = t.url or t.last_error or ""
            print(f"{t.id:>5}  {t.scheduled_at:%Y-%m-%d %H:%M}Z  "
                  f"{_PROVIDER_NAMES.get(t.provider, t.provider):<9} {t.post_type:<8} "
                  f"{t.state:<15} {where}")
        return 0

    async def publish_due(self) -> int:
        services = self.services()
        report = await services.publishing.publish_due(limit=1000)
        notified = await services.notifications.drain()  # the emails and texts it caused
        collected = await services.metrics_collection.collect_due()
        if self.args.json:
            _print_json(report.to_json() | {"notifications": notified.to_json(),
                                            "analytics": collected.to_json()})
        else:
            print(f"Published {report.published}, failed {report.failed}, waiting "
                  f"{report.delayed}, need a reconnect {report.needs_attention}.")
            if notified.sent or notified.failed or notified.unknown:
                print(f"Notifications: {notified.sent} sent, {notified.failed} failed, "
                      f"{notified.unknown} unknown.")
            for message in report.messages:
                print(f"problem: {message}", file=sys.stderr)
        return EXIT_FAILURE if report.failed or report.needs_attention else 0

    async def analytics_refresh(self) -> int:
        report = await self.services().metrics_collection.collect_due()
        if self.args.json:
            _print_json(report.to_json())
        else:
            print(f"Collected {report.collected}, gone from the platform {report.deleted}, "
                  f"without permission {report.unavailable}, waiting {report.deferred}.")
            for message in report.errors:
                print(f"problem: {message}", file=sys.stderr)
        return EXIT_FAILURE if report.errors else 0

    async def analytics_export(self) -> int:
        a = self.args
        text = await self.services().analytics_queries.export(a.format, a.first, a.last)
        if a.output is None:
            sys.stdout.write(text)
            return 0
        try:
            await asyncio.to_thread(a.output.write_text, text, encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"Could not write {a.output}: {e.strerror or e}.") from e
        print(f"Wrote {a.output}.")
        return 0

    async def timer(self) -> int:
        """``timer install|remove|status``: needs no database, only the data dir."""
        from mbv_desktop.services.publish_timer import PublishTimer

        action = self.args.timer_command
        if action == "install" and self.args.sandbox:
            raise InvalidInput("The timer publishes with your live accounts; install it "
                               "without --sandbox.")
        timer = PublishTimer(self.data_dir, env=self.env)
        report = await {"install": timer.install, "remove": timer.remove,
                        "status": timer.status}[action]()
        if self.args.json:
            _print_json(report.to_json())
        else:
            print(report.message)
            for path in report.files:
                print(f"  {path}")
            if report.next_run:
                print(f"Next run: {report.next_run}")
            if report.last_run:
                print(f"Last run: {report.last_run}"
                      + (f" ({report.last_result})" if report.last_result else ""))
            print(report.note)
        return 0 if report.complete else EXIT_FAILURE

    # --- sync ------------------------------------------------------------------------------

    async def sync(self) -> int:
        from mbv_desktop.services.storage_config import sync_account

        services = self.services()
        if not services.sync.configured:
            print("mbv-desktop: Cloudflare R2 is not set up: set r2.endpoint_url, r2.bucket, "
                  "r2.access_key_id and r2.secret_access_key (or use --sandbox).",
                  file=sys.stderr)
            return EXIT_FAILURE
        sync_account(services.settings)  # a bad account name is an error before any request
        if self.args.once:
            report = await services.sync.sync_once()
            self._print_sync(report)
            return EXIT_FAILURE if report.error or report.upload_failed else 0
        services.sync.events.subscribe(
            lambda state: None if state.running or state.last is None
            else self._print_sync(state.last))
        services.sync.start()
        print("Syncing; press Ctrl+C to stop.", file=sys.stderr, flush=True)
        await asyncio.Event().wait()  # until Ctrl+C cancels the command
        return 0

    def _print_sync(self, report: SyncReport) -> None:
        if self.args.json:
            _print_json(report.to_json())
            return
        print(f"Media: {report.uploaded} uploaded, {report.upload_waiting} waiting, "
              f"{report.upload_failed} failed, {report.assets_downloaded} brought in.")
        print(f"Drafts: {report.drafts_uploaded} sent, {report.drafts_downloaded} received, "
              f"{report.drafts_merged} merged, {report.conflicts} kept as conflict copies.",
              flush=True)
        for problem in report.problems:
            print(f"problem: {problem}", file=sys.stderr)
        if report.error:
            print(f"mbv-desktop: {report.error}", file=sys.stderr)

    # --- drafts ----------------------------------------------------------------------------

    async def drafts_add(self) -> int:
        words: list[str] = self.args.text
        if not words or words == ["-"]:
            if sys.stdin.isatty():
                raise InvalidInput("Give the draft text as arguments, or pipe it in.")
            body = sys.stdin.read()
        else:
            body = " ".join(words)
        tags = parse_tag_list(",".join(self.args.tags))
        draft = await self.services().drafting.create(body, tags=tags,
                                                      platforms=self.args.platforms)
        if self.args.json:
            _print_json(draft_to_json(draft))
        else:
            print(f"Created draft {draft.id}.")
            for check in check_all(draft.body, draft.platforms):
                print(f"  {check.platform.label}: {check.length}/{check.limit}"
                      + ("" if check.fits else "  (does not fit)"))
                for problem in check.problems:
                    print(f"    - {problem}")
        return 0

    def _query(self, text: str = "") -> DraftQuery:
        a = self.args
        tag = parse_tag_list(a.tag)[0] if a.tag else None
        sort = a.sort or (SortOrder.RELEVANCE if text else SortOrder.UPDATED)
        return DraftQuery(text=text, tag=tag, platform=a.platform, state=a.state, sort=sort)

    async def drafts_list(self, text: str = "") -> int:
        if self.args.limit < 1:
            raise InvalidInput("--limit must be at least 1.")
        result = await self.services().drafting.search(self._query(text), limit=self.args.limit)
        if self.args.json:
            _print_json({
                "total": result.total,
                "drafts": [{
                    "id": r.id, "title": r.title, "tags": list(r.tags),
                    "platforms": [p.value for p in r.platforms], "state": r.state.value,
                    "updated_at": r.updated_at,
                    **({"snippet": _plain_snippet(r.snippet)} if text else {}),
                } for r in result.first_page],
            })
            return 0
        for r in result.first_page:
            line = _plain_snippet(r.snippet) if text else r.title
            print(f"{r.id:>7}  {r.updated_at[:16].replace('T', ' ')}  {line}")
        shown = len(result.first_page)
        print(f"{shown} of {result.total} draft{'s' if result.total != 1 else ''}"
              + (f" matching '{text}'" if text else ""), file=sys.stderr)
        return 0

    async def drafts_show(self) -> int:
        draft = await self.services().drafting.get(self.args.id)
        if self.args.json:
            _print_json(draft_to_json(draft))
            return 0
        print(f"Draft {draft.id}  ({draft.state.value}, edited {draft.updated_at:%Y-%m-%d %H:%M})")
        if draft.tags:
            print("Tags: " + ", ".join(f"#{t}" for t in draft.tags))
        print()
        print(draft.body)
        print()
        for check in check_all(draft.body, draft.platforms):
            print(f"{check.platform.label}: {check.length}/{check.limit}"
                  + ("" if check.fits else "  (does not fit)"))
            for problem in check.problems:
                print(f"  - {problem}")
        return 0

    async def drafts_similar(self) -> int:
        report = await self.services().similarity.similar(self.args.id, self.args.limit)
        duplicate = report.duplicate_of
        if self.args.json:
            _print_json({"matches": [{"id": m.id, "title": m.title, "score": m.score}
                                     for m in report.matches],
                         "duplicate_of": duplicate.id if duplicate else None,
                         "embedded_now": report.embedded_now})
            return 0
        if duplicate is not None:
            print(f"Looks like a duplicate of draft {duplicate.id} ({duplicate.score:.2f}).",
                  file=sys.stderr)
        for m in report.matches:
            print(f"{m.id:>7}  {m.score:.3f}  {m.title}")
        return 0

    async def drafts_export(self) -> int:
        drafting = self.services().drafting
        if self.args.file == "-":
            n = await drafting.export_jsonl(sys.stdout)
        else:
            target = Path(self.args.file)
            tmp = target.with_name(target.name + ".part")
            with tmp.open("w", encoding="utf-8") as f:
                n = await drafting.export_jsonl(f)
                f.flush()
                os.fsync(f.fileno())
            tmp.replace(target)
        print(f"Exported {n} draft{'s' if n != 1 else ''}.", file=sys.stderr)
        return 0

    async def drafts_import(self) -> int:
        drafting = self.services().drafting
        if self.args.file == "-":
            report = await drafting.import_jsonl(sys.stdin.buffer)
        else:
            path = Path(self.args.file)
            if not path.is_file():
                raise InvalidInput(f"There is no file {path}.")
            with path.open("rb") as f:
                report = await drafting.import_jsonl(f)
        if self.args.json:
            _print_json(report.to_json())
        else:
            c = report.counts
            print(f"Imported {c.added} new, {c.updated} updated, {c.unchanged} unchanged.")
        for problem in report.problems:
            print(f"skipped {problem}", file=sys.stderr)
        return EXIT_FAILURE if report.problems else 0


_PROVIDER_NAMES = {"google": "Google", "github": "GitHub", "x": "X", "instagram": "Instagram",
                   "tiktok": "TikTok"}


def _account_json(account: Any) -> dict[str, object]:
    return {"provider": account.provider, "role": account.role,
            "account_id": account.account_id, "handle": account.handle,
            "display_name": account.display_name, "email": account.email,
            "status": account.status,
            "expires_at": account.expires_at.isoformat() if account.expires_at else None}


def _target_json(t: Any) -> dict[str, object]:
    return {"id": t.id, "post_id": t.post_id, "provider": t.provider,
            "account_id": t.account_id, "post_type": t.post_type, "state": t.state,
            "scheduled_at": t.scheduled_at.isoformat(), "time_zone": t.time_zone,
            "attempts": t.attempts, "platform_post_id": t.platform_post_id, "url": t.url,
            "last_error": t.last_error, "late": t.late,
            "published_at": t.published_at.isoformat() if t.published_at else None}


def sandbox_overrides(urls: dict[str, str]) -> dict[str, object]:
    """Every configured client pointed at the sandbox, with demo credentials."""
    overrides: dict[str, object] = {"sandbox.enabled": True}
    if "openai" in urls:
        overrides.update({"openai.base_url": urls["openai"],
                          "openai.api_key": "sk-sandbox-demo-key"})
    if "workers_ai" in urls:
        overrides.update({"workers_ai.base_url": urls["workers_ai"],
                          "workers_ai.account_id": "sandbox-account",
                          "workers_ai.api_token": "sandbox-token"})
    if "local" in urls:  # the emulator stands in for Ollama; it serves OpenAI's model names
        overrides.update({"local_ai.base_url": urls["local"], "local_ai.model": "gpt-4o-mini"})
    # Sign-in and connect: every provider's pages and API under its emulator's base URL, with
    # the sandbox's demo apps (any client id starting "sandbox-", secret = id + "-secret").
    if "google" in urls:
        overrides.update({"google.issuer": urls["google"], "google.client_id": "sandbox-google",
                          "google.client_secret": "sandbox-google-secret"})
    if "github" in urls:
        overrides.update({"github.base_url": urls["github"], "github.api_base": urls["github"],
                          "github.client_id": "sandbox-github",
                          "github.client_secret": "sandbox-github-secret"})
    if "x" in urls:
        overrides.update({"x.auth_base": urls["x"], "x.api_base": urls["x"],
                          "x.client_id": "sandbox-x"})
    if "facebook" in urls:
        overrides.update({"facebook.auth_base": urls["facebook"],
                          "facebook.graph_base": urls["facebook"],
                          "instagram.client_id": "sandbox-facebook",
                          "instagram.client_secret": "sandbox-facebook-secret"})
    if "tiktok" in urls:
        overrides.update({"tiktok.auth_base": urls["tiktok"], "tiktok.api_base": urls["tiktok"],
                          "tiktok.client_key": "sandbox-tiktok",
                          "tiktok.client_secret": "sandbox-tiktok-secret"})
    if {"x", "facebook", "tiktok"} & urls.keys():  # the emulators process media in seconds
        overrides["publishing.poll_interval_s"] = 0.5
        # The emulators' audiences grow 60× faster than real ones; collect to match.
        overrides["analytics.collect_first_interval_s"] = 10.0
    if "resend" in urls:
        overrides.update({"resend.api_base": urls["resend"], "resend.api_key": "re_sandbox_demo",
                          "resend.from_email": "Must Be Viral <notify@sandbox.example>"})
    if "twilio" in urls:
        overrides.update({"twilio.api_base": urls["twilio"],
                          "twilio.account_sid": "AC" + "5a" * 16,
                          "twilio.auth_token": "sandbox-twilio-token",
                          "twilio.from_number": "+15005550006"})
    if "stripe" in urls:
        overrides.update({"stripe.api_base": urls["stripe"],
                          "stripe.secret_key": "sk_test_sandbox_demo",
                          "stripe.poll_interval_s": 3.0})
    if "ga4" in urls:
        overrides.update({"ga4.endpoint": urls["ga4"] + "/mp/collect",
                          "ga4.measurement_id": "G-SANDBOX", "ga4.api_secret": "sandbox-ga4"})
    if "r2" in urls:
        from mbv_desktop.sandbox.s3 import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY

        overrides.update({"r2.endpoint_url": urls["r2"], "r2.bucket": BUCKET,
                          "r2.access_key_id": ACCESS_KEY_ID,
                          "r2.secret_access_key": SECRET_ACCESS_KEY})
    return overrides


def _plain_snippet(snippet: str) -> str:
    return snippet.replace("\x02", "[").replace("\x03", "]").replace("\n", " ")


def _dispatch(cli: Cli) -> Callable[[], Coroutine[Any, Any, int]]:
    a = cli.args
    if a.command == "config":
        return cli.config_show if a.config_command == "show" else cli.config_set
    if a.command == "doctor":
        return cli.doctor
    if a.command == "media":
        return cli.media_add
    if a.command == "sync":
        return cli.sync
    if a.command == "schedule":
        return cli.schedule
    if a.command == "posts":
        return cli.posts_list
    if a.command == "publish-due":
        return cli.publish_due
    if a.command == "timer":
        return cli.timer
    if a.command == "analytics":
        return (cli.analytics_refresh if a.analytics_command == "refresh"
                else cli.analytics_export)
    if a.command == "billing":
        from mbv_desktop.cli_billing import billing_command

        return billing_command(cli)
    if a.command == "login":
        return cli.login
    if a.command == "logout":
        return cli.logout
    if a.command == "accounts":
        return cli.accounts
    if a.command == "generate":
        return cli.generate_text if a.generate_command == "text" else cli.generate_image
    if a.command == "drafts":
        return {
            "add": cli.drafts_add,
            "list": cli.drafts_list,
            "search": lambda: cli.drafts_list(a.query),
            "show": cli.drafts_show,
            "similar": cli.drafts_similar,
            "export": cli.drafts_export,
            "import": cli.drafts_import,
        }[a.drafts_command]
    raise AssertionError(a.command)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = dict(os.environ)
    try:
        cli = Cli(args, env)
    except MbvError as e:
        print(f"mbv-desktop: {e}", file=sys.stderr)
        return EXIT_FAILURE
    if args.command == "sandbox":
        from mbv_desktop.sandbox.host import main as sandbox_main

        return sandbox_main(["--state-dir", str(cli.data_dir / "sandbox")])
    if args.command is None:
        from mbv_desktop.app import WindowOptions, run_window

        def factory() -> Services:
            return cli.services()

        try:
            return run_window(
                WindowOptions(cli.data_dir, args.sandbox, args.panel, args.screenshot), factory)
        finally:
            cli.close()

    async def command() -> int:
        try:
            return await _dispatch(cli)()
        finally:
            if cli._services is not None:
                await cli._services.aclose()

    try:
        return _run(command())
    except MbvError as e:
        print(f"mbv-desktop: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("mbv-desktop: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    finally:
        cli.close()


if __name__ == "__main__":
    sys.exit(main())
