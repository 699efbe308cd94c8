"""Per-platform media rules: plain sentences for what does not fit, nothing when it fits, and
honest "confirmed" flags."""

from __future__ import annotations

import dataclasses

import pytest

from mbv_desktop.core.media_rules import (
    MB,
    RULES,
    KindRules,
    MediaInfo,
    MediaKind,
    PostRules,
    PostType,
    check_media,
    check_media_problems,
    format_aspect,
    format_duration,
    format_ratio,
    format_size,
    rules_for,
)
from mbv_desktop.core.platforms import Platform

IMG = MediaKind.IMAGE
VID = MediaKind.VIDEO


def jpeg(w: int = 1080, h: int = 1080, size: int = 500_000) -> MediaInfo:
    return MediaInfo("image/jpeg", IMG, size, w, h)


def png(w: int = 1080, h: int = 1080, size: int = 500_000) -> MediaInfo:
    return MediaInfo("image/png", IMG, size, w, h)


def mp4(w: int = 1080, h: int = 1920, seconds: float = 20.0, size: int = 20 * MB,
        codec: str | None = "h264") -> MediaInfo:
    return MediaInfo("video/mp4", VID, size, w, h, seconds, codec)


# --- the table -------------------------------------------------------------------------------


def test_every_post_type_has_sane_rules() -> None:
    assert set(RULES) == set(PostType)
    kind_fields = {f.name for f in dataclasses.fields(KindRules)}
    post_fields = {f.name for f in dataclasses.fields(PostRules)}
    for post_type, rules in RULES.items():
        assert rules.post_type is post_type
        assert 0 <= rules.min_items <= rules.max_items
        assert rules.image is not None or rules.video is not None
        assert rules.unverified <= post_fields
        for kind in (rules.image, rules.video):
            if kind is None:
                continue
            assert kind.formats
            assert kind.unverified <= kind_fields
            if kind.min_aspect is not None and kind.max_aspect is not None:
                assert kind.min_aspect < kind.max_aspect
            if kind.min_duration_s is not None and kind.max_duration_s is not None:
                assert kind.min_duration_s < kind.max_duration_s


def test_platforms_and_labels() -> None:
    assert PostType.X_POST.platform is Platform.X
    assert PostType.INSTAGRAM_REEL.platform is Platform.INSTAGRAM
    assert PostType.TIKTOK_VIDEO.platform is Platform.TIKTOK
    assert PostType.INSTAGRAM_CAROUSEL.label == "Instagram carousel"
    assert rules_for(PostType("x_post")) is RULES[PostType.X_POST]


def test_confirmed_flags_follow_the_provider_notes() -> None:
    x = RULES[PostType.X_POST]
    assert x.image is not None and x.video is not None
    assert x.image.is_confirmed("max_bytes") and x.image.byte_limit("image/gif") == 15 * MB
    assert x.video.is_confirmed("max_bytes") and x.video.max_bytes == 512 * MB
    assert x.video.is_confirmed("max_duration_s") and x.video.max_duration_s == 140
    assert x.is_confirmed("max_items") and x.max_items == 4
    assert not x.video.is_confirmed("min_aspect")
    carousel = RULES[PostType.INSTAGRAM_CAROUSEL]
    assert carousel.max_items == 10 and not carousel.is_confirmed("max_items")
    assert any("20" in note for note in carousel.notes)
    assert not carousel.confirmed
    feed = RULES[PostType.INSTAGRAM_FEED]
    assert feed.image is not None and not feed.image.is_confirmed("min_aspect")


# --- X ---------------------------------------------------------------------------------------


def test_x_fits() -> None:
    assert check_media(PostType.X_POST, []) == []
    assert check_media(PostType.X_POST, [png(), jpeg(), png(), jpeg()]) == []
    assert check_media(PostType.X_POST, [mp4(1280, 720, 30.0)]) == []


def test_x_too_many_images() -> None:
    assert check_media(PostType.X_POST, [jpeg()] * 5) == [
        "X takes at most 4 images per post; there are 5."]


def test_x_video_must_be_alone() -> None:
    problems = check_media(PostType.X_POST, [mp4(1280, 720), jpeg()])
    assert problems == ["X takes either up to 4 images or a single video or GIF per post; this "
                        "post has a video and 1 other item."]
    gif = MediaInfo("image/gif", IMG, 2 * MB, 400, 300)
    assert "has a GIF and 2 other items" in check_media(PostType.X_POST, [gif, jpeg(), jpeg()])[0]


