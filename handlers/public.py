"""Public handlers that are not API methods: the 404 page, the redirect from ``/`` to the admin, and
the static files (with the security headers of every page)."""

from __future__ import annotations

import tornado.web

from handlers.base import PublicHandler
from handlers.headers import security_headers


class NotFoundHandler(PublicHandler):
    """Unknown URL: a 404 page (the application's ``default_handler_class``)."""

    answers_any_method = True

    async def prepare(self) -> None:
        await super().prepare()  # a logged-in admin keeps the navigation on the 404 page
        raise tornado.web.HTTPError(404)


class RedirectToAdmin(PublicHandler):
    """``/``: the admin's home (a login page for whoever is not logged in)."""

    def get(self) -> None:
        self.redirect("/admin/")


class StaticFiles(tornado.web.StaticFileHandler):
    """The stylesheet and scripts, with the same security headers as every page (they may be cached)."""

    public = True

    def set_default_headers(self) -> None:
        security_headers(self, no_store=False)
