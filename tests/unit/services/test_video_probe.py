"""Video facts and poster frames (services.video_probe), on small real videos encoded here with
PyAV itself: length, size, codec and frame rate; a poster taken about 10% in, upright and not
blank; cut-short, header-only and garbage-filled files refused with a sentence; and the library's
add path storing a video's length and making its poster."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest
from helpers import run
from PIL import Image

from mbv_desktop.core.errors import InvalidInput, MediaRejected
from mbv_desktop.services.media_check import inspect_file
from mbv_desktop.services.video_probe import make_poster, probe_video

RED = (200, 30, 40)
BLUE = (20, 40, 220)
BLACK = (0, 0, 0)
FPS = 10
FRAMES = 20  # 2 seconds
REPO = Path(__file__).resolve().parents[3]


def _picture(size: tuple[int, int], index: int) -> Image.Image:
    """Black for the first 0.1 s (a fade-in a poster must skip), then red with a blue top-left
    quarter (so rotation can be seen)."""
    if index < 1:
        return Image.new("RGB", size, BLACK)
    img = Image.new("RGB", size, RED)
    img.paste(BLUE, (0, 0, size[0] // 2, size[1] // 2))
    return img


def _encode(path: Path, *, codec: str = "mpeg4", size: tuple[int, int] = (64, 48),
            fmt: str = "mp4", rotation: int = 0, faststart: bool = False) -> Path:
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as out:
        stream: Any = out.add_stream(codec, rate=FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(FRAMES):
            frame = av.VideoFrame.from_image(_picture(size, i))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def _mdat(data: bytes) -> tuple[int, int]:
    """Start and end of the payload of the top-level 'mdat' box."""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"mdat":
            return pos + 8, pos + size
        pos += size
    raise AssertionError("no mdat box")


def _close(pixel: Any, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def _codecs() -> list[tuple[str, str, str]]:
    """(encoder, container, codec name read back) for the encoders this PyAV wheel has."""
    wanted = [("mpeg4", "mp4", "mpeg4"), ("libx264", "mp4", "h264"),
              ("libvpx-vp9", "webm", "vp9")]
    return [w for w in wanted if w[0] in av.codecs_available]


# --- facts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("encoder", "fmt", "codec"), _codecs())
def test_probe_reads_length_size_codec_and_rate(tmp_path: Path, encoder: str, fmt: str,
                                                codec: str) -> None:
    path = _encode(tmp_path / f"clip.{fmt}", codec=encoder, fmt=fmt)
    facts = probe_video(path)
    assert facts.duration_s == pytest.approx(2.0, abs=0.15)
    assert (facts.width, facts.height, facts.codec) == (64, 48, codec)
    assert facts.fps == pytest.approx(10.0)
    assert facts.decoded and facts.rotation == 0


def test_inspect_file_takes_facts_from_ffmpeg_when_asked(tmp_path: Path) -> None:
    if "libvpx-vp9" in av.codecs_available:
        path = _encode(tmp_path / "clip.webm", codec="libvpx-vp9", fmt="webm")
    else:
        path = _encode(tmp_path / "clip.mp4")
    checked = inspect_file(path, decode_video=True)
    assert checked.duration_s == pytest.approx(2.0, abs=0.15)
    assert (checked.width, checked.height) == (64, 48)
    assert checked.media_info().duration_s == checked.duration_s


def test_rotated_video_is_measured_and_shown_upright(tmp_path: Path) -> None:
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display rotation")
    path = _encode(tmp_path / "phone.mp4", size=(64, 48), rotation=90)
    facts = probe_video(path)
    assert (facts.width, facts.height, facts.rotation) == (48, 64, 90)
    assert inspect_file(path, decode_video=True).width == 48
    poster = make_poster(path, tmp_path / "poster.png")
    assert poster is not None
    with Image.open(poster) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (48, 64)
        # Turned a quarter counter-clockwise: the blue top-left quarter is now bottom-left.
        assert _close(rgb.getpixel((5, 58)), BLUE)
        assert _close(rgb.getpixel((5, 5)), RED)


# --- posters ---------------------------------------------------------------------------------


def test_poster_is_a_scaled_frame_from_after_the_fade_in(tmp_path: Path) -> None:
    path = _encode(tmp_path / "wide.mp4", size=(320, 240))
    target = tmp_path / "thumbs" / "ab" / "wide.png"
    assert make_poster(path, target, size=256) == target
    assert not list(target.parent.glob("*.part"))
    with Image.open(target) as img:
        assert img.format == "PNG"
        rgb = img.convert("RGB")
    assert rgb.size == (256, 192)  # 4:3 kept, fitted into 256 x 256
    colours = {rgb.getpixel((x, y)) for x in range(0, 256, 16) for y in range(0, 192, 16)}
    assert len(colours) > 1, "the poster is blank"
    assert _close(rgb.getpixel((200, 150)), RED)  # not the black first frame
    assert _close(rgb.getpixel((40, 40)), BLUE)


def test_small_video_is_not_scaled_up(tmp_path: Path) -> None:
    path = _encode(tmp_path / "tiny.mp4", size=(64, 48))
    poster = make_poster(path, tmp_path / "tiny.png")
    assert poster is not None
    with Image.open(poster) as img:
        assert img.size == (64, 48)


# --- bad files -------------------------------------------------------------------------------


def test_cut_short_video_is_refused_and_gets_no_poster(tmp_path: Path) -> None:
    good = _encode(tmp_path / "good.mp4").read_bytes()  # index ('moov') at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(MediaRejected, match=r'^The file "cut.mp4" is not a video we can read; '
                                            r"it may be damaged, cut short"):
        probe_video(cut)
    assert make_poster(cut, tmp_path / "cut.png") is None
    assert not (tmp_path / "cut.png").exists()


def test_header_without_pictures_is_refused_only_when_decoding(tmp_path: Path) -> None:
    data = _encode(tmp_path / "fast.mp4", faststart=True).read_bytes()
    start, _ = _mdat(data)
    header_only = tmp_path / "header.mp4"
    header_only.write_bytes(data[: start - 8])  # ftyp + moov, nothing to play
    assert inspect_file(header_only).duration_s == pytest.approx(2.0, abs=0.15)  # headers only
    with pytest.raises(MediaRejected, match="none of its pictures could be decoded; it is "
                                            "damaged or mislabelled"):
        inspect_file(header_only, decode_video=True)
    assert make_poster(header_only, tmp_path / "h.png") is None


def test_pictures_replaced_by_garbage_are_refused(tmp_path: Path) -> None:
    data = bytearray(_encode(tmp_path / "fast.mp4", faststart=True).read_bytes())
    start, end = _mdat(bytes(data))
    data[start:end] = bytes(end - start)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match=r'^The file "broken.mp4" says it is an MP4 or MOV '
                                           r"video, but none of its pictures could be decoded"):
        probe_video(broken)
    assert make_poster(broken, tmp_path / "b.png") is None


def test_text_is_not_a_video(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("shopping list: eggs, milk\n" * 20)
    with pytest.raises(MediaRejected, match="not a video we can read"):
        probe_video(fake)
    assert make_poster(fake, tmp_path / "n.png") is None
    assert make_poster(tmp_path / "missing.mp4", tmp_path / "m.png") is None


def test_sound_only_mp4_has_no_video(tmp_path: Path) -> None:
    path = tmp_path / "voice memo.mp4"
    with av.open(str(path), "w", format="mp4") as out:
        stream: Any = out.add_stream("aac", rate=8000)
        stream.layout = "mono"
        for i in range(4):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.sample_rate, frame.pts = 8000, i * 1024
            frame.planes[0].update(bytes(frame.planes[0].buffer_size))
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(MediaRejected, match=r'^The file "voice memo.mp4" has no video in it, '
                                            r"only sound\.$"):
        inspect_file(path, decode_video=True)
    assert make_poster(path, tmp_path / "v.png") is None


# --- the library -----------------------------------------------------------------------------


def test_library_stores_the_length_and_makes_a_poster(services: Any, tmp_path: Path,
                                                      data_dir: Path) -> None:
    path = _encode(tmp_path / "Holiday clip.mp4", size=(320, 240))
    library = services.library

    async def scenario() -> tuple[Any, Any, Path | None, Path | None]:
        [added] = await library.add_files([path])
        items = await library.items()
        first = await library.thumbnail(added.asset)
        again = await library.thumbnail(added.asset)
        return added, items, first, again

    added, items, poster, again = run(scenario())
    assert added.error is None
    assert added.asset.kind == "video"
    assert added.asset.duration_s == pytest.approx(2.0, abs=0.15)
    assert added.duration_s == added.asset.duration_s
    assert (added.asset.width, added.asset.height) == (320, 240)
    [item] = items
    assert item.asset.duration_s == added.asset.duration_s
    assert item.media_info().duration_s == added.asset.duration_s
    assert poster is not None and poster == again
    assert poster.is_relative_to(data_dir / "thumbnails")
    with Image.open(poster) as img:
        assert img.size == (256, 192)


def test_library_refuses_text_and_broken_video_with_a_sentence(services: Any,
                                                               tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 20)
    data = bytearray(_encode(tmp_path / "fast.mp4", faststart=True).read_bytes())
    start, end = _mdat(bytes(data))
    data[start:end] = b"\xff" * (end - start)
    broken = tmp_path / "party.mp4"
    broken.write_bytes(bytes(data))

    results = run(services.library.add_files([fake, broken]))
    assert [r.asset for r in results] == [None, None]
    assert results[0].error == (
        'The file "clip.mp4" is not an image or video we can use (it looks like a text file). '
        "Use JPEG, PNG, WebP, GIF or HEIC photos, or MP4, MOV or WebM videos.")
    assert results[1].error == (
        'The file "party.mp4" says it is an MP4 or MOV video, but none of its pictures could be '
        "decoded; it is damaged or mislabelled.")
    assert run(services.library.items()) == []


def test_importing_the_services_does_not_import_av() -> None:
    code = ("import sys, mbv_desktop.services.library, mbv_desktop.services.media_check, "
            "mbv_desktop.services.video_probe; print('av' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_adding_again_fills_in_a_length_that_was_missing(services: Any) -> None:
    from datetime import UTC, datetime

    from mbv_desktop.store.assets import AssetRepository

    def add(duration_s: float | None) -> Any:
        return lambda c: AssetRepository(c).add(
            sha256="ab" * 32, kind="video", mime="video/mp4", ext="mp4", size=10, width=None,
            height=None, source="imported", at=datetime.now(UTC), duration_s=duration_s)

    async def scenario() -> list[Any]:
        worker = services.worker
        return [await worker.call(add(None)), await worker.call(add(12.5)),
                await worker.call(add(3.0))]

    first, filled, kept = run(scenario())
    assert first.duration_s is None
    assert filled.id == first.id and filled.duration_s == 12.5
    assert kept.duration_s == 12.5  # a known length is not overwritten
