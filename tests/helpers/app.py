"""The application under test: settings, the real app served on an ephemeral port, forms posted as
a browser posts them, and a MongoDB client of its own that meets a fail point."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import httpx
import pytest
import tornado.netutil
from argon2 import PasswordHasher, profiles
from pymongo.errors import OperationFailure

from config import Settings
from domain.clock import FixedClock
from handlers.app import make_app
from handlers.http import make_http_server
from repositories import Repositories
from services.database import mongo_client
from services.tokens import TokenService

ROOT = Path(__file__).resolve().parent.parent.parent
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "una-clave-de-prueba-segura"
# The test administrators' passwords guard nothing: hashing them with argon2's cheapest parameters
# (not 64 MiB and 3 passes each) saves about a second per signed-in test on a loaded machine.
# test_admin_password_set_authenticate_and_reset checks the parameters every other repository gets.
CHEAP_PASSWORD_HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
_XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


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


@dataclasses.dataclass
class RunningApp:
    url: str
    app: Any
    repos: Repositories
    settings: Settings


@contextlib.asynccontextmanager
async def serve(settings: Settings, repos: Repositories) -> AsyncIterator[RunningApp]:
    """The real application behind the same HTTP server configuration as production, on 127.0.0.1
    and an ephemeral port (for tests that need their own settings or repositories; most use the
    ``running_app`` fixture)."""
    app = make_app(settings, repos)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = make_http_server(app, settings)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    try:
        yield RunningApp(f"http://127.0.0.1:{port}", app, repos, settings)
    finally:
        server.stop()
        await server.close_all_connections()
        await app.settings["lookups"].close()


@contextlib.asynccontextmanager
async def admin_at(db: Any, clock: FixedClock, settings: Settings | None = None) -> AsyncIterator[tuple[Repositories, httpx.AsyncClient]]:
    """The real app over ``db`` whose every "now" is ``clock`` (the handlers, the repositories and
    the token service all read it), and an httpx client signed in as an administrator."""
    repos = Repositories.over(db, clock=clock, password_hasher=CHEAP_PASSWORD_HASHER)
    async with serve(settings or make_settings(), repos) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
            await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
            await sign_in(http)
            yield repos, http


async def sign_in(http: httpx.AsyncClient) -> None:
    """Sign ``http`` in as the administrator. Again, after a test has moved the app's clock to a date
    in the past: the database's TTL sweep runs on the real time, so it may delete, at any moment, a
    session whose expiry by the app's clock is long gone by the real one."""
    signed_in = await post_form(http, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert signed_in.status_code == 302, signed_in.text


@contextlib.asynccontextmanager
async def client_meeting_fail_point(
    mongo_uri: str, appname: str, *, listeners: tuple[Any, ...] = (), mode: dict[str, int] | None = None, **data: Any
) -> AsyncIterator[Any]:
    """A MongoDB client of its own, named ``appname`` and reporting to ``listeners``, whose next
    command listed in ``failCommands`` meets the ``failCommand`` fail point with ``data`` (or, with
    ``mode={"skip": n}``, the command after the next n); other clients are not affected. The fail
    point is lifted and both clients closed on exit."""
    client = mongo_client(mongo_uri, appname=appname, event_listeners=list(listeners))
    admin = mongo_client(mongo_uri)
    try:
        await admin.admin.command(
            "configureFailPoint", "failCommand", mode=mode or {"times": 1}, data={"appName": appname, **data}
        )
        yield client
    finally:
        await admin.admin.command("configureFailPoint", "failCommand", mode="off")
        await admin.close()
        await client.close()


FAILED_COMMIT = {"failCommands": ["commitTransaction"], "errorCode": 8}
"""The fail point's data for a refused commit: not a transient error, so the driver does not run the
transaction again, and none of its writes are kept."""


TRANSIENT_ERROR = {"errorCode": 112, "errorLabels": ["TransientTransactionError"]}
"""The fail point's data (with its ``failCommands``) for a write conflict the driver answers by
running the whole transaction again."""


async def assert_a_failed_commit_changes_nothing(db: Any, mongo_uri: str, write: Callable[[Repositories], Awaitable[Any]]) -> None:
    """Run ``write`` with repositories whose transaction commit is refused: it must fail, and every
    document of ``db`` stays as it was (a write moved out of its transaction would stay)."""
    before = await stored(db)
    async with client_meeting_fail_point(mongo_uri, "failed-commit", **FAILED_COMMIT) as faulty:
        with pytest.raises(OperationFailure):
            await write(Repositories.over(faulty[db.name]))
    assert await stored(db) == before


async def stored(db: Any) -> dict[str, list[dict[str, Any]]]:
    """Every document of every collection of ``db``: compared before and after a failed write, it
    shows that nothing of that write was kept."""
    return {name: await db[name].find().sort("_id", 1).to_list(None) for name in sorted(await db.list_collection_names())}


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


async def record_infraction(repos: Repositories, *, numero: int, placa: str, timestamp: dt.datetime | None = None) -> None:
    """What the API does: an officer with a live token records an infraction on a plate (at the
    repositories' clock's "now")."""
    issued = await TokenService(make_settings().jwt_secret, repos.clock).issue(repos, numero=numero)
    await repos.infracciones.record(
        numero_oficial=numero,
        jti=issued.record.jti,
        placa_patente=placa,
        timestamp=timestamp or dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc),
        comentarios="Luz roja",
    )
