"""Photos received as evidence: what kind of image the bytes are (never what the client says they
are), checked by decoding them, and a small JPEG thumbnail for the admin's pages."""

from __future__ import annotations

import asyncio
import dataclasses
import io

from PIL import Image, UnidentifiedImageError

from domain.errors import InvalidValue

SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
MAX_PIXELS = 60_000_000  # a phone's 50-megapixel photo fits; a decompression bomb does not
THUMBNAIL = (480, 480)
# At most this many photos are decoded at once per process: a 60-megapixel PNG takes about 180 MB
# while it is decoded, so concurrent uploads wait their turn instead of adding up.
DECODING = asyncio.Semaphore(2)
# Pillow's own check only warns between its limit and twice it (and raises a warning that
# pytest's "error" filter turns into a 500): photo_or_raise checks the size itself instead.
Image.MAX_IMAGE_PIXELS = None


@dataclasses.dataclass(frozen=True)
class Photo:
    tipo: str  # the media type the bytes are
    ancho: int
    alto: int
    miniatura: bytes  # JPEG


def sniff(data: bytes) -> str | None:
    """The media type of JPEG or PNG bytes, from their signature; None for anything else."""
    return next((kind for signature, kind in SIGNATURES.items() if data.startswith(signature)), None)


def photo_or_raise(data: bytes) -> Photo:
    """Check that ``data`` is a whole JPEG or PNG image and make its thumbnail (CPU work: run it off
    the event loop). Raises InvalidValue with the reason."""
    kind = sniff(data)
    if kind is None:
        raise InvalidValue("La foto debe ser una imagen JPEG o PNG (se reconoce por su contenido, no por su nombre).", field="foto")
    try:
        with Image.open(io.BytesIO(data), formats=[FORMATS[kind]]) as image:
            if image.size[0] * image.size[1] > MAX_PIXELS:  # read from the header, before anything is decoded
                raise Image.DecompressionBombError(f"{image.size[0] * image.size[1]} pixels")
            image.verify()  # the whole file, not only its header
        with Image.open(io.BytesIO(data), formats=[FORMATS[kind]]) as image:
            width, height = image.size
            image.draft("RGB", THUMBNAIL)  # JPEG: decode at a reduced scale
            thumbnail = image.convert("RGB")
            thumbnail.thumbnail(THUMBNAIL)
            thumbnail.info.clear()  # pixels only: save() would write the original's comment (any bytes) again
            out = io.BytesIO()
            thumbnail.save(out, "JPEG", quality=80)
    except Image.DecompressionBombError:
        raise InvalidValue(f"La imagen tiene demasiados píxeles (más de {MAX_PIXELS // 1_000_000} megapíxeles).", field="foto") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidValue("La imagen está dañada o incompleta: no se pudo leer.", field="foto") from None
    return Photo(kind, width, height, out.getvalue())


async def checked_photo(data: bytes) -> Photo:
    """``photo_or_raise`` in a worker thread (decoding is CPU work), a bounded number at a time."""
    async with DECODING:
        return await asyncio.to_thread(photo_or_raise, data)
