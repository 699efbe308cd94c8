"""Checking one media file (reliability.md 26-27): a corpus generated here, never committed —
normal photos, an empty file, a cut-short JPEG, a PNG named .jpg, a program named .png, a web page
named .jpg, pixel bombs, an oversized file, hand-built MP4/MOV/WebM/HEIC files and hostile
names."""

from __future__ import annotations

import io
import os
import re
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from mbv_desktop.core.errors import InvalidInput, MediaRejected
from mbv_desktop.core.media_rules import MediaKind, PostType, check_media
from mbv_desktop.services import media_check
from mbv_desktop.services.media_check import (
    ALLOWED,
    clean_file_name,
    describe_non_media,
    inspect_file,
    normalized_copy,
    sniff,
)

NAME_RE = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
GPS = {1: "N", 2: (52.0, 22.0, 0.0), 3: "E", 4: (4.0, 53.0, 0.0)}


# --- corpus builders -------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _image_bytes(fmt: str, size: tuple[int, int] = (64, 32), *, orientation: int | None = None,
                 gps: bool = False, mode: str = "RGB") -> bytes:
    img = Image.new(mode, size, "red" if mode == "RGB" else 1)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = GPS
    out = io.BytesIO()
    kwargs = {"exif": exif} if (orientation is not None or gps) else {}
    img.save(out, fmt, **kwargs)
    return out.getvalue()


