"""Checking one media file before the app does anything else with it (reliability.md 26-27).

:func:`inspect_file` is the only door for a photo or video a person picks. It reads the file once,
in 1 MiB chunks, computing its SHA-256 and size and stopping as soon as it passes ``max_bytes``.
It decides what the file is from its first bytes only (never from its name), accepts only the
types in :data:`ALLOWED`, and names common non-media files (programs, PDFs, archives, web pages)
in the refusal. Images are opened with Pillow restricted to the sniffed format, with the default
pixel cap (``Image.MAX_IMAGE_PIXELS``, 89,478,485) and the decompression-bomb warning turned into
an error, and are fully decoded once to catch damaged or cut-short files. Videos are read with a
small pure-Python box parser (MP4/MOV) or EBML reader (WebM) that reads only headers, so memory
stays bounded whatever the file size. With ``decode_video`` (what the library's add path asks
for), a video is also opened with PyAV (:mod:`services.video_probe`): it fills in whatever the
header parsers could not tell (and names the codec as FFmpeg does), and a video none of whose
pictures decodes, or that FFmpeg cannot open at all, is refused as damaged or mislabelled. Every
refusal is a :class:`MediaRejected` whose message names the file by its cleaned name.

:func:`normalized_copy` then writes the file the app keeps: the exact bytes checked (verified by
hash, so a file changed in between is refused), or for images, a re-encoded copy with the EXIF
orientation applied and all EXIF/XMP metadata (GPS included) dropped.

All of this blocks: callers run it in a worker thread, never on the GUI thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import struct
import tempfile
import unicodedata
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, NamedTuple

from PIL import Image, ImageOps

from mbv_desktop.core.errors import MediaRejected
from mbv_desktop.core.media_rules import MediaInfo, MediaKind, format_size
from mbv_desktop.services.video_probe import probe_video

__all__ = [
    "ALLOWED",
    "DEFAULT_MAX_BYTES",
    "CheckedFile",
    "SniffedType",
    "clean_file_name",
    "describe_non_media",
    "inspect_file",
    "normalized_copy",
    "sniff",
]

DEFAULT_MAX_BYTES = 512 * 2**20
CHUNK = 2**20
HEAD_BYTES = 4096
MAX_NAME_CHARS = 200
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS; never raised here
_MAX_BOXES = 20_000  # MP4/HEIC boxes visited per file: a bound against crafted box chains
_MAX_LEAF = 64 * 1024  # bytes read from any one small box
_HEIF_META_MAX = 4 * 2**20
_WEBM_HEAD_MAX = 4 * 2**20


class SniffedType(NamedTuple):
    """An accepted file type: MIME type, extension (no dot), kind, and Pillow's format name
    (None for videos)."""

    mime: str
    ext: str
    kind: MediaKind
    pil_format: str | None


ALLOWED: Mapping[str, SniffedType] = MappingProxyType({
    "jpeg": SniffedType("image/jpeg", "jpg", MediaKind.IMAGE, "JPEG"),
    "png": SniffedType("image/png", "png", MediaKind.IMAGE, "PNG"),
    "webp": SniffedType("image/webp", "webp", MediaKind.IMAGE, "WEBP"),
    "gif": SniffedType("image/gif", "gif", MediaKind.IMAGE, "GIF"),
    "heic": SniffedType("image/heic", "heic", MediaKind.IMAGE, "HEIF"),
    "mp4": SniffedType("video/mp4", "mp4", MediaKind.VIDEO, None),
    "mov": SniffedType("video/quicktime", "mov", MediaKind.VIDEO, None),
    "webm": SniffedType("video/webm", "webm", MediaKind.VIDEO, None),
})
"""Sniffed type name → what the app stores it as. Keys are what :func:`sniff` returns."""


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed :func:`inspect_file`.

    ``width``/``height`` are as displayed (after EXIF orientation or track rotation); they and
    ``duration_s`` are None when unknown. ``has_gps`` is None when it could not be told (a HEIC
    photo without a HEIF decoder installed). ``original_name`` is the cleaned file name, for
    display and metadata only: stored files are named by ``ext`` and a fresh id, never by it.
    ``orientation`` is the EXIF orientation (1 = upright), ``codec`` the video codec when read.
    """

    path: Path
    sha256: str
    size: int
    mime: str
    ext: str
    kind: MediaKind
    width: int | None
    height: int | None
    duration_s: float | None
    has_gps: bool | None
    original_name: str
    codec: str | None = None
    orientation: int = 1
    animated: bool = False

    def media_info(self) -> MediaInfo:
        """What ``core.media_rules.check_media`` needs to know about this file."""
        return MediaInfo(mime=self.mime, kind=self.kind, bytes=self.size, width=self.width,
                         height=self.height, duration_s=self.duration_s, codec=self.codec)


