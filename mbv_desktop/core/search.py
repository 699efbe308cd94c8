"""What the search box understands, and how matches are shown.

``to_fts_query`` turns what a person types into a safe FTS5 query: every term quoted, so FTS5
operators and stray punctuation can never cause a syntax error, and the last term a prefix so
results appear while the word is still being typed. ``make_snippet`` marks the matches in a
draft's text the way the index found them (case and accents ignored, words matched from their
start), without asking FTS5 again, which is expensive per row for common words.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_TERM = re.compile(r"[^\s\"]+")
_HIGHLIGHT_START = "\x02"
_HIGHLIGHT_END = "\x03"
HIGHLIGHT_MARKS = (_HIGHLIGHT_START, _HIGHLIGHT_END)
SNIPPET_CHARS = 160
SNIPPET_LEAD = 40


def search_terms(text: str) -> list[str]:
    """The words of a search, without quotes and surrounding punctuation."""
    terms = []
    for raw in _TERM.findall(text):
        # unicode61 splits on punctuation anyway; drop what is left of pure punctuation.
        term = raw.strip("#@'.,;:!?()[]{}<>*^+-")
        if term:
            terms.append(term)
    return terms


def to_fts_query(text: str) -> str | None:
    """``'launch "day'`` → ``'"launch" "day"*'``; None when there is nothing to search for."""
    terms = search_terms(text)
    if not terms:
        return None
    quoted = [f'"{t}"' for t in terms]
    quoted[-1] += "*"
    return " ".join(quoted)


@lru_cache(maxsize=4096)
def _fold_char(ch: str) -> str:
    """A character as the unicode61 tokenizer compares it: no accents, case-folded."""
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _fold(text: str) -> tuple[str, list[int] | None]:
    """The folded text and, for each folded character, the index it came from (None when
    they are the same: plain ASCII, by far the common case)."""
    if text.isascii():
        return text.lower(), None
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = _fold_char(ch)
        out.append(folded)
        origin.extend([i] * len(folded))
    return "".join(out), origin


def make_snippet(body: str, text: str) -> str:
    """A short piece of ``body`` around the first match, matches wrapped in HIGHLIGHT_MARKS.

    Without a match in the text (the tags matched, say) it is the start of the text, unmarked.
    """
    terms = [_fold(t)[0] for t in search_terms(text)]
    head = body[:1500]
    if not terms:
        return _clip(head, 0)
    # whole words, the last one also as a prefix (it may still be being typed)
    words = [re.escape(t) + r"(?!\w)" for t in terms[:-1]] + [re.escape(terms[-1]) + r"\w*"]
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(words) + ")")
    folded, origin = _fold(head)
    spans = []
    for m in pattern.finditer(folded):
        if m.end() > m.start():
            if origin is None:
                spans.append((m.start(), m.end()))
            else:
                spans.append((origin[m.start()], origin[m.end() - 1] + 1))
    if not spans:
        return _clip(head, 0)
    start = max(0, spans[0][0] - SNIPPET_LEAD)
    if start:
        space = head.rfind(" ", 0, spans[0][0] - SNIPPET_LEAD // 2)
        start = space + 1 if space >= start else start
    end = min(len(head), start + SNIPPET_CHARS)
    pieces = ["…" if start else ""]
    cursor = start
    for s, e in spans:
        if s >= end:
            break
        if s < cursor:
            continue
        pieces += [head[cursor:s], _HIGHLIGHT_START, head[s:min(e, end)], _HIGHLIGHT_END]
        cursor = min(e, end)
    pieces.append(head[cursor:end])
    if end < len(body):
        pieces.append("…")
    return "".join(pieces).replace("\n", " ")


def _clip(text: str, start: int) -> str:
    piece = text[start:start + SNIPPET_CHARS].replace("\n", " ")
    return piece + ("…" if len(text) > start + SNIPPET_CHARS else "")


def split_highlights(snippet: str) -> list[tuple[str, bool]]:
    """Splits a snippet marked with HIGHLIGHT_MARKS into (text, is_match) runs."""
    runs: list[tuple[str, bool]] = []
    for i, part in enumerate(re.split(f"[{_HIGHLIGHT_START}{_HIGHLIGHT_END}]", snippet)):
        if part:
            runs.append((part, i % 2 == 1))
    return runs
