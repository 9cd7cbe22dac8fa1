"""Test harness: one real SecantusDB server (MongoDB wire protocol over TCP) for the session, a
fresh database per test, and the real Tornado application on an ephemeral port, reached with
httpx. Nothing here mocks the driver."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
import sys
import uuid
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
import tornado.httpserver
import tornado.netutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from config import Settings  # noqa: E402
from repositories import Repositories, prepare_database  # noqa: E402
from server import make_app, mongo_client  # noqa: E402
from services.devdb import EmbeddedDatabase  # noqa: E402
from services.tokens import TokenService  # noqa: E402

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "una-clave-de-prueba-segura"
_XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


@pytest.fixture(scope="session")
def mongo_uri() -> AsyncIterator[str]:
    """A throwaway SecantusDB server, with fail points enabled for the fault tests."""
    server = EmbeddedDatabase(":memory:", extra_args=("--enable-test-commands",))
    server.start()
    yield server.uri
    server.stop()


@pytest.fixture(scope="session")
async def mongo(mongo_uri: str):
    client = mongo_client(mongo_uri)
    yield client
    await client.close()


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "app_env": "development",
        "cookie_secret": "c" * 48,
        "jwt_secret": "j" * 48,
        "mongodb_uri": "mongodb://unused",
        "data_dir": Path("/nonexistent"),
    }
    values.update(overrides)
    return Settings(**values)


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
    return Repositories.over(db)


@dataclasses.dataclass
class RunningApp:
    url: str
    app: Any
    repos: Repositories
    settings: Settings


@contextlib.asynccontextmanager
async def serve(settings: Settings, repos: Repositories) -> AsyncIterator[RunningApp]:
    """The real application, served over HTTP on 127.0.0.1 and an ephemeral port (for tests that
    need their own settings or repositories; most use the ``running_app`` fixture)."""
    app = make_app(settings, repos)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app, max_body_size=1024 * 1024)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        yield RunningApp(f"http://127.0.0.1:{port}", app, repos, settings)
    finally:
        server.stop()
        await server.close_all_connections()


@contextlib.asynccontextmanager
async def client_meeting_fail_point(
    mongo_uri: str, appname: str, *, listeners: tuple[Any, ...] = (), **data: Any
) -> AsyncIterator[Any]:
    """A MongoDB client of its own, named ``appname`` and reporting to ``listeners``, whose next
    command listed in ``failCommands`` meets the ``failCommand`` fail point with ``data``; other
    clients are not affected. The fail point is lifted and both clients closed on exit."""
    client = mongo_client(mongo_uri, appname=appname, event_listeners=list(listeners))
    admin = mongo_client(mongo_uri)
    try:
        await admin.admin.command(
            "configureFailPoint", "failCommand", mode={"times": 1}, data={"appName": appname, **data}
        )
        yield client
    finally:
        await admin.admin.command("configureFailPoint", "failCommand", mode="off")
        await admin.close()
        await client.close()


@pytest.fixture
async def running_app(repos: Repositories, settings: Settings) -> AsyncIterator[RunningApp]:
    async with serve(settings, repos) as running:
        yield running


@pytest.fixture
async def client(running_app: RunningApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=running_app.url, follow_redirects=False, timeout=30) as http:
        yield http


async def xsrf_token(http: httpx.AsyncClient, page: str = "/admin/login") -> str:
    """The XSRF token a browser would read from a form on ``page`` (or from the cookie the
    form's page already set; Tornado accepts either)."""
    if "_xsrf" not in http.cookies:
        response = await http.get(page)
        match = _XSRF.search(response.text)
        assert match, f"no XSRF field on {page} (status {response.status_code})"
        return match.group(1)
    return http.cookies["_xsrf"]


async def post_form(http: httpx.AsyncClient, url: str, data: dict[str, Any], *, page: str = "/admin/login") -> httpx.Response:
    """Submit a form as a browser does: with the XSRF token of the page it came from."""
    token = await xsrf_token(http, page)
    return await http.post(url, data={**data, "_xsrf": token})


@pytest.fixture
async def admin_client(client: httpx.AsyncClient, repos: Repositories) -> httpx.AsyncClient:
    """An httpx client logged in as an administrator."""
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    response = await post_form(client, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 302, response.text
    return client


async def record_infraction(repos, *, numero: int, placa: str) -> None:
    """What the API does: an officer with a live token records an infraction on a plate."""
    issued = await TokenService(make_settings().jwt_secret).issue(repos, numero=numero)
    await repos.infracciones.record(
        numero_oficial=numero,
        jti=issued.record.jti,
        placa_patente=placa,
        timestamp=dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc),
        comentarios="Luz roja",
    )