# --- names -----------------------------------------------------------------------------------

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')


def clean_file_name(name: str) -> str:
    """A file name safe to show and store as metadata (reliability.md 27).

    NFC-normalised; control characters, bidirectional overrides and unpaired surrogates removed;
    every path component that is empty, ``.`` or ``..`` dropped and the rest joined with ``_``
    (so no ``/`` or ``\\`` survives); runs of dots collapsed; leading dots and spaces and trailing
    dots and spaces stripped; at most 200 characters, keeping a short extension; ``"file"`` when
    nothing is left.
    """
    text = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in name)
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        ch for ch in text
        if unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS
    )
    parts = [p.strip() for p in re.split(r"[/\\]", text)]
    parts = [p for p in parts if p.strip(". ")]
    text = "_".join(parts)
    text = _WINDOWS_RESERVED.sub("_", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = text.strip().lstrip(". ").rstrip(". ")
    if len(text) > MAX_NAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            text = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(". ") + "." + ext
        else:
            text = text[:MAX_NAME_CHARS]
        text = text.rstrip(". ")
    return text or "file"


def _named(name: str) -> str:
    return f'The file "{name}"'


# --- sniffing --------------------------------------------------------------------------------

_MP4_BRANDS = frozenset({
    b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
    b"mp41", b"mp42", b"mp71", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"MSNV", b"XAVC",
    b"f4v ", b"mmp4",
})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_HEIF_GENERIC = frozenset({b"mif1", b"msf1"})
_AUDIO_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_3GP_PREFIXES = (b"3gp", b"3g2")


def _ftyp_brands(head: bytes) -> tuple[bytes, frozenset[bytes]] | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", head[:4])[0]
    end = min(max(size, 16), len(head))
    compatible = frozenset(head[i:i + 4] for i in range(16, end - 3, 4))
    return head[8:12], compatible


def _ebml_doctype(head: bytes) -> str | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    header = _ebml_element_at(head, 0)
    if header is None:
        return None
    _, start, end = header
    for element_id, data_start, data_end in _ebml_children(head, start, min(end, len(head))):
        if element_id == 0x4282:
            return head[data_start:data_end].rstrip(b"\x00").decode("ascii", "replace")
    return None


def sniff(head: bytes) -> str | None:
    """The :data:`ALLOWED` key matching a file's first bytes, or None. Never looks at a name."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    brands = _ftyp_brands(head)
    if brands is not None:
        major, compatible = brands
        if major in _HEIC_BRANDS:
            return "heic"
        if major in _HEIF_GENERIC:
            if compatible & _AVIF_BRANDS:
                return None
            return "heic" if compatible & (_HEIC_BRANDS | _HEIF_GENERIC) else None
        if major == b"qt  ":
            return "mov"
        if major in _AUDIO_BRANDS or major in _AVIF_BRANDS or major.startswith(_3GP_PREFIXES):
            return None
        if major in _MP4_BRANDS or compatible & {b"isom", b"iso2", b"mp41", b"mp42"}:
            return "mp4"
        if b"qt  " in compatible:
            return "mov"
        return None
    if head[4:8] in (b"moov", b"mdat", b"wide") and len(head) >= 8:
        return "mov"  # an old QuickTime file without an ftyp box
    if _ebml_doctype(head) == "webm":
        return "webm"
    return None


_NON_MEDIA: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xfe\xed\xfa\xce", "a Mac program"), (b"\xfe\xed\xfa\xcf", "a Mac program"),
    (b"\xce\xfa\xed\xfe", "a Mac program"), (b"\xcf\xfa\xed\xfe", "a Mac program"),
    (b"\xca\xfe\xba\xbe", "a program"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a compressed (gzip) file"),
    (b"BZh", "a compressed (bzip2) file"),
    (b"\xfd7zXZ\x00", "a compressed (xz) file"),
    (b"#!", "a script"),
    (b"II*\x00", "a TIFF image, which social platforms do not take"),
    (b"MM\x00*", "a TIFF image, which social platforms do not take"),
    (b"8BPS", "a Photoshop file"),
    (b"ID3", "an audio file"),
    (b"fLaC", "an audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"SQLite format 3\x00", "a database"),
    (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
)
_HTML_STARTS = ("<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<meta",
                "<!--")


def describe_non_media(head: bytes) -> str | None:
    """What a file that is not accepted media looks like ("a Windows program"), or None."""
    for magic, what in _NON_MEDIA:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF":
        return {b"WAVE": "an audio file", b"AVI ": "an AVI video, which social platforms do "
                "not take"}.get(head[8:12])
    brands = _ftyp_brands(head)
    if brands is not None:
        major, compatible = brands
        if major in _AVIF_BRANDS or (major in _HEIF_GENERIC and compatible & _AVIF_BRANDS):
            return "an AVIF image, which social platforms do not take"
        if major in _AUDIO_BRANDS:
            return "an audio file"
        if major.startswith(_3GP_PREFIXES):
            return "a 3GP phone video, which social platforms do not take"
    doctype = _ebml_doctype(head)
    if doctype == "matroska":
        return "an MKV video, which social platforms do not take; convert it to MP4"
    if head.startswith(b"BM") and len(head) >= 14:
        return "a BMP image, which social platforms do not take"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n\f")
    lowered = text[:1024].decode("utf-8", "replace").lower()
    if lowered.startswith(_HTML_STARTS):
        return "a web page (HTML)"
    if "<svg" in lowered:
        return "an SVG drawing"
    if lowered.startswith("<?xml"):
        return "an XML file"
    if head and b"\x00" not in head[:1024]:
        try:
            head[:1024].decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < min(len(head), 1024) - 4:  # a split character at the end is fine
                return None
        return "a text file"
    return None


# --- inspecting ------------------------------------------------------------------------------


class _TooBig(Exception):
    pass


def _read_bounded(stream: BinaryIO, max_bytes: int) -> tuple[str, int, bytes]:
    """SHA-256 hex, size and first bytes of ``stream``, reading at most ``max_bytes + 1`` bytes.

    Raises ``_TooBig`` as soon as more than ``max_bytes`` have been read.
    """
    digest = hashlib.sha256()
    size = 0
    head = b""
    while True:
        block = stream.read(min(CHUNK, max_bytes + 1 - size))
        if not block:
            break
        if len(head) < HEAD_BYTES:
            head += block[: HEAD_BYTES - len(head)]
        size += len(block)
        if size > max_bytes:
            raise _TooBig(size)
        digest.update(block)
    return digest.hexdigest(), size, head


def inspect_file(path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
                 strip_gps: bool = False, decode_video: bool = False) -> CheckedFile:
    """Check one file a person picked and describe it; raise :class:`MediaRejected` if unusable.

    Blocking; run it off the GUI thread. ``max_bytes`` caps the size (the file is never read past
    it). With ``strip_gps``, a file whose location data the app cannot remove (a video with a
    location tag, or a HEIC photo when no HEIF decoder is installed) is refused now, rather than
    when :func:`normalized_copy` is asked to remove it. With ``decode_video``, a video is also
    opened and its first picture decoded with PyAV (see :func:`_probed`); without it, videos are
    judged by their headers alone (fast, but a header with nothing playable behind it passes).
    """
    path = Path(path)
    name = clean_file_name(path.name)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MediaRejected(f"{_named(name)} could not be found.") from None
    except OSError as exc:
        raise MediaRejected(f"{_named(name)} could not be read ({exc.strerror or exc}).") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaRejected(f"{_named(name)} is a folder, not an image or video.")
    if not stat.S_ISREG(st.st_mode):
        raise MediaRejected(f"{_named(name)} is not a regular file.")
    if st.st_size > max_bytes:
        raise MediaRejected(f"{_named(name)} is {format_size(st.st_size, above=max_bytes)}; "
                            f"the limit is {format_size(max_bytes)}.")
    try:
        with open(path, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                raise MediaRejected(f"{_named(name)} is not a regular file.")
            try:
                sha256, size, head = _read_bounded(stream, max_bytes)
            except _TooBig:
                raise MediaRejected(f"{_named(name)} is larger than the limit of "
                                    f"{format_size(max_bytes)}.") from None
            if size == 0:
                raise MediaRejected(f"{_named(name)} is empty.")
            key = sniff(head)
            if key is None:
                raise _not_media(name, head)
            spec = ALLOWED[key]
            if spec.kind is MediaKind.IMAGE:
                facts = _inspect_image(stream, key, spec, name, size)
            elif key == "webm":
                facts = _webm_facts(stream, size)
            else:
                facts = _mp4_facts(stream, size)
    except MediaRejected:
        raise
    except OSError as exc:
        raise MediaRejected(f"{_named(name)} could not be read ({exc.strerror or exc}).") from None
    if strip_gps and facts.has_gps is not False and not _can_strip(spec):
        raise _cannot_strip(name, spec)
    if decode_video and spec.kind is MediaKind.VIDEO:
        facts = _probed(path, name, facts)
    return CheckedFile(
        path=path, sha256=sha256, size=size, mime=spec.mime, ext=spec.ext, kind=spec.kind,
        width=facts.width, height=facts.height, duration_s=facts.duration_s,
        has_gps=facts.has_gps, original_name=name, codec=facts.codec,
        orientation=facts.orientation, animated=facts.animated,
    )


def _not_media(name: str, head: bytes) -> MediaRejected:
    what = describe_non_media(head)
    tail = (" Use JPEG, PNG, WebP, GIF or HEIC photos, or MP4, MOV or WebM videos.")
    if what:
        return MediaRejected(f"{_named(name)} is not an image or video we can use (it looks "
                             f"like {what}).{tail}")
    return MediaRejected(f"{_named(name)} is not an image or video we can use.{tail}")


class _Facts(NamedTuple):
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    has_gps: bool | None = False
    codec: str | None = None
    orientation: int = 1
    animated: bool = False


def _heif_decoder() -> bool:
    return "HEIF" in Image.OPEN


def _can_strip(spec: SniffedType) -> bool:
    if spec.kind is MediaKind.VIDEO:
        return False
    return spec.pil_format != "HEIF" or _heif_decoder()


def _cannot_strip(name: str, spec: SniffedType) -> MediaRejected:
    if spec.kind is MediaKind.VIDEO:
        return MediaRejected(f"{_named(name)} has a location tag, and the app cannot remove "
                             "location data from videos; remove it in a video editor first.")
    return MediaRejected(f"{_named(name)} is a HEIC photo and the app cannot remove its location "
                         "data on this computer; export it as JPEG first.")


def _probed(path: Path, name: str, facts: _Facts) -> _Facts:
    """The header facts of a video, completed by FFmpeg's (via PyAV).

    Raises :class:`MediaRejected` when FFmpeg cannot open the file, finds no video in it, or
    decodes none of its pictures. The header parsers' size (which already allows for track
    rotation) and length are kept when they have them; FFmpeg's codec name wins, since it knows
    every codec tag. A codec this FFmpeg cannot decode is not refused.
    """
    probed = probe_video(path, name=name)
    width, height = facts.width, facts.height
    if not (width and height):
        width, height = probed.width, probed.height
    return facts._replace(width=width, height=height,
                          duration_s=facts.duration_s or probed.duration_s,
                          codec=probed.codec or facts.codec)


# --- images ----------------------------------------------------------------------------------

_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _max_pixels() -> int:
    current = Image.MAX_IMAGE_PIXELS
    return min(DEFAULT_MAX_PIXELS, current) if current else DEFAULT_MAX_PIXELS


def _bomb(name: str, pixels: int | None) -> MediaRejected:
    limit = _max_pixels() // 1_000_000
    if pixels is None:
        return MediaRejected(f"{_named(name)} has more than the {limit} megapixels allowed; it "
                             "may be a decompression bomb.")
    return MediaRejected(f"{_named(name)} has {round(pixels / 1_000_000):,} megapixels, more "
                         f"than the {limit} allowed; it may be a decompression bomb.")


def _damaged(name: str) -> MediaRejected:
    return MediaRejected(f"{_named(name)} is damaged or cut short.")


_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  KeyError, TypeError, ZeroDivisionError)


@contextlib.contextmanager
def _guarded(name: str) -> Iterator[None]:
    """Pillow with the bomb warning as an error, and every failure as a MediaRejected.

    ``warnings.catch_warnings`` is process-wide on Python 3.11, so the explicit pixel checks in
    the callers are what really enforce the cap; the filter is a second line.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except MediaRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            match = _BOMB_PIXELS.search(str(exc))
            raise _bomb(name, int(match.group(1)) if match else None) from None
        except MemoryError:
            raise _bomb(name, None) from None
        except _DECODE_ERRORS:
            raise _damaged(name) from None


