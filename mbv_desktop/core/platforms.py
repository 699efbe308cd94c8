"""Per-platform text rules for a creator's draft: X, Instagram and TikTok.

The editor runs :func:`check_all` on every (debounced) keystroke to show a counter and a list of
problems per platform, and the command line prints :meth:`PlatformCheck.to_json`. So this module
is pure (no Qt, no I/O) and fast: about half a millisecond for a typical 2,000-character
draft.

Counting rules
--------------
* **X** uses twitter-text v3 weighted counting. The text is NFC-normalised and line endings become
  ``\\n``. Every link counts 23 whatever its length. An emoji, including a sequence such as a ZWJ
  family, a flag, a keycap or a skin-tone variant, counts 2. Any other code point counts 1 if it is
  in one of the "light" ranges (U+0000-U+10FF, U+2000-U+200D, U+2010-U+201F, U+2032-U+2037), and 2
  otherwise (CJK, for example). The limit is 280. Links are found with the ``twitter-text-parser``
  package (``twitter_text``), see "About twitter-text-parser" below.
* **Instagram**: 2,200 characters (code points after NFC) and at most 30 hashtags.
* **TikTok**: 2,200 characters (code points after NFC).
* An empty or whitespace-only post never fits.

About twitter-text-parser
-------------------------
Importing ``twitter_text`` takes about 300 ms because it compiles a huge emoji regex. This module is
on the path to the app's first window, so it is imported lazily (see :func:`preload`). We use
the library's link extractor (``extract_urls_with_indices``: the TLD lists and URL grammar are the
hard part) but not ``parse_tweet`` itself, which is wrong or too slow in several ways:

1. ``parse_tweet`` takes about 8 ms on a 2,000-character draft, 6.6 ms of which is its emoji
   regex (an alternation of about 3,000 sequences). That is too slow for the GUI thread. We
   recognise emoji sequences with a small character-class regex built on the Unicode
   Extended_Pictographic property.
2. Its emoji data is Unicode 12 (2019). Newer sequences are counted code point by code point, so
   ❤️‍🔥 counts 5 instead of 2 and 🫱🏻‍🫲🏿 counts 9. We count any sequence as one emoji.
3. It counts a bare ``©`` or ``®`` (no VS16) as an emoji of weight 2, although they are in the
   light range. We count them 1, and 2 only when followed by VS16, as ``©️``.
4. Its URL regex backtracks badly on some inputs. In the worst cases the cost grows with the
   square of the input length: ``"a." * 400`` takes 0.3 s, and a 2,400-character Japanese
   paragraph with no spaces that contains ``3.5`` takes over a second. We run the extractor only
   on small windows that can hold a link. A link must contain ``.`` followed by a known TLD, so the
   windows are found with a linear prefilter, and running the extractor on them gives exactly the
   links it would find in the whole text. A window that would still be too expensive
   (a pathological run of hundreds of dot- or hyphen-separated labels, which no real draft has) is
   not parsed. Its characters are counted as text plus 23 for each possible link in it. That is
   an upper bound, so such a draft is never reported to fit when it does not.

Texts longer than 50,000 characters are not parsed at all. No such text can fit on X: a link is at
most 4,096 characters and counts 23, so 50,000 characters weigh at least 13 x 23 = 299. Their
length is reported as their number of characters.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from mbv_desktop.core.errors import InvalidInput

__all__ = [
    "INSTAGRAM_MAX_HASHTAGS",
    "Platform",
    "PlatformCheck",
    "check_all",
    "check_text",
    "count_hashtags",
    "preload",
    "split_thread",
    "x_weighted_length",
]

X_LIMIT = 280
INSTAGRAM_LIMIT = 2200
TIKTOK_LIMIT = 2200
INSTAGRAM_MAX_HASHTAGS = 30
X_URL_WEIGHT = 23
"""Weight of any link on X (twitter-text ``transformed_url_length``)."""

HUGE_TEXT = 50_000
"""Above this many characters (after NFC) a text is not parsed; see the module docstring."""


class Platform(enum.StrEnum):
    """A platform whose caption rules we check."""

    X = "x"
    INSTAGRAM = "instagram"
    TIKTOK = "tiktok"

    @property
    def label(self) -> str:
        """The platform's name as shown to people: "X", "Instagram", "TikTok"."""
        return _LABELS[self]

    @property
    def limit(self) -> int:
        """Maximum length of a post (X: weighted length; others: characters)."""
        return _LIMITS[self]

    @classmethod
    def parse(cls, value: str) -> Platform:
        """Read a platform name as a person would type it.

        Case-insensitive. Also accepts "twitter", "ig", "insta", "tt", "tik tok" and "tik-tok".
        Raises :class:`~mbv_desktop.core.errors.InvalidInput` for anything else.
        """
        if isinstance(value, Platform):
            return value
        if isinstance(value, str):
            key = re.sub(r"[\s_-]+", "", value).casefold()
            found = _ALIASES.get(key)
            if found is not None:
                return found
        raise InvalidInput(
            f"Unknown platform {value!r}. Choose x, instagram or tiktok "
            "(twitter, ig, insta and tt also work)."
        )


