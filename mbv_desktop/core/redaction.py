"""Remove secrets from text and structured data before it is logged or reported.

Two sources of knowledge:

* **Shapes.** Provider keys and tokens have recognisable prefixes (``sk-``, ``sk_live_``,
  ``whsec_``, ``ghp_``, ``ya29.``, ``re_``, ``AKIA``…), travel in ``Authorization`` headers
  (``Bearer …``, ``Basic …``) or sit in named URL/form/JSON parameters (``access_token=…``,
  ``"client_secret": "…"``). One precompiled regular expression finds them all in one pass.
* **Values.** Secrets the app loads at runtime (from the keyring, the environment, a token
  response) are registered with :func:`register_secret`; every exact occurrence is then removed,
  whatever its shape. The registered values are folded into the same single expression.

Only the value is replaced; names stay (``access_token=[REDACTED]``) so a log line still says what
was there. Pure standard library: the logging filter, crash reporting and the command line all
use it.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Mapping

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "is_sensitive_key",
    "redact",
    "redact_mapping",
    "register_secret",
]

REDACTED = "[REDACTED]"

#: Registered values shorter than this are ignored: short strings occur naturally in text and
#: redacting them would garble logs without protecting anything worth protecting.
MIN_SECRET_LENGTH = 8

# At most this many registered values are remembered (oldest dropped first). Access tokens are
# refreshed hourly, so a long session registers a new one now and then; this bounds the regex.
_MAX_REGISTERED = 2048

# --- shapes -------------------------------------------------------------------------------------

# Parameter names whose value is always secret, matched as the whole name or as its last part
# (``csrf_token``, ``X-Amz-Security-Token``, ``webhook_secret``, ``api_secret``).
_SECRET_NAME_TAILS = (
    r"access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|session[_-]?token|token"
    r"|client[_-]?secret|secret|code[_-]?verifier|api[_-]?key|apikey|password|passwd"
    r"|signature|credential|authorization|cookie"
)
# Names that are secret in OAuth redirects and token requests but are ordinary words elsewhere
# (``state=failed`` in a log line, ``"code": "rate_limit_exceeded"`` in an error body). Their value
# is removed when they appear as a URL/form parameter (after ``?``, ``&``, ``#`` or at the start of
# a line) or when the value is long enough to be a real code (16+ characters).
_CONTEXT_NAMES = ("code", "state")
_CONTEXT_MIN_VALUE = 16

_NAME = rf"(?i:(?:[A-Za-z0-9]+[_.-])*?(?:{_SECRET_NAME_TAILS}))"
# Decides, for any ``name=value`` found, whether the name is a secret one.
_SECRET_PARAM = re.compile(rf"(?i:(?:[A-Za-z0-9_.-]*[_.-])?(?:{_SECRET_NAME_TAILS}))")

_SHAPES = [
    # name=value in URLs, form bodies, "key=value" log fields. Every such pair is matched (cheaper
    # than spelling the names into the pattern); _replace keeps the ones that are not secret.
    r"(?<![A-Za-z0-9_.\-])(?P<pname>[A-Za-z0-9_.\-]{1,80})=(?P<pval>(?:(?i:bearer|basic)\s+)?[^&\s\"'#;,<>]+)",
    # "name": "value" (JSON) and 'name': 'value' (Python reprs).
    rf"(?P<jname>(?P<jq>[\"']){_NAME}(?P=jq)\s*:\s*)(?P<jq2>[\"'])(?P<jval>(?:\\.|(?!(?P=jq2)).)*)(?P=jq2)",
    # HTTP headers that carry credentials, as printed in logs: the whole value goes.
    r"(?P<hname>(?<![A-Za-z0-9_-])(?i:authorization|proxy-authorization|cookie|set-cookie"
    r"|x-api-key|api-key|x-auth-token):[ \t]*)(?P<hval>[^\r\n\"']+)",
    # HTTP credentials.
    r"(?P<aname>\b(?i:bearer)\s+)(?P<aval>[A-Za-z0-9\-._~+/]+=*)",
    r"(?P<bname>\bBasic\s+)(?P<bval>(?=[A-Za-z0-9+/=]*[A-Z0-9+/=])[A-Za-z0-9+/]{8,}={0,2})",
    # Provider key shapes.
    r"(?P<key>"
    r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}"  # OpenAI
    r"|\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"  # Stripe secret / restricted
    r"|\bwhsec_[A-Za-z0-9+/=]{8,}"  # Stripe webhook signing secret
    r"|\bgh[oupsr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub fine-grained PAT
    r"|\bya29\.[A-Za-z0-9_\-.]+"  # Google access token
    r"|\b1//0[A-Za-z0-9_\-]{20,}"  # Google refresh token
    r"|\bAIza[0-9A-Za-z_\-]{35}"  # Google API key
    r"|\bre_[A-Za-z0-9_\-]{20,}"  # Resend API key
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS-style access key id
    r")",
]

# Every shape starts at the beginning of a word; saying so once up front lets the engine skip
# mid-word positions with one check instead of trying each branch there (about 2x faster).
_PATTERN = re.compile("(?<![A-Za-z0-9_])(?:" + "|".join(_SHAPES) + ")", re.MULTILINE)

# --- registered values ----------------------------------------------------------------------------

_lock = threading.Lock()
_registered: dict[str, None] = {}  # insertion-ordered set
# Rebuilt (under _lock) whenever a value is registered; read without the lock: rebinding a module
# global is atomic, so a reader sees either the old or the new tuple, both valid. Plain substring
# replacement, not one big regular expression: compiling an alternation of a few hundred long
# literals costs milliseconds per registration, and tokens are registered on the event loop.
_literals: tuple[str, ...] = ()


def _compile_literals(values: list[str]) -> tuple[str, ...]:
    # Longest first, so a value that contains another is removed whole.
    return tuple(sorted(values, key=len, reverse=True))


def register_secret(value: str) -> None:
    """Remember ``value`` so :func:`redact` removes every exact occurrence of it from now on.

    Thread-safe. Values shorter than :data:`MIN_SECRET_LENGTH` characters (after stripping
    whitespace) are ignored. The percent-encoded and JSON-escaped forms are registered too,
    because secrets also travel inside URLs, form bodies and JSON.
    """
    global _literals
    if not isinstance(value, str):
        return
    value = value.strip()
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
    }
    with _lock:
        added = False
        for form in forms:
            if form not in _registered:
                _registered[form] = None
                added = True
        if not added:
            return
        while len(_registered) > _MAX_REGISTERED:
            del _registered[next(iter(_registered))]
        _literals = _compile_literals(list(_registered))


def _forget_registered_for_tests() -> None:
    """Drop every registered value (tests only)."""
    global _literals
    with _lock:
        _registered.clear()
        _literals = ()


# --- redaction ------------------------------------------------------------------------------------


def _replace(match: re.Match[str]) -> str:
    groups = match.groupdict()
    name = groups["pname"]
    if name is not None:
        value = groups["pval"]
        if _SECRET_PARAM.fullmatch(name):
            return f"{name}={REDACTED}"
        if name.lower() in _CONTEXT_NAMES:
            start = match.start()
            before = match.string[start - 1] if start > 0 else "\n"
            if before in "?&#\n" or len(value) >= _CONTEXT_MIN_VALUE:
                return f"{name}={REDACTED}"
        # Not a secret name, but the value may still have a secret's shape (``id=sk_live_…``).
        return f"{name}={_PATTERN.sub(_replace, value)}"
    if groups["jname"] is not None:
        quote = groups["jq2"]
        return f"{groups['jname']}{quote}{REDACTED}{quote}"
    for prefix in ("hname", "aname", "bname"):
        if groups[prefix] is not None:
            return f"{groups[prefix]}{REDACTED}"
    return REDACTED


def redact(text: str) -> str:
    """Return ``text`` with every secret-looking value replaced by ``[REDACTED]``.

    Registered values go first (exact match), then one pass of the shape expression.

    >>> redact("GET /cb?code=abc123&state=xyz")
    'GET /cb?code=[REDACTED]&state=[REDACTED]'
    >>> redact("Authorization: Bearer sk-proj-abcdefghijklmnopqrstuv")
    'Authorization: [REDACTED]'
    """
    if not text:
        return text
    for literal in _literals:
        if literal in text:
            text = text.replace(literal, REDACTED)
    return _PATTERN.sub(_replace, text)


# --- structured data ------------------------------------------------------------------------------

_SENSITIVE_KEY_PARTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "api_key",
    "apikey",
    "cookie",
    "verifier",
    "credential",
)


def is_sensitive_key(key: object) -> bool:
    """Whether a mapping key names a secret (case-insensitive; ``-`` and ``_`` are the same)."""
    if not isinstance(key, str):
        return False
    normalised = key.lower().replace("-", "_")
    return any(part in normalised for part in _SENSITIVE_KEY_PARTS)


def redact_mapping(obj: object) -> object:
    """Return a redacted copy of ``obj``, recursing into dicts, lists and tuples.

    Strings pass through :func:`redact`. A value under a key that names a secret (``token``,
    ``secret``, ``password``, ``authorization``, ``api_key``, ``apikey``, ``cookie``,
    ``verifier``, ``credential``, anywhere in the key, any case) is replaced by ``[REDACTED]``
    whole, unless it is a number, a boolean or ``None``: secrets are strings, and numbers under
    such keys are counts (``max_tokens``, ``prompt_tokens``) worth keeping. Other objects are
    returned unchanged.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        out: dict[object, object] = {}
        for key, value in obj.items():
            new_key = redact(key) if isinstance(key, str) else key
            if is_sensitive_key(key) and not (
                value is None or isinstance(value, bool | int | float)
            ):
                out[new_key] = REDACTED
            else:
                out[new_key] = redact_mapping(value)
        return out
    if isinstance(obj, list):
        return [redact_mapping(item) for item in obj]
    if isinstance(obj, tuple):
        return tuple(redact_mapping(item) for item in obj)
    return obj