def _check_pixels(size: tuple[int, int], name: str) -> None:
    pixels = size[0] * size[1]
    if pixels > _max_pixels():
        raise _bomb(name, pixels)


def _exif_orientation(img: Image.Image) -> tuple[int, bool | None]:
    """EXIF orientation (1-8) and whether there is GPS data; unreadable EXIF gives (1, None)."""
    try:
        exif = img.getexif()
        raw = exif.get(0x0112, 1)
        has_gps: bool | None = bool(exif.get_ifd(0x8825))
    except _DECODE_ERRORS:
        return 1, None
    orientation = raw if isinstance(raw, int) and 1 <= raw <= 8 else 1
    xmp = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")
    if isinstance(xmp, bytes) and (b"GPSLatitude" in xmp or b"GPSLongitude" in xmp):
        has_gps = True
    return orientation, has_gps


def _inspect_image(stream: BinaryIO, key: str, spec: SniffedType, name: str,
                   size: int) -> _Facts:
    if key == "heic" and not _heif_decoder():
        return _heif_facts(stream, size, name)
    fmt = spec.pil_format or ""
    with _guarded(name):
        stream.seek(0)
        with Image.open(stream, formats=[fmt]) as img:
            _check_pixels(img.size, name)
            img.verify()
        stream.seek(0)
        with Image.open(stream, formats=[fmt]) as img:
            width, height = img.size
            _check_pixels(img.size, name)
            orientation, has_gps = _exif_orientation(img)
            animated = getattr(img, "n_frames", 1) > 1
            if img.format == "JPEG":  # decode every scan at 1/8 scale: bounded memory
                img.draft(None, (max(1, width // 8), max(1, height // 8)))
            img.load()
    if orientation >= 5:
        width, height = height, width
    return _Facts(width=width, height=height, has_gps=has_gps, orientation=orientation,
                  animated=animated)


# --- ISO base media (MP4, MOV, HEIC) boxes ----------------------------------------------------


class _BoxReader:
    """Walks ISO-BMFF boxes of a seekable stream, reading only headers and small boxes."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.visited = 0

    def boxes(self, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        """(type, payload start, payload end) of each box in [start, end); tolerant of a
        truncated last box (clamped to ``end``)."""
        pos = start
        end = min(end, self.size)
        while pos + 8 <= end and self.visited < _MAX_BOXES:
            self.visited += 1
            self.stream.seek(pos)
            header = self.stream.read(8)
            if len(header) < 8:
                return
            box_size, box_type = struct.unpack(">I4s", header)
            header_len = 8
            if box_size == 1:
                large = self.stream.read(8)
                if len(large) < 8:
                    return
                box_size = struct.unpack(">Q", large)[0]
                header_len = 16
            elif box_size == 0:
                box_size = end - pos
            if box_size < header_len:
                return
            box_end = min(pos + box_size, end)
            yield box_type, pos + header_len, box_end
            pos += box_size

    def read(self, start: int, end: int, limit: int = _MAX_LEAF) -> bytes:
        self.stream.seek(start)
        return self.stream.read(max(0, min(end - start, limit)))

    def find(self, start: int, end: int, box_type: bytes) -> tuple[int, int] | None:
        for found, s, e in self.boxes(start, end):
            if found == box_type:
                return s, e
        return None


_CODECS = {
    b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"av01": "av1",
    b"vp08": "vp8", b"vp09": "vp9", b"mp4v": "mpeg4", b"apcn": "prores", b"apch": "prores",
    b"apcs": "prores", b"apco": "prores", b"ap4h": "prores",
}


def _mp4_facts(stream: BinaryIO, size: int) -> _Facts:
    reader = _BoxReader(stream, size)
    moov = reader.find(0, size, b"moov")
    if moov is None:
        return _Facts(has_gps=False)
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    codec: str | None = None
    has_gps = False
    fallback: tuple[int, int] | None = None
    for box_type, start, end in reader.boxes(*moov):
        if box_type == b"mvhd":
            duration = _mvhd_duration(reader.read(start, end, 128))
        elif box_type == b"trak":
            track = _track(reader, start, end)
            if track.is_video and track.size is not None and width is None:
                width, height = track.size
                codec = track.codec
            elif track.size is not None and fallback is None and track.size != (0, 0):
                fallback = track.size
        elif box_type == b"udta":
            has_gps = has_gps or reader.find(start, end, b"\xa9xyz") is not None
        elif box_type == b"meta":
            has_gps = has_gps or _meta_has_location(reader, start, end)
    if width is None and fallback is not None:
        width, height = fallback
    return _Facts(width=width, height=height, duration_s=duration, has_gps=has_gps, codec=codec)


def _mvhd_duration(data: bytes) -> float | None:
    if len(data) < 4:
        return None
    version = data[0]
    try:
        if version == 1:
            timescale, duration = struct.unpack_from(">IQ", data, 20)
            unknown = duration == 0xFFFFFFFFFFFFFFFF
        else:
            timescale, duration = struct.unpack_from(">II", data, 12)
            unknown = duration == 0xFFFFFFFF
    except struct.error:
        return None
    if not timescale or unknown:
        return None
    return duration / timescale


class _Track(NamedTuple):
    is_video: bool
    size: tuple[int, int] | None
    codec: str | None


def _track(reader: _BoxReader, start: int, end: int) -> _Track:
    size: tuple[int, int] | None = None
    is_video = False
    codec: str | None = None
    for box_type, s, e in reader.boxes(start, end):
        if box_type == b"tkhd":
            size = _tkhd_size(reader.read(s, e, 128))
        elif box_type == b"mdia":
            for sub, ms, me in reader.boxes(s, e):
                if sub == b"hdlr":
                    data = reader.read(ms, me, 12)
                    is_video = data[8:12] == b"vide"
                elif sub == b"minf":
                    codec = _stsd_codec(reader, ms, me)
    return _Track(is_video, size, codec)


def _tkhd_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 4:
        return None
    matrix_at = 4 + (32 if data[0] == 1 else 20) + 16  # after times, ids, duration, reserved...
    try:
        a, b = struct.unpack_from(">ii", data, matrix_at)
        w, h = struct.unpack_from(">II", data, matrix_at + 36)
    except struct.error:
        return None
    width, height = w >> 16, h >> 16
    if a == 0 and abs(b) == 0x10000:  # rotated by 90 or 270 degrees
        width, height = height, width
    return width, height


def _stsd_codec(reader: _BoxReader, start: int, end: int) -> str | None:
    stbl = reader.find(start, end, b"stbl")
    if stbl is None:
        return None
    stsd = reader.find(*stbl, b"stsd")
    if stsd is None:
        return None
    data = reader.read(*stsd, 16)
    if len(data) < 16:
        return None
    fourcc = data[12:16]
    known = _CODECS.get(fourcc)
    if known:
        return known
    text = fourcc.decode("ascii", "replace").strip().lower()
    return text if text.isprintable() and text else None


def _meta_has_location(reader: _BoxReader, start: int, end: int) -> bool:
    # QuickTime 'meta' is a plain box; ISO 'meta' is a full box (4 more bytes). Try both.
    for offset in (0, 4):
        for box_type, s, e in reader.boxes(start + offset, end):
            if box_type == b"keys":
                return b"location" in reader.read(s, e)
    return False


def _heif_facts(stream: BinaryIO, size: int, name: str) -> _Facts:
    """Width and height of a HEIC photo's primary image, without a HEIF decoder.

    Reads the ``meta`` box (at most 4 MiB): ``pitm`` names the primary item, ``ipma`` links it
    to properties in ``ipco``, of which ``ispe`` holds the size and ``irot`` the rotation. GPS
    cannot be told this way, so ``has_gps`` is None.
    """
    reader = _BoxReader(stream, size)
    meta = reader.find(0, size, b"meta")
    if meta is None:
        raise _damaged(name)
    start, end = meta[0] + 4, meta[1]  # full box
    if end - start > _HEIF_META_MAX:
        raise _damaged(name)
    primary: int | None = None
    properties: list[tuple[bytes, bytes]] = []
    associations: dict[int, list[int]] = {}
    for box_type, s, e in reader.boxes(start, end):
        if box_type == b"pitm":
            data = reader.read(s, e, 8)
            with contextlib.suppress(struct.error, IndexError):
                primary = struct.unpack_from(">H" if data[0] == 0 else ">I", data, 4)[0]
        elif box_type == b"iprp":
            for sub, ps, pe in reader.boxes(s, e):
                if sub == b"ipco":
                    properties = [(t, reader.read(cs, ce, 64)) for t, cs, ce in
                                  reader.boxes(ps, pe)]
                elif sub == b"ipma":
                    associations = _ipma(reader.read(ps, pe, _HEIF_META_MAX))
    width = height = None
    rotation = 0
    indexes = associations.get(primary, []) if primary is not None else []
    for index in indexes:
        if 1 <= index <= len(properties):
            prop_type, data = properties[index - 1]
            if prop_type == b"ispe" and len(data) >= 12:
                width, height = struct.unpack_from(">II", data, 4)
            elif prop_type == b"irot" and data:
                rotation = data[0] & 3
    if width is None:  # no usable association: take the largest declared image
        sizes = [struct.unpack_from(">II", d, 4) for t, d in properties
                 if t == b"ispe" and len(d) >= 12]
        if sizes:
            width, height = max(sizes, key=lambda wh: wh[0] * wh[1])
    if width is not None and height is not None:
        _check_pixels((width, height), name)
        if rotation in (1, 3):
            width, height = height, width
    return _Facts(width=width, height=height, has_gps=None)


def _ipma(data: bytes) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    try:
        version, flags = data[0], int.from_bytes(data[1:4], "big")
        count = struct.unpack_from(">I", data, 4)[0]
        pos = 8
        for _ in range(min(count, 100_000)):
            if version < 1:
                item = struct.unpack_from(">H", data, pos)[0]
                pos += 2
            else:
                item = struct.unpack_from(">I", data, pos)[0]
                pos += 4
            n = data[pos]
            pos += 1
            indexes = []
            for _ in range(n):
                if flags & 1:
                    indexes.append(struct.unpack_from(">H", data, pos)[0] & 0x7FFF)
                    pos += 2
                else:
                    indexes.append(data[pos] & 0x7F)
                    pos += 1
            out[item] = indexes
    except (struct.error, IndexError):
        pass
    return out


# --- WebM (EBML) -----------------------------------------------------------------------------


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``pos``: (value, length), or None. A size whose bits
    are all ones ("unknown size") is returned as -1."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first == 0:
        return None
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = int.from_bytes(data[pos:pos + length], "big")
    if keep_marker:
        return value, length
    value &= (1 << (7 * length)) - 1
    if value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _ebml_element_at(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """(id, data start, data end) of the element at ``pos``; an unknown size runs to the end."""
    element_id = _vint(data, pos, keep_marker=True)
    if element_id is None:
        return None
    size = _vint(data, pos + element_id[1], keep_marker=False)
    if size is None:
        return None
    start = pos + element_id[1] + size[1]
    end = len(data) if size[0] < 0 else start + size[0]
    return element_id[0], start, end


def _ebml_children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    end = min(end, len(data))
    seen = 0
    while pos < end and seen < _MAX_BOXES:
        seen += 1
        element = _ebml_element_at(data, pos)
        if element is None:
            return
        element_id, data_start, data_end = element
        yield element_id, data_start, min(data_end, end)
        if data_end <= pos:
            return
        pos = data_end


_WEBM_CODECS = {"V_VP8": "vp8", "V_VP9": "vp9", "V_AV1": "av1", "V_MPEG4/ISO/AVC": "h264",
                "V_MPEGH/ISO/HEVC": "hevc"}
_SEGMENT, _INFO, _TRACKS, _CLUSTER = 0x18538067, 0x1549A966, 0x1654AE6B, 0x1F43B675


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw[:8], "big") if raw else 0


def _webm_facts(stream: BinaryIO, size: int) -> _Facts:
    """Duration, picture size and codec from a WebM's Info and Tracks elements, which come
    before the first Cluster in the first few KiB. Reads at most 4 MiB; anything missing is
    None."""
    stream.seek(0)
    data = stream.read(min(size, _WEBM_HEAD_MAX))
    header = _ebml_element_at(data, 0)
    if header is None:
        return _Facts()
    segment = _ebml_element_at(data, header[2])
    if segment is None or segment[0] != _SEGMENT:
        return _Facts()
    scale, raw_duration = 1_000_000, None
    width = height = None
    codec = None
    for element_id, s, e in _ebml_children(data, segment[1], segment[2]):
        if element_id == _CLUSTER:
            break
        if element_id == _INFO:
            for sub, ss, se in _ebml_children(data, s, e):
                if sub == 0x2AD7B1:
                    scale = _uint(data[ss:se]) or scale
                elif sub == 0x4489 and se - ss in (4, 8):
                    raw_duration = struct.unpack(">f" if se - ss == 4 else ">d", data[ss:se])[0]
        elif element_id == _TRACKS:
            for entry, es, ee in _ebml_children(data, s, e):
                if entry != 0xAE or width is not None:
                    continue
                track = _webm_track(data, es, ee)
                if track is not None:
                    width, height, codec = track
    duration = None
    if raw_duration is not None and raw_duration == raw_duration and raw_duration > 0:
        duration = raw_duration * scale / 1e9
    return _Facts(width=width, height=height, duration_s=duration, has_gps=False, codec=codec)


def _webm_track(data: bytes, start: int, end: int) -> tuple[int, int, str | None] | None:
    width = height = None
    codec_id = ""
    for sub, s, e in _ebml_children(data, start, end):
        if sub == 0x86:
            codec_id = data[s:e].rstrip(b"\x00").decode("ascii", "replace")
        elif sub == 0xE0:
            for v, vs, ve in _ebml_children(data, s, e):
                if v == 0xB0:
                    width = _uint(data[vs:ve])
                elif v == 0xBA:
                    height = _uint(data[vs:ve])
    if width is None or height is None:
        return None
    return width, height, _WEBM_CODECS.get(codec_id, codec_id.lower() or None)


# --- the copy the app keeps ------------------------------------------------------------------


def normalized_copy(checked: CheckedFile, target: Path, *, strip_gps: bool) -> None:
    """Write the file the app keeps to ``target`` (replaced atomically; its folder must exist).

    * The source is read again and must still have the SHA-256 and size that
      :func:`inspect_file` saw; otherwise it is refused ("changed after it was checked").
    * An image is **re-encoded** when ``strip_gps`` is set or its EXIF orientation is not 1: the
      orientation is applied to the pixels and the copy carries no EXIF, XMP or comments (so no
      GPS) — only the ICC colour profile, DPI and transparency are kept. JPEG is re-encoded at
      quality 95, WebP at quality 95, PNG and GIF losslessly. The format stays the same.
    * Anything else (videos; images needing neither) is copied byte for byte.
    * Location data that cannot be removed is refused rather than silently kept: a video with a
      location tag or a HEIC photo without a HEIF decoder when ``strip_gps`` is set, and an
      animated image that would need re-encoding (its animation would be lost).
    """
    target = Path(target)
    name = checked.original_name
    spec = _spec_of(checked)
    reencode = checked.kind is MediaKind.IMAGE and (strip_gps or checked.orientation != 1)
    if strip_gps and checked.has_gps is not False and not _can_strip(spec):
        raise _cannot_strip(name, spec)
    if reencode and spec.pil_format == "HEIF" and not _heif_decoder():
        reencode = False  # orientation of HEIC lives in 'irot', which viewers already apply
    if reencode and checked.animated:
        raise MediaRejected(f"{_named(name)} is animated, and removing its location data or "
                            "turning it upright would lose the animation; use a still image.")
    temps: list[Path] = []
    try:
        copied = _temp_in(target.parent, temps)
        _verified_copy(checked, copied)
        if not reencode:
            os.replace(copied, target)
            return
        encoded = _temp_in(target.parent, temps)
        _reencode(copied, encoded, spec, name)
        os.replace(encoded, target)
    except OSError as exc:
        raise MediaRejected(f'Could not save a copy of "{name}" ({exc.strerror or exc}).'
                            ) from None
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def _spec_of(checked: CheckedFile) -> SniffedType:
    for spec in ALLOWED.values():
        if spec.mime == checked.mime:
            return spec
    raise MediaRejected(f"{_named(checked.original_name)} is not an image or video we can use.")


def _temp_in(folder: Path, temps: list[Path]) -> Path:
    fd, raw = tempfile.mkstemp(dir=folder, prefix=".mbv-media-", suffix=".part")
    os.close(fd)
    temp = Path(raw)
    temps.append(temp)
    return temp


def _verified_copy(checked: CheckedFile, destination: Path) -> None:
    digest = hashlib.sha256()
    size = 0
    changed = MediaRejected(f"{_named(checked.original_name)} changed after it was checked; "
                            "add it again.")
    with open(checked.path, "rb") as source, open(destination, "wb") as out:
        while True:
            block = source.read(min(CHUNK, checked.size + 1 - size))
            if not block:
                break
            size += len(block)
            if size > checked.size:
                raise changed
            digest.update(block)
            out.write(block)
        out.flush()
        os.fsync(out.fileno())
    if size != checked.size or digest.hexdigest() != checked.sha256:
        raise changed


_KEPT_INFO = ("transparency", "dpi")


def _reencode(source: Path, destination: Path, spec: SniffedType, name: str) -> None:
    fmt = spec.pil_format or ""
    with _guarded(name), Image.open(source, formats=[fmt]) as img:
        _check_pixels(img.size, name)
        icc = img.info.get("icc_profile")
        upright = ImageOps.exif_transpose(img)
        upright.info = {k: v for k, v in img.info.items() if k in _KEPT_INFO}
        options: dict[str, object] = {}
        if icc:
            options["icc_profile"] = icc
        if fmt == "JPEG":
            if upright.mode not in ("RGB", "L", "CMYK"):
                upright = upright.convert("RGB")
            options.update(quality=95, optimize=True)
        elif fmt == "WEBP":
            options.update(quality=95)
        elif fmt == "PNG":
            options.update(optimize=False)
        upright.save(destination, format=fmt, **options)
