"""Photos received as evidence: what kind of image the bytes are (never what the client says they
are), checked by decoding them, and a small JPEG thumbnail for the admin's pages."""

from __future__ import annotations

import dataclasses
import io
import warnings

from PIL import Image, UnidentifiedImageError

from domain.errors import InvalidValue

SIGNATURES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
MAX_PIXELS = 60_000_000  # a phone's 50-megapixel photo fits; a decompression bomb does not
THUMBNAIL = (480, 480)
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Between once and twice MAX_IMAGE_PIXELS Pillow only warns; photo_or_raise refuses those itself.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


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
            # Pillow itself refuses only beyond twice MAX_IMAGE_PIXELS (it merely warns from once):
            # a few kilobytes of PNG would be decoded to hundreds of megabytes for the thumbnail.
            if image.width * image.height > MAX_PIXELS:
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            image.verify()  # the whole file, not only its header
        with Image.open(io.BytesIO(data), formats=[FORMATS[kind]]) as image:
            width, height = image.size
            image.draft("RGB", THUMBNAIL)  # JPEG: decode at a reduced scale
            thumbnail = image.convert("RGB")
            thumbnail.thumbnail(THUMBNAIL)
            thumbnail.info.clear()  # pixels only: save() would write the original's comment (any bytes) again
            out = io.BytesIO()
            thumbnail.save(out, "JPEG", quality=80)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # the warning, where warnings are errors
        raise InvalidValue(f"La imagen tiene demasiados píxeles (más de {MAX_PIXELS // 1_000_000} megapíxeles).", field="foto") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidValue("La imagen está dañada o incompleta: no se pudo leer.", field="foto") from None
    return Photo(kind, width, height, out.getvalue())
