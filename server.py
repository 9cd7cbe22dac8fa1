"""The traffic-infraction registry's web server.

``make_app(config, repos)`` builds the Tornado application (used by the tests too); ``main()``
reads the environment, connects to MongoDB (or starts the embedded development database),
prepares collections and indexes, serves, and stops gracefully on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import tornado.httpserver
import tornado.httputil
import tornado.netutil
import tornado.web
from pymongo import AsyncMongoClient

from config import ConfigError, Settings, load_settings
from handlers import api
from handlers.admin import dashboard, oficiales, personas, session, vehiculos
from handlers.base import ApiHandler, ApiNotFoundHandler, BaseHandler, NotFoundHandler
from handlers.metrics import MetricsHandler
from repositories import Repositories, prepare_database
from services.devdb import EmbeddedDatabase
from services.metrics import Metrics
from services.throttle import Throttle
from services.tokens import TokenService
from services.workers import supervise

ROOT = Path(__file__).resolve().parent
MAX_REQUEST_BYTES = 1024 * 1024  # forms and API bodies; the API refuses more than 64 KiB itself
SHUTDOWN_GRACE_SECONDS = 20
log = logging.getLogger("transito")


class InFlight:
    """Counts requests being handled, so a graceful stop can wait for them to finish."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def started(self) -> None:
        self.count += 1
        self._idle.clear()

    def finished(self) -> None:
        self.count = max(0, self.count - 1)
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


class _CountedRequest(tornado.httputil.HTTPMessageDelegate):
    """Counts a request as in flight from its headers on, not only once its body has arrived (when
    the handler is created), so a graceful stop does not cut a body that is still being uploaded."""

    def __init__(self, inner: tornado.httputil.HTTPMessageDelegate, inflight: InFlight) -> None:
        self.inner = inner
        self.inflight = inflight
        self.counted = False

    def headers_received(self, start_line: Any, headers: tornado.httputil.HTTPHeaders) -> Any:
        self.inflight.started()
        self.counted = True
        return self.inner.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Any:
        return self.inner.data_received(chunk)

    def finish(self) -> None:
        try:
            self.inner.finish()  # creates the handler, which counts itself until it finishes
        finally:
            self._done()

    def on_connection_close(self) -> None:
        try:
            self.inner.on_connection_close()
        finally:
            self._done()

    def _done(self) -> None:
        if self.counted:
            self.counted = False
            self.inflight.finished()


class CountingDelegate(tornado.httputil.HTTPServerConnectionDelegate):
    """The application as the HTTP server sees it, with requests counted from their first line."""

    def __init__(self, app: tornado.web.Application) -> None:
        self.app = app

    def start_request(self, server_conn: object, request_conn: tornado.httputil.HTTPConnection) -> _CountedRequest:
        return _CountedRequest(self.app.start_request(server_conn, request_conn), self.app.settings["inflight"])

    def on_close(self, server_conn: object) -> None:
        self.app.on_close(server_conn)


def routes() -> list[Any]:
    return [
        (r"/", tornado.web.RedirectHandler, {"url": "/admin/"}),
        (r"/healthz", api.HealthHandler),
        (r"/readyz", api.ReadinessHandler),
        (r"/metrics", MetricsHandler),
        (r"/api/cargar_infraccion", api.CargarInfraccionHandler),
        (r"/api/generar_informe", api.GenerarInformeHandler),
        (r"/api/openapi.json", api.OpenApiHandler),
        (r"/api/docs/?", api.ApiDocsHandler),
        (r"/api/.*", ApiNotFoundHandler),
        (r"/admin/?", dashboard.DashboardHandler),
        (r"/admin/login", session.LoginHandler),
        (r"/admin/logout", session.LogoutHandler),
        *personas.ENTITY.routes(),
        *vehiculos.ENTITY.routes(),
        *oficiales.routes(),
    ]


def make_app(
    config: Settings, repos: Repositories, *, metrics: Metrics | None = None, **extra_settings: Any
) -> tornado.web.Application:
    metrics = metrics or Metrics()
    app = tornado.web.Application(
        routes(),
        config=config,
        repos=repos,
        token_service=TokenService(config.jwt_secret),
        throttles={
            "login_user": Throttle(config.login_rate_limit_user, "login-user"),
            "login_client": Throttle(config.login_rate_limit_client, "login-client"),
            "report": Throttle(config.report_rate_limit, "report"),
        },
        inflight=InFlight(),
        metrics=metrics,
        log_function=metrics.log_function,
        cookie_secret=config.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Lax"},
        template_path=str(ROOT / "templates"),
        static_path=str(ROOT / "static"),
        default_handler_class=NotFoundHandler,
        autoescape="xhtml_escape",
        compress_response=True,
        **extra_settings,
    )
    check_auth_decisions(app)
    return app


def check_auth_decisions(app: tornado.web.Application) -> None:
    """Refuse to serve a route without an authentication decision: every handler must be one of
    ours (admin login required unless ``public``) or a redirect, and a non-public API handler must
    authenticate in its own ``prepare`` (ApiHandler's refuses every request)."""
    for target in _handler_classes(app.default_router):
        if not issubclass(target, (BaseHandler, tornado.web.RedirectHandler, tornado.web.StaticFileHandler)):
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