def test_x_sizes_and_length() -> None:
    assert check_media(PostType.X_POST, [jpeg(size=7 * MB)]) == [
        "X images can be at most 5 MB; this one is 7 MB."]
    gif = MediaInfo("image/gif", IMG, 20 * MB, 400, 300)
    assert check_media(PostType.X_POST, [gif]) == [
        "X GIFs can be at most 15 MB; this one is 20 MB."]
    assert check_media(PostType.X_POST, [MediaInfo("image/gif", IMG, 10 * MB, 400, 300)]) == []
    long_video = mp4(1280, 720, 185.0)
    assert check_media(PostType.X_POST, [long_video]) == [
        "X videos can be at most 140 seconds long; this one is 3 minutes 5 seconds."]
    problems = check_media_problems(PostType.X_POST, [long_video])
    assert problems[0].confirmed and problems[0].item == 0


def test_x_unverified_limits_are_marked() -> None:
    tall = mp4(200, 1000, 10.0)
    problems = check_media_problems(PostType.X_POST, [tall])
    assert [p.message for p in problems] == [
        "X videos must be between 1:3 and 3:1; this one is 1:5."]
    assert problems[0].confirmed is False


# --- Instagram -------------------------------------------------------------------------------


def test_instagram_feed() -> None:
    assert check_media(PostType.INSTAGRAM_FEED, [jpeg(1080, 1350)]) == []
    assert check_media(PostType.INSTAGRAM_FEED, [jpeg(1080, 566)]) == []  # 1.908:1 rounds to 1.91
    assert check_media(PostType.INSTAGRAM_FEED, [jpeg(1080, 1920)]) == [
        "Instagram feed photos must be between 4:5 and 1.91:1; this one is 9:16."]
    assert check_media(PostType.INSTAGRAM_FEED, [png()]) == [
        "Instagram feed photos must be JPEG; this one is PNG."]
    assert check_media(PostType.INSTAGRAM_FEED, []) == [
        "An Instagram feed post needs a photo; none is attached."]
    assert check_media(PostType.INSTAGRAM_FEED, [mp4()]) == [
        "An Instagram feed post takes only photos; this one is a video (single videos go out "
        "as reels)."]
    assert check_media(PostType.INSTAGRAM_FEED, [jpeg(), jpeg()])[0] == (
        "An Instagram feed post takes only one photo; there are 2.")


def test_instagram_carousel_counts_and_mixes() -> None:
    assert check_media(PostType.INSTAGRAM_CAROUSEL, [jpeg(), mp4(1080, 1350, 30.0)]) == []
    assert check_media(PostType.INSTAGRAM_CAROUSEL, [jpeg()]) == [
        "An Instagram carousel needs at least 2 items; there is 1."]
    too_many = check_media_problems(PostType.INSTAGRAM_CAROUSEL, [jpeg()] * 11)
    assert too_many[0].message == "An Instagram carousel takes at most 10 items; there are 11."
    assert too_many[0].confirmed is False
    problems = check_media(PostType.INSTAGRAM_CAROUSEL, [jpeg(), jpeg(1080, 1920)])
    assert problems == ["Instagram carousel photos must be between 4:5 and 1.91:1; item 2 is 9:16."]


def test_instagram_reel_and_story() -> None:
    assert check_media(PostType.INSTAGRAM_REEL, [mp4()]) == []
    assert check_media(PostType.INSTAGRAM_REEL, [mp4(seconds=1.5)]) == [
        "Instagram reels must be at least 3 seconds long; this one is 1.5 seconds."]
    assert check_media(PostType.INSTAGRAM_REEL, [mp4(seconds=16 * 60)]) == [
        "Instagram reels can be at most 15 minutes long; this one is 16 minutes."]
    assert check_media(PostType.INSTAGRAM_REEL, [mp4(codec="vp9")]) == [
        "Instagram reels must be encoded as H.264 or HEVC; this one is VP9."]
    assert check_media(PostType.INSTAGRAM_REEL, [jpeg()])[0].startswith(
        "An Instagram reel takes only videos; this one is a photo")
    assert check_media(PostType.INSTAGRAM_STORY, [jpeg(1080, 1920)]) == []
    assert check_media(PostType.INSTAGRAM_STORY, [mp4(seconds=90)]) == [
        "Instagram story videos can be at most 60 seconds long; this one is 90 seconds."]


