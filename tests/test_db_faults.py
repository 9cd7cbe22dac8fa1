"""Database faults (issue 5), injected with SecantusDB's ``failCommand`` fail point, as on mongod.

The fail point is server-wide, so this module starts its OWN SecantusDB (persistent storage,
``--enable-test-commands``) instead of the session's shared one. Every client reaches it through a
TCP proxy of the test's own (``tests.helpers.proxy``): the database binds a port of its own choosing
each time it starts, and the proxy keeps one address for the clients across a restart. Fail points are
scoped with ``appName`` to the application's client ("transito"), so the test's own client can
always inspect the database and lift them.

What must hold: the API answers 503 (database unreachable) or 500 (database refused) as
problem+json; no infraction is half-written (the officer's and vehicle's counters may stay high by
design, never low: see repositories/infracciones.py); the same request works as soon as the
fault is lifted; and a database that stops and starts again is reported by /readyz and recovered
from without restarting the web server."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from typing import Any

import httpx
import pytest

from repositories import Repositories, prepare_database
from services.database import mongo_client
from services.devdb import EmbeddedDatabase
from tests.helpers.api import World, cargar, check_contract, infraction_body, make_world
from tests.helpers.app import ADMIN_PASSWORD, ADMIN_USERNAME, make_settings, post_form, serve
from tests.helpers.proxy import Proxy

APP_NAME = "transito"  # what services.database.mongo_client announces


@dataclasses.dataclass
class FaultDatabase:
    server: EmbeddedDatabase
    proxy: Proxy

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.proxy.port}/?directConnection=true"

    async def stop(self) -> None:
        await self.server.astop()

    async def start(self) -> None:
        """Start again over the same files, on a port of its choosing, behind the same address."""
        self.server.port = 0
        await asyncio.to_thread(self.server.start)
        self.proxy.point_to(self.server.port)


@pytest.fixture(scope="module")
async def fault_db(tmp_path_factory) -> FaultDatabase:
    storage = tmp_path_factory.mktemp("faultdb") / "db"
    server = EmbeddedDatabase(storage, extra_args=("--enable-test-commands",))  # port 0: it reports the one it bound
    await asyncio.to_thread(server.start)
    try:
        async with Proxy(server.port) as proxy:
            yield FaultDatabase(server, proxy)
    finally:
        await server.astop()


@pytest.fixture
async def inspector(fault_db):
    """The test's own client: not named "transito", so the fail points never touch it."""
    client = mongo_client(fault_db.uri, appname="fault-injector", serverSelectionTimeoutMS=20000)
    yield client
    await client.admin.command("configureFailPoint", "failCommand", mode="off")
    await client.close()


@pytest.fixture
async def app_under_fault(fault_db, inspector):
    """The real app over its own client of the fault database, a fresh database each test."""
    name = f"faults_{uuid.uuid4().hex[:10]}"
    await prepare_database(inspector[name])
    client = mongo_client(fault_db.uri, serverSelectionTimeoutMS=3000)
    repos = Repositories.over(client[name])
    world = await make_world(repos)
    await repos.admins.set_password(username=ADMIN_USERNAME, password=ADMIN_PASSWORD)
    async with serve(make_settings(), repos) as running:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            yield http, world, inspector[name]
    await client.close()
    await inspector.drop_database(name)


async def fail(inspector, commands: list[str], mode: Any = "alwaysOn", **data: Any) -> None:
    await inspector.admin.command(
        "configureFailPoint", "failCommand", mode=mode, data={"failCommands": commands, "appName": APP_NAME, **data}
    )


async def lift(inspector) -> None:
    await inspector.admin.command("configureFailPoint", "failCommand", mode="off")


async def assert_counters_never_low(db, world: World) -> None:
    real = await db["infracciones"].count_documents({})
    oficial = await db["oficiales"].find_one({"numero": world.oficial.numero})
    vehiculo = await db["vehiculos"].find_one({"placa_patente": world.vehiculo.placa_patente})
    assert oficial["n_infracciones"] >= real and vehiculo["n_infracciones"] >= real


async def retry_until_recorded(http: httpx.AsyncClient, world: World, body: dict[str, Any], key: str) -> httpx.Response:
    """Retry as the officers' app does. After a "shutting down" error the driver marks the server
    unknown until its monitor checks it again (up to heartbeatFrequencyMS, 10 s), so a few 503s
    may follow; with a dropped connection or a refused command it works at the first retry."""
    deadline = time.monotonic() + 20
    while True:
        response = await cargar(http, world.token, body, **{"Idempotency-Key": key})
        if response.status_code != 503 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response
        await asyncio.sleep(0.5)


CARGAR_FAULTS = [
    # (which command, fail point data, the answer while it lasts)
    (["insert"], {"closeConnection": True}, 503),
    (["insert"], {"errorCode": 11600}, 503),  # InterruptedAtShutdown: a primary going away
    (["insert"], {"errorCode": 8}, 500),  # UnknownError: the database refused, not retryable
    (["findAndModify"], {"closeConnection": True}, 503),
    (["findAndModify"], {"errorCode": 91}, 503),  # ShutdownInProgress
    (["findAndModify"], {"errorCode": 8}, 500),
]


