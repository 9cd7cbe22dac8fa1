"""Test fixtures: one real SecantusDB server (MongoDB wire protocol over TCP) for the session, a
fresh database per test, and the real Tornado application on an ephemeral port, reached with
httpx. Nothing here mocks the driver. Helpers that tests import are in ``tests/helpers/``."""

from __future__ import annotations

import os
import socket
import uuid
from typing import AsyncIterator, Iterator

import httpx
import pytest

from config import Settings
from repositories import Repositories, prepare_database
from services.database import mongo_client
from services.devdb import EmbeddedDatabase
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, CHEAP_PASSWORD_HASHER, RunningApp, make_settings, post_form, serve


@pytest.fixture(scope="session")
def mongo_uri() -> AsyncIterator[str]:
    """A throwaway SecantusDB server, with fail points enabled for the fault tests; or one that
    TEST_MONGODB_URI names (``make mutation`` starts servers for its thousands of short test runs
    and lists their URIs, separated by spaces; every test works in a database of its own, so test
    runs can share a server, and each process takes one by its pid to spread the load)."""
    if os.environ.get("TEST_MONGODB_URI"):
        uris = os.environ["TEST_MONGODB_URI"].split()
        yield uris[os.getpid() % len(uris)]
        return
    with EmbeddedDatabase(":memory:", extra_args=("--enable-test-commands",)) as server:
        yield server.uri


@pytest.fixture(scope="session")
async def mongo(mongo_uri: str):
    # Patient timeouts: on a loaded machine SecantusDB can take seconds to answer the driver's
    # heartbeat, and a missed one would mark the server unknown and cancel the operations in flight.
    client = mongo_client(mongo_uri, connectTimeoutMS=30_000, serverSelectionTimeoutMS=30_000)
    yield client
    await client.close()


@pytest.fixture
def unreachable_uri() -> Iterator[str]:
    """A MongoDB URI whose port refuses connections for the whole test: bound but never listening,
    so no other process can start listening there meanwhile (a port bound and closed could be)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"mongodb://127.0.0.1:{sock.getsockname()[1]}/?directConnection=true"


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
async def db(mongo):
    database = mongo[f"test_{uuid.uuid4().hex[:12]}"]
    await prepare_database(database)
    yield database
    await mongo.drop_database(database.name)


@pytest.fixture
async def repos(db) -> Repositories:
    return Repositories.over(db, password_hasher=CHEAP_PASSWORD_HASHER)


@pytest.fixture
async def running_app(repos: Repositories, settings: Settings) -> AsyncIterator[RunningApp]:
    async with serve(settings, repos) as running:
        yield running


@pytest.fixture
async def client(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_app.url, follow_redirects=False, timeout=30) as http:
        yield http


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, repos: Repositories) -> httpx.AsyncClient:
    """An httpx client logged in as an administrator."""
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.text
    return client
