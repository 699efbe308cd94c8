"""Video facts and poster frames, read with PyAV (the FFmpeg libraries bundled in its wheel).

:func:`probe_video` opens a video, reads its length, picture size, codec and frame rate, and
decodes its first picture to prove that it really is a playable video (and to learn the display
rotation, which FFmpeg hands over with decoded frames). A file FFmpeg cannot open, one without a
video stream, and one none of whose pictures decodes is refused with a
:class:`~mbv_desktop.core.errors.MediaRejected` naming the file. A codec this FFmpeg has no
decoder for is not a reason to refuse: the facts are returned with ``decoded=False``.

:func:`make_poster` writes a small PNG of one picture about 10% into the video (1 s in when the
length is unknown), turned upright and scaled to fit a square, replacing the target atomically.
It returns None for anything it cannot read; it never raises for a bad file.

Both bound their work: probing reads at most a few MB, opening and reading give up after a few
seconds (``av.open``'s timeout), decoding stops after a fixed number of packets or seconds, and
pictures over Pillow's default pixel cap are not decoded. Both block: run them in a worker
thread. ``av`` is imported inside the functions, because importing it takes time the app's
start does not have.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.core.errors import MediaRejected

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame
    from av.video.stream import VideoStream
    from PIL import Image

__all__ = ["POSTER_SIZE", "VideoFacts", "make_poster", "probe_video"]

log = logging.getLogger(__name__)

POSTER_SIZE = 256
MAX_PIXELS = 89_478_485  # per picture: Pillow's default Image.MAX_IMAGE_PIXELS, as for photos
OPEN_TIMEOUT_S = 10.0  # av.open: opening, and each read, gives up after this long
DECODE_BUDGET_S = 10.0  # wall time for demuxing and decoding one picture
MAX_PACKETS = 600  # video packets read while looking for one picture
POSTER_AT = 0.10  # the poster is taken this far into the video...
POSTER_FALLBACK_S = 1.0  # ...or this many seconds in when its length is unknown
_PROBE_OPTIONS = {"probesize": str(4 * 2**20), "analyzeduration": str(3_000_000)}


@dataclass(frozen=True)
class VideoFacts:
    """What FFmpeg says about a video.

    ``width``/``height`` are as displayed: after the display rotation and the pixel aspect
    ratio; None when unknown. ``codec`` is FFmpeg's short name (``"h264"``, ``"hevc"``,
    ``"vp9"``, ``"av1"``, ``"mpeg4"``). ``rotation`` is the display rotation in degrees
    counter-clockwise (0, 90, 180 or 270). ``decoded`` says whether a picture was decoded; it is
    False only when this FFmpeg has no decoder for the codec (or ``decode=False`` was asked).
    """

    duration_s: float | None
    width: int | None
    height: int | None
    codec: str | None
    fps: float | None = None
    rotation: int = 0
    decoded: bool = False


def _named(name: str) -> str:
    return f'The file "{name}"'


def _unreadable(name: str) -> MediaRejected:
    return MediaRejected(f"{_named(name)} is not a video we can read; it may be damaged, cut "
                         "short, or not really a video.")


def _undecodable(name: str, container: str) -> MediaRejected:
    return MediaRejected(f"{_named(name)} says it is {container} video, but none of its pictures "
                         "could be decoded; it is damaged or mislabelled.")


def _container_label(format_name: str) -> str:
    if "webm" in format_name or "matroska" in format_name:
        return "a WebM"
    if "mov" in format_name or "mp4" in format_name:
        return "an MP4 or MOV"
    return "a"  # "says it is a video"


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[InputContainer]:
    """The file opened for reading with bounded probing and a timeout on opening and reads."""
    import av

    container = av.open(str(path), mode="r", options=dict(_PROBE_OPTIONS),
                        timeout=(OPEN_TIMEOUT_S, OPEN_TIMEOUT_S))
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: InputContainer) -> VideoStream | None:
    streams = list(container.streams.video)
    if not streams:
        return None
    # Cover art in MP4/MOV is an "attached picture" video stream; prefer a real one.
    real = [s for s in streams if not int(getattr(s, "disposition", 0)) & 0x400]  # attached pic
    return (real or streams)[0]


def _duration(container: InputContainer, stream: VideoStream) -> float | None:
    import av

    seconds: float | None = None
    if container.duration and container.duration > 0:
        seconds = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


def _fps(stream: VideoStream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            value = float(rate)
            if math.isfinite(value) and 0 < value < 1000:
                return value
    return None


def _codec(stream: VideoStream) -> str | None:
    context = stream.codec_context
    if context is None:
        return None
    return context.codec.canonical_name or context.name or None


def _pixel_aspect(stream: VideoStream) -> Fraction:
    sar = stream.sample_aspect_ratio
    if sar is None or sar <= 0:
        return Fraction(1)
    return Fraction(sar)


def _quarter_turns(degrees: float | int | None) -> int:
    """A display rotation rounded to quarter turns, as 0, 90, 180 or 270 counter-clockwise."""
    if not degrees or not math.isfinite(degrees):
        return 0
    return (round(degrees / 90) * 90) % 360


def _display_size(width: int, height: int, sar: Fraction, rotation: int) -> tuple[int, int]:
    if sar != 1:
        width = max(1, round(width * sar))
    return (height, width) if rotation in (90, 270) else (width, height)


def _check_pixels(width: int, height: int, name: str) -> None:
    if width * height > MAX_PIXELS:
        raise MediaRejected(
            f"{_named(name)} has {round(width * height / 1_000_000):,} megapixels per picture, "
            f"more than the {MAX_PIXELS // 1_000_000} allowed.")


def _decode_one(container: InputContainer, stream: VideoStream, *, from_s: float | None,
                deadline: float) -> VideoFrame | None:
    """The first picture at or after ``from_s`` seconds (the last one decoded before the end,
    if none is that late), reading at most :data:`MAX_PACKETS` packets until ``deadline``.

    Damaged packets are skipped; a read error ends the search with what was found so far. A
    missing decoder raises ``av.error.DecoderNotFoundError``.
    """
    import av

    best: VideoFrame | None = None
    packets = 0
    try:
        for packet in container.demux(stream):
            packets += 1
            if packets > MAX_PACKETS or time.monotonic() > deadline:
                break
            try:
                frames = packet.decode()
            except av.error.DecoderNotFoundError:
                raise
            except (av.error.FFmpegError, ValueError):
                continue  # a damaged packet: the next keyframe may still decode
            for frame in frames:
                best = frame
                if from_s is None or frame.time is None or frame.time >= from_s - 0.001:
                    return best
    except av.error.DecoderNotFoundError:
        raise
    except (av.error.FFmpegError, ValueError, EOFError):
        pass  # cut short mid-way: keep what decoded
    if best is None and stream.codec_context is not None:
        # Stopped early (cut short, or out of budget): the decoder may still hold pictures.
        with contextlib.suppress(av.error.FFmpegError, ValueError, EOFError):
            for frame in stream.codec_context.decode(None):
                return frame
    return best


def probe_video(path: Path, *, name: str | None = None, decode: bool = True) -> VideoFacts:
    """The length, displayed size, codec and frame rate of the video at ``path``.

    With ``decode`` (the default) the first picture is decoded too: a video none of whose
    pictures decodes is refused, and the display rotation is read. ``name`` is how the file is
    named in refusals (default: its file name). Raises :class:`MediaRejected` for a file that is
    not a readable video. Blocking.
    """
    import av

    path = Path(path)
    name = name or path.name
    try:
        with _opened(path) as container:
            stream = _video_stream(container)
            if stream is None and container.streams.audio:
                raise MediaRejected(f"{_named(name)} has no video in it, only sound.")
            if stream is None:  # e.g. an MP4 cut short before its index
                raise _unreadable(name)
            duration = _duration(container, stream)
            codec = _codec(stream)
            fps = _fps(stream)
            sar = _pixel_aspect(stream)
            context = stream.codec_context
            width = (context.width if context is not None else 0) or 0
            height = (context.height if context is not None else 0) or 0
            if width and height:
                _check_pixels(width, height, name)
            rotation = 0
            decoded = False
            if decode and context is not None:
                try:
                    frame = _decode_one(container, stream, from_s=None,
                                        deadline=time.monotonic() + DECODE_BUDGET_S)
                except av.error.DecoderNotFoundError:
                    frame = None
                    log.info("no decoder for %s in this FFmpeg; %s not decoded", codec, name)
                else:
                    if frame is None:
                        raise _undecodable(name, _container_label(container.format.name))
                    decoded = True
                    width, height = frame.width, frame.height
                    _check_pixels(width, height, name)
                    rotation = _quarter_turns(getattr(frame, "rotation", 0))
    except MediaRejected:
        raise
    except av.error.ExitError:
        raise MediaRejected(f"{_named(name)} took too long to read; it may be damaged.") from None
    except (av.error.FFmpegError, OSError, ValueError, EOFError, IndexError, MemoryError):
        raise _unreadable(name) from None
    if width and height:
        shown_w, shown_h = _display_size(width, height, sar, rotation)
        return VideoFacts(duration, shown_w, shown_h, codec, fps, rotation, decoded)
    return VideoFacts(duration, None, None, codec, fps, rotation, decoded)


def _fit(width: int, height: int, size: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit a ``size`` square, keeping its shape, never up."""
    scale = min(1.0, size / width, size / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _poster_image(frame: VideoFrame, sar: Fraction, size: int) -> Image.Image:
    from PIL import Image

    rotation = _quarter_turns(getattr(frame, "rotation", 0))
    shown_w, shown_h = _display_size(frame.width, frame.height, sar, 0)
    out_w, out_h = _fit(shown_w, shown_h, size)
    image = frame.to_image(width=out_w, height=out_h, interpolation="AREA")
    turn = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_270}.get(rotation)
    return image.transpose(turn) if turn is not None else image


