"""Real PNG images made with the standard library (zlib + struct), for the image models.

The picture is a diagonal two-colour gradient with soft stripes and a disc, all derived from a
hash of the prompt, so the same prompt gives the same image and different prompts look
different. To keep generation fast the emulators render at a quarter of the requested size
(``1024x1024`` → 256x256, ``1792x1024`` → 448x256), never below 64 pixels a side; see
:func:`preview_size`.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SCALE = 4
MIN_SIDE = 64
MAX_SIDE = 512


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The size actually rendered for a requested ``width`` x ``height``."""
    return (max(MIN_SIDE, min(MAX_SIDE, width // SCALE)),
            max(MIN_SIDE, min(MAX_SIDE, height // SCALE)))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _colour(seed: bytes, offset: int, soft: bool) -> tuple[int, int, int]:
    r, g, b = seed[offset], seed[offset + 1], seed[offset + 2]
    if soft:  # "natural" style: pull towards a muted mid-tone
        return ((r + 384) // 4 + 32, (g + 384) // 4 + 32, (b + 384) // 4 + 32)
    return (r, g, b)


def render_png(prompt: str, width: int, height: int, *, soft: bool = False,
               detail: bool = False) -> bytes:
    """An RGB PNG of exactly ``width`` x ``height`` pixels derived from ``prompt``.

    ``soft`` mutes the palette (DALL·E 3 "natural" style); ``detail`` doubles the stripe
    frequency ("hd" quality).
    """
    if width < 1 or height < 1:
        raise ValueError("image sides must be positive")
    seed = hashlib.sha256(prompt.encode("utf-8")).digest()
    c1 = _colour(seed, 0, soft)
    c2 = _colour(seed, 3, soft)
    period = 8 + seed[6] % 24
    if detail:
        period = max(4, period // 2)
    cx = width * (0.2 + 0.6 * seed[7] / 255)
    cy = height * (0.2 + 0.6 * seed[8] / 255)
    radius2 = (min(width, height) * (0.15 + 0.2 * seed[9] / 255)) ** 2
    disc = _colour(seed, 10, soft)
    span = max(1, width + height - 2)

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        dy2 = (y - cy) ** 2
        for x in range(width):
            if (x - cx) ** 2 + dy2 <= radius2:
                rows += bytes(disc)
                continue
            t = (x + y) / span
            stripe = 18 if ((x - y) // period) % 2 else 0
            rows.append(min(255, int(c1[0] + (c2[0] - c1[0]) * t) + stripe))
            rows.append(min(255, int(c1[1] + (c2[1] - c1[1]) * t) + stripe))
            rows.append(min(255, int(c1[2] + (c2[2] - c1[2]) * t) + stripe))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    text = _chunk(b"tEXt", b"Software\x00mbv-desktop sandbox")
    return (PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + text
            + _chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + _chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from a PNG's IHDR; ValueError when ``data`` is not a PNG."""
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
