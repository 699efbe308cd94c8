"""Reading a named choice (a StrEnum value) typed by a person, with one clear error."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

from mbv_desktop.core.errors import InvalidInput

E = TypeVar("E", bound=enum.StrEnum)


def parse_choice(cls: type[E], value: str, what: str,
                 aliases: Mapping[str, str] | None = None) -> E:
    """``parse_choice(DraftState, " Draft ", "a draft state")`` → ``DraftState.DRAFT``.

    Case and surrounding spaces are ignored and ``-`` reads as ``_``; unknown values raise
    InvalidInput naming every valid one.
    """
    key = value.strip().lower().replace("-", "_")
    key = (aliases or {}).get(key, key)
    try:
        return cls(key)
    except ValueError:
        names = ", ".join(member.value for member in cls)
        raise InvalidInput(f"'{value}' is not {what}; use one of: {names}.") from None