def platform_label(provider: str) -> str:
    """The name people know a publishing platform by ("X", "Instagram", "TikTok"); an unknown
    provider key is shown as it is."""
    try:
        return Platform(provider).label
    except ValueError:
        return provider


_LABELS: dict[Platform, str] = {
    Platform.X: "X",
    Platform.INSTAGRAM: "Instagram",
    Platform.TIKTOK: "TikTok",
}
_LIMITS: dict[Platform, int] = {
    Platform.X: X_LIMIT,
    Platform.INSTAGRAM: INSTAGRAM_LIMIT,
    Platform.TIKTOK: TIKTOK_LIMIT,
}
_ALIASES: dict[str, Platform] = {
    "x": Platform.X,
    "twitter": Platform.X,
    "instagram": Platform.INSTAGRAM,
    "ig": Platform.INSTAGRAM,
    "insta": Platform.INSTAGRAM,
    "tiktok": Platform.TIKTOK,
    "tt": Platform.TIKTOK,
}


@dataclass(frozen=True)
class PlatformCheck:
    """The result of checking a draft against one platform's rules."""

    platform: Platform
    length: int
    """X: weighted length; others: characters (code points after NFC)."""
    limit: int
    fits: bool
    """True when ``length <= limit`` and there is no blocking problem."""
    problems: tuple[str, ...]
    """Full plain-English sentences, in a stable order; empty when the post is fine."""
    hashtags: int

    @property
    def remaining(self) -> int:
        """How much room is left; negative when the post is too long."""
        return self.limit - self.length

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with stable keys, for the command line's ``--json`` output."""
        return {
            "platform": self.platform.value,
            "length": self.length,
            "limit": self.limit,
            "fits": self.fits,
            "remaining": self.remaining,
            "problems": list(self.problems),
            "hashtags": self.hashtags,
        }


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------

# U+FFFE, U+FEFF and U+FFFF make X reject a post (twitter-text "invalid characters").
_X_INVALID = re.compile("[\ufffe\ufeff\uffff]")
_HASHTAG = re.compile(r"(?<![\w&])#\w")


def check_text(platform: Platform, text: str) -> PlatformCheck:
    """Check ``text`` against ``platform``'s rules."""
    return _Draft(text).check(Platform.parse(platform))


def check_all(text: str, platforms: Iterable[Platform]) -> list[PlatformCheck]:
    """Check ``text`` against each platform, in the order given."""
    draft = _Draft(text)
    return [draft.check(Platform.parse(p)) for p in platforms]


def count_hashtags(text: str) -> int:
    """Count hashtags the way Instagram does.

    A hashtag is ``#`` followed by a word character (a Unicode letter or digit, or ``_``), and not
    preceded by a word character or ``&``. So ``&#123;`` and ``a#b`` are not hashtags.
    """
    return len(_HASHTAG.findall(_nfc(text)))


