"""Enrolling the officers' app: the link that carries a newly issued token to a phone, and its QR code.

The token travels in the URL's fragment (``/app/#token=...``): browsers never send a fragment to a server,
so it reaches no access log, proxy or ``Referer``; the app reads it, keeps it on the device and removes it
from the address bar."""

from __future__ import annotations

from urllib.parse import quote

import segno

QR_TITLE = "Código QR para inscribir la app del oficial en su teléfono"


def enrolment_link(base_url: str, token: str) -> str:
    """``<base>/app/#token=<token>``: the app's address with the token only in the fragment."""
    return f"{base_url.rstrip('/')}/app/#token={quote(token, safe='')}"


def enrolment_qr_svg(link: str) -> str:
    """The link as a QR code: an inline SVG element without a style attribute (which the strict
    Content-Security-Policy would refuse), sized in CSS (``viewBox``, no width or height). Error
    correction M at least (segno raises it where that costs no size), for a screen's glare."""
    return segno.make(link, error="m", micro=False).svg_inline(
        scale=1, border=4, dark="#000", light="#fff", omitsize=True, title=QR_TITLE, svgclass="enrolment-qr", lineclass=None
    )
