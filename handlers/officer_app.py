"""The officers' app at ``/app/``: plain HTML, CSS and JavaScript modules, its web app manifest, icons and service
worker, served as static files from ``static/app/``.

Public on purpose: these files hold no data and no secret. The officer's token lives on the phone (enrolled
from the URL fragment of the QR link, which browsers never send) and every API call carries it as a bearer
token. The service worker is served from ``/app/sw.js``, so its scope is ``/app/`` without a
``Service-Worker-Allowed`` header."""

from __future__ import annotations

from pathlib import Path

from handlers.base import PublicHandler
from handlers.public import StaticFiles

APP_FILES = Path(__file__).resolve().parent.parent / "static" / "app"
_CONTENT_TYPES = {
    ".webmanifest": "application/manifest+json",
    ".js": "text/javascript; charset=UTF-8",
    ".css": "text/css; charset=UTF-8",
    ".html": "text/html; charset=UTF-8",
}


class AppFiles(StaticFiles):
    """The app's files. ``no-cache``: the phone may keep them, but asks (ETag, 304) whenever it is online, so a
    new version reaches the service worker's copy at the next start with signal."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "no-cache")

    def get_content_type(self) -> str:
        return _CONTENT_TYPES.get(Path(self.absolute_path or "").suffix) or super().get_content_type()


class RedirectToApp(PublicHandler):
    """``/app``: the app lives at ``/app/`` (its relative links and the service worker's scope need the slash)."""

    def get(self) -> None:
        self.redirect("/app/")


default_handlers = [
    (r"/app", RedirectToApp),
    (r"/app/(.*)", AppFiles, {"path": str(APP_FILES), "default_filename": "index.html"}),
]