class _Draft:
    """Work shared by the checks of one text (normalisation, hashtags, ...)."""

    def __init__(self, text: str) -> None:
        self.nfc = _nfc(text)
        self.huge = len(self.nfc) > HUGE_TEXT
        self.empty = self.nfc.isspace() or not self.nfc
        self.hashtags = len(_HASHTAG.findall(self.nfc))
        self._x_length: int | None = None

    def check(self, platform: Platform) -> PlatformCheck:
        limit = platform.limit
        problems: list[str] = []
        if self.empty:
            problems.append("The post is empty.")
        if platform is Platform.X:
            if self.huge:
                length = len(self.nfc)
                problems.append(
                    f"This post has {length:,} characters, far more than X's limit of {limit:,}."
                )
            else:
                if self._x_length is None:
                    self._x_length = _x_weight_normalised(_x_line_endings(self.nfc))
                length = self._x_length
                if length > limit:
                    problems.append(_over(platform, length, limit))
            invalid = sorted(set(_X_INVALID.findall(self.nfc)))
            if invalid:
                names = " and ".join(f"U+{ord(c):04X}" for c in invalid)
                noun = "character" if len(invalid) == 1 else "characters"
                them = "it" if len(invalid) == 1 else "them"
                problems.append(f"X does not accept the invisible {noun} {names}; remove {them}.")
        else:
            length = len(self.nfc)
            if length > limit:
                problems.append(_over(platform, length, limit))
            if platform is Platform.INSTAGRAM and self.hashtags > INSTAGRAM_MAX_HASHTAGS:
                problems.append(
                    f"Instagram allows at most {INSTAGRAM_MAX_HASHTAGS} hashtags; "
                    f"this caption has {self.hashtags}."
                )
        return PlatformCheck(
            platform=platform,
            length=length,
            limit=limit,
            fits=not problems,
            problems=tuple(problems),
            hashtags=self.hashtags,
        )


def _over(platform: Platform, length: int, limit: int) -> str:
    return f"{platform.label} counts {length:,} of {limit:,}: {length - limit:,} over."


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --------------------------------------------------------------------------------------------
# X weighted length
# --------------------------------------------------------------------------------------------

_LINE_ENDINGS = re.compile(r"\r\n?")

# Code points outside twitter-text v3's "light" ranges weigh 2.
_HEAVY = re.compile("[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]")

# Unicode 15.1 Extended_Pictographic, minus U+00A9 and U+00AE (handled apart: light unless VS16).
# fmt: off
_EXTENDED_PICTOGRAPHIC: tuple[tuple[int, int], ...] = (
    (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122), (0x2139, 0x2139),
    (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x2388, 0x2388), (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA),
    (0x24C2, 0x24C2), (0x25AA, 0x25AB), (0x25B6, 0x25B6), (0x25C0, 0x25C0),
    (0x25FB, 0x25FE), (0x2600, 0x2605), (0x2607, 0x2612), (0x2614, 0x2685),
    (0x2690, 0x2705), (0x2708, 0x2712), (0x2714, 0x2714), (0x2716, 0x2716),
    (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734),
    (0x2744, 0x2744), (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E),
    (0x2753, 0x2755), (0x2757, 0x2757), (0x2763, 0x2767), (0x2795, 0x2797),
    (0x27A1, 0x27A1), (0x27B0, 0x27B0), (0x27BF, 0x27BF), (0x2934, 0x2935),
    (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55),
    (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)
# fmt: on
_PICTO = (
    "["
    + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in _EXTENDED_PICTOGRAPHIC)
    + "]"
)
_SKIN = "[\U0001f3fb-\U0001f3ff]"
_MODIFIER = f"(?:{_SKIN}\ufe0f?|\ufe0f)"
_ELEMENT = f"(?:{_PICTO}{_MODIFIER}?|[\u00a9\u00ae]{_MODIFIER})"
# One emoji as people see it. ZWJ sequences are capped at 4 elements (the longest in Unicode,
# e.g. a family or a kiss) and tag sequences at 7 tags, so that no arbitrarily long run of
# code points can be passed off as a single emoji of weight 2.
_EMOJI = re.compile(
    "\U0001f3f4[\U000e0020-\U000e007e]{1,7}\U000e007f"  # subdivision flags (England, ...)
    "|[\U0001f1e6-\U0001f1ff]{2}"  # country flags
    "|[#*0-9]\ufe0f?\u20e3"  # keycaps
    f"|{_ELEMENT}(?:\u200d{_ELEMENT}){{0,3}}"  # pictographs, skin tones, ZWJ sequences
)


def x_weighted_length(text: str) -> int:
    """The length X counts for ``text`` (twitter-text v3 weighted length; the limit is 280).

    Unlike :func:`check_text`, this always counts exactly, however long the text.
    """
    return _x_weight_normalised(_x_line_endings(_nfc(text)))


