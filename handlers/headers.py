"""What every response carries (security headers, whichever handler class answers) and where a
redirect may go (only to a local path)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import tornado.web

# Strict by design: no inline script or style, so the admin works with JavaScript disabled.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\\]")  # controls, spaces and backslashes: never in our own URLs


def safe_next(target: str | None, default: str = "/admin/") -> str:
    """A local absolute path, or ``default``: '//evil.example', 'https://evil.example', a
    backslash or a control character (which browsers or Tornado would misread) fall back."""
    if not target or not target.startswith("/") or target.startswith("//") or _UNSAFE_IN_URL.search(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def security_headers(handler: tornado.web.RequestHandler, *, no_store: bool = True) -> None:
    """The headers every response carries, whichever handler class answers it."""
    handler.clear_header("Server")  # no product banner
    handler.set_header("X-Content-Type-Options", "nosniff")
    handler.set_header("Referrer-Policy", "same-origin")
    handler.set_header("X-Frame-Options", "DENY")
    handler.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if no_store:
        handler.set_header("Cache-Control", "no-store")
    if handler.request.protocol == "https":  # directly, or as a trusted proxy says (handlers/http.py)
        handler.set_header("Strict-Transport-Security", HSTS)
