"""The payments dataclasses to JSON and back, for the billing cache kept in SQLite.

Only the frozen dataclasses of this package go through here (plans, subscriptions, cards,
invoices…): their fields are plain values, optional values, tuples of dataclasses and string
mappings, which :func:`load` rebuilds from the type hints.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, cast

T = TypeVar("T")


def dump(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of one of this package's dataclasses."""
    return dataclasses.asdict(obj)


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _value(hint: Any, raw: Any) -> Any:
    if raw is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _value(inner[0], raw) if len(inner) == 1 else raw
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_value(item, v) for v in raw)
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return dict(raw)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return load(hint, raw)
    return raw


def load(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuilds ``cls`` from :func:`dump`'s dict; fields missing from ``data`` (a cache written
    by an older version) take their defaults."""
    hints = _hints(cast(Any, cls))
    values = {f.name: _value(hints[f.name], data[f.name])
              for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.name in data}
    return cls(**values)