@pytest.mark.parametrize("commands,data,status", CARGAR_FAULTS, ids=lambda v: str(v))
async def test_cargar_infraccion_fails_cleanly_and_recovers(app_under_fault, inspector, commands, data, status) -> None:
    http, world, db = app_under_fault
    body = infraction_body()
    key = uuid.uuid4().hex
    await fail(inspector, commands, **data)
    try:
        response = await cargar(http, world.token, body, **{"Idempotency-Key": key})
        assert response.status_code == status, response.text
        problem = check_contract(response)
        assert problem["status"] == status
        assert "Intente nuevamente" in problem["detail"] or "error inesperado" in problem["detail"]
        assert "pymongo" not in response.text and "errmsg" not in response.text
        assert await db["infracciones"].count_documents({}) == 0  # nothing half-written
        await assert_counters_never_low(db, world)
    finally:
        await lift(inspector)
    # the officer's app retries the same request until it is recorded, exactly once
    response = await retry_until_recorded(http, world, body, key)
    again = await cargar(http, world.token, body, **{"Idempotency-Key": key})
    assert again.status_code == 200 and again.json()["id"] == response.json()["id"]
    assert await db["infracciones"].count_documents({}) == 1
    await assert_counters_never_low(db, world)


async def test_a_single_dropped_connection_is_retried_by_the_driver(app_under_fault, inspector) -> None:
    """Retryable writes: one lost connection on the insert is invisible to the officer."""
    http, world, db = app_under_fault
    await fail(inspector, ["insert"], mode={"times": 1}, closeConnection=True)
    response = await cargar(http, world.token, infraction_body(), **{"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 200, response.text
    assert await db["infracciones"].count_documents({}) == 1


@pytest.mark.parametrize("data,status", [({"closeConnection": True}, 503), ({"errorCode": 8}, 500)], ids=["closed", "refused"])
async def test_generar_informe_fails_cleanly_and_recovers(app_under_fault, inspector, data, status) -> None:
    http, world, db = app_under_fault
    await fail(inspector, ["aggregate"], **data)
    try:
        response = await http.get("/api/generar_informe", params={"email": world.persona.correo})
        assert response.status_code == status, response.text
        check_contract(response)
    finally:
        await lift(inspector)
    response = await http.get("/api/generar_informe", params={"email": world.persona.correo})
    assert response.status_code == 200
    check_contract(response)


async def test_admin_pages_fail_cleanly_on_find_and_on_commit(app_under_fault, inspector) -> None:
    http, world, db = app_under_fault
    response = await post_form(http, "/admin/login", {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD})
    assert response.status_code == 302
    await fail(inspector, ["find"], closeConnection=True)
    try:
        response = await http.get(f"/admin/personas/{world.persona.id}")
        assert response.status_code == 503, response.text
        assert "base de datos no está disponible" in response.text
    finally:
        await lift(inspector)
    assert (await http.get(f"/admin/personas/{world.persona.id}")).status_code == 200

    new_vehicle = {"placa_patente": "FALLA1", "marca": "Kia", "color": "Gris", "propietario": world.persona.correo}
    await fail(inspector, ["commitTransaction"], errorCode=8)
    try:
        response = await post_form(http, "/admin/vehiculos/nuevo", new_vehicle, page="/admin/vehiculos/nuevo")
        assert response.status_code == 500, response.text
        assert "error inesperado" in response.text
    finally:
        await lift(inspector)
    assert await db["vehiculos"].count_documents({"placa_patente": "FALLA1"}) == 0  # the transaction was rolled back
    persona = await db["personas"].find_one({"correo": world.persona.correo})
    assert persona["n_vehiculos"] == 1
    response = await post_form(http, "/admin/vehiculos/nuevo", new_vehicle, page="/admin/vehiculos/nuevo")
    assert response.status_code == 302, response.text
    assert await db["vehiculos"].count_documents({"placa_patente": "FALLA1"}) == 1


async def poll_status(http: httpx.AsyncClient, url: str, wanted: int, timeout: float = 30.0) -> float:
    """Poll ``url`` until it answers ``wanted``; return how long that took."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        last = (await http.get(url)).status_code
        if last == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} still answers {last} after {timeout} s (wanted {wanted})")


async def test_database_restart_is_reported_and_recovered_without_restarting_the_server(app_under_fault, fault_db) -> None:
    http, world, db = app_under_fault
    first = await cargar(http, world.token, infraction_body(minutes_ago=10))
    assert first.status_code == 200
    await fault_db.stop()
    try:
        await poll_status(http, "/readyz", 503)
        response = await http.get("/readyz")
        assert response.status_code == 503 and check_contract(response)["detail"]
        response = await cargar(http, world.token, infraction_body(minutes_ago=5))
        assert response.status_code == 503, response.text
        assert check_contract(response)["detail"].startswith("La base de datos no está disponible")
        response = await http.get("/api/generar_informe", params={"email": world.persona.correo})
        assert response.status_code == 503
        assert (await http.get("/healthz")).status_code == 200  # the process itself is alive
    finally:
        await fault_db.start()  # same files, same address
    await poll_status(http, "/readyz", 200)
    response = await cargar(http, world.token, infraction_body(minutes_ago=5))
    assert response.status_code == 200, response.text
    report = (await http.get("/api/generar_informe", params={"email": world.persona.correo})).json()
    assert {item["id"] for item in report["infracciones"]} == {first.json()["id"], response.json()["id"]}
