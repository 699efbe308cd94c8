"""Settings: one schema, clear precedence, masked secrets; a damaged file never stops the app."""

from __future__ import annotations

import json
import logging
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from mbv_desktop.config import settings as settings_module
from mbv_desktop.config.settings import (
    SETTINGS,
    EffectiveSetting,
    Settings,
    SettingSpec,
    settings_table_markdown,
    spec_for,
)
from mbv_desktop.core.errors import DataDirError, InvalidInput
from mbv_desktop.core.redaction import redact

REQUIRED_KEYS = {
    "ui.theme", "drafts.autosave_ms", "log.level", "secrets.allow_plaintext", "analytics.opt_in",
    "sandbox.enabled", "openai.base_url", "openai.api_key", "workers_ai.account_id",
    "workers_ai.api_token", "workers_ai.base_url", "local_ai.base_url", "r2.endpoint_url",
    "r2.bucket", "r2.access_key_id", "r2.secret_access_key", "stripe.api_base",
    "stripe.secret_key", "stripe.webhook_secret", "x.api_base", "x.client_id",
    "instagram.api_base", "instagram.client_id", "tiktok.api_base", "tiktok.client_key",
    "google.issuer", "google.client_id", "github.base_url", "github.client_id",
    "resend.api_base", "resend.api_key", "resend.from_email", "twilio.api_base",
    "twilio.account_sid", "twilio.auth_token", "twilio.from_number", "ga4.endpoint",
    "ga4.measurement_id", "ga4.api_secret", "sentry.dsn",
}  # fmt: skip
SECRET_KEYS = {
    "openai.api_key", "workers_ai.api_token", "r2.secret_access_key", "stripe.secret_key",
    "stripe.webhook_secret", "resend.api_key", "twilio.auth_token", "ga4.api_secret",
    "sentry.dsn", "google.client_secret", "github.client_secret", "instagram.client_secret",
    "tiktok.client_secret",
}  # fmt: skip

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    return path


def write_file(data_dir: Path, content: object) -> Path:
    path = data_dir / "settings.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# --- the schema ---------------------------------------------------------------------------------


def test_schema_lists_every_setting_once_with_a_sentence() -> None:
    keys = [spec.key for spec in SETTINGS]
    assert len(keys) == len(set(keys))
    assert set(keys) >= REQUIRED_KEYS
    assert {spec.key for spec in SETTINGS if spec.secret} == SECRET_KEYS
    for spec in SETTINGS:
        assert spec.description.endswith("."), spec.key
        assert spec.type in (str, int, float, bool)
        assert isinstance(spec.default, spec.type)
        if spec.secret:
            assert spec.default == ""


def test_environment_names_follow_mbv_provider_field() -> None:
    assert spec_for("openai.base_url").env == "MBV_OPENAI_BASE_URL"
    assert spec_for("r2.secret_access_key").env == "MBV_R2_SECRET_ACCESS_KEY"
    assert spec_for("workers_ai.api_token").env == "MBV_WORKERS_AI_API_TOKEN"
    assert len({spec.env for spec in SETTINGS}) == len(SETTINGS)


def test_real_provider_urls_are_the_defaults() -> None:
    assert spec_for("openai.base_url").default == "https://api.openai.com/v1"
    assert spec_for("x.api_base").default == "https://api.x.com"
    assert spec_for("google.issuer").default == "https://accounts.google.com"


def test_unknown_key_names_the_closest_ones() -> None:
    with pytest.raises(InvalidInput) as info:
        spec_for("openai.base_ur")
    assert "openai.base_url" in str(info.value)
    with pytest.raises(InvalidInput, match="config show"):
        spec_for("zzzzzz")


def test_keys_are_case_insensitive_and_env_names_work() -> None:
    assert spec_for("UI.Theme").key == "ui.theme"
    assert spec_for("MBV_OPENAI_BASE_URL").key == "openai.base_url"


