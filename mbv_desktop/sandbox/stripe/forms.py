"""Stripe's v1 request encoding: form bodies and query strings with bracketed keys, decoded to
nested values, and typed reading of the result with Stripe's own error messages.

``metadata[plan]=pro&items[0][price]=price_1&expand[]=customer`` becomes
``{"metadata": {"plan": "pro"}, "items": [{"price": "price_1"}], "expand": ["customer"]}``.
Brackets may arrive literal (the SDK turns ``%5B``/``%5D`` back into ``[``/``]``) or encoded
(curl, browsers); both decode alike because keys are percent-decoded before they are split.
Arrays are indexed (``items[0]``) or appended (``expand[]``); a hash whose keys are all indexes
becomes a list ordered by index. Every leaf stays a string, as on the wire: :class:`Params`
turns them into integers, booleans and enums when a handler reads them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from mbv_desktop.sandbox.stripe.errors import StripeError, invalid, missing_param, unknown_param

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"^-?\d+$")


def parse_body(body: bytes) -> list[tuple[str, str]]:
    """The pairs of a form body (``+`` is a space; blank values are kept: they clear fields)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("Invalid request: the body is not valid UTF-8.") from None
    return parse_qsl(text, keep_blank_values=True)


def _split(key: str) -> list[str]:
    head, bracket, tail = key.partition("[")
    if not bracket:
        return [key]
    rest = "[" + tail
    segments = _SEGMENT.findall(rest)
    if "".join(f"[{s}]" for s in segments) != rest or not head:
        raise invalid(f"Invalid parameter name: {key}")
    return [head, *segments]


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Nested params from ``(key, value)`` pairs (see the module docstring)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        segments = _split(key)
        node = root
        for depth, segment in enumerate(segments):
            name = segment if segment != "" else str(len(node))
            last = depth == len(segments) - 1
            if last:
                if isinstance(node.get(name), dict):
                    raise invalid(f"Invalid hash: {key} is both a value and a hash", key)
                node[name] = value
            else:
                child = node.setdefault(name, {})
                if not isinstance(child, dict):
                    raise invalid(f"Invalid hash: {key} is both a value and a hash", key)
                node = child
    return _listify(root)


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {k: _listify(v) for k, v in value.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def _join(prefix: str, name: str) -> str:
    return f"{prefix}[{name}]" if prefix else name


class Params:
    """Decoded params of one request (or one nested hash of them), read with Stripe's checks.

    ``name`` arguments are keys of this level; error messages name them in full
    (``line_items[0][price]``).
    """

    def __init__(self, data: Mapping[str, Any], prefix: str = "") -> None:
        self.data = dict(data)
        self.prefix = prefix

    def __contains__(self, name: str) -> bool:
        return name in self.data

    def full(self, name: str) -> str:
        return _join(self.prefix, name)

    def only(self, allowed: Iterable[str]) -> Params:
        """Refuses a parameter this endpoint does not take (Stripe answers 400 to those)."""
        known = set(allowed) | {"expand"}
        for name in self.data:
            if name not in known:
                raise unknown_param(self.full(name))
        return self

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def text(self, name: str, default: str | None = None, *, required: bool = False,
            blank_is_none: bool = False) -> str | None:
        value = self.data.get(name)
        if value is None:
            if required:
                raise missing_param(self.full(name))
            return default
        if not isinstance(value, str):
            raise invalid(f"Invalid string: {self.full(name)} must be a string",
                          self.full(name))
        if required and value == "":
            raise invalid(f"You passed an empty string for '{self.full(name)}'. We assume "
                          "empty values are an attempt to unset a parameter; however "
                          f"'{self.full(name)}' cannot be unset. You should remove "
                          f"'{self.full(name)}' from your request or supply a non-empty value.",
                          self.full(name), "parameter_invalid_empty")
        if blank_is_none and value == "":
            return None
        return value

    def need(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, default: int | None = None, *, required: bool = False,
            low: int | None = None, high: int | None = None) -> int | None:
        text = self.text(name, required=required)
        if text is None or text == "":
            return default
        if not _INTEGER.match(text):
            raise invalid(f"Invalid integer: {text}", self.full(name),
                          "parameter_invalid_integer")
        number = int(text)
        if (low is not None and number < low) or (high is not None and number > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise invalid(f"Invalid {self.full(name)}: must be {bounds}", self.full(name))
        return number

    def number(self, name: str) -> float | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return float(text)
        except ValueError:
            raise invalid(f"Invalid decimal: {text}", self.full(name)) from None

    def flag(self, name: str, default: bool | None = None) -> bool | None:
        text = self.text(name)
        if text is None or text == "":
            return default
        if text not in ("true", "false"):
            raise invalid(f"Invalid boolean: {text}", self.full(name))
        return text == "true"

    def choice(self, name: str, choices: Iterable[str], default: str | None = None, *,
             required: bool = False) -> str | None:
        text = self.text(name, required=required)
        if text is None:
            return default
        options = list(choices)
        if text not in options:
            listed = ", ".join(options[:-1]) + f", or {options[-1]}" if len(options) > 1 \
                else options[0]
            raise invalid(f"Invalid {self.full(name)}: must be one of {listed}",
                          self.full(name))
        return text

    def sub(self, name: str) -> Params | None:
        value = self.data.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, list):  # keys were all digits: a hash after all
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {self.full(name)} must be a hash", self.full(name))
        return Params(value, self.full(name))

    def array(self, name: str) -> list[Any]:
        value = self.data.get(name)
        if value is None or value == "":
            return []
        if isinstance(value, str):
            raise invalid(f"Invalid array: {self.full(name)} must be an array",
                          self.full(name))
        if isinstance(value, dict):
            raise invalid(f"Invalid array: {self.full(name)} must be an array (use "
                          f"{self.full(name)}[0]=...)", self.full(name))
        return list(value)

    def subs(self, name: str) -> list[Params]:
        """An array of hashes (``items[0][price]=…``)."""
        out: list[Params] = []
        for index, value in enumerate(self.array(name)):
            if not isinstance(value, dict):
                raise invalid(f"Invalid object: {self.full(name)}[{index}] must be a hash",
                              f"{self.full(name)}[{index}]")
            out.append(Params(value, f"{self.full(name)}[{index}]"))
        return out

    def texts(self, name: str) -> list[str]:
        values = self.array(name)
        if not all(isinstance(v, str) for v in values):
            raise invalid(f"Invalid array: {self.full(name)} must hold strings",
                          self.full(name))
        return values

    def metadata(self, name: str = "metadata") -> dict[str, str] | None:
        """``metadata[key]=value`` pairs (an empty value means "remove this key"); ``None``
        when absent, ``{}`` when ``metadata=`` clears everything."""
        value = self.data.get(name)
        if value is None:
            return None
        if value == "":
            return {}
        meta = self.sub(name)
        assert meta is not None
        for key, item in meta.data.items():
            if not isinstance(item, str):
                raise invalid(f"Invalid value for {meta.full(key)}: metadata values are "
                              "strings", meta.full(key))
            if len(key) > 40 or len(item) > 500:
                raise invalid("Metadata keys can be at most 40 characters and values at most "
                              "500 characters.", meta.full(key))
        if len(meta.data) > 50:
            raise invalid("You can have at most 50 metadata keys.", self.full(name))
        return dict(meta.data)

    def expand(self) -> list[str]:
        return self.texts("expand")


def merge_metadata(current: Mapping[str, str], update: Mapping[str, str] | None,
                   ) -> dict[str, str]:
    """Stripe's metadata update: keys set, ``""`` removes a key, ``{}`` (from ``metadata=``)
    clears everything."""
    if update is None:
        return dict(current)
    if not update:
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def list_params(params: Params) -> tuple[int, str | None, str | None]:
    """``limit`` (1–100, default 10) and the cursors, which exclude each other."""
    limit = params.integer("limit", 10, low=1, high=100)
    assert limit is not None
    after = params.text("starting_after", blank_is_none=True)
    before = params.text("ending_before", blank_is_none=True)
    if after and before:
        raise StripeError(400, "invalid_request_error", "You may only specify one of these "
                          "parameters: ending_before, starting_after.",
                          code="parameters_exclusive", param="ending_before")
    return limit, after, before
