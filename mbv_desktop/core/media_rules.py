"""Per-platform media rules: which photos and videos X, Instagram and TikTok take in one post.

The table :data:`RULES` says, per :class:`PostType`, which formats (MIME types) a platform
accepts, how big a file may be, the allowed width, height and aspect ratio, the length of a video,
and how many items one post may hold. :func:`check_media` compares a post's media (described by
:class:`MediaInfo`, which ``services.media_check`` fills in from a real file) with those rules and
returns plain-English sentences, one per problem, or an empty list when everything fits.

This module is pure: no I/O, no Qt, only the standard library.

Where the numbers come from
---------------------------
Numbers stated in the project's provider notes (``reference/providers.md``, read 2026) are marked
confirmed. Every other number is a best-known value from the platforms' public media
specifications as last remembered, not re-checked; its field name is listed in the rule's
``unverified`` set, :meth:`KindRules.is_confirmed` answers per field, and every
:class:`MediaProblem` says whether the limit behind it is confirmed, so the UI can show
"(unverified)" next to it. Confirmed:

* X: images 5 MB, GIFs 15 MB, videos 512 MB (``amplify_video``), videos at most 140 s, and up to
  4 photos or 1 GIF or 1 video per post.
* Instagram: single feed videos are published as reels (since 2023-07-01); the carousel cap of 10
  comes from third-party tools only (the Instagram app itself has allowed 20 since 2024), so it is
  *not* confirmed.
* TikTok: the creator's own maximum video length comes from ``creator_info``
  (``max_video_post_duration_sec``) at run time; pass it as ``max_video_duration_s``. Photo posts
  exist (``media_type: PHOTO``) but their limits are unverified; PNG is reportedly refused.

Aspect ratios are width / height: 4:5 is 0.8, 1.91:1 is 1.91, 9:16 is 0.5625. Byte limits use
binary megabytes (1 MB = 2**20 bytes), as the file-size checks elsewhere in the app do.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mbv_desktop.core.platforms import Platform

MB = 2**20
GB = 2**30


class MediaKind(enum.StrEnum):
    """What a media file is: a still (or animated) image, or a video."""

    IMAGE = "image"
    VIDEO = "video"


class PostType(enum.StrEnum):
    """A kind of post that carries media. Each platform has its own shapes of post."""

    X_POST = "x_post"
    INSTAGRAM_FEED = "instagram_feed"
    INSTAGRAM_CAROUSEL = "instagram_carousel"
    INSTAGRAM_REEL = "instagram_reel"
    INSTAGRAM_STORY = "instagram_story"
    TIKTOK_VIDEO = "tiktok_video"
    TIKTOK_PHOTO = "tiktok_photo"

    @property
    def platform(self) -> Platform:
        """The platform this kind of post goes to."""
        if self is PostType.X_POST:
            return Platform.X
        if self.value.startswith("instagram"):
            return Platform.INSTAGRAM
        return Platform.TIKTOK

    @property
    def label(self) -> str:
        """The kind of post as shown to people: "Instagram carousel"."""
        return RULES[self].title


# --- formats ---------------------------------------------------------------------------------

JPEG = "image/jpeg"
PNG = "image/png"
WEBP = "image/webp"
GIF = "image/gif"
HEIC = "image/heic"
MP4 = "video/mp4"
MOV = "video/quicktime"
WEBM = "video/webm"

_FORMAT_NAMES = {
    JPEG: "JPEG", PNG: "PNG", WEBP: "WebP", GIF: "GIF", HEIC: "HEIC",
    MP4: "MP4", MOV: "MOV", WEBM: "WebM",
}

_CODEC_NAMES = {
    "h264": "H.264", "hevc": "HEVC", "vp8": "VP8", "vp9": "VP9", "av1": "AV1",
    "mpeg4": "MPEG-4 Part 2", "prores": "ProRes",
}


def format_name(mime: str) -> str:
    """A format as people know it: ``"image/jpeg"`` → ``"JPEG"``; unknown types stay as given."""
    return _FORMAT_NAMES.get(mime.lower(), mime or "an unknown format")


def codec_name(codec: str) -> str:
    """A video codec as people know it: ``"h264"`` → ``"H.264"``."""
    return _CODEC_NAMES.get(codec.lower(), codec.upper())


# --- the rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindRules:
    """What one kind of media (images or videos) must be like in one kind of post.

    ``None`` means "no rule". ``label`` is the plural subject of problem sentences ("Instagram
    feed photos"). ``unverified`` names the fields whose numbers could not be confirmed.
    """

    label: str
    formats: tuple[str, ...]
    max_bytes: int | None = None
    max_bytes_by_format: tuple[tuple[str, int], ...] = ()
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_aspect: float | None = None
    max_aspect: float | None = None
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    codecs: tuple[str, ...] = ()
    unverified: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()

    def byte_limit(self, mime: str) -> int | None:
        """The size limit for a file of this MIME type (X allows bigger GIFs than photos)."""
        for fmt, limit in self.max_bytes_by_format:
            if fmt == mime:
                return limit
        return self.max_bytes

    def is_confirmed(self, name: str) -> bool:
        """Whether the value of field ``name`` was confirmed in the provider notes."""
        return name not in self.unverified

    @property
    def confirmed(self) -> bool:
        """True when every number of these rules was confirmed."""
        return not self.unverified


@dataclass(frozen=True)
class PostRules:
    """The rules of one kind of post: per-kind rules plus how many items fit in one post.

    ``subject`` starts count sentences ("An Instagram carousel takes at most 10 items; ...").
    ``solo_formats`` and ``solo_kinds`` must be the only item of a post (X: a GIF or a video).
    """

    post_type: PostType
    title: str
    subject: str
    image: KindRules | None
    video: KindRules | None
    min_items: int
    max_items: int
    item_noun: str = "items"
    per_post: bool = True
    mixed_kinds: bool = True
    solo_formats: tuple[str, ...] = ()
    solo_kinds: tuple[MediaKind, ...] = ()
    wrong_kind_hint: str = ""
    unverified: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()

    def for_kind(self, kind: MediaKind) -> KindRules | None:
        """The rules for images or videos in this post, or None if it takes none."""
        return self.image if kind is MediaKind.IMAGE else self.video

    def is_confirmed(self, name: str) -> bool:
        """Whether the value of field ``name`` (a count rule) was confirmed."""
        return name not in self.unverified

    @property
    def confirmed(self) -> bool:
        """True when every number of this post type, images and videos included, is confirmed."""
        kinds = [k for k in (self.image, self.video) if k is not None]
        return not self.unverified and all(k.confirmed for k in kinds)


_ALL_UNVERIFIED_IMAGE = frozenset({"formats", "max_bytes", "min_aspect", "max_aspect"})

_IG_PHOTO_NOTE = ("Instagram scales photos to between 320 and 1440 pixels wide, so width is not "
                  "checked (unverified).")

_X_RULES = PostRules(
    post_type=PostType.X_POST,
    title="X post",
    subject="X",
    image=KindRules(
        label="X images",
        formats=(JPEG, PNG, WEBP, GIF),
        max_bytes=5 * MB,
        max_bytes_by_format=((GIF, 15 * MB),),
        unverified=frozenset({"formats"}),
    ),
    video=KindRules(
        label="X videos",
        formats=(MP4, MOV),
        max_bytes=512 * MB,
        min_width=32, min_height=32,
        min_aspect=1 / 3, max_aspect=3.0,
        min_duration_s=0.5, max_duration_s=140.0,
        unverified=frozenset({"formats", "min_width", "min_height", "min_aspect", "max_aspect",
                              "min_duration_s"}),
        notes=("Up to 60 frames per second, AAC-LC audio, H.264 recommended.",
               "Older docs capped ordinary uploads at 1920 x 1200 (or 1280 x 1024); portrait "
               "phone video is accepted in practice, so no size cap is checked (unverified)."),
    ),
    min_items=0,
    max_items=4,
    item_noun="images",
    mixed_kinds=False,
    solo_formats=(GIF,),
    solo_kinds=(MediaKind.VIDEO,),
)

_IG_FEED_IMAGE = KindRules(
    label="Instagram feed photos",
    formats=(JPEG,),
    max_bytes=8 * MB,
    min_aspect=4 / 5, max_aspect=1.91,
    unverified=_ALL_UNVERIFIED_IMAGE,
    notes=(_IG_PHOTO_NOTE,),
)

_IG_RULES = (
    PostRules(
        post_type=PostType.INSTAGRAM_FEED,
        title="Instagram feed post",
        subject="An Instagram feed post",
        image=_IG_FEED_IMAGE,
        video=None,
        min_items=1, max_items=1, item_noun="photo",
        wrong_kind_hint="single videos go out as reels",
    ),
    PostRules(
        post_type=PostType.INSTAGRAM_CAROUSEL,
        title="Instagram carousel",
        subject="An Instagram carousel",
        image=KindRules(
            label="Instagram carousel photos",
            formats=(JPEG,),
            max_bytes=8 * MB,
            min_aspect=4 / 5, max_aspect=1.91,
            unverified=_ALL_UNVERIFIED_IMAGE,
            notes=(_IG_PHOTO_NOTE,),
        ),
        video=KindRules(
            label="Instagram carousel videos",
            formats=(MP4, MOV),
            max_bytes=100 * MB,
            max_width=1920,
            min_aspect=4 / 5, max_aspect=16 / 9,
            min_duration_s=3.0, max_duration_s=60.0,
            codecs=("h264", "hevc"),
            unverified=frozenset({"formats", "max_bytes", "max_width", "min_aspect", "max_aspect",
                                  "min_duration_s", "max_duration_s", "codecs"}),
        ),
        min_items=2, max_items=10, per_post=False,
        unverified=frozenset({"min_items", "max_items"}),
        notes=("The cap of 10 items comes from third-party publishing tools; the Instagram app "
               "allows 20 since 2024 and the API may too (unverified).",),
    ),
    PostRules(
        post_type=PostType.INSTAGRAM_REEL,
        title="Instagram reel",
        subject="An Instagram reel",
        image=None,
        video=KindRules(
            label="Instagram reels",
            formats=(MP4, MOV),
            max_bytes=300 * MB,
            max_width=1920,
            min_aspect=0.01, max_aspect=10.0,
            min_duration_s=3.0, max_duration_s=15 * 60.0,
            codecs=("h264", "hevc"),
            unverified=frozenset({"formats", "max_bytes", "max_width", "min_aspect", "max_aspect",
                                  "min_duration_s", "max_duration_s", "codecs"}),
            notes=("9:16 is recommended; 23 to 60 frames per second; AAC audio (unverified).",),
        ),
        min_items=1, max_items=1, item_noun="video", per_post=False,
        wrong_kind_hint="post photos to the feed or a story",
    ),
    PostRules(
        post_type=PostType.INSTAGRAM_STORY,
        title="Instagram story",
        subject="An Instagram story",
        image=KindRules(
            label="Instagram story photos",
            formats=(JPEG,),
            max_bytes=8 * MB,
            unverified=frozenset({"formats", "max_bytes"}),
            notes=("9:16 is recommended (unverified).",),
        ),
        video=KindRules(
            label="Instagram story videos",
            formats=(MP4, MOV),
            max_bytes=100 * MB,
            min_aspect=0.1, max_aspect=10.0,
            min_duration_s=3.0, max_duration_s=60.0,
            codecs=("h264", "hevc"),
            unverified=frozenset({"formats", "max_bytes", "min_aspect", "max_aspect",
                                  "min_duration_s", "max_duration_s", "codecs"}),
        ),
        min_items=1, max_items=1, item_noun="photo or video", per_post=False,
    ),
)

_TIKTOK_RULES = (
    PostRules(
        post_type=PostType.TIKTOK_VIDEO,
        title="TikTok video",
        subject="A TikTok video post",
        image=None,
        video=KindRules(
            label="TikTok videos",
            formats=(MP4, WEBM, MOV),
            max_bytes=4 * GB,
            min_width=360, min_height=360, max_width=4096, max_height=4096,
            max_duration_s=10 * 60.0,
            codecs=("h264", "hevc", "vp8", "vp9"),
            unverified=frozenset({"formats", "max_bytes", "min_width", "min_height", "max_width",
                                  "max_height", "max_duration_s", "codecs"}),
            notes=("The account's own maximum length comes from TikTok at run time "
                   "(creator_info max_video_post_duration_sec); 23 to 60 frames per second "
                   "(unverified).",),
        ),
        min_items=1, max_items=1, item_noun="video", per_post=False,
        wrong_kind_hint="photos go in a TikTok photo post",
    ),
    PostRules(
        post_type=PostType.TIKTOK_PHOTO,
        title="TikTok photo post",
        subject="A TikTok photo post",
        image=KindRules(
            label="TikTok photos",
            formats=(JPEG, WEBP),
            max_bytes=20 * MB,
            max_width=1080, max_height=1920,
            unverified=frozenset({"formats", "max_bytes", "max_width", "max_height"}),
            notes=("TikTok fetches photos from a verified URL (PULL_FROM_URL); PNG is reportedly "
                   "refused (unverified).",),
        ),
        video=None,
        min_items=1, max_items=35, item_noun="photos",
        wrong_kind_hint="videos go in a TikTok video post",
        unverified=frozenset({"max_items"}),
    ),
)

RULES: Mapping[PostType, PostRules] = MappingProxyType(
    {r.post_type: r for r in (_X_RULES, *_IG_RULES, *_TIKTOK_RULES)}
)
"""The rules of every post type (read-only)."""


def rules_for(post_type: PostType) -> PostRules:
    """The rules of one post type."""
    return RULES[PostType(post_type)]


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaInfo:
    """What the checks need to know about one media file.

    ``bytes`` is the file size; ``width`` and ``height`` are as displayed (after EXIF or track
    rotation) and None when unknown; ``duration_s`` is None for images and when unknown;
    ``codec`` is a short lower-case name such as ``"h264"``, None when unknown.
    """

    mime: str
    kind: MediaKind
    bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    codec: str | None = None


@dataclass(frozen=True)
class MediaProblem:
    """One reason media does not fit a post. ``item`` is the 0-based index of the item it is
    about (None for the post as a whole); ``confirmed`` is False when the limit behind it is a
    best-known value the UI should mark "(unverified)"."""

    message: str
    item: int | None = None
    confirmed: bool = True
    rule: str = field(default="", compare=False)


def check_media(post_type: PostType, items: Sequence[MediaInfo], *,
                max_video_duration_s: float | None = None) -> list[str]:
    """Plain-English sentences about everything in ``items`` that does not fit ``post_type``.

    Empty when the media fits. ``max_video_duration_s`` is an account's own limit when the
    platform reports one (TikTok's ``max_video_post_duration_sec``); it replaces the table's.
    """
    return [p.message for p in check_media_problems(
        post_type, items, max_video_duration_s=max_video_duration_s)]


def check_media_problems(post_type: PostType, items: Sequence[MediaInfo], *,
                         max_video_duration_s: float | None = None) -> list[MediaProblem]:
    """Like :func:`check_media`, with the item and whether each limit is confirmed."""
    rules = rules_for(post_type)
    problems = _check_count(rules, items)
    single = len(items) == 1
    for index, item in enumerate(items):
        this = "this one" if single else f"item {index + 1}"
        kind_rules = rules.for_kind(item.kind)
        if kind_rules is None:
            problems.append(_wrong_kind(rules, item, index, this))
            continue
        problems.extend(_check_item(kind_rules, item, index, this, max_video_duration_s))
    return problems


def _check_count(rules: PostRules, items: Sequence[MediaInfo]) -> list[MediaProblem]:
    n = len(items)
    per = " per post" if rules.per_post else ""
    subject = rules.subject
    if rules.post_type is PostType.X_POST:
        solo = [i for i in items if i.kind in rules.solo_kinds or i.mime in rules.solo_formats]
        if solo and n > 1:
            what = "a video" if any(i.kind is MediaKind.VIDEO for i in solo) else "a GIF"
            return [MediaProblem(
                f"X takes either up to 4 images or a single video or GIF per post; this post "
                f"has {what} and {_count(n - 1, 'other item')}.", rule="solo")]
    if n < rules.min_items:
        if n == 0:
            message = f"{subject} needs {_article(rules)}; none is attached."
        else:
            message = (f"{subject} needs at least {_count(rules.min_items, 'item')}; "
                       f"{_there_are(n)}.")
        return [MediaProblem(message, confirmed=rules.is_confirmed("min_items"),
                             rule="min_items")]
    if n > rules.max_items:
        if rules.max_items == 1:
            message = f"{subject} takes only one {rules.item_noun}; {_there_are(n)}."
        else:
            message = (f"{subject} takes at most {rules.max_items} {rules.item_noun}{per}; "
                       f"{_there_are(n)}.")
        return [MediaProblem(message, confirmed=rules.is_confirmed("max_items"),
                             rule="max_items")]
    return []


def _article(rules: PostRules) -> str:
    noun = rules.item_noun
    if rules.min_items > 1:
        return f"at least {rules.min_items} {noun}"
    return f"a {noun}" if not noun.startswith(("a", "e", "i", "o", "u")) else f"an {noun}"


def _there_are(n: int) -> str:
    return "there is 1" if n == 1 else f"there are {n}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _wrong_kind(rules: PostRules, item: MediaInfo, index: int, this: str) -> MediaProblem:
    takes = "photos" if rules.video is None else "videos"
    what = "a video" if item.kind is MediaKind.VIDEO else "a photo"
    hint = f" ({rules.wrong_kind_hint})" if rules.wrong_kind_hint else ""
    return MediaProblem(f"{rules.subject} takes only {takes}; {this} is {what}{hint}.",
                        item=index, rule="kind")


def _check_item(kr: KindRules, item: MediaInfo, index: int, this: str,
                max_video_duration_s: float | None) -> list[MediaProblem]:
    out: list[MediaProblem] = []

    def add(message: str, rule: str, confirmed: bool | None = None) -> None:
        ok = kr.is_confirmed(rule) if confirmed is None else confirmed
        out.append(MediaProblem(message, item=index, confirmed=ok, rule=rule))

    label = kr.label
    if item.mime not in kr.formats:
        add(f"{label} must be {_or_list([format_name(f) for f in kr.formats])}; {this} is "
            f"{format_name(item.mime)}.", "formats")
    limit = kr.byte_limit(item.mime)
    if limit is not None and item.bytes > limit:
        rule = "max_bytes_by_format" if limit != kr.max_bytes else "max_bytes"
        noun = label
        if rule == "max_bytes_by_format":
            noun = f"{label.split(' ')[0]} {format_name(item.mime)}s"
        add(f"{noun} can be at most {format_size(limit)}; {this} is "
            f"{format_size(item.bytes, above=limit)}.", rule)
    out.extend(_check_size(kr, item, this, index))
    if item.kind is MediaKind.VIDEO:
        out.extend(_check_video(kr, item, this, index, max_video_duration_s))
    return out


def _check_size(kr: KindRules, item: MediaInfo, this: str, index: int) -> list[MediaProblem]:
    out: list[MediaProblem] = []
    w, h = item.width, item.height
    checks = (
        ("min_width", w, kr.min_width, "at least", "wide", lambda v, lim: v < lim),
        ("max_width", w, kr.max_width, "at most", "wide", lambda v, lim: v > lim),
        ("min_height", h, kr.min_height, "at least", "high", lambda v, lim: v < lim),
        ("max_height", h, kr.max_height, "at most", "high", lambda v, lim: v > lim),
    )
    for rule, value, lim, bound, side, fails in checks:
        if value is not None and lim is not None and fails(value, lim):
            out.append(MediaProblem(
                f"{kr.label} must be {bound} {lim:,} pixels {side}; {this} is {value:,}.",
                item=index, confirmed=kr.is_confirmed(rule), rule=rule))
    if w and h and w > 0 and h > 0 and (kr.min_aspect is not None or kr.max_aspect is not None):
        ratio = w / h
        low, high = kr.min_aspect, kr.max_aspect
        too_narrow = low is not None and ratio < low * (1 - _ASPECT_TOLERANCE)
        too_wide = high is not None and ratio > high * (1 + _ASPECT_TOLERANCE)
        if too_narrow or too_wide:
            if low is not None and high is not None:
                allowed = f"between {format_aspect(low)} and {format_aspect(high)}"
            elif low is not None:
                allowed = f"at least {format_aspect(low)}"
            else:
                allowed = f"at most {format_aspect(high or 0.0)}"
            rule = "min_aspect" if too_narrow else "max_aspect"
            out.append(MediaProblem(
                f"{kr.label} must be {allowed}; {this} is {format_ratio(w, h)}.",
                item=index, confirmed=kr.is_confirmed(rule), rule=rule))
    return out


def _check_video(kr: KindRules, item: MediaInfo, this: str, index: int,
                 account_max: float | None) -> list[MediaProblem]:
    out: list[MediaProblem] = []
    d = item.duration_s
    if d is not None:
        if kr.min_duration_s is not None and d < kr.min_duration_s:
            out.append(MediaProblem(
                f"{kr.label} must be at least {format_duration(kr.min_duration_s)} long; "
                f"{this} is {format_duration(d)}.",
                item=index, confirmed=kr.is_confirmed("min_duration_s"), rule="min_duration_s"))
        top, confirmed, whose = kr.max_duration_s, kr.is_confirmed("max_duration_s"), ""
        if account_max is not None and account_max > 0:
            top, confirmed, whose = account_max, True, " for this account"
        if top is not None and d > top:
            out.append(MediaProblem(
                f"{kr.label} can be at most {format_duration(top)} long{whose}; {this} is "
                f"{format_duration(d)}.", item=index, confirmed=confirmed,
                rule="max_duration_s"))
    if kr.codecs and item.codec and item.codec.lower() not in kr.codecs:
        out.append(MediaProblem(
            f"{kr.label} must be encoded as {_or_list([codec_name(c) for c in kr.codecs])}; "
            f"{this} is {codec_name(item.codec)}.",
            item=index, confirmed=kr.is_confirmed("codecs"), rule="codecs"))
    return out


# --- wording ---------------------------------------------------------------------------------

_ASPECT_TOLERANCE = 0.005  # 1080 x 566 is 1.908:1, which Instagram accepts as 1.91:1
_COMMON_RATIOS: tuple[tuple[float, float], ...] = (
    (1, 1), (4, 5), (5, 4), (4, 3), (3, 4), (3, 2), (2, 3), (16, 9), (9, 16), (1.91, 1),
    (2, 1), (1, 2), (3, 1), (1, 3), (21, 9), (9, 21), (10, 1), (1, 10),
)


def _ratio_text(a: float, b: float) -> str:
    return f"{a:g}:{b:g}"


def format_aspect(value: float) -> str:
    """An aspect ratio (width / height) as people write it: 0.8 → "4:5", 1.91 → "1.91:1",
    0.01 → "1:100"."""
    if not value or value <= 0 or math.isinf(value) or math.isnan(value):
        return "unknown"
    for a, b in _COMMON_RATIOS:
        if abs(value - a / b) <= 0.01 * (a / b):
            return _ratio_text(a, b)
    if value >= 1:
        return _ratio_text(round(value, 2), 1)
    return _ratio_text(1, round(1 / value, 2))


def format_ratio(width: int, height: int) -> str:
    """The aspect ratio of ``width`` x ``height``: 1080 x 1920 → "9:16"."""
    if width <= 0 or height <= 0:
        return "unknown"
    g = math.gcd(width, height)
    a, b = width // g, height // g
    ratio = width / height
    for ca, cb in _COMMON_RATIOS:
        if abs(ratio - ca / cb) <= 0.01 * (ca / cb):
            return _ratio_text(ca, cb)
    if a <= 32 and b <= 32:
        return f"{a}:{b}"
    return format_aspect(ratio)


def format_size(n: int, *, above: int | None = None) -> str:
    """A file size in binary units: 5 MB, 7.2 MB, 300 KB, 4 GB. With ``above``, a size just over
    a limit is never shown rounded down to the limit itself ("5.01 MB", not "5 MB")."""
    if n < MB:
        text = f"{max(1, round(n / 1024))} KB" if n >= 1024 else f"{n} bytes"
    elif n < GB:
        text = f"{_trim(n / MB, 1)} MB"
    else:
        text = f"{_trim(n / GB, 1)} GB"
    if above is not None and n > above and text == format_size(above):
        unit, div = ("GB", GB) if n >= GB else ("MB", MB)
        text = f"{_trim(n / div, 2)} {unit}"
        if text == format_size(above):
            text = f"just over {text}"
    return text


def _trim(value: float, digits: int) -> str:
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_duration(seconds: float) -> str:
    """A length of time: "45 seconds", "1.5 seconds", "140 seconds", "3 minutes 5 seconds",
    "15 minutes"."""
    if seconds < 180:
        s = _trim(seconds, 1)
        return f"{s} second" if s == "1" else f"{s} seconds"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    text = f"{minutes} minutes"
    if secs:
        text += f" {secs} second" + ("" if secs == 1 else "s")
    return text


def _or_list(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def post_type_for(platform: Platform, items: Sequence[MediaInfo]) -> PostType:
    """The kind of post a draft becomes on ``platform`` with these attachments: X is always a
    post; Instagram a feed post, a carousel (several items) or a reel (one video); TikTok a
    video, or a photo post when there is no video."""
    videos = sum(1 for i in items if i.kind is MediaKind.VIDEO)
    if platform is Platform.X:
        return PostType.X_POST
    if platform is Platform.INSTAGRAM:
        if len(items) > 1:
            return PostType.INSTAGRAM_CAROUSEL
        return PostType.INSTAGRAM_REEL if videos else PostType.INSTAGRAM_FEED
    return PostType.TIKTOK_VIDEO if videos else PostType.TIKTOK_PHOTO


def check_attachments(platforms: Iterable[Platform], items: Sequence[MediaInfo]) -> list[str]:
    """Problems with a draft's attachments on each platform it targets, labelled by platform;
    nothing to say when there are no attachments."""
    if not items:
        return []
    problems: list[str] = []
    for platform in platforms:
        post_type = post_type_for(platform, items)
        problems.extend(f"{post_type.label}: {p}" if not p.startswith(platform.label) else p
                        for p in check_media(post_type, items))
    return problems
