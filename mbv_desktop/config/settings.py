"""Every setting of the app, declared once, and how its effective value is found.

:data:`SETTINGS` is the single schema: key, type, default, one-sentence description, whether it is
a secret, allowed choices. The README's configuration table, ``mbv-desktop config show`` and the
environment variable names (``MBV_`` + key in upper case with ``.`` → ``_``) all come from it.

Precedence, highest first: command-line flag (``overrides``) > environment variable > the
profile's ``settings.json`` > default. Secrets never come from or go to ``settings.json``: here
they are read from flags and the environment only; the OS keyring is read by
:class:`mbv_desktop.config.secrets.SecretStore`.

A damaged ``settings.json`` never stops the app: unreadable parts fall back to the defaults, each
problem is recorded as one sentence in :attr:`Settings.problems` and logged once, and the next
:meth:`Settings.set` moves an unreadable file aside (``settings.json.corrupt-<time>``) instead of
overwriting it. Keys the app does not know are kept when the file is rewritten, so a newer
version's settings survive a run of an older one.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mbv_desktop.config.paths import atomic_write_text, data_dir_error, settings_path
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.redaction import register_secret

__all__ = [
    "ENV_PREFIX",
    "SECRET_SET_HINT",
    "SETTINGS",
    "EffectiveSetting",
    "SettingSpec",
    "Settings",
    "parse_value",
    "settings_table_markdown",
    "spec_for",
]

log = logging.getLogger(__name__)

ENV_PREFIX = "MBV_"

#: How a person stores a secret setting (``{key}`` is filled in); quoted when
#: :meth:`Settings.set` is given a secret. The command line reads the value from standard input
#: when it is ``-``, so it never shows up in the shell history or the process list.
SECRET_SET_HINT = "mbv-desktop config set {key} -"

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class SettingSpec:
    """One setting: its key, type, default and meaning.

    Attributes:
        key: dotted name, ``<section>.<field>``, e.g. ``"openai.base_url"``.
        type: ``str``, ``int``, ``float`` or ``bool``.
        default: the value when nothing else sets it.
        description: one short sentence for the README table and ``config show``.
        secret: stored in the OS keyring, never in ``settings.json``; shown masked.
        choices: for ``str`` settings, the allowed values (matched case-insensitively).
        url: the value, when not empty, must be an ``http://`` or ``https://`` URL.
        minimum: for numbers, the smallest allowed value.
    """

    key: str
    type: type
    default: object
    description: str
    secret: bool = False
    choices: tuple[str, ...] | None = None
    url: bool = False
    minimum: float | None = None

    @property
    def env(self) -> str:
        """The environment variable that sets it, e.g. ``MBV_OPENAI_BASE_URL``."""
        return ENV_PREFIX + self.key.upper().replace(".", "_")

    @property
    def section(self) -> str:
        """The part before the first dot (a provider or an app area), e.g. ``"openai"``."""
        return self.key.split(".", 1)[0]

    @property
    def type_name(self) -> str:
        """``"text"``, ``"whole number"``, ``"number"`` or ``"true/false"``, for people."""
        return {str: "text", int: "whole number", float: "number", bool: "true/false"}[self.type]


def _s(key: str, default: str, description: str) -> SettingSpec:
    return SettingSpec(key, str, default, description)


def _url(key: str, default: str, description: str) -> SettingSpec:
    return SettingSpec(key, str, default, description, url=True)


def _secret(key: str, description: str) -> SettingSpec:
    return SettingSpec(key, str, "", description, secret=True)


SETTINGS: tuple[SettingSpec, ...] = (
    # --- the app ---
    SettingSpec(
        "ui.theme",
        str,
        "system",
        "Colour theme of the window.",
        choices=("system", "light", "dark"),
    ),
    SettingSpec(
        "app.close_to_tray",
        bool,
        True,
        "Closing the window keeps the app in the system tray, publishing (where there is a tray).",
    ),
    SettingSpec(
        "drafts.autosave_ms",
        int,
        400,
        "Longest time in milliseconds between an edit and its autosave.",
        minimum=50,
    ),
    SettingSpec(
        "log.level",
        str,
        "INFO",
        "Lowest level written to the log file.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    SettingSpec(
        "secrets.allow_plaintext",
        bool,
        False,
        "Keep secrets in a plain-text file (mode 0600) when no OS keyring exists.",
    ),
    SettingSpec(
        "analytics.opt_in",
        bool,
        False,
        "Send anonymous usage events (GA4) and crash reports (Sentry).",
    ),
    SettingSpec(
        "analytics.asked",
        bool,
        False,
        "Whether the first-run question about anonymous usage events was answered.",
    ),
    SettingSpec(
        "sandbox.enabled", bool, False, "Point every provider at the built-in loopback emulators."
    ),
    # --- AI ---
    _url("openai.base_url", "https://api.openai.com/v1", "OpenAI API base URL."),
    _secret("openai.api_key", "OpenAI API key."),
    _s("workers_ai.account_id", "", "Cloudflare account ID for Workers AI."),
    _secret("workers_ai.api_token", "Cloudflare API token with Workers AI access."),
    _url("workers_ai.base_url", "https://api.cloudflare.com/client/v4", "Cloudflare API base URL."),
    _url(
        "local_ai.base_url",
        "",
        "OpenAI-compatible local server (Ollama: http://127.0.0.1:11434/v1); empty is off.",
    ),
    _s("local_ai.model", "llama3.1", "Model name the local server should run."),
    SettingSpec(
        "ai.provider",
        str,
        "openai",
        "AI provider used unless a task says otherwise.",
        choices=("openai", "workers_ai", "local"),
    ),
    SettingSpec(
        "ai.monthly_budget_usd",
        float,
        20.0,
        "Monthly AI spend after which the app warns before each run (0: no warning).",
        minimum=0,
    ),
    # --- storage ---
    _url("r2.endpoint_url", "", "R2 S3 endpoint, https://<ACCOUNT_ID>.r2.cloudflarestorage.com."),
    _s("r2.bucket", "", "R2 bucket that holds media and sync data."),
    _s("r2.access_key_id", "", "R2 access key ID."),
    _secret("r2.secret_access_key", "R2 secret access key."),
    SettingSpec(
        "sync.account",
        str,
        "default",
        "Folder in the bucket for this creator's files; profiles that share it share drafts.",
    ),
    SettingSpec(
        "sync.interval_s",
        int,
        60,
        "Seconds between background syncs of drafts and media while the app is open.",
        minimum=5,
    ),
    # --- payments ---
    _url(
        "stripe.api_base",
        "https://api.stripe.com",
        "Stripe API host (the SDK's api_base, without /v1).",
    ),
    _secret("stripe.secret_key", "Stripe secret or restricted key."),
    _secret("stripe.webhook_secret", "Stripe webhook signing secret (whsec_…)."),
    SettingSpec(
        "stripe.poll_interval_s",
        float,
        60.0,
        "Seconds between checks of Stripe's events (plan, card and invoice changes) while the "
        "app is open.",
        minimum=1,
    ),
    SettingSpec(
        "stripe.webhook_port",
        int,
        0,
        "Port on 127.0.0.1 for Checkout's return page and forwarded Stripe webhooks ('stripe "
        "listen --forward-to 127.0.0.1:PORT/stripe/webhook'), listening while the app is "
        "open; 0: a port the system picks, only while a Checkout page is open.",
        minimum=0,
    ),
    SettingSpec(
        "billing.enforce_limits",
        bool,
        True,
        "Hold AI generations, connected accounts and storage to the plan's limits.",
    ),
    # --- social ---
    _url("x.api_base", "https://api.x.com", "X API host (paths start with /2/)."),
    _url("x.auth_base", "https://x.com", "X host of the authorization page (/i/oauth2/authorize)."),
    _s("x.client_id", "", "OAuth 2.0 client ID of the X app."),
    _url("instagram.api_base", "https://graph.instagram.com", "Instagram Graph API host."),
    _url("facebook.auth_base", "https://www.facebook.com", "Facebook Login dialog host."),
    _url("facebook.graph_base", "https://graph.facebook.com", "Facebook Graph API host."),
    _s("instagram.client_id", "", "Instagram (Meta) app ID."),
    _secret("instagram.client_secret", "Meta app secret (needed by the token exchange)."),
    _url("tiktok.api_base", "https://open.tiktokapis.com", "TikTok API host."),
    _url("tiktok.auth_base", "https://www.tiktok.com", "TikTok authorization page host."),
    _s("tiktok.client_key", "", "TikTok app client key."),
    _secret("tiktok.client_secret", "TikTok app client secret (needed by the token exchange)."),
    # --- sign-in ---
    _url("google.issuer", "https://accounts.google.com", "Google OpenID Connect issuer."),
    _s("google.client_id", "", "Google OAuth client ID (desktop app)."),
    _secret("google.client_secret", "Google desktop client secret (not confidential in an app)."),
    _url("github.base_url", "https://github.com", "GitHub host for sign-in (/login/oauth/…)."),
    _url("github.api_base", "https://api.github.com", "GitHub REST API host (user info)."),
    _s("github.client_id", "", "GitHub OAuth app client ID."),
    _secret("github.client_secret", "GitHub OAuth app secret (web flow only; not confidential)."),
    # --- publishing ---
    SettingSpec(
        "publishing.concurrency",
        int,
        4,
        "Posts sent at the same time (each to its own account, in due order).",
        minimum=1,
    ),
    SettingSpec(
        "publishing.poll_interval_s",
        float,
        2.0,
        "Seconds between checks while a platform processes uploaded media.",
        minimum=0.01,
    ),
    # --- analytics ---
    SettingSpec(
        "analytics.collect_first_interval_s",
        float,
        300.0,
        "Seconds between a post's first two collections of figures (the first is right "
        "after publishing); each later wait is twice as long, up to a day.",
        minimum=0.1,
    ),
    SettingSpec(
        "analytics.trends_woeid",
        int,
        1,
        "Where X trends come from (a Yahoo WOEID: 1 worldwide, 23424977 United States, "
        "23424975 United Kingdom).",
        minimum=1,
    ),
    # --- notifications ---
    _url("resend.api_base", "https://api.resend.com", "Resend API host."),
    _secret("resend.api_key", "Resend API key (re_…)."),
    _s("resend.from_email", "", "Sender address for notification emails."),
    _url(
        "twilio.api_base",
        "https://api.twilio.com",
        "Twilio API host (paths start with /2010-04-01/).",
    ),
    _s("twilio.account_sid", "", "Twilio account SID."),
    _secret("twilio.auth_token", "Twilio auth token."),
    _s("twilio.from_number", "", "Twilio phone number SMS are sent from, E.164 form."),
    _s("notify.email_to", "", "Address that gets publishing emails; empty is no email."),
    SettingSpec("notify.email_published", bool, False, "Email when a post is published."),
    SettingSpec("notify.email_problems", bool, True,
                "Email when a post fails or an account needs reconnecting."),
    _s("notify.sms_to", "", "Phone number (E.164) that gets an SMS when a post fails; empty is "
       "no SMS."),
    # --- analytics and monitoring ---
    _url(
        "ga4.endpoint",
        "https://www.google-analytics.com/mp/collect",
        "GA4 Measurement Protocol collect URL.",
    ),
    _s("ga4.measurement_id", "", "GA4 measurement ID (G-…)."),
    _secret("ga4.api_secret", "GA4 Measurement Protocol API secret."),
    _secret("sentry.dsn", "Sentry DSN for crash reports; empty is off."),
)

_BY_KEY: dict[str, SettingSpec] = {spec.key: spec for spec in SETTINGS}
assert len(_BY_KEY) == len(SETTINGS), "duplicate setting key"


def spec_for(key: str) -> SettingSpec:
    """The spec of ``key``; raises :class:`InvalidInput` naming close matches if unknown."""
    normalised = key.strip().lower()
    spec = _BY_KEY.get(normalised)
    if spec is not None:
        return spec
    by_env = {s.env.lower(): s for s in SETTINGS}
    if normalised in by_env:
        return by_env[normalised]
    close = difflib.get_close_matches(normalised, list(_BY_KEY), n=3, cutoff=0.6)
    hint = (
        f"did you mean {' or '.join(close)}?"
        if close
        else "`mbv-desktop config show` lists them all."
    )
    raise InvalidInput(f"There is no setting called '{key}'; {hint}")


# --- parsing ------------------------------------------------------------------------------------


class _BadValue(ValueError):
    """A value does not fit its spec; ``str()`` is a clause like "it must be a whole number"."""


def _shown(spec: SettingSpec, raw: object) -> str:
    if spec.secret:
        return "the value given"
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"'{text}'"


def _parse(spec: SettingSpec, raw: object) -> object:
    if spec.type is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str):
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise _BadValue(f"it must be true or false (or yes/no, 1/0), not {_shown(spec, raw)}")

    if spec.type is int or spec.type is float:
        number: int | float
        kind = "a whole number" if spec.type is int else "a number"
        try:
            if isinstance(raw, bool):
                raise ValueError
            if isinstance(raw, int | float):
                number = raw
            elif isinstance(raw, str):
                number = float(raw.strip()) if spec.type is float else int(raw.strip(), 10)
            else:
                raise ValueError
            if spec.type is int:
                if isinstance(number, float) and not number.is_integer():
                    raise ValueError
                number = int(number)
            elif not math.isfinite(number):
                raise ValueError
            else:
                number = float(number)
        except (ValueError, OverflowError):
            raise _BadValue(f"it must be {kind}, not {_shown(spec, raw)}") from None
        if spec.minimum is not None and number < spec.minimum:
            raise _BadValue(f"it must be at least {spec.minimum:g}, not {number:g}")
        return number

    if not isinstance(raw, str):
        raise _BadValue(f"it must be text, not {_shown(spec, raw)}")
    text = raw if spec.secret else raw.strip()
    if spec.choices is not None:
        for choice in spec.choices:
            if choice.lower() == text.lower():
                return choice
        raise _BadValue(f"it must be one of {', '.join(spec.choices)}, not {_shown(spec, raw)}")
    if spec.url and text and not text.lower().startswith(("http://", "https://")):
        raise _BadValue(
            f"it must be a URL starting with http:// or https://, not {_shown(spec, raw)}"
        )
    if spec.url and any(ch.isspace() for ch in text):
        raise _BadValue(f"a URL cannot contain spaces, as {_shown(spec, raw)} does")
    return text


def parse_value(key: str, raw: object) -> object:
    """Parse ``raw`` (text as typed, or a JSON value) for setting ``key``.

    Raises :class:`InvalidInput` with one sentence, e.g. "drafts.autosave_ms must be a whole
    number, not 'abc'."
    """
    spec = spec_for(key)
    try:
        return _parse(spec, raw)
    except _BadValue as exc:
        raise InvalidInput(f"{spec.key} cannot be set: {exc}.") from None


# --- effective values ---------------------------------------------------------------------------


def _mask(value: object) -> str:
    text = "" if value is None else str(value)
    if not text:
        return ""
    return "****" + text[-4:] if len(text) >= 12 else "****"


@dataclass(frozen=True)
class EffectiveSetting:
    """A setting's value as the app will use it, and where that value came from."""

    spec: SettingSpec
    value: object
    source: str  # "flag" | "env" | "file" | "default" | "keyring"

    def display_value(self) -> str:
        """The value for people: secrets masked (``****`` + last 4 characters if 12+ long)."""
        if self.spec.secret:
            return _mask(self.value)
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return "" if self.value is None else str(self.value)


