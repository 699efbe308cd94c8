"""Reading Stripe's JSON defensively: a missing, null or odd field gives an empty value, never
an exception (Stripe adds and moves fields between API versions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Json = Mapping[str, Any]


def mapping(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def text(value: object) -> str:
    return value if isinstance(value, str) else ""


def opt_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def integer(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


def opt_integer(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    return integer(value) if isinstance(value, (int, str)) else None


def ref(value: object) -> str | None:
    """An expandable field: an id, or the expanded object (its ``id``)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, Mapping):
        return opt_text(value.get("id"))
    return None


def objects_in(value: object) -> list[Json]:
    """The ``data`` of a list envelope, or a plain list; only its objects."""
    if isinstance(value, Mapping):
        value = value.get("data")
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]
