"""Secrets never survive redaction; ordinary log text does."""

from __future__ import annotations

import threading
import uuid

import pytest

from mbv_desktop.core.redaction import REDACTED, redact, redact_mapping, register_secret


def canary(prefix: str = "", n: int = 32) -> str:
    return prefix + uuid.uuid4().hex[:n]


@pytest.mark.parametrize(
    "secret",
    [
        "sk-" + "A1b2" * 12,  # OpenAI, legacy
        "sk-proj-" + "Zx9_-" * 10,  # OpenAI, project key
        "sk_live_" + "51HxYz" * 6,  # Stripe secret
        "sk_test_" + "51HxYz" * 6,
        "rk_live_" + "51HxYz" * 6,  # Stripe restricted
        "rk_test_" + "51HxYz" * 6,
        "whsec_" + "AbCd1234" * 4,  # Stripe webhook secret
        "ghp_" + "a1B2c3D4e5" * 4,  # GitHub tokens
        "gho_" + "a1B2c3D4e5" * 4,
        "ghu_" + "a1B2c3D4e5" * 4,
        "ghr_" + "a1B2c3D4e5" * 4,
        "ya29.a0AfH6SMB" + "x-Yz_12" * 8,  # Google access token
        "re_c1tpEyD8_NKFusih9vKVQknRAQfmFcWCv",  # Resend
        "AKIAIOSFODNN7EXAMPLE",  # AWS-style key id (R2)
    ],
)
def test_provider_key_shapes_are_removed_wherever_they_appear(secret: str) -> None:
    for text in (secret, f"using key {secret} now", f"({secret})", f"'{secret}'"):
        out = redact(text)
        assert secret not in out
        assert REDACTED in out


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_bearer_tokens_are_removed_but_the_scheme_kept(scheme: str) -> None:
    token = canary("tok.")
    out = redact(f"sending {scheme} {token} to x")
    assert token not in out
    assert f"{scheme} {REDACTED}" in out


def test_authorization_headers_lose_their_whole_value() -> None:
    token = canary()
    basic = "dXNlcjpzM2NyZXQ="
    out = redact(f"Authorization: Bearer {token}\nCookie: sid={token}\nAccept: */*")
    assert token not in out
    assert "Authorization: [REDACTED]" in out and "Accept: */*" in out
    assert basic not in redact(f"auth=Basic {basic}")
    assert basic not in redact(f"header Basic {basic} sent")


@pytest.mark.parametrize(
    "name",
    [
        "access_token",
        "refresh_token",
        "id_token",
        "client_secret",
        "code",
        "code_verifier",
        "state",
        "api_key",
        "password",
        "token",
        "api_secret",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    ],
)
def test_query_and_form_parameters_keep_the_name_and_lose_the_value(name: str) -> None:
    value = canary()
    url = f"http://127.0.0.1:8765/callback?x=1&{name}={value}&other=kept"
    out = redact(url)
    assert value not in out
    assert f"{name}={REDACTED}" in out
    assert "other=kept" in out and "x=1" in out
    form = f"{name}={value}&grant_type=authorization_code"
    assert redact(form) == f"{name}={REDACTED}&grant_type=authorization_code"


@pytest.mark.parametrize(
    "name", ["access_token", "refresh_token", "id_token", "client_secret", "code_verifier"]
)
def test_json_pairs_keep_the_name_and_lose_the_value(name: str) -> None:
    value = canary()
    body = f'{{"{name}": "{value}", "expires_in": 3600, "token_type": "bearer"}}'
    out = redact(body)
    assert value not in out
    assert f'"{name}": "{REDACTED}"' in out
    assert '"expires_in": 3600' in out
    # Python reprs of dicts, as in log.debug("%s", response.json())
    assert value not in redact(f"{{'{name}': '{value}'}}")


def test_ordinary_log_text_is_left_alone() -> None:
    texts = [
        "Published draft 42 to x in 0.31 s (status=ok, state=sent, error_code=0)",
        "outbox item state=failed code=429 retry in 30 s",
        'TikTok said {"error": {"code": "rate_limit_exceeded", "message": "slow down"}}',
        "generation used max_tokens=256 prompt_tokens=12 completion_tokens=80",
        "task-skill scikit sk-learn",
        "token_type=bearer",
    ]
    for text in texts:
        assert redact(text) == text


def test_a_secret_shape_in_an_innocent_parameter_is_still_removed() -> None:
    key = "sk_live_" + canary()
    assert key not in redact(f"customer=cus_1 id={key}")


def test_registered_values_are_removed_in_any_context() -> None:
    secret = canary("Plain Value/+=")  # no recognisable shape, has URL-special characters
    register_secret(secret)
    from urllib.parse import quote, quote_plus

    text = f"a {secret} b {quote(secret, safe='')} c {quote_plus(secret, safe='')}"
    out = redact(text)
    assert secret not in out
    assert quote(secret, safe="") not in out
    assert quote_plus(secret, safe="") not in out
    assert out.count(REDACTED) == 3


def test_short_registered_values_are_ignored_so_logs_stay_readable() -> None:
    register_secret("abc")
    register_secret("   ")
    assert redact("abc def") == "abc def"


def test_registering_from_many_threads_at_once_loses_nothing() -> None:
    values = [canary("thread-secret-") for _ in range(64)]
    start = threading.Barrier(8)

    def work(chunk: list[str]) -> None:
        start.wait()
        for value in chunk:
            register_secret(value)
            redact(value)

    threads = [threading.Thread(target=work, args=(values[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = redact(" ".join(values))
    assert not any(value in out for value in values)


def test_redact_mapping_blanks_sensitive_keys_and_recurses() -> None:
    token = canary()
    event = {
        "request": {
            "url": f"https://api.x.com/2/oauth2/token?code={token}",
            "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        },
        "extra": [{"refresh_token": token}, ("ok", f"key sk_live_{token}")],
        "Api-Key": token,
        "X-Auth-Token": {"nested": "whole value goes"},
        "usage": {"max_tokens": 256, "prompt_tokens": 12, "password": None},
        "note": "nothing to hide",
        7: "int keys are fine",
    }
    out = redact_mapping(event)
    assert token not in repr(out)
    assert isinstance(out, dict)
    assert out["request"]["headers"]["Authorization"] == REDACTED
    assert out["request"]["headers"]["Content-Type"] == "application/json"
    assert out["extra"][0] == {"refresh_token": REDACTED}
    assert isinstance(out["extra"][1], tuple)
    assert out["Api-Key"] == REDACTED
    assert out["X-Auth-Token"] == REDACTED
    assert out["usage"] == {"max_tokens": 256, "prompt_tokens": 12, "password": None}
    assert out["note"] == "nothing to hide"
    assert out[7] == "int keys are fine"
    # the input is not modified
    assert event["Api-Key"] == token


@pytest.mark.parametrize(
    "key",
    [
        "TOKEN",
        "client_secret",
        "Password",
        "authorization",
        "API_KEY",
        "apikey",
        "Set-Cookie",
        "code_verifier",
        "credentials",
    ],
)
def test_redact_mapping_sensitive_key_names(key: str) -> None:
    assert redact_mapping({key: "visible?"}) == {key: REDACTED}


def test_redact_mapping_leaves_other_objects_alone() -> None:
    marker = object()
    assert redact_mapping(marker) is marker
    assert redact_mapping(3) == 3
    assert redact_mapping(None) is None
