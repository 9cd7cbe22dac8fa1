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


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header that declares ``width`` x ``height`` pixels, followed by a few bytes of image data:
    what a bomb of any size looks like to a reader that trusts the header."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b"")


def jpeg_with_comment(comment: bytes, *, seed: int = 0) -> bytes:
    """A real JPEG carrying ``comment`` in a COM segment right after its SOI marker: a valid image
    whose bytes also contain, say, an HTML page (a polyglot)."""
    image = photo("JPEG", seed=seed)
    assert image[:2] == b"\xff\xd8" and len(comment) < 65_000
    return image[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + image[2:]


def multipart(data: bytes, *, boundary: str = "frontera", name: str = "foto", filename: str = "foto.png") -> tuple[bytes, str]:
    """A multipart/form-data body carrying ``data`` as a file field, and its Content-Type."""
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"