def _save_png_atomically(image: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, raw = tempfile.mkstemp(dir=target.parent, prefix=".poster-", suffix=".part")
    tmp = Path(raw)
    try:
        with os.fdopen(fd, "wb") as out:
            image.save(out, "PNG")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def make_poster(path: Path, target_png: Path, size: int = POSTER_SIZE) -> Path | None:
    """Write a poster frame of the video at ``path`` to ``target_png``; its path, or None.

    The picture is taken about 10% into the video (1 s in when its length is unknown; the first
    picture when that fails), turned upright, scaled to fit ``size`` x ``size`` (never up) and
    saved as PNG through a temporary file, so the target is never half written. Never raises for
    a bad or unreadable video. Blocking.
    """
    import av

    path, target_png = Path(path), Path(target_png)
    deadline = time.monotonic() + DECODE_BUDGET_S
    try:
        with _opened(path) as container:
            stream = _video_stream(container)
            if stream is None:
                return None
            context = stream.codec_context
            if context is not None and context.width * context.height > MAX_PIXELS:
                return None
            duration = _duration(container, stream)
            at = duration * POSTER_AT if duration else POSTER_FALLBACK_S
            frame: VideoFrame | None = None
            if at > 0:
                with contextlib.suppress(av.error.FFmpegError, ValueError, OverflowError):
                    if stream.time_base:
                        start = stream.start_time or 0  # timestamps need not start at 0
                        container.seek(start + int(at / stream.time_base), stream=stream)
                        at += float(start * stream.time_base)
                    else:
                        container.seek(int(at * av.time_base))
                    frame = _decode_one(container, stream, from_s=at, deadline=deadline)
            if frame is None:  # no length, past the end, or a file that cannot seek
                container.seek(0)
                frame = _decode_one(container, stream, from_s=None, deadline=deadline)
            if frame is None:
                return None
            if frame.width * frame.height > MAX_PIXELS:
                return None
            image = _poster_image(frame, _pixel_aspect(stream), size)
        _save_png_atomically(image, target_png)
    except (av.error.FFmpegError, OSError, ValueError, EOFError, IndexError, MemoryError) as exc:
        log.info("no poster frame for %s: %s", path.name, exc)
        return None
    return target_png
