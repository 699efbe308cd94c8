"""Turning what a person types into the search box into a safe FTS5 query.

Quotes every term so FTS5 operators and stray punctuation can never cause a syntax error, and
makes the last term a prefix so results appear while the word is still being typed.
"""

from __future__ import annotations

import re

_TERM = re.compile(r"[^\s\"]+")
_HIGHLIGHT_START = "\x02"
_HIGHLIGHT_END = "\x03"
HIGHLIGHT_MARKS = (_HIGHLIGHT_START, _HIGHLIGHT_END)


def to_fts_query(text: str) -> str | None:
    """``'launch "day'`` → ``'"launch" "day"*'``; None when there is nothing to search for."""
    terms = []
    for raw in _TERM.findall(text):
        # unicode61 splits on punctuation anyway; drop what is left of pure punctuation.
        term = raw.strip("#@'.,;:!?()[]{}<>*^+-")
        if term:
            terms.append(term)
    if not terms:
        return None
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


def split_highlights(snippet: str) -> list[tuple[str, bool]]:
    """Splits a snippet marked with HIGHLIGHT_MARKS into (text, is_match) runs."""
    runs: list[tuple[str, bool]] = []
    for i, part in enumerate(re.split(f"[{_HIGHLIGHT_START}{_HIGHLIGHT_END}]", snippet)):
        if part:
            runs.append((part, i % 2 == 1))
    return runs