def is_loaded() -> bool:
    """Whether X counting is ready without the ~300 ms first import (see ``preload``)."""
    return _url_tools.cache_info().currsize > 0


def preload() -> None:
    """Import ``twitter_text`` now (about 300 ms), so that the first X count is instant.

    The app calls this from a background thread after its first paint. Safe to call many times,
    from any thread.
    """
    _url_tools()


def _x_line_endings(text: str) -> str:
    return _LINE_ENDINGS.sub("\n", text) if "\r" in text else text


def _x_weight_normalised(text: str) -> int:
    """Weighted length of a text already NFC-normalised, with ``\\n`` line endings."""
    spans, extra = _url_spans(text)
    total = extra + X_URL_WEIGHT * len(spans)
    pos = 0
    for start, end in spans:
        total += _plain_weight(text[pos:start])
        pos = end
    return total + _plain_weight(text[pos:])


def _plain_weight(text: str) -> int:
    """Weighted length of text that holds no link."""
    if text.isascii():
        return len(text)
    rest, emoji = _EMOJI.subn("", text)
    return 2 * emoji + len(rest) + len(_HEAVY.findall(rest))


class _UrlTools(NamedTuple):
    extract: Callable[[str], list[dict[str, Any]]]
    tld_dot: re.Pattern[str]
    """``.`` followed by a TLD: every link contains one."""
    domain_run: re.Pattern[str]
    """A maximal run of characters a domain can be made of."""
    tail: re.Pattern[str]
    """Characters a link's port, path or query can be made of."""


@functools.cache
def _url_tools() -> _UrlTools:
    # Lazy on purpose: importing twitter_text compiles a huge regex (about 300 ms).
    from twitter_text.extract_urls import extract_urls_with_indices
    from twitter_text.regexp.invalid_domain_chars import invalid_domain_chars
    from twitter_text.regexp.valid_cctld import valid_cctld
    from twitter_text.regexp.valid_general_url_path_chars import valid_general_url_path_chars
    from twitter_text.regexp.valid_gtld import valid_gtld
    from twitter_text.regexp.valid_punycode import valid_punycode
    from twitter_text.regexp.valid_url_query_chars import valid_url_query_chars

    tld = _tld_pattern(valid_gtld.pattern, valid_cctld.pattern, valid_punycode.pattern)
    path_chars = valid_general_url_path_chars.pattern
    query_chars = valid_url_query_chars.pattern
    if not (path_chars.startswith("[") and path_chars.endswith("]") and query_chars[0] == "["):
        raise RuntimeError("twitter_text's URL character classes changed shape")
    return _UrlTools(
        extract=extract_urls_with_indices,
        # The library compiles its URL regex with IGNORECASE; so must we.
        tld_dot=re.compile(r"\." + tld, re.IGNORECASE),
        domain_run=re.compile(rf"(?:[^{invalid_domain_chars.pattern}]|[._\-])+"),
        tail=re.compile(f"[{path_chars[1:-1]}{query_chars[1:-1]}]*", re.IGNORECASE),
    )


_TLD_LIST = re.compile(r"\(\?:\(\?:([^()\[\]?*+\\]*)\)(\(\?=\[\^0-9a-zA-Z@\+-\]\|\$\))\)")


def _tld_pattern(gtld: str, cctld: str, punycode: str) -> str:
    """The library's ``(gtld|cctld|punycode)`` pattern, with the TLD lists as a trie.

    The library writes each list as one alternation of about 1,500 words followed by a lookahead.
    Python's ``re`` tries the words one by one, about 12 microseconds at every ``.`` of a text.
    The trie matches exactly the same words (in any order: with the lookahead after them, the
    regex backtracks through all of them anyway) in a fraction of that. If the lists are not
    in the expected shape, the library's own patterns are used.
    """
    lists = [_TLD_LIST.fullmatch(gtld), _TLD_LIST.fullmatch(cctld)]
    if any(found is None for found in lists) or len({f.group(2) for f in lists if f}) != 1:
        return f"(?:{gtld}|{cctld}|{punycode})"
    words = {word for found in lists if found for word in found.group(1).split("|")}
    lookahead = lists[0].group(2) if lists[0] else ""
    return f"(?:{_trie(sorted(words))}{lookahead}|{punycode})"


