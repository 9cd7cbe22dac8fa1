"""The traffic-infraction registry's web server: the process entry point.

``main()`` reads the environment, starts the embedded development database when there is no
``MONGODB_URI``, binds the port, runs one or several worker processes, and stops gracefully on
SIGTERM or SIGINT. The application itself is ``handlers.app.make_app``; the database connection is
``services.database``."""

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

import tornado.netutil

from config import ConfigError, Settings, load_settings
from handlers.app import make_app
from handlers.http import make_http_server
from repositories import Repositories
from services import initial_catalogue
from services.database import database, embedded_database
from services.metrics import Metrics
from services.workers import supervise

SHUTDOWN_GRACE_SECONDS = 20
log = logging.getLogger("transito")


async def first_start(repos: Repositories, config: Settings) -> None:
    """What a new installation needs: its first administrator (ADMIN_USERNAME) and the shipped
    offence catalogue, each only when missing."""
    if config.admin_username and config.admin_password:
        if await repos.admins.create_if_missing(username=config.admin_username, password=config.admin_password):
            log.info("created the administrator %r from ADMIN_USERNAME", config.admin_username)
    await initial_catalogue.load(repos, config.zone, only_if_empty=True)


async def serve(config: Settings, uri: str, sockets: list[socket.socket], *, startup_tasks: bool = True) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    metrics = Metrics()  # created here, after a fork: each worker its own
    async with database(config, uri=uri, metrics=metrics) as repos:
        if startup_tasks:  # with several workers, the first one only
            await first_start(repos, config)
        await repos.catalog_cache.refresh(repos.catalogo)  # before serving: a load with a code needs no extra command
        refresher = asyncio.create_task(repos.catalog_cache.keep_fresh(repos.catalogo))
        app = make_app(config, repos, metrics=metrics)
        server = make_http_server(app, config)
        server.add_sockets(sockets)
        log.info("serving on port %s (pid %s, %s)", sockets[0].getsockname()[1], os.getpid(), config.app_env)
        await stop.wait()

        inflight = app.settings["inflight"]
        log.info("stopping: refusing new connections, waiting for %s request(s)", inflight.count)
        server.stop()
        if not await inflight.wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("gave up waiting for %s request(s)", inflight.count)
        await server.close_all_connections()
        await app.settings["lookups"].close()  # the last lookups, before the database goes
        refresher.cancel()
    log.info("stopped")


def run_worker(config: Settings, uri: str, sockets: list[socket.socket], index: int) -> int:
    """One forked worker: its own event loop and MongoDB client, created after the fork."""
    asyncio.run(serve(config, uri, sockets, startup_tasks=index == 0))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Registro de infracciones de tránsito: servidor web.")
    parser.add_argument("--port", type=int, help="port to listen on (default: $PORT or 8888; 0: any free port, see PORT_FILE)")
    parser.add_argument("--workers", type=int, help="processes sharing the port (default: $WORKERS or 1; 0 = CPUs)")
    return parser.parse_args(argv)


class StoppedDuringStartup(Exception):
    """SIGTERM or SIGINT arrived before the server was listening."""


def _stop_during_startup(signum: int, frame: object) -> None:
    raise StoppedDuringStartup()


def main(argv: list[str] | None = None) -> int:
    # First of all: a stop asked for while the embedded database starts must not be lost (as PID 1
    # in a container, a signal without a handler is ignored). serve() installs the lasting handlers.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_during_startup)
    try:
        return _main(argv)
    except StoppedDuringStartup:
        log.info("stopped during start-up")
        return 0


def report_port(path: Path, port: int) -> None:
    """Say which port was bound (``PORT=0`` lets the kernel choose one, so nobody races for it):
    written whole or not at all, so a reader polling for the file never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{port}\n")
    os.replace(partial, path)


def _main(argv: list[str] | None) -> int:
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

    with embedded_database(config) if config.embedded_db else contextlib.nullcontext(config.mongodb_uri or "") as uri:
        sockets = tornado.netutil.bind_sockets(config.port, reuse_port=config.workers > 1)
        if config.port_file is not None:
            report_port(config.port_file, sockets[0].getsockname()[1])
        if config.workers > 1:
            return supervise(config.workers, lambda index: run_worker(config, uri, sockets, index))
        asyncio.run(serve(config, uri, sockets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
