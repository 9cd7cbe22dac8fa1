"""The application refuses to serve a route that has made no authentication decision."""

import pytest
import tornado.web

from handlers.api.base import ApiHandler
from handlers.base import BaseHandler
from handlers.public import StaticFiles
from handlers.app import check_auth_decisions, make_app, routes


class PlainHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("sin control de acceso")


class ForgetfulApiHandler(ApiHandler):
    def get(self) -> None:
        self.write_json({"secreto": True})


class PublicApiHandler(ApiHandler):
    public = True


def test_every_shipped_route_has_an_auth_decision(settings, repos):
    make_app(settings, repos)  # raises otherwise
    handlers = [rule[1] for rule in routes()]
    # Static files (/favicon.ico, the officers' app at /app/) are public on purpose, as check_auth_decisions says.
    assert all(issubclass(h, (BaseHandler, StaticFiles, tornado.web.RedirectHandler)) for h in handlers)


@pytest.mark.parametrize("handler", [PlainHandler, ForgetfulApiHandler])
def test_a_route_without_an_auth_decision_is_refused(settings, repos, handler):
    app = make_app(settings, repos)
    app.add_handlers(r".*", [(r"/extra", handler)])
    with pytest.raises(RuntimeError, match=handler.__name__):
        check_auth_decisions(app)


def test_a_public_api_handler_is_accepted(settings, repos):
    app = make_app(settings, repos)
    app.add_handlers(r".*", [(r"/extra", PublicApiHandler)])
    check_auth_decisions(app)