def _trie(words: list[str]) -> str:
    """A regex matching exactly ``words`` (non-empty, no duplicates), shaped as a trie."""
    ends = "" in words
    by_first: dict[str, list[str]] = {}
    for word in words:
        if word:
            by_first.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(first) + _trie(rest) for first, rest in by_first.items()]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 and not ends else f"(?:{'|'.join(branches)})"
    if ends:
        body += "?"
    return body


# Budgets for the library's URL regex, in rough units of 0.1 microsecond (see _window_cost).
_WINDOW_BUDGET = 60_000
_TEXT_BUDGET = 250_000
_NOT_ASCII_ALNUM = re.compile("[^A-Za-z0-9]")


def _url_spans(text: str) -> tuple[list[tuple[int, int]], int]:
    """Links in ``text`` as (start, end) code point spans, and an extra weight.

    The extra weight covers windows too costly to parse (see the module docstring): their
    characters are counted as text, plus 23 for each ``.tld`` in them.

    Why windows give the same links as the library run on the whole text: the library's regex
    matches ``before-char, [http[s]://], domain, [:port], [/path], [?query]``. The domain is made
    of domain characters, dots, hyphens and underscores, and ends with ``.tld``. So it lies in a
    maximal such run that contains a ``.tld``. The protocol comes just before that run, and the
    port, path and query just after it, made of "tail" characters. A window therefore runs from
    the character before the protocol (or before the run) to the end of the tail that follows the
    run, and every match of the regex, kept or rejected, lies within one window. At a window's
    first position the regex can only see what it would see in the whole text: that character is
    not a domain character, or it is followed by ``http``. At its end, the next character is
    neither a tail character nor ``[0-9a-zA-Z@+-]``, which is what the TLD lookahead needs.
    """
    if "." not in text:
        return [], 0
    tools = _url_tools()
    dots = [m.start() for m in tools.tld_dot.finditer(text)]
    if not dots:
        return [], 0
    runs = [(m.start(), m.end()) for m in tools.domain_run.finditer(text)]
    run_starts = [start for start, _ in runs]
    windows: list[list[int]] = []
    last_run = -1
    for dot in dots:
        index = bisect_right(run_starts, dot) - 1
        if index == last_run:
            continue
        last_run = index
        start, end = runs[index]
        if windows and end <= windows[-1][1]:
            continue  # inside the current window, whose tail already runs past this run
        if text[max(0, start - 8) : start].lower() == "https://":
            start -= 8
        elif text[max(0, start - 7) : start].lower() == "http://":
            start -= 7
        start = max(0, start - 1)
        tail = tools.tail.match(text, end)
        end = tail.end() if tail else end
        if windows and start <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])

    spans: list[tuple[int, int]] = []
    extra = 0
    spent = 0
    for start, end in windows:
        window = text[start:end]
        cost = _window_cost(window, tools)
        if cost <= _WINDOW_BUDGET and spent + cost <= _TEXT_BUDGET:
            spent += cost
            spans.extend((start + a, start + b) for a, b in _links_in_window(window))
        else:
            # Too costly to parse: count as text, plus a link's weight for each ".tld" in it.
            extra += X_URL_WEIGHT * (bisect_right(dots, end - 1) - bisect_right(dots, start - 1))
    return spans, extra


def _window_cost(window: str, tools: _UrlTools) -> int:
    """A rough upper estimate of the library regex's work on ``window``.

    The regex tries a match at each character that may precede a link (anything but an ASCII
    letter or digit), and from there scans the rest of the domain-character run, trying the TLD
    list at each dot. Nested parentheses in paths add backtracking too.
    """
    cost = len(window)
    for match in tools.domain_run.finditer(window):
        run = match.group()
        starts = 1 + len(_NOT_ASCII_ALNUM.findall(run))
        cost += starts * (len(run) + 30 * run.count("."))
    parens = window.count("(")
    return cost + parens * parens


@functools.lru_cache(maxsize=4096)
def _links_in_window(window: str) -> tuple[tuple[int, int], ...]:
    return tuple(
        (int(url["indices"][0]), int(url["indices"][1])) for url in _url_tools().extract(window)
    )