def test_readme_table_has_a_row_per_setting() -> None:
    table = settings_table_markdown()
    for spec in SETTINGS:
        assert f"`{spec.env}`" in table
    assert len(table.strip().splitlines()) == len(SETTINGS) + 2


# --- precedence ---------------------------------------------------------------------------------


def test_defaults_with_nothing_set(data_dir: Path) -> None:
    s = Settings(data_dir, env={})
    assert s.get("ui.theme") == "system"
    assert s.get("drafts.autosave_ms") == 400
    assert s.get("secrets.allow_plaintext") is False
    assert s.source("ui.theme") == "default"
    assert s.problems == []


def test_flag_beats_env_beats_file_beats_default(data_dir: Path) -> None:
    write_file(data_dir, {"ui.theme": "light", "drafts.autosave_ms": 700, "log.level": "ERROR"})
    env = {"MBV_UI_THEME": "dark", "MBV_DRAFTS_AUTOSAVE_MS": "900"}
    s = Settings(data_dir, env=env, overrides={"ui.theme": "system"})
    assert (s.get("ui.theme"), s.source("ui.theme")) == ("system", "flag")
    assert (s.get("drafts.autosave_ms"), s.source("drafts.autosave_ms")) == (900, "env")
    assert (s.get("log.level"), s.source("log.level")) == ("ERROR", "file")
    assert (s.get("analytics.opt_in"), s.source("analytics.opt_in")) == (False, "default")
    shown = {e.spec.key: (e.display_value(), e.source) for e in s.effective()}
    assert shown["ui.theme"] == ("system", "flag")
    assert shown["analytics.opt_in"] == ("false", "default")
    assert [e.spec for e in s.effective()] == list(SETTINGS)


def test_empty_env_variable_counts_as_unset(data_dir: Path) -> None:
    write_file(data_dir, {"ui.theme": "light"})
    s = Settings(data_dir, env={"MBV_UI_THEME": ""})
    assert s.get("ui.theme") == "light"


def test_bad_flag_value_is_refused_with_a_sentence(data_dir: Path) -> None:
    with pytest.raises(InvalidInput, match=r"drafts\.autosave_ms.*whole number"):
        Settings(data_dir, env={}, overrides={"drafts.autosave_ms": "soon"})


def test_typed_getters(data_dir: Path) -> None:
    s = Settings(data_dir, env={"MBV_ANALYTICS_OPT_IN": "yes"})
    assert s.get_bool("analytics.opt_in") is True
    assert s.get_int("drafts.autosave_ms") == 400
    assert s.get_str("openai.base_url").startswith("https://")
    with pytest.raises(TypeError):
        s.get_int("ui.theme")


# --- secrets --------------------------------------------------------------------------------------


def test_secret_from_env_is_used_and_shown_masked(data_dir: Path) -> None:
    key = "sk-proj-canary0123456789abcdWXYZ"
    s = Settings(data_dir, env={"MBV_OPENAI_API_KEY": key})
    assert s.get("openai.api_key") == key
    assert s.source("openai.api_key") == "env"
    row = next(e for e in s.effective() if e.spec.key == "openai.api_key")
    assert row.display_value() == "****WXYZ"
    assert key not in repr([e.display_value() for e in s.effective()])
    # and the value is now known to the log redactor, whatever its shape
    odd = "plain-canary-value-4242"
    s2 = Settings(data_dir, env={"MBV_TWILIO_AUTH_TOKEN": odd})
    assert s2.get("twilio.auth_token") == odd
    assert odd not in redact(f"token is {odd}")


@pytest.mark.parametrize(
    ("value", "shown"),
    [("", ""), ("short", "****"), ("elevenchars", "****"), ("twelve-chars", "****hars")],
)
def test_secret_masking(value: str, shown: str) -> None:
    spec = spec_for("stripe.secret_key")
    assert EffectiveSetting(spec, value, "keyring").display_value() == shown