def _noisy_jpeg(size: int = 256) -> bytes:
    img = Image.effect_noise((size, size), 80).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def _bomb_png(side: int) -> bytes:
    """A valid 1-bit black PNG of side x side pixels, built row by row (a few KB)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))


def _box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full(kind: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return _box(kind, bytes([version]) + flags.to_bytes(3, "big") + payload)


IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
ROTATE_90 = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def _mp4(*, brand: bytes = b"isom", duration_ms: int = 12_500, size: tuple[int, int] = (1280, 720),
         matrix: tuple[int, ...] = IDENTITY, mvhd_version: int = 0, codec: bytes = b"avc1",
         gps: bool = False, audio_first: bool = True) -> bytes:
    """ftyp + moov(mvhd, trak(tkhd, mdia(hdlr, minf(stbl(stsd)))), udta) + a small mdat."""
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")
    rest = (struct.pack(">IH", 0x10000, 0x100) + b"\x00" * 10
            + struct.pack(">9i", *IDENTITY) + b"\x00" * 24 + struct.pack(">I", 3))
    if mvhd_version == 1:
        mvhd = _full(b"mvhd", 1, 0, struct.pack(">QQIQ", 0, 0, 1000, duration_ms) + rest)
    else:
        mvhd = _full(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, 1000, duration_ms) + rest)

    def trak(handler: bytes, width: int, height: int, fourcc: bytes, track_id: int) -> bytes:
        tkhd = _full(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, track_id, 0, duration_ms)
                     + b"\x00" * 8 + struct.pack(">hhhH", 0, 0, 0, 0)
                     + struct.pack(">9i", *matrix) + struct.pack(">II", width << 16, height << 16))
        hdlr = _full(b"hdlr", 0, 0, b"\x00" * 4 + handler + b"\x00" * 12 + b"\x00")
        stsd = _full(b"stsd", 0, 0, struct.pack(">I", 1) + _box(fourcc, b"\x00" * 78))
        mdia = _box(b"mdia", hdlr + _box(b"minf", _box(b"stbl", stsd)))
        return _box(b"trak", tkhd + mdia)

    tracks = trak(b"vide", *size, codec, 1)
    if audio_first:
        tracks = trak(b"soun", 0, 0, b"mp4a", 2) + tracks
    udta = _box(b"udta", _box(b"\xa9xyz", b"\x00\x11\x15\xc7+52.3700+004.8900/")) if gps else b""
    moov = _box(b"moov", mvhd + tracks + udta)
    return ftyp + moov + _box(b"mdat", b"\x00" * 256)


def _ebml(element_id: int, data: bytes) -> bytes:
    id_bytes = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    assert len(data) < 127  # one-byte sizes are enough here
    size = bytes([0x80 | len(data)])
    return id_bytes + size + data


def _webm(doctype: bytes = b"webm") -> bytes:
    header = _ebml(0x1A45DFA3, _ebml(0x4286, b"\x01") + _ebml(0x4282, doctype))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big"))
                 + _ebml(0x4489, struct.pack(">d", 5500.0)))
    video = _ebml(0xE0, _ebml(0xB0, (640).to_bytes(2, "big"))
                  + _ebml(0xBA, (360).to_bytes(2, "big")))
    track = _ebml(0xAE, _ebml(0xD7, b"\x01") + _ebml(0x83, b"\x01") + _ebml(0x86, b"V_VP9") + video)
    cluster = _ebml(0x1F43B675, _ebml(0xE7, b"\x00") + b"\x00" * 40)
    segment_body = info + _ebml(0x1654AE6B, track) + cluster
    segment = bytes.fromhex("18538067") + b"\x01\xff\xff\xff\xff\xff\xff\xff" + segment_body
    return header + segment


def _heic(width: int = 4032, height: int = 3024, rotation: int = 1) -> bytes:
    ftyp = _box(b"ftyp", b"heic" + b"\x00" * 4 + b"mif1heic")
    hdlr = _full(b"hdlr", 0, 0, b"\x00" * 4 + b"pict" + b"\x00" * 13)
    pitm = _full(b"pitm", 0, 0, struct.pack(">H", 1))
    thumb = _full(b"ispe", 0, 0, struct.pack(">II", 320, 240))
    ispe = _full(b"ispe", 0, 0, struct.pack(">II", width, height))
    irot = _box(b"irot", bytes([rotation]))
    ipco = _box(b"ipco", thumb + ispe + irot)
    ipma = _full(b"ipma", 0, 0, struct.pack(">I", 2) + struct.pack(">HB", 1, 2) + bytes([0x82, 3])
                 + struct.pack(">HB", 2, 1) + bytes([1]))
    meta = _full(b"meta", 0, 0, hdlr + pitm + _box(b"iprp", ipco + ipma))
    return ftyp + meta + _box(b"mdat", b"\x00" * 64)


# --- images ----------------------------------------------------------------------------------


def test_jpeg_with_orientation_and_gps_is_measured_upright(tmp_path: Path) -> None:
    path = _write(tmp_path / "holiday.jpg", _image_bytes("JPEG", orientation=6, gps=True))
    checked = inspect_file(path)
    assert (checked.mime, checked.ext, checked.kind) == ("image/jpeg", "jpg", MediaKind.IMAGE)
    assert (checked.width, checked.height) == (32, 64)  # stored 64 x 32, displayed rotated
    assert checked.orientation == 6
    assert checked.has_gps is True
    assert checked.size == path.stat().st_size
    import hashlib
    assert checked.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert checked.original_name == "holiday.jpg"
    info = checked.media_info()
    assert (info.width, info.height, info.duration_s) == (32, 64, None)


@pytest.mark.parametrize(("fmt", "mime", "ext"), [
    ("PNG", "image/png", "png"), ("WEBP", "image/webp", "webp"), ("GIF", "image/gif", "gif"),
])
def test_other_image_formats(tmp_path: Path, fmt: str, mime: str, ext: str) -> None:
    checked = inspect_file(_write(tmp_path / f"pic.{ext}", _image_bytes(fmt, (40, 30))))
    assert (checked.mime, checked.ext, checked.width, checked.height) == (mime, ext, 40, 30)
    assert checked.has_gps is False
    assert checked.orientation == 1


def test_png_named_jpg_is_accepted_as_png(tmp_path: Path) -> None:
    checked = inspect_file(_write(tmp_path / "photo.jpg", _image_bytes("PNG")))
    assert (checked.mime, checked.ext) == ("image/png", "png")
    assert checked.original_name == "photo.jpg"  # kept as metadata only


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match=r'^The file "empty.png" is empty\.$'):
        inspect_file(_write(tmp_path / "empty.png", b""))


def test_media_rejected_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        inspect_file(_write(tmp_path / "e.jpg", b""))


def test_truncated_jpeg_is_damaged(tmp_path: Path) -> None:
    data = _noisy_jpeg()
    path = _write(tmp_path / "cut.jpg", data[: len(data) // 2])
    with pytest.raises(MediaRejected, match="is damaged or cut short"):
        inspect_file(path)


def test_truncated_png_is_damaged(tmp_path: Path) -> None:
    data = _image_bytes("PNG", (200, 200))
    with pytest.raises(MediaRejected, match="is damaged or cut short"):
        inspect_file(_write(tmp_path / "cut.png", data[:-30]))


def test_windows_program_named_png(tmp_path: Path) -> None:
    fake = (b"MZ\x90\x00\x03" + b"\x00" * 59 + b"This program cannot be run in DOS mode."
            + b"\x00" * 200)
    with pytest.raises(MediaRejected) as caught:
        inspect_file(_write(tmp_path / "cute-cat.png", fake))
    message = str(caught.value)
    assert message.startswith('The file "cute-cat.png" is not an image or video we can use '
                              "(it looks like a Windows program).")


def test_html_named_jpg(tmp_path: Path) -> None:
    page = b"\xef\xbb\xbf  <!DOCTYPE html><html><script>alert(1)</script></html>"
    with pytest.raises(MediaRejected, match=r"looks like a web page \(HTML\)"):
        inspect_file(_write(tmp_path / "selfie.jpg", page))


@pytest.mark.parametrize(("head", "what"), [
    (b"\x7fELF\x02\x01\x01", "a Linux program"),
    (b"%PDF-1.7\n", "a PDF document"),
    (b"PK\x03\x04\x14\x00", "a ZIP archive or an Office document"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "an SVG drawing"),
    (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A isom", "an audio file"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "an AVIF image"),
    (b"just some notes\n", "a text file"),
])
def test_non_media_is_named(head: bytes, what: str) -> None:
    assert sniff(head) is None
    assert (describe_non_media(head) or "").startswith(what)


def test_unknown_binary_is_rejected_without_a_guess(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected) as caught:
        inspect_file(_write(tmp_path / "x.bin", bytes(range(256)) * 4))
    assert "it looks like" not in str(caught.value)
    assert "is not an image or video we can use" in str(caught.value)


def test_pixel_bomb_20000_square_is_rejected_quickly(tmp_path: Path) -> None:
    path = _write(tmp_path / "bomb.png", _bomb_png(20_000))
    assert path.stat().st_size < 200_000
    started = time.perf_counter()
    with pytest.raises(MediaRejected) as caught:
        inspect_file(path)
    assert time.perf_counter() - started < 2
    assert str(caught.value) == ('The file "bomb.png" has 400 megapixels, more than the 89 '
                                 "allowed; it may be a decompression bomb.")
    assert Image.MAX_IMAGE_PIXELS == 89_478_485


def test_pixel_bomb_between_one_and_two_times_the_cap(tmp_path: Path) -> None:
    # 100 MP: Pillow only warns here; the warning must become a refusal, not a decode.
    path = _write(tmp_path / "big.png", _bomb_png(10_000))
    with pytest.raises(MediaRejected, match="has 100 megapixels, more than the 89 allowed"):
        inspect_file(path)


def test_oversized_file_is_rejected_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp4"
    with open(path, "wb") as f:
        f.truncate(700 * 2**20)  # sparse: nothing is really written
    started = time.perf_counter()
    expected = r'^The file "huge.mp4" is 700 MB; the limit is 512 MB\.$'
    with pytest.raises(MediaRejected, match=expected):
        inspect_file(path)
    assert time.perf_counter() - started < 1


def test_small_limit_is_honoured(tmp_path: Path) -> None:
    path = _write(tmp_path / "pic.png", _image_bytes("PNG", (300, 300)))
    with pytest.raises(MediaRejected, match="the limit is 100 bytes"):
        inspect_file(path, max_bytes=100)


class _EndlessStream(io.RawIOBase):
    """A stream that never ends and counts what was read from it."""

    def __init__(self) -> None:
        self.read_total = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = 4 * 2**20 if size is None or size < 0 else size
        self.read_total += n
        return b"\xff\xd8\xff" + b"\x00" * (n - 3) if self.read_total == n else b"\x00" * n


def test_streaming_stops_just_past_the_limit() -> None:
    stream = _EndlessStream()
    with pytest.raises(media_check._TooBig):
        media_check._read_bounded(stream, 3 * 2**20 + 5)  # type: ignore[arg-type]
    assert stream.read_total == 3 * 2**20 + 6


def test_file_growing_past_the_limit_is_stopped(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "grows.jpg", _noisy_jpeg(512))
    real_stat = os.stat

    def small_stat(p: object, *args: object, **kwargs: object) -> os.stat_result:
        st = real_stat(p)  # type: ignore[arg-type]
        values = list(st)
        values[6] = 10  # st_size as the file was when first looked at
        return os.stat_result(values)

    monkeypatch.setattr(media_check.os, "stat", small_stat)
    with pytest.raises(MediaRejected, match="is larger than the limit of 1 KB"):
        inspect_file(path, max_bytes=1024)


def test_folder_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match="is a folder"):
        inspect_file(tmp_path)
    with pytest.raises(MediaRejected, match="could not be found"):
        inspect_file(tmp_path / "nope.jpg")


# --- videos ----------------------------------------------------------------------------------


def test_hand_built_mp4_duration_size_and_codec(tmp_path: Path) -> None:
    checked = inspect_file(_write(tmp_path / "clip.mp4", _mp4()))
    assert (checked.mime, checked.ext, checked.kind) == ("video/mp4", "mp4", MediaKind.VIDEO)
    assert checked.duration_s == pytest.approx(12.5)
    assert (checked.width, checked.height) == (1280, 720)
    assert checked.codec == "h264"
    assert checked.has_gps is False
    assert check_media(PostType.X_POST, [checked.media_info()]) == []


def test_mov_with_rotation_version_1_and_location(tmp_path: Path) -> None:
    data = _mp4(brand=b"qt  ", matrix=ROTATE_90, mvhd_version=1, duration_ms=200_000,
                codec=b"hvc1", gps=True)
    checked = inspect_file(_write(tmp_path / "phone.MOV", data))
    assert (checked.mime, checked.ext) == ("video/quicktime", "mov")
    assert (checked.width, checked.height) == (720, 1280)
    assert checked.duration_s == pytest.approx(200.0)
    assert checked.codec == "hevc"
    assert checked.has_gps is True
    problems = check_media(PostType.X_POST, [checked.media_info()])
    assert problems == ["X videos can be at most 140 seconds long; this one is 3 minutes 20 "
                        "seconds."]
    with pytest.raises(MediaRejected, match="cannot remove location data from videos"):
        inspect_file(tmp_path / "phone.MOV", strip_gps=True)


def test_mp4_without_moov_is_accepted_with_unknowns(tmp_path: Path) -> None:
    data = _box(b"ftyp", b"mp42\x00\x00\x00\x00mp42isom") + _box(b"mdat", b"\x00" * 100)
    checked = inspect_file(_write(tmp_path / "partial.mp4", data))
    assert (checked.duration_s, checked.width, checked.height) == (None, None, None)


def test_mp4_with_hostile_box_sizes_does_not_hang(tmp_path: Path) -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x00\x00isom")
    moov = struct.pack(">I4s", 1, b"moov") + struct.pack(">Q", 2**62) + _box(b"trak", b"\xff" * 5)
    checked = inspect_file(_write(tmp_path / "odd.mp4", ftyp + moov))
    assert checked.duration_s is None


def test_webm_duration_and_size(tmp_path: Path) -> None:
    checked = inspect_file(_write(tmp_path / "clip.webm", _webm()))
    assert (checked.mime, checked.ext) == ("video/webm", "webm")
    assert checked.duration_s == pytest.approx(5.5)
    assert (checked.width, checked.height, checked.codec) == (640, 360, "vp9")


def test_matroska_is_named_not_accepted(tmp_path: Path) -> None:
    with pytest.raises(MediaRejected, match="looks like an MKV video"):
        inspect_file(_write(tmp_path / "film.webm", _webm(b"matroska")))


def test_heic_size_from_boxes_without_a_decoder(tmp_path: Path) -> None:
    path = _write(tmp_path / "IMG_0001.HEIC", _heic())
    checked = inspect_file(path)
    assert (checked.mime, checked.ext, checked.kind) == ("image/heic", "heic", MediaKind.IMAGE)
    if "HEIF" not in Image.OPEN:
        assert (checked.width, checked.height) == (3024, 4032)  # primary item, rotated 90
        assert checked.has_gps is None
        with pytest.raises(MediaRejected, match="export it as JPEG"):
            inspect_file(path, strip_gps=True)
        target = tmp_path / "kept.heic"
        normalized_copy(checked, target, strip_gps=False)
        assert target.read_bytes() == path.read_bytes()


def test_allowed_map_shape() -> None:
    assert {spec.ext for spec in ALLOWED.values()} == {
        "jpg", "png", "webp", "gif", "heic", "mp4", "mov", "webm"}
    assert all((spec.pil_format is None) == (spec.kind is MediaKind.VIDEO)
               for spec in ALLOWED.values())


# --- the kept copy ---------------------------------------------------------------------------


def test_normalized_copy_strips_gps_and_applies_orientation(tmp_path: Path) -> None:
    source = _write(tmp_path / "holiday.jpg", _image_bytes("JPEG", orientation=6, gps=True))
    checked = inspect_file(source)
    target = tmp_path / "out" / "kept.jpg"
    target.parent.mkdir()
    normalized_copy(checked, target, strip_gps=True)
    with Image.open(target) as img:
        assert img.format == "JPEG"
        assert img.size == (32, 64)
        exif = img.getexif()
        assert not exif.get_ifd(0x8825)
        assert exif.get(0x0112, 1) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["kept.jpg"]  # no temp left
    again = inspect_file(target)
    assert (again.has_gps, again.orientation, again.width, again.height) == (False, 1, 32, 64)


def test_normalized_copy_turns_upright_even_without_strip(tmp_path: Path) -> None:
    checked = inspect_file(_write(tmp_path / "a.png", _image_bytes("PNG", orientation=8)))
    target = tmp_path / "kept.png"
    normalized_copy(checked, target, strip_gps=False)
    with Image.open(target) as img:
        assert img.size == (32, 64)
        assert img.getexif().get(0x0112, 1) == 1


def test_normalized_copy_copies_bytes_when_nothing_to_do(tmp_path: Path) -> None:
    for name, data in (("a.webp", _image_bytes("WEBP")), ("b.mp4", _mp4())):
        checked = inspect_file(_write(tmp_path / name, data))
        target = tmp_path / f"kept-{name}"
        normalized_copy(checked, target, strip_gps=False)
        assert target.read_bytes() == data
    video = inspect_file(tmp_path / "b.mp4")
    normalized_copy(video, tmp_path / "kept-stripped.mp4", strip_gps=True)  # no GPS in it
    assert (tmp_path / "kept-stripped.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_normalized_copy_refuses_a_changed_source(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.png", _image_bytes("PNG"))
    checked = inspect_file(source)
    source.write_bytes(_image_bytes("PNG", (65, 32)))
    target = tmp_path / "kept.png"
    with pytest.raises(MediaRejected, match="changed after it was checked"):
        normalized_copy(checked, target, strip_gps=False)
    assert not target.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".mbv-media-")]


def test_normalized_copy_refuses_video_location(tmp_path: Path) -> None:
    checked = inspect_file(_write(tmp_path / "v.mp4", _mp4(gps=True)))
    with pytest.raises(MediaRejected, match="location"):
        normalized_copy(checked, tmp_path / "kept.mp4", strip_gps=True)
    assert not (tmp_path / "kept.mp4").exists()


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("../../x.jpg", "x.jpg"),
    ("..\\..\\x.jpg", "x.jpg"),
    ("/etc/passwd", "etc_passwd"),
    ("C:\\Users\\me\\cat.png", "C__Users_me_cat.png"),
    ("a\x00b\x1f.png", "ab.png"),
    ("e\u0301t\u00e9.jpg", "\u00e9t\u00e9.jpg"),
    ("photo\u202egpj.exe", "photogpj.exe"),
    ("bad\udcff.png", "bad\ufffd.png"),
    ("...hidden..png", "hidden.png"),
    ("", "file"),
    ("..", "file"),
    ("\x00\x01", "file"),
])
def test_clean_file_name(raw: str, expected: str) -> None:
    assert clean_file_name(raw) == expected
    assert NAME_RE.match(clean_file_name(raw))


def test_clean_file_name_trims_long_unicode_keeping_extension() -> None:
    raw = "../" + "\u00fc\U0001f600\u4e2d" * 700 + "\x00.jpg"  # over 2 KB of text
    cleaned = clean_file_name(raw)
    assert len(cleaned) <= 200
    assert cleaned.endswith(".jpg")
    assert NAME_RE.match(cleaned)


def test_inspected_file_name_is_cleaned(tmp_path: Path) -> None:
    name = "..\\evil\x07" + "\u00fc" * 100 + ".png"
    checked = inspect_file(_write(tmp_path / name, _image_bytes("PNG")))
    assert NAME_RE.match(checked.original_name)
    assert checked.original_name == "evil" + "\u00fc" * 100 + ".png"