class Settings:
    """The effective settings of one profile (data directory).

    Args:
        data_dir: the profile's folder; ``settings.json`` lives there.
        env: the environment to read ``MBV_*`` variables from; ``None`` means ``os.environ``.
            An empty variable counts as unset.
        overrides: values from command-line flags, by setting key (text or typed). They win
            over everything; a bad one raises :class:`InvalidInput`.

    Attributes:
        problems: one sentence per thing that was ignored (damaged file, bad value in the file
            or the environment). Empty when all is well. Each is also logged once as a warning.
    """

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, object] | None = None,
    ) -> None:
        self._data_dir = Path(data_dir)
        self._env: Mapping[str, str] = os.environ if env is None else env
        self._overrides: dict[str, object] = {}
        for key, raw in (overrides or {}).items():
            spec = spec_for(key)
            try:
                value = _parse(spec, raw)
            except _BadValue as exc:
                raise InvalidInput(f"{spec.key} given on the command line: {exc}.") from None
            self._overrides[spec.key] = value
        self.problems: list[str] = []
        self._logged: set[str] = set()
        self._values: dict[str, tuple[object, str]] = {}
        self.reload()

    # -- reading --

    @property
    def data_dir(self) -> Path:
        """The profile's folder."""
        return self._data_dir

    @property
    def path(self) -> Path:
        """The settings file, ``<data_dir>/settings.json`` (it may not exist)."""
        return settings_path(self._data_dir)

    def _problem(self, sentence: str) -> None:
        self.problems.append(sentence)
        if sentence not in self._logged:
            self._logged.add(sentence)
            log.warning("%s", sentence)

    def _read_file(self) -> tuple[dict[str, object] | None, str | None]:
        """``(content, None)``, ``({}, None)`` if missing, or ``(None, reason)`` if unreadable."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}, None
        except IsADirectoryError:
            return None, "it is a folder, not a file"
        except OSError as exc:
            return None, (exc.strerror or str(exc)).lower()
        try:
            content = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            return None, "it is not UTF-8 text"
        except json.JSONDecodeError as exc:
            return None, f"it is not valid JSON (line {exc.lineno}, column {exc.colno})"
        if not isinstance(content, dict):
            return None, "it does not hold a JSON object"
        return content, None

    def reload(self) -> None:
        """Read the settings file and the environment again (flags stay as given)."""
        self.problems = []
        content, reason = self._read_file()
        if content is None:
            self._problem(
                f"The settings file {self.path} could not be read ({reason}), so the defaults "
                f"are used; the next change moves it aside to "
                f"{self.path.name}.corrupt-<time> and starts a new one."
            )
            content = {}

        file_values: dict[str, object] = {}
        for key, raw in content.items():
            spec = _BY_KEY.get(key)
            if spec is None:
                continue  # unknown keys are kept on rewrite, not used
            if spec.secret:
                if isinstance(raw, str):
                    register_secret(raw)
                self._problem(
                    f"Ignoring {key} in {self.path}: it is a secret, and secrets belong in the "
                    f"OS keyring, not the settings file; remove it from the file."
                )
                continue
            try:
                file_values[key] = _parse(spec, raw)
            except _BadValue as exc:
                self._problem(f"Ignoring {key} in {self.path}: {exc}.")

        env_values: dict[str, object] = {}
        for spec in SETTINGS:
            raw_env = self._env.get(spec.env)
            if raw_env is None or raw_env == "":
                continue
            try:
                env_values[spec.key] = _parse(spec, raw_env)
            except _BadValue as exc:
                self._problem(f"Ignoring the environment variable {spec.env}: {exc}.")

        values: dict[str, tuple[object, str]] = {}
        for spec in SETTINGS:
            if spec.key in self._overrides:
                values[spec.key] = (self._overrides[spec.key], "flag")
            elif spec.key in env_values:
                values[spec.key] = (env_values[spec.key], "env")
            elif spec.key in file_values:
                values[spec.key] = (file_values[spec.key], "file")
            else:
                values[spec.key] = (spec.default, "default")
            value = values[spec.key][0]
            if spec.secret and isinstance(value, str):
                register_secret(value)
        self._values = values

    def get(self, key: str) -> object:
        """The effective value of ``key`` (flag > env > file > default)."""
        return self._values[spec_for(key).key][0]

    def source(self, key: str) -> str:
        """Where the effective value came from: ``"flag"``, ``"env"``, ``"file"``, ``"default"``."""
        return self._values[spec_for(key).key][1]

    def get_str(self, key: str) -> str:
        """:meth:`get` for a text setting."""
        value = self.get(key)
        if not isinstance(value, str):
            raise TypeError(f"{key} is not a text setting")
        return value

    def get_int(self, key: str) -> int:
        """:meth:`get` for a whole-number setting."""
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{key} is not a whole-number setting")
        return value

    def get_float(self, key: str) -> float:
        """:meth:`get` for a number setting (whole-number settings are converted)."""
        value = self.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise TypeError(f"{key} is not a number setting")
        return float(value)

    def get_bool(self, key: str) -> bool:
        """:meth:`get` for a true/false setting."""
        value = self.get(key)
        if not isinstance(value, bool):
            raise TypeError(f"{key} is not a true/false setting")
        return value

    def effective(self) -> list[EffectiveSetting]:
        """Every setting, in schema order, with its value and source (for ``config show``)."""
        return [EffectiveSetting(spec, *self._values[spec.key]) for spec in SETTINGS]

    # -- writing --

    def set(self, key: str, value: str) -> object:
        """Parse ``value`` for ``key``, save it to ``settings.json`` and return the parsed value.

        The file is replaced atomically with mode 0600; other keys (also unknown ones) are kept.
        An unreadable file is first moved aside to ``settings.json.corrupt-<time>``. Secrets are
        refused. A flag or environment variable for ``key`` still wins over the saved value:
        check :meth:`source` afterwards to tell the user.
        """
        spec = self._writable_spec(key)
        try:
            parsed = _parse(spec, value)
        except _BadValue as exc:
            raise InvalidInput(f"{spec.key} cannot be set: {exc}.") from None
        self._update_file(lambda content: content.__setitem__(spec.key, parsed))
        return parsed

    def unset(self, key: str) -> None:
        """Remove ``key`` from ``settings.json`` so the default (or env/flag) applies again."""
        spec = self._writable_spec(key)
        self._update_file(lambda content: content.pop(spec.key, None))

    def _writable_spec(self, key: str) -> SettingSpec:
        spec = spec_for(key)
        if spec.secret:
            raise InvalidInput(
                f"{spec.key} is a secret: it is stored in the OS keyring, not in the settings "
                f"file; use `{SECRET_SET_HINT.format(key=spec.key)}` or the environment variable "
                f"{spec.env}."
            )
        return spec

    def _update_file(self, change: Callable[[dict[str, object]], object]) -> None:
        content, _reason = self._read_file()
        if content is None:
            self._move_aside()
            content = {}
        change(content)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_text(
                self.path, json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            )
        except OSError as exc:
            raise data_dir_error(self.path, exc, what="settings file") from exc
        self.reload()

    def _move_aside(self) -> Path | None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
            n += 1
        try:
            os.replace(self.path, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise data_dir_error(self.path, exc, what="settings file") from exc
        log.warning("Moved the unreadable settings file aside to %s.", target)
        return target


def settings_table_markdown() -> str:
    """The README's configuration table, generated from :data:`SETTINGS`."""
    rows = [
        "| Setting | Environment variable | Type | Default | Description |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in SETTINGS:
        if spec.secret:
            default = "(secret, OS keyring)"
        elif isinstance(spec.default, bool):
            default = "`true`" if spec.default else "`false`"
        elif spec.default == "":
            default = "(empty)"
        else:
            default = f"`{spec.default}`"
        kind = spec.type_name
        if spec.choices:
            kind += ": " + ", ".join(spec.choices)
        rows.append(f"| `{spec.key}` | `{spec.env}` | {kind} | {default} | {spec.description} |")
    return "\n".join(rows) + "\n"