def test_set_refuses_secrets_and_says_where_they_go(data_dir: Path) -> None:
    s = Settings(data_dir, env={})
    with pytest.raises(InvalidInput) as info:
        s.set("openai.api_key", "sk-proj-should-not-be-written-anywhere")
    message = str(info.value)
    assert "is a secret" in message and "OS keyring" in message
    assert "MBV_OPENAI_API_KEY" in message
    assert "sk-proj-should-not" not in message
    assert not (data_dir / "settings.json").exists()


@pytest.mark.allow_warnings
def test_a_secret_typed_into_the_file_is_not_used(data_dir: Path, caplog: Any) -> None:
    write_file(data_dir, {"stripe.secret_key": "sk_live_handwritten12345"})
    with caplog.at_level(logging.WARNING, logger="mbv_desktop"):
        s = Settings(data_dir, env={})
    assert s.get("stripe.secret_key") == ""
    assert any("stripe.secret_key" in p and "keyring" in p for p in s.problems)
    assert "sk_live_handwritten12345" not in caplog.text


# --- writing --------------------------------------------------------------------------------------


@posix_only
def test_set_persists_privately_and_returns_the_parsed_value(data_dir: Path) -> None:
    s = Settings(data_dir, env={})
    assert s.set("analytics.opt_in", "yes") is True
    assert s.set("drafts.autosave_ms", " 250 ") == 250
    assert s.set("ui.theme", "DARK") == "dark"
    assert s.set("log.level", "debug") == "DEBUG"
    path = data_dir / "settings.json"
    assert json.loads(path.read_text()) == {
        "analytics.opt_in": True,
        "drafts.autosave_ms": 250,
        "ui.theme": "dark",
        "log.level": "DEBUG",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert s.get("ui.theme") == "dark" and s.source("ui.theme") == "file"
    fresh = Settings(data_dir, env={})
    assert fresh.get("drafts.autosave_ms") == 250


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("drafts.autosave_ms", "abc", "whole number, not 'abc'"),
        ("drafts.autosave_ms", "10", "at least 50"),
        ("analytics.opt_in", "maybe", "true or false"),
        ("ui.theme", "blue", "one of system, light, dark"),
        ("openai.base_url", "api.openai.com", "http://"),
    ],
)
def test_set_rejects_bad_values_and_keeps_the_file(
    data_dir: Path, key: str, value: str, words: str
) -> None:
    s = Settings(data_dir, env={})
    s.set("ui.theme", "light")
    before = (data_dir / "settings.json").read_text()
    with pytest.raises(InvalidInput) as info:
        s.set(key, value)
    assert key in str(info.value) and words in str(info.value)
    assert (data_dir / "settings.json").read_text() == before


def test_set_keeps_keys_it_does_not_know(data_dir: Path) -> None:
    write_file(data_dir, {"future.feature": {"nested": [1, 2]}, "ui.theme": "light"})
    s = Settings(data_dir, env={})
    s.set("ui.theme", "dark")
    assert json.loads((data_dir / "settings.json").read_text()) == {
        "future.feature": {"nested": [1, 2]},
        "ui.theme": "dark",
    }


def test_set_while_env_overrides_still_saves_and_reports_the_source(data_dir: Path) -> None:
    s = Settings(data_dir, env={"MBV_UI_THEME": "dark"})
    s.set("ui.theme", "light")
    assert s.get("ui.theme") == "dark" and s.source("ui.theme") == "env"
    assert json.loads((data_dir / "settings.json").read_text()) == {"ui.theme": "light"}


def test_unset_returns_to_the_default(data_dir: Path) -> None:
    s = Settings(data_dir, env={})
    s.set("ui.theme", "dark")
    s.unset("ui.theme")
    assert s.get("ui.theme") == "system" and s.source("ui.theme") == "default"


def test_reload_sees_changes_made_by_another_process(data_dir: Path) -> None:
    s = Settings(data_dir, env={})
    write_file(data_dir, {"ui.theme": "light"})
    assert s.get("ui.theme") == "system"
    s.reload()
    assert s.get("ui.theme") == "light"


