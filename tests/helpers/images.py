"""Image bytes for the evidence tests: small real photos made with Pillow, and hostile files built by
hand (a PNG that declares more pixels than it carries, an HTML page behind a JPEG signature)."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def photo(kind: str = "PNG", *, seed: int = 0, size: tuple[int, int] = (8, 6), extra: dict | None = None) -> bytes:
    """A small real image; ``seed`` changes its pixels, so its bytes (and SHA-256) too."""
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed // 256 * 53) % 256))
    image.putpixel((0, 0), (seed % 256, 255 - seed % 256, 7))
    out = io.BytesIO()
    image.save(out, kind, **(extra or {}))
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A well-formed 1-bit PNG of ``width`` x ``height`` black pixels, written row by row without ever
    holding the image: a few kilobytes that decode to ``width * height`` pixels (a decompression bomb)."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")