def mongo_client(uri: str, *, metrics: Metrics | None = None, **overrides: Any) -> AsyncMongoClient:
    """The one client of a process: majority, journaled writes; aware datetimes; fail fast."""
    options: dict[str, Any] = {
        "event_listeners": [metrics.listener] if metrics else [],
        "tz_aware": True,
        "w": "majority",
        "journal": True,
        "serverSelectionTimeoutMS": 5000,
        "connectTimeoutMS": 5000,
        "appname": "transito",
    }
    options.update(overrides)
    return AsyncMongoClient(uri, **options)


async def ensure_startup_admin(repos: Repositories, config: Settings) -> None:
    if config.admin_username and config.admin_password:
        if await repos.admins.create_if_missing(username=config.admin_username, password=config.admin_password):
            log.info("created the administrator %r from ADMIN_USERNAME", config.admin_username)


@contextlib.asynccontextmanager
async def database(
    config: Settings, *, uri: str | None = None, metrics: Metrics | None = None
) -> AsyncIterator[Repositories]:
    """Repositories over a connected, prepared database; the client is closed on exit."""
    client = mongo_client(uri or config.mongodb_uri or "", metrics=metrics)
    try:
        db = client[config.mongodb_db]
        await prepare_database(db)
        yield Repositories.over(db)
    finally:
        await client.close()


def embedded_uri_file(config: Settings) -> Path:
    return config.data_dir / "db.uri"


@contextlib.asynccontextmanager
async def cli_database(config: Settings) -> AsyncIterator[Repositories]:
    """The database for a command-line script: MONGODB_URI; else the embedded database of a
    running development server; else a short-lived embedded database over the same files."""
    if config.mongodb_uri:
        async with database(config) as repos:
            yield repos
        return
    uri_file = embedded_uri_file(config)
    if uri_file.exists():
        async with database(config, uri=uri_file.read_text().strip()) as repos:
            try:
                await repos.ping()
            except Exception:
                pass  # a stale file from a server that died: fall through to our own database
            else:
                yield repos
                return
    embedded = EmbeddedDatabase(config.data_dir / "db")
    await asyncio.to_thread(embedded.start)
    try:
        async with database(config, uri=embedded.uri) as repos:
            yield repos
    finally:
        await embedded.astop()


def start_embedded_database(config: Settings) -> EmbeddedDatabase:
    log.warning(
        "MONGODB_URI is not set: starting the embedded development database (SecantusDB) under %s. "
        "Use real MongoDB in production.",
        config.data_dir / "db",
    )
    embedded = EmbeddedDatabase(config.data_dir / "db")
    embedded.start()
    embedded_uri_file(config).write_text(embedded.uri)
    return embedded


async def serve(config: Settings, uri: str, sockets: list[socket.socket], *, startup_tasks: bool = True) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    metrics = Metrics()  # created here, after a fork: each worker its own
    async with database(config, uri=uri, metrics=metrics) as repos:
        if startup_tasks:  # with several workers, the first one only
            await ensure_startup_admin(repos, config)
        app = make_app(config, repos, metrics=metrics)
        server = tornado.httpserver.HTTPServer(
            CountingDelegate(app), xheaders=config.trust_proxy, max_body_size=MAX_REQUEST_BYTES, idle_connection_timeout=60
        )
        server.add_sockets(sockets)
        log.info("serving on port %s (pid %s, %s)", sockets[0].getsockname()[1], os.getpid(), config.app_env)
        await stop.wait()

        log.info("stopping: refusing new connections, waiting for %s request(s)", app.settings["inflight"].count)
        server.stop()
        if not await app.settings["inflight"].wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("gave up waiting for %s request(s)", app.settings["inflight"].count)
        await server.close_all_connections()
    log.info("stopped")


def run_worker(config: Settings, uri: str, sockets: list[socket.socket], index: int) -> int:
    """One forked worker: its own event loop and MongoDB client, created after the fork."""
    asyncio.run(serve(config, uri, sockets, startup_tasks=index == 0))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Registro de infracciones de tránsito: servidor web.")
    parser.add_argument("--port", type=int, help="port to listen on (default: $PORT or 8888)")
    parser.add_argument("--workers", type=int, help="processes sharing the port (default: $WORKERS or 1; 0 = CPUs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    if args.port is not None:
        env["PORT"] = str(args.port)
    if args.workers is not None:
        env["WORKERS"] = str(args.workers)
    try:
        config = load_settings(env)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")

    embedded = start_embedded_database(config) if config.embedded_db else None
    uri = embedded.uri if embedded else config.mongodb_uri or ""
    try:
        sockets = tornado.netutil.bind_sockets(config.port, reuse_port=config.workers > 1)
        if config.workers > 1:
            return supervise(config.workers, lambda index: run_worker(config, uri, sockets, index))
        asyncio.run(serve(config, uri, sockets))
    finally:
        if embedded:
            embedded_uri_file(config).unlink(missing_ok=True)
            embedded.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