def test_unknown_measurements_are_not_guessed() -> None:
    unknown = MediaInfo("video/mp4", VID, MB)
    assert check_media(PostType.INSTAGRAM_REEL, [unknown]) == []


# --- TikTok ----------------------------------------------------------------------------------


def test_tiktok_video() -> None:
    assert check_media(PostType.TIKTOK_VIDEO, [mp4()]) == []
    webm = MediaInfo("video/webm", VID, 5 * MB, 720, 1280, 30.0, "vp9")
    assert check_media(PostType.TIKTOK_VIDEO, [webm]) == []
    assert check_media(PostType.TIKTOK_VIDEO, [mp4(), mp4()]) == [
        "A TikTok video post takes only one video; there are 2."]
    assert check_media(PostType.TIKTOK_VIDEO, [mp4(200, 300)]) == [
        "TikTok videos must be at least 360 pixels wide; this one is 200.",
        "TikTok videos must be at least 360 pixels high; this one is 300.",
    ]
    assert check_media(PostType.TIKTOK_VIDEO, [mp4(size=5 * 2**30)]) == [
        "TikTok videos can be at most 4 GB; this one is 5 GB."]


def test_tiktok_account_limit_replaces_the_table() -> None:
    video = mp4(seconds=90.0)
    assert check_media(PostType.TIKTOK_VIDEO, [video]) == []
    problems = check_media_problems(PostType.TIKTOK_VIDEO, [video], max_video_duration_s=60)
    assert [p.message for p in problems] == [
        "TikTok videos can be at most 60 seconds long for this account; this one is 90 seconds."]
    assert problems[0].confirmed is True


def test_tiktok_photo() -> None:
    assert check_media(PostType.TIKTOK_PHOTO, [jpeg(1080, 1920)] * 3) == []
    assert check_media(PostType.TIKTOK_PHOTO, [png(1080, 1920)]) == [
        "TikTok photos must be JPEG or WebP; this one is PNG."]


# --- wording ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (0.8, "4:5"), (1.91, "1.91:1"), (9 / 16, "9:16"), (0.01, "1:100"), (10.0, "10:1"),
    (1 / 3, "1:3"), (2.4, "2.4:1"),
])
def test_format_aspect(value: float, text: str) -> None:
    assert format_aspect(value) == text


def test_format_ratio_size_duration() -> None:
    assert format_ratio(1080, 1920) == "9:16"
    assert format_ratio(1000, 700) == "10:7"
    assert format_ratio(1000, 0) == "unknown"
    assert format_size(5 * MB) == "5 MB"
    assert format_size(int(7.25 * MB)) == "7.2 MB"
    assert format_size(300 * 1024) == "300 KB"
    assert format_size(5 * MB + 1, above=5 * MB) == "just over 5 MB"
    assert format_size(int(5.004 * MB), above=5 * MB) == "just over 5 MB"
    assert format_size(int(5.02 * MB), above=5 * MB) == "5.02 MB"
    assert format_duration(1) == "1 second"
    assert format_duration(140) == "140 seconds"
    assert format_duration(600) == "10 minutes"
    assert format_duration(181) == "3 minutes 1 second"


def test_post_type_follows_the_attachments_and_problems_name_the_platform() -> None:
    from mbv_desktop.core.media_rules import (
        MediaInfo,
        MediaKind,
        PostType,
        check_attachments,
        post_type_for,
    )
    from mbv_desktop.core.platforms import Platform

    photo = MediaInfo("image/jpeg", MediaKind.IMAGE, 300_000, 1080, 1350)
    video = MediaInfo("video/mp4", MediaKind.VIDEO, 5_000_000, 1080, 1920, 20.0)
    assert post_type_for(Platform.INSTAGRAM, [photo]) is PostType.INSTAGRAM_FEED
    assert post_type_for(Platform.INSTAGRAM, [photo, photo]) is PostType.INSTAGRAM_CAROUSEL
    assert post_type_for(Platform.INSTAGRAM, [video]) is PostType.INSTAGRAM_REEL
    assert post_type_for(Platform.TIKTOK, [photo]) is PostType.TIKTOK_PHOTO
    assert check_attachments([Platform.X], []) == []
    problems = check_attachments([Platform.X, Platform.INSTAGRAM], [photo] * 5)
    assert any("X" in p and "at most 4" in p for p in problems)
    assert not any("Instagram" in p for p in problems)
