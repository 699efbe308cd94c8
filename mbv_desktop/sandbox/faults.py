"""Fault injection: rules, per emulator, that make the next matching requests fail.

A rule is a :class:`Fault`; :class:`FaultInjector` keeps them in memory (a host restart
clears them) and is shared by the Python API (``host.faults.add("openai", Fault(...))``) and
the HTTP control API (``POST /_sandbox/faults``). The host applies them around each emulator:

``429``, ``500``, ``503``
    The emulator is not called; the client gets the provider's real error body and headers
    (``Retry-After`` on 429, and on 503 when ``retry_after`` is set).
``slow``
    The request waits ``delay`` seconds, then is answered normally (a stopping host cuts the
    wait short).
``reset``
    The TCP connection is aborted before any byte of a response is sent (``SO_LINGER`` 0, so
    the peer gets an RST); clients see a connection error ("connection reset" / "server
    disconnected without sending a response").
``reset_after``
    Like ``reset``, but the emulator handles the request first: whatever it did (a post
    created, a container published) is done, and the connection is aborted when its answer
    starts, so the client never sees it (the "maybe sent" case a create must reconcile).
``slow_after``
    The emulator handles the request first, then its answer waits ``delay`` seconds: a client
    that gives up or dies meanwhile never learns that the post exists.
``malformed``
    A successful answer is damaged: a JSON or binary body is cut in half (status 200 and a
    matching ``Content-Length``, so the client reads a complete but invalid body); in a
    server-sent-event stream, the ``data:`` line of event number ``after_events`` (0-based)
    carries half of its JSON and the stream then goes on normally.
``cut_stream``
    A server-sent-event stream ends cleanly at the HTTP level after ``after_events`` events,
    without its final ``data: [DONE]``. Only applies to streamed answers.

Each rule affects ``times`` matching requests (``None``: every one until cleared) and can be
narrowed by ``path_prefix`` (compared with the path below the provider's base URL, e.g.
``/chat`` for ``.../openai/v1/chat/completions``, below the mount, or the full URL path) and by
``method``. When several rules match, the oldest wins.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal["429", "500", "503", "slow", "reset", "reset_after", "slow_after",
                    "malformed", "cut_stream"]
KINDS: tuple[str, ...] = get_args(FaultKind)
REQUEST_KINDS = frozenset({"429", "500", "503", "slow", "reset", "reset_after", "slow_after"})
"""Kinds decided before the emulator runs (``reset_after`` and ``slow_after`` act when its
answer starts)."""
RESPONSE_KINDS = frozenset({"malformed", "cut_stream"})
"""Kinds applied to the emulator's own successful answer."""

_ids = itertools.count(1)
_FIELDS = ("kind", "times", "path_prefix", "method", "retry_after", "delay", "after_events", "id")


def _next_id() -> str:
    return f"fault_{next(_ids)}"


@dataclass
class Fault:
    """One fault rule.

    Attributes:
        kind: what goes wrong (see the module docstring).
        times: how many matching requests it affects; ``None`` means until cleared.
        path_prefix: only requests whose path starts with this (see the module docstring).
        method: only requests with this HTTP method (``None``: any).
        retry_after: seconds for ``Retry-After`` (429 defaults to 1 s; 503 sends it if set).
        delay: seconds a ``slow`` fault waits before answering.
        after_events: SSE events passed through before ``cut_stream`` ends the stream, or the
            index of the event that ``malformed`` damages.
        id: set by the injector, used to remove one rule.
    """

    kind: str
    times: int | None = 1
    path_prefix: str = ""
    method: str | None = None
    retry_after: float | None = None
    delay: float = 1.0
    after_events: int = 2
    id: str = field(default_factory=_next_id)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of "
                             f"{', '.join(KINDS)}")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError("times must be a positive integer or null")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        if self.delay < 0:
            raise ValueError("delay must not be negative")
        if self.after_events < 0:
            raise ValueError("after_events must not be negative")
        if self.method is not None:
            self.method = self.method.upper()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Builds a rule from JSON-like data; unknown keys and bad values raise ValueError."""
        unknown = set(data) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        values = {k: data[k] for k in _FIELDS if k in data and k != "id"}
        try:
            for name in ("retry_after", "delay"):
                if values.get(name) is not None:
                    values[name] = float(values[name])
            if "after_events" in values:
                values["after_events"] = int(values["after_events"])
            if "path_prefix" in values:
                values["path_prefix"] = str(values["path_prefix"] or "")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad fault value: {exc}") from exc
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The rule as JSON-ready data (what the control API returns)."""
        return asdict(self)

    def matches(self, method: str, paths: Iterable[str]) -> bool:
        """Whether a request with ``method`` at any of ``paths`` is targeted by this rule."""
        if self.method is not None and self.method != method.upper():
            return False
        if not self.path_prefix:
            return True
        return any(p.startswith(self.path_prefix) for p in paths)


class FaultInjector:
    """Thread-safe rule sets, one per emulator (the host's loop and tests share it)."""

    def __init__(self, providers: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, list[Fault]] = {name: [] for name in providers}

    @property
    def providers(self) -> tuple[str, ...]:
        """The emulators faults can be set on."""
        return tuple(self._rules)

    def add(self, provider: str, fault: Fault) -> Fault:
        """Adds a rule for ``provider`` (after any existing ones) and returns it."""
        with self._lock:
            self._known(provider).append(fault)
        return fault

    def remove(self, fault_id: str) -> bool:
        """Removes one rule by id; returns whether it existed."""
        with self._lock:
            for rules in self._rules.values():
                for i, rule in enumerate(rules):
                    if rule.id == fault_id:
                        del rules[i]
                        return True
        return False

    def clear(self, provider: str | None = None) -> int:
        """Removes every rule (of one provider, or of all); returns how many were removed."""
        with self._lock:
            names = [provider] if provider is not None else list(self._rules)
            removed = 0
            for name in names:
                rules = self._known(name)
                removed += len(rules)
                rules.clear()
            return removed

    def rules(self, provider: str | None = None) -> list[tuple[str, Fault]]:
        """The rules still active, as (provider, rule) pairs."""
        with self._lock:
            names = [provider] if provider is not None else list(self._rules)
            return [(name, rule) for name in names for rule in list(self._known(name))]

    def take(self, provider: str, method: str, paths: Sequence[str], kinds: frozenset[str],
             ) -> Fault | None:
        """The oldest rule of ``kinds`` matching this request, with one of its ``times`` used
        up (a rule whose ``times`` reaches 0 is removed); None when nothing matches."""
        with self._lock:
            rules = self._rules.get(provider)
            if not rules:
                return None
            for i, rule in enumerate(rules):
                if rule.kind in kinds and rule.matches(method, paths):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times == 0:
                            del rules[i]
                    return rule
        return None

    def _known(self, provider: str) -> list[Fault]:
        try:
            return self._rules[provider]
        except KeyError:
            known = ", ".join(self._rules) or "none"
            raise ValueError(f"unknown emulator {provider!r}; known: {known}") from None
