"""The database connection of a process: the one ``AsyncMongoClient`` and the repositories over
it, for the server and for the command-line scripts (which import this, not the web server)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from config import Settings
from domain.audit import SYSTEM, Actor
from repositories import Repositories, prepare_database
from services.devdb import EmbeddedDatabase
from services.metrics import Metrics

log = logging.getLogger("transito")

# A pooled connection left unused this long is closed instead of reused: peers cut idle connections
# (SecantusDB after 300 s, an AWS load balancer after 350 s), and a command sent on a cut one fails,
# which PyMongo retries only for some (not a ping, not a multi-document update or delete).
MAX_IDLE_MS = 120_000


def mongo_client(uri: str, *, metrics: Metrics | None = None, **overrides: Any) -> AsyncMongoClient:
    """The one client of a process: majority, journaled writes; aware datetimes; fail fast."""
    options: dict[str, Any] = {
        "event_listeners": [metrics.listener] if metrics else [],
        "tz_aware": True,
        "w": "majority",
        "journal": True,
        "serverSelectionTimeoutMS": 5000,
        "connectTimeoutMS": 5000,
        "maxIdleTimeMS": MAX_IDLE_MS,
        "appname": "transito",
    }
    options.update(overrides)
    return AsyncMongoClient(uri, **options)


def repositories_for(db: AsyncDatabase, config: Settings, actor: Actor = SYSTEM) -> Repositories:
    return Repositories.over(
        db,
        session_idle=dt.timedelta(minutes=config.session_idle_minutes),
        session_lifetime=dt.timedelta(hours=config.session_max_hours),
        actor=actor,
    )


@contextlib.asynccontextmanager
async def database(
    config: Settings, *, uri: str | None = None, metrics: Metrics | None = None, actor: Actor = SYSTEM
) -> AsyncIterator[Repositories]:
    """Repositories over a connected, prepared database, writing as ``actor``; the client is closed on exit."""
    client = mongo_client(uri or config.mongodb_uri or "", metrics=metrics)
    try:
        db = client[config.mongodb_db]
        await prepare_database(db, lookup_retention_days=config.consultas_retention_days)
        yield repositories_for(db, config, actor)
    finally:
        await client.close()


def embedded_uri_file(config: Settings) -> Path:
    """Where a running development server says which port its embedded database listens on."""
    return config.data_dir / "db.uri"


@contextlib.contextmanager
def embedded_database(config: Settings) -> Iterator[str]:
    """The embedded development database for as long as the server runs; yields its URI. Its port
    is written where the scripts look for it (``embedded_uri_file``)."""
    log.warning(
        "MONGODB_URI is not set: starting the embedded development database (SecantusDB) under %s. "
        "Use real MongoDB in production.",
        config.data_dir / "db",
    )
    embedded = EmbeddedDatabase(config.data_dir / "db")
    try:
        embedded.start()
        embedded_uri_file(config).write_text(embedded.uri)
        yield embedded.uri
    finally:
        embedded_uri_file(config).unlink(missing_ok=True)
        embedded.stop()


@contextlib.asynccontextmanager
async def cli_database(config: Settings, actor: Actor) -> AsyncIterator[Repositories]:
    """The database for a command-line script, writing as ``actor`` (its operating-system user):
    MONGODB_URI; else the embedded database of a running development server; else a short-lived
    embedded database over the same files."""
    if config.mongodb_uri:
        async with database(config, actor=actor) as repos:
            yield repos
        return
    uri_file = embedded_uri_file(config)
    if uri_file.exists():
        async with database(config, uri=uri_file.read_text().strip(), actor=actor) as repos:
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
        async with database(config, uri=embedded.uri, actor=actor) as repos:
            yield repos
    finally:
        await embedded.astop()
