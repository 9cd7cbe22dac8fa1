"""The Tornado application: ``make_app(config, repos)`` puts the long-lived objects in the
application settings and joins the routes that each handler module lists literally in its
``default_handlers`` (so every URL can be found by grep next to its handler), then refuses to
serve a route without an authentication decision."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import tornado.web

from config import Settings
from handlers import officer_app
from handlers.admin import auditoria, catalogo, dashboard, infracciones, oficiales, personas, session, vehiculos
from handlers.api import evidencias, informe, oficial, system
from handlers.api import infracciones as api_infracciones
from handlers.api.base import ApiHandler, ApiNotFoundHandler
from handlers.base import BaseHandler
from handlers.public import NotFoundHandler, RedirectToAdmin, StaticFiles
from handlers.http import InFlight
from repositories import Repositories
from services.metrics import Metrics
from services.lookups import LookupLog, lookup_key
from services.throttle import Throttle
from services.tokens import TokenService

ROOT = Path(__file__).resolve().parent.parent


def routes() -> list[Any]:
    return [
        (r"/", RedirectToAdmin),
        # Browsers ask every site for /favicon.ico; pages also name static/favicon.svg.
        (r"/(favicon\.ico)", StaticFiles, {"path": str(ROOT / "static")}),
        *system.default_handlers,
        *api_infracciones.default_handlers,
        *informe.default_handlers,
        *evidencias.default_handlers,
        *oficial.default_handlers,
        (r"/api/.*", ApiNotFoundHandler),  # after every API route: unknown API paths answer JSON
        *officer_app.default_handlers,
        *dashboard.default_handlers,
        *session.default_handlers,
        *personas.default_handlers,
        *vehiculos.default_handlers,
        *oficiales.default_handlers,
        *infracciones.default_handlers,
        *catalogo.default_handlers,
        *auditoria.default_handlers,
    ]


def make_app(
    config: Settings, repos: Repositories, *, metrics: Metrics | None = None, **extra_settings: Any
) -> tornado.web.Application:
    metrics = metrics or Metrics()

    def throttle(rate: str, namespace: str) -> Throttle:
        return Throttle(rate, namespace, repos.limites, repos.clock)

    app = tornado.web.Application(
        routes(),
        config=config,
        repos=repos,
        token_service=TokenService(config.jwt_secret, repos.clock),
        throttles={
            "login_user": throttle(config.login_rate_limit_user, "login-user-client"),
            "login_client": throttle(config.login_rate_limit_client, "login-client"),
            "login_slowdown": throttle(config.login_slowdown_user, "login-user"),
            "report": throttle(config.report_rate_limit, "report"),
        },
        lookups=LookupLog(repos.consultas, lookup_key(config.cookie_secret), repos.clock),
        inflight=InFlight(),
        metrics=metrics,
        log_function=metrics.log_function,
        cookie_secret=config.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
        static_handler_class=StaticFiles,
        default_handler_class=NotFoundHandler,
        autoescape="xhtml_escape",
        compress_response=True,
        **extra_settings,
    )
    check_auth_decisions(app)
    return app


def check_auth_decisions(app: tornado.web.Application) -> None:
    """Refuse to serve a route without an authentication decision and our security headers: every
    handler must be one of ours (admin login required unless ``public``; the static files are
    public on purpose), and a non-public API handler must authenticate in its own ``prepare``
    (ApiHandler's refuses every request)."""
    for target in _handler_classes(app.default_router):
        if not issubclass(target, (BaseHandler, StaticFiles)):
            raise RuntimeError(f"{target.__name__} does not inherit the authentication decision of BaseHandler")
        if issubclass(target, ApiHandler) and not target.public and target.prepare is ApiHandler.prepare:
            raise RuntimeError(f"{target.__name__} is neither public nor authenticates its requests")


def _handler_classes(router: Any) -> Iterator[type[tornado.web.RequestHandler]]:
    """Every handler class routed by ``router``, including the routers nested in it (per host)."""
    for rule in router.rules:
        if isinstance(rule.target, type) and issubclass(rule.target, tornado.web.RequestHandler):
            yield rule.target
        elif hasattr(rule.target, "rules"):
            yield from _handler_classes(rule.target)