def test_set_on_a_read_only_folder_is_one_sentence(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(settings_module, "atomic_write_text", read_only)
    s = Settings(data_dir, env={})
    with pytest.raises(DataDirError, match="read-only"):
        s.set("ui.theme", "dark")


def test_set_creates_a_missing_data_dir(tmp_path: Path) -> None:
    s = Settings(tmp_path / "new" / "profile", env={})
    s.set("ui.theme", "dark")
    assert (tmp_path / "new" / "profile" / "settings.json").is_file()


# --- damage ---------------------------------------------------------------------------------------


@pytest.mark.allow_warnings
@pytest.mark.parametrize("content", ['{"ui.theme": "dark",', "[1, 2, 3]", "\xff\xfe garbage"])
def test_an_unreadable_file_gives_defaults_and_one_warning(
    data_dir: Path, content: str, caplog: Any
) -> None:
    path = data_dir / "settings.json"
    if content.startswith("\xff"):
        path.write_bytes(b"\xff\xfe garbage")
    else:
        path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="mbv_desktop"):
        s = Settings(data_dir, env={})
        s.get("ui.theme")
    assert s.get("ui.theme") == "system"
    assert len(s.problems) == 1
    assert str(path) in s.problems[0]
    assert s.problems[0].endswith(".")
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.allow_warnings
def test_set_moves_an_unreadable_file_aside_instead_of_destroying_it(data_dir: Path) -> None:
    broken = '{"ui.theme": "dark", "my notes": oops'
    path = write_file(data_dir, broken)
    s = Settings(data_dir, env={})
    s.set("ui.theme", "light")
    aside = [p for p in data_dir.iterdir() if p.name.startswith("settings.json.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_text() == broken
    assert json.loads(path.read_text()) == {"ui.theme": "light"}
    assert s.problems == []
    # a second damage on the same second does not overwrite the first copy
    write_file(data_dir, "again broken")
    s.reload()
    s.set("ui.theme", "dark")
    assert len([p for p in data_dir.iterdir() if ".corrupt-" in p.name]) == 2


@pytest.mark.allow_warnings
def test_wrong_types_in_the_file_are_ignored_one_by_one(data_dir: Path) -> None:
    write_file(
        data_dir,
        {
            "drafts.autosave_ms": "soon",
            "analytics.opt_in": "yes",  # text that parses is accepted
            "ui.theme": 3,
            "log.level": "WARNING",
        },
    )
    s = Settings(data_dir, env={})
    assert s.get("drafts.autosave_ms") == 400
    assert s.get("analytics.opt_in") is True
    assert s.get("ui.theme") == "system"
    assert s.get("log.level") == "WARNING"
    assert len(s.problems) == 2
    assert any("drafts.autosave_ms" in p and "whole number" in p for p in s.problems)
    # rewriting keeps the user's other (even wrong) entries
    s.set("log.level", "ERROR")
    saved = json.loads((data_dir / "settings.json").read_text())
    assert saved["drafts.autosave_ms"] == "soon" and saved["log.level"] == "ERROR"


@pytest.mark.allow_warnings
def test_wrong_env_values_are_ignored_not_fatal(data_dir: Path) -> None:
    write_file(data_dir, {"drafts.autosave_ms": 600})
    s = Settings(data_dir, env={"MBV_DRAFTS_AUTOSAVE_MS": "abc", "MBV_UI_THEME": "neon"})
    assert s.get("drafts.autosave_ms") == 600 and s.source("drafts.autosave_ms") == "file"
    assert s.get("ui.theme") == "system"
    assert any("MBV_DRAFTS_AUTOSAVE_MS" in p and "'abc'" in p for p in s.problems)
    assert any("MBV_UI_THEME" in p for p in s.problems)


def test_spec_is_frozen() -> None:
    spec = SETTINGS[0]
    assert isinstance(spec, SettingSpec)
    with pytest.raises(AttributeError):
        spec.key = "x"  # type: ignore[misc]
