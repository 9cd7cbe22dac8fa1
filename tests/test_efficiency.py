"""Efficiency, measured by what the server is asked rather than by timing: the number of commands
each API method sends to MongoDB (PyMongo command monitoring), and an index scan that examines no
more documents than it returns for every query those commands run (``explain``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import httpx
import pytest

from repositories import Repositories
from services.database import mongo_client
from tests.helpers.api import World, cargar, check_contract, infraction_body, jti_of, make_world
from tests.helpers.app import make_settings, serve
from tests.helpers.commands import Recorder, plan_and_stats, plan_stages

@dataclasses.dataclass
class Monitored:
    http: httpx.AsyncClient
    recorder: Recorder
    world: World


@pytest.fixture
async def monitored(mongo_uri, db, repos):
    """Realistic data, and a running app whose own MongoDB client reports every command it sends."""
    world = await make_world(repos)
    segundo = await repos.vehiculos.create(placa_patente="AB123CD", marca="Fiat", color="Azul", persona_id=world.persona.id)
    for n in range(5):  # neighbours, so that a collection scan would examine more than it returns
        other = await make_world(repos, correo=f"vecino{n}@example.cl", placa=f"XYZ{n:03d}", numero=100 + n)
        await cargar_direct(repos, other, f"XYZ{n:03d}", minutes_ago=10 + n)
    for minutes, placa in ((30, "BBCD12"), (20, segundo.placa_patente), (10, "BBCD12")):
        await cargar_direct(repos, world, placa, minutes_ago=minutes)

    recorder = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[recorder])
    try:
        async with serve(make_settings(), Repositories.over(client[db.name])) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                await http.get("/readyz")  # connect before counting
                recorder.commands.clear()
                yield Monitored(http, recorder, world)
    finally:
        await client.close()


async def cargar_direct(repos, world: World, placa: str, *, minutes_ago: int) -> None:
    await repos.infracciones.record(
        numero_oficial=world.oficial.numero,
        jti=jti_of(world.token),
        placa_patente=placa,
        timestamp=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes_ago)).replace(microsecond=0),
        comentarios="",
    )


async def test_cargar_infraccion_sends_at_most_three_commands(monitored):
    """The budget, and what must be among the commands: whatever their order or kind otherwise."""
    response = await cargar(monitored.http, monitored.world.token, infraction_body(minutes_ago=1))
    assert response.status_code == 200
    check_contract(response)
    sent = monitored.recorder.commands
    assert len(sent) <= 3, monitored.recorder.names()
    written = [i for i, (name, command) in enumerate(sent) if name == "insert" and command["insert"] == "infracciones"]
    assert len(written) == 1, monitored.recorder.names()

    def counted(collection: str, *checked: str) -> int:
        """Where the infraction is counted on its officer or vehicle (their delete guards): one
        atomic write that also checks ``checked`` (the token's liveness, for the officer)."""
        for i, (name, command) in enumerate(sent):
            filter_ = command.get("query") or command.get("q") or {}
            update = command.get("update") or {}
            if command.get(name) == collection and update.get("$inc", {}).get("n_infracciones") == 1 and set(checked) <= set(filter_):
                return i
        raise AssertionError(f"the infraction is not counted on {collection} with {checked}: {sent}")

    # both counters are incremented before the infraction is written, never after
    assert counted("oficiales", "numero", "activo", "token_jtis") < written[0]
    assert counted("vehiculos", "placa_patente") < written[0]


async def test_generar_informe_sends_at_most_three_commands_including_its_shared_rate_limit(monitored):
    response = await monitored.http.get("/api/generar_informe", params={"email": "ana.perez@example.cl"})
    assert check_contract(response)["total"] == 3
    sent = monitored.recorder.commands
    assert len(sent) <= 3, monitored.recorder.names()
    # the rate limit is counted in MongoDB (shared by every process), within the budget
    assert any(name == "findAndModify" and command["findAndModify"] == "limites" for name, command in sent)


async def test_a_lookup_is_logged_without_a_database_round_trip_on_the_request(monitored):
    await monitored.http.get("/api/generar_informe", params={"email": "ana.perez@example.cl"})
    assert "insert" not in monitored.recorder.names()  # the accountability log is written later, in batches


# -- explain --------------------------------------------------------------------------------------
async def assert_index_backed(db, command: dict[str, Any], index: str) -> None:
    explained = await db.command("explain", command, verbosity="executionStats")
    plan, stats = plan_and_stats(explained)
    assert index in [s["indexName"] for s in plan_stages(plan) if s["stage"] == "IXSCAN"], f"{command} does not use {index}: {plan}"
    assert stats["nReturned"] >= 1
    assert stats["totalDocsExamined"] <= stats["nReturned"] + 1, (command, stats)


async def test_every_query_the_endpoints_run_is_index_backed(monitored, db):
    """Explain exactly what the two endpoints sent, as recorded by command monitoring."""
    assert (await cargar(monitored.http, monitored.world.token, infraction_body(minutes_ago=2))).status_code == 200
    assert (await monitored.http.get("/api/generar_informe", params={"email": "ana.perez@example.cl"})).status_code == 200
    sent = monitored.recorder.commands
    expected_indexes = {
        "limites": "_id_",
        "oficiales": "numero_unique",
        "vehiculos": "placa_unique",
        "personas": "correo_unique",
        "infracciones": "vehiculo_timestamp",
    }
    explained = set()
    for name, command in sent:
        if name == "findAndModify":
            collection = command["findAndModify"]
            find = {"find": collection, "filter": command["query"], **({"hint": command["hint"]} if "hint" in command else {})}
            await assert_index_backed(db, find, expected_indexes[collection])
        elif name == "aggregate":
            collection = command["aggregate"]
            aggregate = {"aggregate": collection, "pipeline": command["pipeline"], "cursor": {}}
            await assert_index_backed(db, {**aggregate, **({"hint": command["hint"]} if "hint" in command else {})}, expected_indexes[collection])
        else:
            assert name == "insert"
            continue
        explained.add(collection)
    assert explained == set(expected_indexes)

    # The report's $lookup finds the persona's vehicles by persona_id.
    await assert_index_backed(db, {"find": "vehiculos", "filter": {"persona_id": await persona_oid(db)}}, "persona_placa")


async def persona_oid(db):
    return (await db["personas"].find_one({"correo": "ana.perez@example.cl"}))["_id"]