# --------------------------------------------------------------------------------------------
# Threads
# --------------------------------------------------------------------------------------------

_PARAGRAPH, _LINE, _SENTENCE, _WORD, _CHAR = 4, 3, 2, 1, 0
# Whitespace we may break at: all of it but the no-break spaces.
_BREAKABLE = re.compile(r"[^\S\u00a0\u2007\u202f]+")
_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CLOSERS = "\"')]}»”’」』）】〕"
_SENTENCE_END = re.compile(f"[.!?…。！？][{re.escape(_CLOSERS)}]*\\Z")
_CJK_SENTENCE_END = re.compile(f"[。！？][{re.escape(_CLOSERS)}]*")
_JOINS_PREVIOUS = re.compile(
    "[\u200d\ufe00-\ufe0f\u20e3\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]"
)


class _Atom(NamedTuple):
    start: int
    end: int
    level: int
    """Strength of the boundary before this atom: paragraph > line > sentence > word > char."""
    gap: int
    """Weight of the whitespace between the previous atom and this one."""
    weight: int
    link: bool


def split_thread(text: str, *, limit: int = X_LIMIT, numbered: bool = False) -> list[str]:
    """Split ``text`` into posts that each fit ``limit`` by X's weighted length.

    Cuts prefer paragraph breaks, then line breaks, then sentence ends (``. ! ? …`` before a
    space, or CJK ``。！？``), then spaces. A word is cut only if it does not fit in a post on its
    own, and never inside a link or an emoji. Each post is a slice of the NFC-normalised text,
    without surrounding whitespace, so no visible character is lost or reordered.

    A text that fits in one post comes back as one post, without a counter. With ``numbered=True``
    a longer text gets " 1/N", " 2/N", ... appended to its posts, and each post still fits.
    Empty text gives an empty list. Raises :class:`~mbv_desktop.core.errors.InvalidInput` when
    ``limit`` is too small to hold some piece of the text (a link counts 23).
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"The post limit must be a positive whole number; got {limit!r}.")
    body = _nfc(text).strip()
    if not body:
        return []
    if x_weighted_length(body) <= limit:
        return [body]
    if not numbered:
        return _split(body, limit)
    reserve = len(" 1/9")
    while True:
        budget = limit - reserve
        if budget < 1:
            raise InvalidInput(
                f"A limit of {limit} leaves no room for the text once the post counters are added."
            )
        parts = _split(body, budget)
        counter = f" {len(parts)}/{len(parts)}"
        if len(counter) <= reserve:
            numbered_parts = [f"{part} {i}/{len(parts)}" for i, part in enumerate(parts, 1)]
            if all(x_weighted_length(part) <= limit for part in numbered_parts):
                return numbered_parts
            reserve += 1  # pragma: no cover - counters are plain ASCII after a space
        else:
            reserve = len(counter)


def _split(body: str, budget: int) -> list[str]:
    atoms = _atoms(body, budget)
    parts: list[str] = []
    first = 0
    while first < len(atoms):
        last = _choose_last(atoms, first, budget)
        while True:
            part = body[atoms[first].start : atoms[last].end]
            if x_weighted_length(part) <= budget:
                break
            # The estimate was off (a cut changed what counts as a link): give back an atom.
            if last == first:
                raise _too_small(atoms[first], body, budget)
            last = _choose_last(atoms, first, budget, upto=last - 1)
        part = part.strip()
        if part:
            parts.append(part)
        first = last + 1
    return parts


def _choose_last(atoms: list[_Atom], first: int, budget: int, upto: int | None = None) -> int:
    """Index of the last atom of the post that starts at ``first``."""
    head = atoms[first]
    if head.weight > budget:
        raise _too_small(head, None, budget)
    fill = [head.weight]
    last = first
    stop = len(atoms) - 1 if upto is None else upto
    while last < stop:
        nxt = atoms[last + 1]
        weight = fill[-1] + nxt.gap + nxt.weight
        if weight > budget:
            break
        fill.append(weight)
        last += 1
    if last == len(atoms) - 1:
        return last
    # Prefer the strongest boundary that still leaves the post at least half full.
    wanted = budget // 2
    for level in (_PARAGRAPH, _LINE, _SENTENCE, _WORD, _CHAR):
        for k in range(last, first - 1, -1):
            if fill[k - first] < wanted:
                break
            if atoms[k + 1].level >= level:
                return k
    return last


def _too_small(atom: _Atom, body: str | None, budget: int) -> InvalidInput:
    what = "a link" if atom.link else "a piece"
    shown = f" ({body[atom.start : atom.end]!r})" if body is not None and not atom.link else ""
    return InvalidInput(
        f"This text has {what}{shown} that X counts as {atom.weight}, more than the {budget} "
        "each post can hold; use a higher limit."
    )


def _atoms(body: str, budget: int) -> list[_Atom]:
    """Cut ``body`` into the smallest pieces a post boundary may fall between."""
    atoms: list[_Atom] = []
    level, gap = _PARAGRAPH, 0
    pos = 0
    for space in [*_BREAKABLE.finditer(body), None]:
        chunk_end = space.start() if space else len(body)
        if chunk_end > pos:
            _chunk_atoms(body, pos, chunk_end, level, gap, budget, atoms)
        if space is None:
            break
        breaks = len(_LINE_BREAK.findall(space.group()))
        if breaks >= 2 or "\u2029" in space.group():
            level = _PARAGRAPH
        elif breaks == 1:
            level = _LINE
        elif _SENTENCE_END.search(body, pos, chunk_end):
            level = _SENTENCE
        else:
            level = _WORD
        gap = x_weighted_length(space.group())
        pos = space.end()
    return atoms


def _chunk_atoms(
    body: str, start: int, end: int, level: int, gap: int, budget: int, out: list[_Atom]
) -> None:
    """Atoms of one run of text between breakable spaces."""
    chunk = body[start:end]
    links = _url_spans(_x_line_endings(chunk))[0] if "." in chunk else []
    # Sentences inside the chunk (CJK text has no space after 。！？), never inside a link.
    cuts = [
        m.end()
        for m in _CJK_SENTENCE_END.finditer(chunk)
        if m.end() < len(chunk) and not any(a < m.end() < b for a, b in links)
    ]
    pieces = list(zip([0, *cuts], [*cuts, len(chunk)], strict=True))
    for index, (a, b) in enumerate(pieces):
        piece_level = level if index == 0 else _SENTENCE
        piece_gap = gap if index == 0 else 0
        weight = x_weighted_length(chunk[a:b])
        if weight <= budget:
            is_link = any(la <= a and b <= lb for la, lb in links)
            out.append(_Atom(start + a, start + b, piece_level, piece_gap, weight, is_link))
            continue
        # Last resort: cut the word between characters (never inside a link or an emoji).
        for i, (ua, ub, is_link) in enumerate(_units(chunk, a, b, links, budget)):
            out.append(
                _Atom(
                    start + ua,
                    start + ub,
                    piece_level if i == 0 else _CHAR,
                    piece_gap if i == 0 else 0,
                    x_weighted_length(chunk[ua:ub]),
                    is_link,
                )
            )


def _units(
    chunk: str, start: int, end: int, links: list[tuple[int, int]], budget: int
) -> list[tuple[int, int, bool]]:
    """Characters (with their combining marks), emoji and links of ``chunk[start:end]``."""
    units: list[tuple[int, int, bool]] = []
    pos = start
    while pos < end:
        link = next((span for span in links if span[0] == pos), None)
        if link is not None:
            units.append((link[0], link[1], True))
            pos = link[1]
            continue
        emoji = _EMOJI.match(chunk, pos, end)
        if emoji:
            units.append((pos, emoji.end(), False))
            pos = emoji.end()
            continue
        stop = pos + 1
        while stop < end and _joins_previous(chunk, stop) and not _link_starts(links, stop):
            stop += 1
        if stop - pos > 1 and x_weighted_length(chunk[pos:stop]) > budget:
            # A character with more combining marks than a post can hold ("Zalgo" text).
            units.extend((i, i + 1, False) for i in range(pos, stop))
        else:
            units.append((pos, stop, False))
        pos = stop
    return units


def _joins_previous(chunk: str, index: int) -> bool:
    char = chunk[index]
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or _JOINS_PREVIOUS.match(char) is not None
        or chunk[index - 1] == "\u200d"
    )


def _link_starts(links: list[tuple[int, int]], index: int) -> bool:
    return any(a == index for a, _ in links)
