"""The application on a clock the test moves (``domain.clock.FixedClock``), for the tests of
issue 13 whose answers depend on time: catalogue versions in force, the evidence window and the
catalogue cache's refresh. Everything that asks for "now" (the API's time window, tokens, the
cache, ``registrada_en``) reads this clock."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any, AsyncIterator

import httpx

from config import Settings
from domain.catalogo import Version
from domain.clock import FixedClock
from repositories import Repositories
from services.tokens import TokenService
from tests.helpers.api import JWT_SECRET, World, cargar, make_world
from tests.helpers.app import RunningApp, make_settings, serve

UTC = dt.timezone.utc

# The offence most tests use: a gravísima in force for a month before the test's "now".
CODE = "T-1"
DESCRIPTION = "No detenerse ante la luz roja de un semáforo."


@dataclasses.dataclass
class Clocked:
    http: httpx.AsyncClient
    repos: Repositories
    clock: FixedClock
    world: World
    running: RunningApp

    def ago(self, **delta: float) -> str:
        """A timestamp ``delta`` before the clock's now, as the app sends it (ISO 8601, UTC)."""
        return (self.clock.now() - dt.timedelta(**delta)).isoformat()

    def at(self, moment: dt.datetime) -> str:
        return moment.astimezone(UTC).isoformat()

    async def cargar(self, token: str | None = None, *, timestamp: str | None = None, **fields: Any) -> httpx.Response:
        """cargar_infraccion for the world's plate, ``timestamp`` (default: 10 minutes ago) and
        any of the optional fields."""
        body = {"placa_patente": self.world.vehiculo.placa_patente, "timestamp": timestamp or self.ago(minutes=10), **fields}
        return await cargar(self.http, token or self.world.token, body)

    async def issue_token(self, numero: int) -> str:
        return (await TokenService(JWT_SECRET, self.clock).issue(self.repos, numero=numero, label="otra tablet")).token


async def add_code(
    repos: Repositories, codigo: str = CODE, *, desde: dt.datetime, descripcion: str = DESCRIPTION, gravedad: str = "gravisima",
    multa: tuple[str, str] = ("1.5", "3"), articulo: str = "Ley 18.290, art. 199",
) -> Version:
    """A new code (its version 1), in force from ``desde`` (which may be in the past)."""
    return await repos.catalogo.create(
        codigo=codigo, descripcion=descripcion, gravedad=gravedad, multa_min=Decimal(multa[0]), multa_max=Decimal(multa[1]),
        articulo=articulo, vigente_desde=desde,
    )


def start_of_test() -> FixedClock:
    """A clock at the real time (whole seconds), so tokens minted by ``make_world`` verify."""
    return FixedClock(dt.datetime.now(UTC).replace(microsecond=0))


@contextlib.asynccontextmanager
async def clocked_app(
    db: Any, *, clock: FixedClock | None = None, settings: Settings | None = None, app_db: Any = None, code: bool = True
) -> AsyncIterator[Clocked]:
    """A world (persona, vehicle, officer with a token), the offence ``CODE`` in force for the last
    30 days (unless ``code=False``), and the real app on ``clock`` over ``app_db`` (another
    client's handle on the same database, for command monitoring or fail points; default ``db``)."""
    clock = clock or start_of_test()
    setup = Repositories.over(db, clock=clock)
    world = await make_world(setup)
    if code:
        await add_code(setup, desde=clock.now() - dt.timedelta(days=30))
    repos = Repositories.over(app_db if app_db is not None else db, clock=clock)
    async with serve(settings or make_settings(), repos) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            yield Clocked(http, repos, clock, world, running)
