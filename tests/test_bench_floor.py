"""The benchmark's floor (``bench/floor.py``) sends what our server sends: the same MongoDB commands
in the same order, with the same documents (up to ids, times and the request id), and answers with
the same JSON. When the request path changes, this fails until the floor's "THE COMMANDS" follows,
so ``make bench-instructions`` never compares our server with a floor that does less database work."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from bson import ObjectId

from bench import floor
from repositories import Repositories
from services.database import mongo_client
from tests.helpers.api import cargar, infraction_body, jti_of, make_world
from tests.helpers.app import make_settings, serve
from tests.helpers.clocked import CODE, add_code
from tests.helpers.commands import Recorder

REQUEST_ID_PLACEHOLDER = "<request id>"
PLACE = {"latitud": -33.4378, "longitud": -70.6505, "precision_m": 12.5}


def normalized(value: Any, key: str = "") -> Any:
    """A command or answer with what differs from request to request replaced by its type; dict keys
    keep their order (BSON's). The session and cluster-time fields PyMongo adds are dropped."""
    if isinstance(value, dict):
        return [(k, normalized(v, k)) for k, v in value.items() if k not in ("lsid", "$clusterTime", "$db", "txnNumber")]
    if isinstance(value, (list, tuple)):
        return [normalized(v, key) for v in value]
    if key == "request_id":
        return REQUEST_ID_PLACEHOLDER
    if key in ("id", "timestamp", "registrada_en", "resultados", "total"):  # ids, times, and counts (the floor's load adds one)
        return f"<{key}>"
    if isinstance(value, (ObjectId, dt.datetime, float)):  # floats: the rate limit's times
        return f"<{type(value).__name__}>"
    return value


async def test_the_floor_sends_our_commands_and_writes_our_json(mongo_uri, db, repos):
    settings = make_settings()
    world = await make_world(repos)
    jti = jti_of(world.token)
    await repos.infracciones.record(  # something in the report
        numero_oficial=world.oficial.numero, jti=jti, placa_patente="BBCD12",
        timestamp=dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=3), comentarios="",
    )
    correo = world.persona.correo
    await add_code(repos, desde=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30))
    with_offence_and_place = {**infraction_body(minutes_ago=3), "codigo": CODE, "ubicacion": PLACE}

    ours = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[ours])
    try:
        app_repos = Repositories.over(client[db.name])
        await app_repos.catalog_cache.refresh(app_repos.catalogo)  # as server.py does before serving
        async with serve(settings, app_repos) as app:
            async with httpx.AsyncClient(base_url=app.url) as http:
                await http.get("/readyz")
                ours.commands.clear()
                loaded = await cargar(http, world.token, infraction_body(minutes_ago=1))
                loaded_in_full = await cargar(http, world.token, with_offence_and_place)
                report = await http.get("/api/generar_informe", params={"email": correo})
        # leaving serve() wrote the lookup log
    finally:
        await client.close()
    assert loaded.status_code == loaded_in_full.status_code == report.status_code == 200

    theirs = Recorder()
    client = mongo_client(mongo_uri, event_listeners=[theirs])
    try:
        floor_db = client[db.name]
        lookups = floor.Lookups(floor_db, settings.cookie_secret, settings.report_rate_limit)
        catalogue = await floor.Catalogue().read(floor_db)  # at the floor's start
        theirs.commands.clear()
        floor_loaded = await floor.cargar_infraccion(
            floor_db, world.oficial.numero, jti, infraction_body(minutes_ago=2), request_id="0" * 16, cliente="127.0.0.1",
            catalogue=catalogue,
        )
        floor_loaded_in_full = await floor.cargar_infraccion(
            floor_db, world.oficial.numero, jti, {**with_offence_and_place, "timestamp": infraction_body(minutes_ago=4)["timestamp"]},
            request_id="0" * 16, cliente="127.0.0.1", catalogue=catalogue,
        )
        floor_report = await floor.generar_informe(floor_db, correo, 100, 0, cliente="127.0.0.1", lookups=lookups)
        lookups.flush()
        await lookups.writing
    finally:
        await client.close()

    load = ["findAndModify", "findAndModify", "insert"]
    assert theirs.names() == ours.names() == [*load, *load, "findAndModify", "aggregate", "aggregate", "insert"]
    for (name, command), (_, floor_command) in zip(ours.commands, theirs.commands, strict=True):
        assert normalized(floor_command) == normalized(command), name
    assert normalized(floor_loaded) == normalized(loaded.json())
    assert normalized(floor_loaded_in_full) == normalized(loaded_in_full.json())
    assert loaded_in_full.json()["infraccion"]["codigo"] == CODE and loaded_in_full.json()["ubicacion"] == PLACE
    floor_ids = {floor_loaded["id"], floor_loaded_in_full["id"]}
    floor_report["infracciones"] = [item for item in floor_report["infracciones"] if item["id"] not in floor_ids]
    assert normalized(floor_report) == normalized(report.json())
    assert (report.json()["total"], floor_report["total"]) == (3, 5)  # the floor's report counts the floor's loads too
